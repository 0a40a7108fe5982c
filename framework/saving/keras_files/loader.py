"""Loading Keras files: ``.keras`` archives (Keras 3), ``.weights.h5`` (Keras 3's ``save_weights``)
and legacy ``.h5`` files (``model.save("x.h5")`` of tf.keras 2 and Keras 3).

A ``.keras`` file is a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``. Its
member list is checked before anything is read (``framework.saving.members.check_entries``: no
other members, no paths outside the archive, sizes that deflate could produce, JSON members at
most ``MAX_JSON_BYTES``); the weights member is refused when it declares more bytes than the
model its config describes can justify (``weights_budget``), then copied out in bounded chunks and
read by ``safe_h5``. The config becomes a model through ``config_in`` (registry lookups only). Every
weight is read and checked before any variable changes.
"""
import json
import warnings
import zipfile

from framework.config.bounded_yaml import cut, short
from framework.config.registry import custom_object_scope
from framework.saving.keras_files import config_in, safe_h5, weights_in
from framework.saving.keras_files.refusal import KerasFileError
from framework.saving.members import ArchiveReader
from framework.saving.model_config import model_from_config

MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
MAX_JSON_BYTES = 16 * 2**20
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def weights_budget(model):
    """The most bytes a ``model.weights.h5`` of ``model`` can honestly take: its weights, an optimizer's
    slots (up to three copies) and 16 MiB of HDF5 structure."""
    return 4 * sum(w.value.nbytes for w in model.weights) + 16 * 2**20


def read_json(data, where):
    try:
        return json.loads(data)
    except RecursionError:
        raise KerasFileError(f"{where}: nested too deeply to read") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise KerasFileError(f"{where}: not valid JSON ({cut(e)})") from None


def build_model(document, where):
    """The model a translated ``{'class_name', 'config'}`` describes; failures name ``where``."""
    try:
        return model_from_config(document["config"], sequential=document["class_name"] == "Sequential")
    except KerasFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise KerasFileError(f"{where}: the model could not be rebuilt ({type(e).__name__}: {cut(e, 400)})") from None
    except RecursionError:
        raise KerasFileError(f"{where}: the model config is nested too deeply to rebuild") from None


def config_orders(document, model, orders=None):
    """``{id(model): [layers in the config's order]}`` for ``model`` and the models inside it."""
    orders = {} if orders is None else orders
    config = document["config"]
    names = []
    for entry in config["layers"]:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        names.append(name)
        if entry.get("class_name") in ("Functional", "Sequential"):
            config_orders(entry, model.get_layer(name), orders)
    if document["class_name"] == "Sequential":
        orders[id(model)] = [layer for layer in model.layers if layer.name in names]
    else:
        orders[id(model)] = [model.get_layer(name) for name in names]
    return orders


def compile_from(model, settings, where):
    """Compile ``model`` with Keras's saved compile settings where they map; warn where they do not."""
    if not settings:
        return
    try:
        model.compile(**config_in.compile_arguments(settings, where))
    except (ValueError, TypeError, KeyError) as e:
        warnings.warn(f"{where}: the model is loaded uncompiled; its compile settings do not map to this "
                      f"library ({cut(e, 300)})", stacklevel=3)


def load_keras_archive(path, compile=True, custom_objects=None):
    """A model from a Keras 3 ``.keras`` file (see the module docstring)."""
    with ArchiveReader(path, members=MEMBERS, required=("config.json", "model.weights.h5")) as archive, \
            custom_object_scope(custom_objects):
        where = f"{archive.path}: config.json"
        with archive.member("config.json"):
            entry = read_json(archive.read("config.json", MAX_JSON_BYTES), where)
        if archive.has("metadata.json"):
            with archive.member("metadata.json"):
                metadata = read_json(archive.read("metadata.json", MAX_JSON_BYTES), f"{archive.path}: metadata.json")
            if not isinstance(metadata, dict):
                raise KerasFileError(f"{archive.path}: metadata.json must be a mapping, received {short(metadata)}")
        document = config_in.model_document(entry, where)
        model = build_model(document, where)
        spooled = archive.spool("model.weights.h5", weights_budget(model))
        with spooled, safe_h5.open_h5(spooled, f"{archive.path}: model.weights.h5") as h5file:
            pairs = weights_in.read_keras3(h5file, model, f"{archive.path}: model.weights.h5",
                                           config_orders(document, model))
        if compile and isinstance(entry, dict) and entry.get("compile_config"):
            compile_from(model, entry["compile_config"], f"{archive.path}: config.json: compile_config")
    weights_in.assign(pairs)
    return model


def load_legacy_h5(path, compile=True, custom_objects=None):
    """A model from a legacy ``.h5`` file (``model_config`` attribute and ``model_weights`` group)."""
    where = str(path)
    with safe_h5.open_h5(path, where) as h5file, custom_object_scope(custom_objects):
        text = safe_h5.read_text(h5file, "model_config", where, "/")
        if text is None:
            raise KerasFileError(f"{where}: holds no model_config attribute (a weights-only file: build the model, "
                                 "then model.load_weights)")
        entry = read_json(text, f"{where}: model_config")
        document = config_in.model_document(entry, f"{where}: model_config")
        model = build_model(document, f"{where}: model_config")
        pairs = weights_in.read_legacy(h5file, model, where)
        training = safe_h5.read_text(h5file, "training_config", where, "/") if compile else None
        if training:
            compile_from(model, read_json(training, f"{where}: training_config"), f"{where}: training_config")
    weights_in.assign(pairs)
    return model


def load_keras_weights(model, path):
    """Weights from a Keras ``.weights.h5`` (Keras 3 layout), a legacy ``.h5`` or a ``.keras`` file,
    into ``model`` (the same architecture)."""
    where = str(path)
    if is_zip(path):
        with ArchiveReader(path, members=MEMBERS, required=("model.weights.h5",)) as archive:
            spooled = archive.spool("model.weights.h5", weights_budget(model))
            with spooled, safe_h5.open_h5(spooled, f"{where}: model.weights.h5") as h5file:
                pairs = weights_in.read_keras3(h5file, model, f"{where}: model.weights.h5")
    else:
        with safe_h5.open_h5(path, where) as h5file:
            reader = weights_in.read_legacy if weights_in.is_legacy(h5file) else weights_in.read_keras3
            pairs = reader(h5file, model, where)
    weights_in.assign(pairs)


def _head(path, count):
    try:
        with open(path, "rb") as f:
            return f.read(count)
    except OSError:
        return b""


def is_zip(path):
    return _head(path, 4) == b"PK\x03\x04"


def is_hdf5(path):
    return _head(path, 8) == HDF5_SIGNATURE


def is_keras_archive(path):
    """A zip holding ``config.json`` (Keras 3), as opposed to this library's archive (``model.yaml``)."""
    if not is_zip(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "config.json" in names and "model.yaml" not in names
