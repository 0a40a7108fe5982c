"""Reading ``.npz`` archives whose arrays are known in advance (a model's weights, an optimizer's
slots): each ``.npy`` header is checked against the expected shape and dtype before a byte of
its data is read, and each array is read into memory allocated from that expected shape, so
a small file can never ask for a large allocation.
"""
import zipfile
from math import prod

import numpy as np
from numpy.lib import format as npy

from framework.config.bounded_yaml import cut, short
from framework.saving.members import CHUNK, ArchiveError, check_entries

NPY_HEADER_MAX = 10_000  # NumPy's own default limit on a header's length
ENTRY_OVERHEAD = NPY_HEADER_MAX + 4096  # zip headers, extras and the .npy header of one array
FLOAT_SIZES = (2, 4, 8)


class ArraySpec:
    """What one array of an ``.npz`` must be.

    Args:
        shape: its exact shape.
        dtype: its exact dtype (byte order aside), or None for any real floating dtype
            (float16, float32, float64).
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype=None):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = None if dtype is None else np.dtype(dtype)

    @property
    def max_bytes(self):
        return prod(self.shape) * (8 if self.dtype is None else self.dtype.itemsize)


def npz_budget(specs):
    """The most bytes an ``.npz`` of ``specs`` can honestly take (data plus per-entry overhead)."""
    return sum(spec.max_bytes for spec in specs.values()) + ENTRY_OVERHEAD * len(specs) + 65536


def _dtype_problem(dtype, spec):
    if dtype.hasobject:
        return "holds Python objects, which would need unpickling; refusing"
    if dtype.kind == "c":
        return f"holds complex values ({dtype}); their imaginary part would be lost; weights are real"
    if dtype.fields is not None or dtype.subdtype is not None:
        return f"holds a structured dtype ({short(str(dtype))}); expected plain numbers"
    if spec.dtype is None:
        if dtype.kind != "f" or dtype.itemsize not in FLOAT_SIZES:
            return f"has dtype {dtype}; expected a real floating dtype (float16, float32 or float64)"
    elif (dtype.kind, dtype.itemsize) != (spec.dtype.kind, spec.dtype.itemsize):
        return f"has dtype {dtype}; expected {spec.dtype}"
    return None


def _header(f, info, spec, where):
    """``(fortran_order, dtype)`` of the ``.npy`` stream ``f`` (positioned at its data), checked."""
    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(f, max_header_size=NPY_HEADER_MAX)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(f, max_header_size=NPY_HEADER_MAX)
        else:
            raise ArchiveError(f"{where}: .npy format version {version} is not read; expected 1.0 or 2.0")
    except ValueError as e:
        if isinstance(e, ArchiveError):
            raise
        raise ArchiveError(f"{where}: not a valid .npy array ({cut(e)})") from None
    problem = _dtype_problem(dtype, spec)
    if problem:
        raise ArchiveError(f"{where}: {problem}")
    if tuple(shape) != spec.shape:
        raise ArchiveError(f"{where}: has shape {short(tuple(shape))}; the model needs {spec.shape}")
    header, nbytes = f.tell(), prod(spec.shape) * dtype.itemsize
    if info.file_size != header + nbytes:
        raise ArchiveError(f"{where}: declares {info.file_size:,} bytes; a {header}-byte header and "
                           f"{nbytes:,} bytes of data were expected")
    return fortran, dtype


def _read_entry(archive, info, spec, where):
    with archive.open(info) as f:
        fortran, dtype = _header(f, info, spec, where)
        array = np.empty(spec.shape[::-1] if fortran else spec.shape, dtype)
        view, done, nbytes = memoryview(array.reshape(-1).view(np.uint8)), 0, array.nbytes
        while done < nbytes:
            chunk = f.read(min(CHUNK, nbytes - done))
            if not chunk:
                raise ArchiveError(f"{where}: ends {nbytes - done:,} bytes early")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
    if fortran:
        array = array.T
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array


def read_npz(source, where, specs, noun="arrays", allow_empty=False):
    """``{key: array}`` from the ``.npz`` ``source`` (a path or a seekable binary file): exactly the
    keys of ``specs`` (a dict of ``ArraySpec``). Every entry and every ``.npy`` header is checked
    before any array data is read. ``where`` names the archive in errors (``"model.fw:
    weights.npz"``), ``noun`` its arrays (``"weight arrays"``). With ``allow_empty``, an archive
    holding no arrays at all gives ``{}``."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ArchiveError(f"{where}: not an .npz archive of arrays") from None
    with archive:
        count = len(archive.infolist())
        if count == 0 and allow_empty:
            return {}
        if count > len(specs):
            raise ArchiveError(f"{where}: the file holds {count} {noun}, the model has {len(specs)}")
        entries = check_entries(archive, where, lambda name: name.endswith(".npy") and name[:-4] in specs)
        for key, spec in specs.items():
            if key + ".npy" in entries:
                with archive.open(entries[key + ".npy"]) as f:
                    _header(f, entries[key + ".npy"], spec, f"{where}, array {short(key)}")
        missing = [key for key in specs if key + ".npy" not in entries]
        if missing:
            listed = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            raise ArchiveError(f"{where}: the file holds {count} {noun}, the model has {len(specs)}: missing "
                               f"{listed}")
        return {key: _read_entry(archive, entries[key + ".npy"], spec, f"{where}, array {short(key)}")
                for key, spec in specs.items()}
