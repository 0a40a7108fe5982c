"""Loss terms a layer adds with ``add_loss`` (Keras's activity regularizers, a VAE's KL term).

In a ``call()`` traced into a model's graph the term is a tensor: it is kept with the trace (the
node's ``Subgraph``), the compiler adds its sum to the loss of every train and eval step and seeds
its gradient with one. On arrays (a layer called eagerly) the term is a value, kept on the layer
until its next top-level call, as Keras resets ``layer.losses`` at the start of each call.
"""
import threading

import numpy as np

from framework import backend
from framework.graph.tensor import SymbolicTensor
from framework.variables import Variable

_state = threading.local()


class Collected(list):
    """The ``add_loss`` terms of one trace; ``updates`` holds its variable updates (framework.ops.updates)."""

    def __init__(self):
        super().__init__()
        self.updates = []


class collecting:
    """Context manager: the symbolic terms ``add_loss`` records while a ``call()`` is traced (and,
    in ``terms.updates``, the variable updates it makes).

    Args:
        owner: the layer whose ``call()`` is traced (named in errors).
    """

    def __init__(self, owner):
        self.owner = owner
        self.terms = Collected()

    def __enter__(self):
        _stack().append(self)
        return self.terms

    def __exit__(self, *exc):
        _stack().pop()


def _stack():
    if not hasattr(_state, "stack"):
        _state.stack, _state.depth = [], 0
    return _state.stack


def tracing():
    """True while a ``call()`` is being traced (its ``add_loss`` terms are being collected), and not
    inside a layer called on arrays within it."""
    stack = _stack()
    return bool(stack) and stack[-1] is not None


def record_update(variable, tensor):
    """An update node of ``variable`` made in the ``call()`` being traced joins that trace."""
    if not tracing():
        raise TypeError(f"Variable '{variable.path}': assign() of a symbolic tensor happens only inside a layer's "
                        "call() (it becomes a step of the layer's node); outside one, assign arrays")
    _stack()[-1].terms.updates.append(tensor)


def record(layer, value):
    """``layer.add_loss(value)``: a tensor joins the trace being made, a value joins ``layer.losses``."""
    if isinstance(value, SymbolicTensor):
        stack = _stack()
        if not tracing():
            raise ValueError(f"Layer '{layer.name}': add_loss() was given symbolic tensor '{value.name}' outside "
                             "a call() being traced; call it inside call(), or on a model with model.add_loss()")
        stack[-1].terms.append(value)
        return
    value = np.asarray(value.value if isinstance(value, Variable) else value)
    if value.dtype == np.float64 and layer.dtype != "float64":  # a Python float: the layer's compute dtype
        value = value.astype(backend.floatx())
    layer.__dict__.setdefault("_added_losses", []).append(value)


class eager_call:
    """Context manager around a layer called on arrays: the outermost call clears the terms
    recorded by the layer and its inner layers in the previous call.

    Args:
        layer: the layer being called.
    """

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        _stack().append(None)  # arrays inside a trace compute at once: no trace is being made here
        if _state.depth == 0:
            for layer in _layers_of(self.layer):
                layer.__dict__["_added_losses"] = []
        _state.depth += 1

    def __exit__(self, *exc):
        _state.depth -= 1
        _stack().pop()


def _layers_of(layer):
    found, pending, seen = [], [layer], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        pending.extend(current.layers if current.has_graph else current.tracked_layers())
    return found


def losses_of(layer):
    """The values added in the layer's last call (its inner layers' too), then the penalties of
    its weights' regularizers, as Keras's ``layer.losses``."""
    values = [v for current in _layers_of(layer) for v in current.__dict__.get("_added_losses", [])]
    penalties = [np.asarray(w.regularizer(w.value), dtype=w.value.dtype) for w in layer.weights
                 if w.regularizer is not None]
    return values + penalties
