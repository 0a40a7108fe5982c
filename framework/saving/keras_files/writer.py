"""Writing a model as a Keras 3 ``.keras`` file, and its weights as a Keras 3 ``.weights.h5``.

``config.json`` comes from ``config_out``; ``model.weights.h5`` holds every layer's variables at
the paths Keras's own saving code uses (``weight_paths.walk``), with an empty ``vars`` group for
each layer without variables, as Keras writes them; ``metadata.json`` names the Keras version
whose loader the format was checked against and this library as the producer. Files are written
to a temporary file and renamed (``framework.saving.atomic``). The optimizer's slots are not
written: Keras restores the compile settings with a fresh optimizer.
"""
import datetime
import io
import json
import zipfile

from framework.saving.atomic import atomic_write
from framework.saving.keras_files import config_out
from framework.saving.keras_files.refusal import KerasFileError, need_h5py
from framework.saving.keras_files.weight_paths import layer_groups, variable_groups

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras whose loader tests/test_keras_files.py checks these files with


def _write_layers(h5file, model):
    for path, layer in layer_groups(model):
        h5file.require_group(f"{path}/vars").attrs["name"] = layer.name
        if layer.has_graph:
            continue
        for sub, variables in variable_groups(layer):
            target = h5file.require_group(f"{path}/{sub}")
            for i, variable in enumerate(variables):
                target.create_dataset(str(i), data=variable.value)


def weights_h5_bytes(model):
    """Keras 3's ``model.weights.h5`` of ``model``, as bytes."""
    h5py = need_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5file:
        _write_layers(h5file, model)
        h5file.require_group("vars").attrs["name"] = model.name
    return buffer.getvalue()


def save_keras_weights(model, path):
    """``model``'s weights as a Keras 3 ``.weights.h5`` file."""
    data = weights_h5_bytes(model)
    atomic_write(path, lambda f: f.write(data))


def save_keras_archive(model, path, compile_settings=None):
    """``model`` as a Keras 3 ``.keras`` file; ``compile_settings`` (``archive.compile_config``) when
    it was compiled. Raises KerasFileError naming what Keras could not load."""
    reason = config_out.unsupported(model)
    if reason:
        raise KerasFileError(f"{path}: Keras could not load this model: it has {reason}")
    entry = config_out.model_entry(model)
    if compile_settings is not None:
        entry["compile_config"] = config_out.compile_entry(compile_settings)
    members = {
        "metadata.json": json.dumps({"keras_version": KERAS_FORMAT_VERSION, "producer": "framework",
                                     "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}),
        "config.json": json.dumps(entry),
        "model.weights.h5": weights_h5_bytes(model),
    }

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    atomic_write(path, write)
