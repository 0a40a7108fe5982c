"""Layer configs: a layer as ``{'class_name', 'config'}`` of plain data, and back.

Rebuilding looks every class name up in a registry; nothing is imported. Layers
are in ``REGISTRY``; the model classes (``Functional``, ``Sequential``), which sit
above the layers, register themselves in ``MODELS`` so a nested model rebuilds
through the same call.
"""
import numpy as np

from framework.config.registry import Registry, custom_object
from framework.layers.layer import Layer

REGISTRY = Registry("layer", base=Layer)
MODELS = Registry("model")


def plain(value):
    """``value`` with tuples as lists and NumPy scalars/arrays as Python values (YAML/JSON-safe)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def layer_config(layer):
    """``{'class_name', 'config'}`` for a layer or a nested model."""
    if layer.has_graph:  # a model: 'Functional' or 'Sequential', its subclasses included
        return {"class_name": type(layer).registered_name, "config": layer.get_config()}
    name = vars(type(layer)).get("registered_name")
    if name is None:  # rebuilt only where the user hands the class back (custom_objects)
        return {"class_name": type(layer).__name__, "custom": True, "config": plain(layer.get_config())}
    return {"class_name": name, "config": plain(layer.get_config())}


def build_layer(entry, where="model config"):
    """A layer (or nested model) from ``{'class_name', 'config'}``, by registry lookup only."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"{where}: expected {{'class_name': ..., 'config': {{...}}}}, received {entry!r}")
    name = entry["class_name"]
    if entry.get("custom"):
        cls = custom_object(name)
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise ValueError(f"{where}: layer class {str(name)[:100]!r} is a custom class that was not registered; "
                             f"pass custom_objects={{{str(name)[:100]!r}: <the class>}} to from_config/load_model, "
                             "or register the class with @framework.utils.register_serializable()")
    else:
        cls = MODELS.lookup(name) if name in MODELS else REGISTRY.lookup(name)
    try:
        return cls.from_config(dict(entry.get("config") or {}))
    except TypeError as e:
        raise ValueError(f"{where}: invalid config for layer class {name!r}: {e}") from None
