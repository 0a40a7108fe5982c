"""Kernels whose source is generated: written to a file in a cache folder and imported from there.

Numba's ``cache=True`` keys its disk cache on a function's source file, so a kernel generated at run time
is written to ``<cache dir>/<name>.py`` first and imported from that file: a later process finds both the
file and Numba's compiled code. The name must say everything the source depends on (callers put a hash
of the source in it). The folder is ``$FRAMEWORK_CACHE_DIR/<kind>``, else
``<numba.config.CACHE_DIR>/framework_<kind>``, else ``~/.cache/framework/<kind>``; when it cannot be
written the source is compiled in memory, without a disk cache.
"""
import hashlib
import importlib.util
import os
import sys
import tempfile

import numba


def source_hash(*texts):
    """A short hash naming generated source (and whatever else it depends on)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()[:32]


def cache_dir(kind):
    """Where generated kernels of ``kind`` ('fused', 'activations') are written."""
    base = os.environ.get("FRAMEWORK_CACHE_DIR")
    if base:
        return os.path.join(base, kind)
    if numba.config.CACHE_DIR:
        return os.path.join(numba.config.CACHE_DIR, f"framework_{kind}")
    return os.path.join(os.path.expanduser("~"), ".cache", "framework", kind)


def load_module(kind, name, source):
    """The module ``name`` made of ``source``, imported (again) from its file in ``cache_dir(kind)``;
    callers keep what they load, within their own bounds."""
    module_name = f"framework_{name}"
    try:
        folder = cache_dir(kind)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.py")
        if not os.path.exists(path):
            handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(handle, "w") as file:
                file.write(source)
            os.replace(temporary, path)  # atomic: another process may be writing the same file
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    except OSError:  # no writable cache directory: compile in memory, without Numba's disk cache
        sys.modules.pop(module_name, None)
        namespace = {"__name__": module_name}
        exec(compile(source.replace("@kernel\n", "@kernel(cache=False)\n"), f"<{module_name}>", "exec"), namespace)
        module = type(sys)(module_name)
        module.__dict__.update(namespace)
        return module
