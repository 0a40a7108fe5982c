"""Layers called on NumPy arrays: ``layer(x)`` returns arrays, by one path for every layer.

A layer runs on arrays through the plan of a one-layer model, built once per input
signature (sample shapes, dtypes, graph-changing call options) and kept on the layer.
Models sit above layers, so the function that makes that model is installed from
above (``framework.models.eager`` installs it when ``framework.models`` is imported).
"""
import numpy as np

from framework import backend

_MODEL_MAKER = []


def install_model_maker(make):
    """Set ``make(input_specs, call)``: a model from ``Input``s of ``input_specs`` (a list of
    (sample shape, dtype)) to the outputs of ``call(inputs)``."""
    _MODEL_MAKER[:] = [make]


def call_on_arrays(layer, arrays, call, flags=(), training=False, keep_kinds="f"):
    """Outputs of ``call(input tensors)`` (symbolic calls of ``layer``) for NumPy ``arrays``.

    Args:
        layer: the layer being called; its one-layer models are cached on it.
        arrays: the input arrays, one per input tensor ``call`` receives.
        call: builds the layer's symbolic outputs from a list of ``Input`` tensors.
        flags: hashable call options that change the graph (part of the cache key).
        training: run in training mode (dropout active, batch statistics).
        keep_kinds: dtype kinds ('f' float, 'b' bool) whose arrays keep their dtype as the
            Input's; other arrays are read as ``floatx()``.
    """
    if not _MODEL_MAKER:
        raise RuntimeError(f"Layer '{layer.name}' cannot run on arrays before framework.models is imported "
                           "(import framework)")
    arrays = [np.asarray(a) for a in arrays]
    key = (tuple((a.shape[1:], a.dtype.name) for a in arrays), flags)
    cache = layer.__dict__.setdefault("_eager_models", {})
    if key not in cache:
        specs = [(a.shape[1:], a.dtype.name if a.dtype.kind in keep_kinds else backend.floatx()) for a in arrays]
        cache[key] = _MODEL_MAKER[0](specs, call)
        layer.inbound_nodes.pop()  # the one-layer model keeps its node; the layer forgets it
    return cache[key](arrays if len(arrays) > 1 else arrays[0], training=bool(training))
