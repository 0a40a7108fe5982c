"""Model files: one zip archive holding everything needed to predict and to resume training.

Members (all data, no code):
    metadata.yaml    format version, weight paths and shapes
    model.yaml       the model config (framework.saving.model_config)
    weights.npz      the weights, in ``model.weights`` order
    compile.yaml     optimizer, losses and metrics, when the model was compiled
    optimizer.npz    the optimizer's slots (momentum, Adam's m and v, ...)
    state.yaml       the training position: optimizer step, epochs done, random generator states

Loading never runs code: class names are looked up in the registries only, YAML is
read with ``yaml.safe_load``, arrays with ``np.load(allow_pickle=False)``, and an
archive with any other member, a path outside the archive, or a pickled array is
refused. Saving writes a temporary file next to the target and renames it, so a
failed save leaves the previous file intact.
"""
import io
import os
import tempfile
import zipfile

import numpy as np
import yaml

from framework import losses, metrics, optimizers
from framework.layers.serialization import plain
from framework.saving.model_config import model_from_document, to_yaml
from framework.utils.random import get_global_state, set_global_state

FORMAT = "framework.archive/1"
MEMBERS = ("metadata.yaml", "model.yaml", "weights.npz", "compile.yaml", "optimizer.npz", "state.yaml")
MAX_MEMBER_BYTES = 8 * 2**30


class ArchiveError(ValueError):
    """A model file that is not a valid, safe framework archive."""


# ----- writing --------------------------------------------------------------------------------
def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary file, then rename it to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def _npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save_model(model, path):
    """Write ``model`` (config, weights, compile settings, optimizer state, position) to ``path``."""
    weights = model.weights
    members = {
        "metadata.yaml": yaml.safe_dump({"format": FORMAT, "weights": [
            {"path": w.path, "shape": list(w.shape), "dtype": w.dtype} for w in weights]}, sort_keys=False),
        "model.yaml": to_yaml(model),
        "weights.npz": _npz_bytes({f"w{i:05d}": w.value for i, w in enumerate(weights)}),
    }
    if model.compiled:
        members["compile.yaml"] = yaml.safe_dump(compile_config(model), sort_keys=False)
        scalars, slots = model.optimizer.get_state()
        members["optimizer.npz"] = _npz_bytes(slots)
        members["state.yaml"] = yaml.safe_dump(plain(training_state(model, scalars)), sort_keys=False)

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    atomic_write(path, write)


def compile_config(model):
    """compile()'s arguments as plain data (objects serialized by registry name)."""
    cfg = model.compile_arguments

    def each(value, serialize):
        if isinstance(value, dict):
            return {k: each(v, serialize) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [each(v, serialize) for v in value]
        return value if value is None or isinstance(value, str) else serialize(value)
    return plain({"optimizer": optimizers.serialize(model.optimizer),
                  "loss": each(cfg["loss"], lambda v: losses.serialize(losses.get(v))),
                  "loss_weights": cfg["loss_weights"],
                  "metrics": each(cfg["metrics"], lambda v: metrics.serialize(metrics.get(v))),
                  "weighted_metrics": each(cfg["weighted_metrics"], lambda v: metrics.serialize(metrics.get(v)))})


def training_state(model, optimizer_scalars):
    return {"optimizer": optimizer_scalars, "epochs_done": model.epochs_done,
            "global_rng": get_global_state(),
            "layer_rng": [layer.generator.bit_generator.state for layer in _random_layers(model)]}


def _random_layers(model):
    """Layers with their own generator (Dropout), in model order: states are matched by position,
    so a backup restores into a rebuilt model whose layers got other automatic names."""
    return [layer for layer in _flat_layers(model) if hasattr(layer, "generator")]


def _flat_layers(model):
    for layer in model.layers:
        if layer.has_graph:
            yield from _flat_layers(layer)
        else:
            yield layer


# ----- reading --------------------------------------------------------------------------------
def read_archive(path):
    """The archive's members as bytes, after checking every name and size."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ArchiveError(f"{path}: not a model file (not a zip archive)") from None
    members = {}
    with archive:
        for info in archive.infolist():
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
                raise ArchiveError(f"{path}: refusing member path {name!r} (outside the archive)")
            if name not in MEMBERS:
                raise ArchiveError(f"{path}: unexpected member {name!r}; a model file holds only "
                                   f"{', '.join(MEMBERS)}")
            if info.file_size > MAX_MEMBER_BYTES:
                raise ArchiveError(f"{path}: member {name!r} is {info.file_size} bytes uncompressed; refusing")
            members[name] = archive.read(info)
    for required in ("metadata.yaml", "model.yaml", "weights.npz"):
        if required not in members:
            raise ArchiveError(f"{path}: missing member {required!r}")
    return members


def _yaml(members, name, path):
    try:
        return yaml.safe_load(members[name].decode("utf-8"))
    except yaml.YAMLError as e:
        raise ArchiveError(f"{path}: {name} is not plain YAML (Python tags and other objects are refused): "
                           f"{e}") from None


def _arrays(members, name, path):
    try:
        with np.load(io.BytesIO(members[name]), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as e:
        raise ArchiveError(f"{path}: {name} holds data that would need unpickling; refusing ({e})") from None


def load_model(path, compile=True):
    """A model from ``model.save(path)``: same predictions, and training resumes where it stopped."""
    members = read_archive(path)
    metadata = _yaml(members, "metadata.yaml", path)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ArchiveError(f"{path}: unknown model file format {metadata!r}; expected {FORMAT}")
    model = model_from_document(_yaml(members, "model.yaml", path), f"{path}: model.yaml")
    _assign_weights(model, _arrays(members, "weights.npz", path), metadata["weights"], path)
    if compile and "compile.yaml" in members:
        model.compile(**_yaml(members, "compile.yaml", path))
        if "optimizer.npz" in members and "state.yaml" in members:
            _restore_training_state(model, _yaml(members, "state.yaml", path),
                                    _arrays(members, "optimizer.npz", path))
    return model


def restore_checkpoint(model, path):
    """Load a saved model's weights and training state into ``model`` (same architecture,
    compiled): what BackupAndRestore needs to continue an interrupted fit."""
    members = read_archive(path)
    metadata = _yaml(members, "metadata.yaml", path)
    _assign_weights(model, _arrays(members, "weights.npz", path), metadata["weights"], path)
    if "optimizer.npz" in members and "state.yaml" in members:
        _restore_training_state(model, _yaml(members, "state.yaml", path), _arrays(members, "optimizer.npz", path))


def _assign_weights(model, arrays, described, path):
    weights = model.weights
    if len(arrays) != len(weights) or len(described) != len(weights):
        raise ArchiveError(f"{path}: the file holds {len(arrays)} weight arrays, the model config makes "
                           f"{len(weights)}")
    for i, var in enumerate(weights):
        value = arrays.get(f"w{i:05d}")
        if value is None or value.shape != var.shape:
            raise ArchiveError(f"{path}: weight {i} ({var.path}) should have shape {var.shape}, "
                               f"the file has {None if value is None else value.shape}")
    for i, var in enumerate(weights):
        var.assign(arrays[f"w{i:05d}"])


def _restore_training_state(model, state, slots):
    arena = model.parameter_arena()
    model.optimizer.set_state(state.get("optimizer", {}), slots, arena.params.size, arena.params.dtype)
    model.epochs_done = int(state.get("epochs_done", 0))
    layers, states = _random_layers(model), state.get("layer_rng") or []
    if len(states) != len(layers):
        raise ArchiveError(f"saved training state has {len(states)} random layer states, the model has "
                           f"{len(layers)} layers with their own generator")
    for layer, rng_state in zip(layers, states):
        layer.generator.bit_generator.state = rng_state
    if state.get("global_rng"):
        set_global_state(state["global_rng"])


# ----- weights only -----------------------------------------------------------------------------
def save_weights(model, path):
    """The weights alone, as an ``.npz`` of arrays in ``model.weights`` order (written atomically)."""
    data = _npz_bytes({f"w{i:05d}": w.value for i, w in enumerate(model.weights)})
    atomic_write(path, lambda f: f.write(data))


def load_weights(model, path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as e:
        raise ArchiveError(f"{path}: holds data that would need unpickling; refusing ({e})") from None
    _assign_weights(model, arrays, [None] * len(arrays), path)
