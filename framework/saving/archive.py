"""Model files: one zip archive holding everything needed to predict and to resume training.

Members (all data, no code):
    metadata.yaml    format version, weight paths and shapes
    model.yaml       the model config (framework.saving.model_config)
    weights.npz      the weights, in ``model.weights`` order
    compile.yaml     optimizer, losses and metrics, when the model was compiled
    optimizer.npz    the optimizer's slots (momentum, Adam's m and v, ...)
    state.yaml       the training position: optimizer step, epochs done, random generator states

Loading never runs code: class names are looked up in the registries only, YAML is
read by the bounded safe reader (``framework.config.bounded_yaml``), and arrays by
``framework.saving.arrays``, which checks every ``.npy`` header (no objects, no
pickles; the exact shape and a real dtype) before reading its data. Every member is
checked before it is read (``framework.saving.members``): only the names above, each
once, sizes that the model config justifies. Every failure is an ``ArchiveError``
naming the file and the member, and nothing is assigned to a model until the whole
file has been read and checked. Saving writes a temporary file next to the target and
renames it (``framework.saving.atomic``), so a failed save leaves the previous file
intact.
"""
import io
import zipfile

import numpy as np
import yaml

from framework import losses, metrics, optimizers
from framework.config.bounded_yaml import short
from framework.config.registry import custom_object_scope
from framework.layers.serialization import plain
from framework.saving.arrays import ArraySpec, npz_budget, read_npz
from framework.saving.atomic import atomic_write
from framework.saving.members import MEMBERS, ArchiveError, ArchiveReader  # noqa: F401 (public names)
from framework.saving.model_config import model_from_document, to_yaml
from framework.utils.random import get_global_state, global_generator, set_global_state

FORMAT = "framework.archive/1"
TRAINING_MEMBERS = ("compile.yaml", "optimizer.npz", "state.yaml")
COMPILE_KEYS = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")
STATE_KEYS = ("optimizer", "epochs_done", "global_rng", "layer_rng")


# ----- writing --------------------------------------------------------------------------------
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
def load_model(path, compile=True, custom_objects=None):
    """A model from ``model.save(path)``: same predictions, and training resumes where it stopped.
    ``custom_objects`` (name -> class or function) gives back unregistered classes, as in Keras.
    Raises ``ArchiveError`` (a ValueError) naming the file and member for any invalid file."""
    with ArchiveReader(path) as archive, custom_object_scope(custom_objects):
        metadata = _metadata(archive)
        with archive.member("model.yaml"):
            model = model_from_document(archive.yaml("model.yaml"), f"{archive.path}: model.yaml")
        weights = _read_weights(archive, model, metadata)
        _check_training_members(archive)
        training = None
        if compile and archive.has("compile.yaml"):
            config = _compile_config(archive)
            with archive.member("compile.yaml"):
                model.compile(**config)
            training = _read_training_state(archive, model)
    _assign_weights(model, weights)
    if training is not None:
        _apply_training_state(model, *training)
    return model


def restore_checkpoint(model, path):
    """Load a saved model's weights and training state into ``model`` (same architecture,
    compiled): what BackupAndRestore needs to continue an interrupted fit. The whole file is
    read and checked before anything in ``model`` changes."""
    with ArchiveReader(path) as archive:
        weights = _read_weights(archive, model, _metadata(archive))
        _check_training_members(archive)
        training = _read_training_state(archive, model) if archive.has("state.yaml") else None
    _assign_weights(model, weights)
    if training is not None:
        _apply_training_state(model, *training)


def _metadata(archive):
    metadata = archive.yaml("metadata.yaml")
    found = metadata.get("format") if isinstance(metadata, dict) else metadata
    if found != FORMAT:
        raise ArchiveError(f"{archive.path}: unknown model file format {short(found)}; expected {FORMAT}")
    if not isinstance(metadata.get("weights"), list):
        raise ArchiveError(f"{archive.path}: metadata.yaml: 'weights' must be a list of {{path, shape, dtype}}, "
                           f"received {type(metadata.get('weights')).__name__}")
    return metadata


def _check_training_members(archive):
    present = [name for name in TRAINING_MEMBERS if archive.has(name)]
    if present and len(present) != len(TRAINING_MEMBERS):
        missing = [name for name in TRAINING_MEMBERS if name not in present]
        raise ArchiveError(f"{archive.path}: holds {', '.join(present)} without {', '.join(missing)}; a saved "
                           "training state has all three")


def _read_arrays(archive, name, specs, noun, allow_empty=False):
    spooled = archive.spool(name, npz_budget(specs))
    with spooled, archive.member(name):
        return read_npz(spooled, f"{archive.path}: {name}", specs, noun, allow_empty)


def _weight_spec(entry, variable, where):
    if not isinstance(entry, dict) or "shape" not in entry or "dtype" not in entry:
        raise ArchiveError(f"{where}: expected a mapping with 'shape' and 'dtype', received {short(entry)}")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise ArchiveError(f"{where}: 'shape' must be a list of integers, received {short(shape)}")
    if tuple(shape) != tuple(variable.shape):
        raise ArchiveError(f"{where}: declares shape {short(tuple(shape))}; the model config makes {variable.shape}")
    try:
        dtype = np.dtype(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    except (TypeError, ValueError):
        dtype = None
    own = np.dtype(variable.dtype)
    if dtype is None or not ((dtype.kind == "f" and dtype.itemsize in (2, 4, 8)) or dtype == own):
        raise ArchiveError(f"{where}: declares dtype {short(entry['dtype'])}; weights are float16, float32, "
                           f"float64 or the variable's own {own}")
    return ArraySpec(variable.shape, dtype)


def _read_weights(archive, model, metadata):
    """The weights of ``weights.npz``, each checked against the model config and metadata.yaml."""
    described, variables = metadata["weights"], model.weights
    if len(described) != len(variables):
        raise ArchiveError(f"{archive.path}: metadata.yaml lists {len(described)} weights, the model config makes "
                           f"{len(variables)}")
    specs = {f"w{i:05d}": _weight_spec(entry, var, f"{archive.path}: metadata.yaml, weight {i} ({var.path})")
             for i, (entry, var) in enumerate(zip(described, variables))}
    return _read_arrays(archive, "weights.npz", specs, "weight arrays")


def _assign_weights(model, arrays):
    for i, var in enumerate(model.weights):
        var.assign(arrays[f"w{i:05d}"])


def _compile_config(archive):
    config = archive.yaml("compile.yaml")
    if not isinstance(config, dict):
        raise ArchiveError(f"{archive.path}: compile.yaml: expected a mapping of compile() arguments, received "
                           f"{type(config).__name__}")
    unknown = [key for key in config if key not in COMPILE_KEYS]
    if unknown:
        raise ArchiveError(f"{archive.path}: compile.yaml: unknown key {short(unknown[0])}; compile() arguments "
                           f"saved are {', '.join(COMPILE_KEYS)}")
    return config


def _number(value, like, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArchiveError(f"{what} must be a number, received {short(value)}")
    return type(like)(value)


def _checked_rng(state, generator, what):
    """``state`` once a scratch bit generator of the same kind has accepted it."""
    if not isinstance(state, dict):
        raise ArchiveError(f"{what} must be a bit generator state (a mapping), received {short(state)}")
    scratch = type(generator.bit_generator)()
    try:
        scratch.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise ArchiveError(f"{what} is not a valid {type(scratch).__name__} state ({short(str(e))})") from None
    return state


def _read_training_state(archive, model):
    """``(checked state, optimizer slots)`` from state.yaml and optimizer.npz, all checked."""
    state, where = archive.yaml("state.yaml"), f"{archive.path}: state.yaml"
    if not isinstance(state, dict) or sorted(map(str, state)) != sorted(STATE_KEYS):
        got = sorted(map(str, state))[:8] if isinstance(state, dict) else type(state).__name__
        raise ArchiveError(f"{where}: expected a mapping with keys {', '.join(STATE_KEYS)}, received {short(got)}")
    optimizer = model.optimizer
    scalars = state["optimizer"]
    if not isinstance(scalars, dict) or sorted(map(str, scalars)) != sorted(optimizer.state_scalars):
        raise ArchiveError(f"{where}: 'optimizer' must map exactly {', '.join(optimizer.state_scalars)} to numbers "
                           f"for {type(optimizer).__name__}, received {short(scalars)}")
    scalars = {name: _number(scalars[name], getattr(optimizer, name), f"{where}: optimizer.{name}")
               for name in optimizer.state_scalars}
    epochs = state["epochs_done"]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ArchiveError(f"{where}: 'epochs_done' must be an integer >= 0, received {short(epochs)}")
    layers, layer_states = _random_layers(model), state["layer_rng"]
    if not isinstance(layer_states, list) or len(layer_states) != len(layers):
        count = len(layer_states) if isinstance(layer_states, list) else short(layer_states)
        raise ArchiveError(f"{where}: 'layer_rng' holds {count} random layer states, the model has {len(layers)} "
                           "layers with their own generator")
    for i, (layer, rng_state) in enumerate(zip(layers, layer_states)):
        _checked_rng(rng_state, layer.generator, f"{where}: layer_rng[{i}] ({layer.name})")
    _checked_rng(state["global_rng"], global_generator(), f"{where}: global_rng")
    arena = model.parameter_arena()
    optimizer.build(arena.params.size, arena.params.dtype)
    specs = {name: ArraySpec(slot.shape, slot.dtype) for name, slot in optimizer.slots.items()}
    # an optimizer that never stepped has no slots yet: an empty optimizer.npz is then its true state
    slots = _read_arrays(archive, "optimizer.npz", specs, "optimizer slots", allow_empty=scalars["_iterations"] == 0)
    return {"scalars": scalars, "epochs": epochs, "layer_rng": layer_states, "global_rng": state["global_rng"]}, slots


def _apply_training_state(model, state, slots):
    arena = model.parameter_arena()
    model.optimizer.set_state(state["scalars"], slots, arena.params.size, arena.params.dtype)
    model.epochs_done = state["epochs"]
    for layer, rng_state in zip(_random_layers(model), state["layer_rng"]):
        layer.generator.bit_generator.state = rng_state
    set_global_state(state["global_rng"])


# ----- weights only -----------------------------------------------------------------------------
def save_weights(model, path):
    """The weights alone, as an ``.npz`` of arrays in ``model.weights`` order (written atomically)."""
    data = _npz_bytes({f"w{i:05d}": w.value for i, w in enumerate(model.weights)})
    atomic_write(path, lambda f: f.write(data))


def load_weights(model, path):
    """Weights from ``save_weights``: the same number of arrays, each of its variable's shape and a
    real floating dtype, every header checked before its data is read."""
    specs = {f"w{i:05d}": ArraySpec(w.shape, None if np.dtype(w.dtype).kind == "f" else w.dtype)
             for i, w in enumerate(model.weights)}
    _assign_weights(model, read_npz(path, str(path), specs, "weight arrays"))
