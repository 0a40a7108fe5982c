"""A built-in loss evaluated on arrays by its plan kernel, bound once per shapes and reused.

A custom ``train_step`` calls its loss on the model's outputs at every step. The loss's kernel
(``Loss.bind``) writes the reduced value and ``d loss / d y_pred`` in one pass; binding it (views,
checks, buffers) costs more than running it on a small batch, so the bound kernel is kept per loss
and per (shapes, dtypes) of its operands: at most ``MAX_BOUND_PER_LOSS`` of them, least recently
used dropped first. A thread that finds the unit busy binds one of its own for that call.
"""
import threading
import weakref
from collections import OrderedDict

import numpy as np

from framework import backend

#: bound kernels kept per loss object (one per shapes and dtypes of its operands)
MAX_BOUND_PER_LOSS = 8

_units = weakref.WeakKeyDictionary()  # loss -> OrderedDict(key -> _BoundLoss)
_guard = threading.Lock()


class _BoundLoss:
    """The loss's kernel bound to buffers of one set of operand shapes and dtypes.

    Args:
        loss: the built-in ``Loss``.
        y_true, y_pred, sample_weight: operands of the first call (shapes and dtypes only).
    """

    def __init__(self, loss, y_true, y_pred, sample_weight):
        dtype = y_pred.dtype if y_pred.dtype.kind == "f" else np.dtype(backend.floatx())
        self.y_pred = np.empty(y_pred.shape, dtype)
        self.y_true = np.empty(y_true.shape, dtype)  # integer labels of a sparse loss read as floats
        self.weights = None if sample_weight is None else np.empty(len(y_pred), dtype)
        self.d_pred = np.empty(y_pred.shape, dtype)
        self.run = loss.bind(self.y_pred, self.y_true, self.weights, self.d_pred)
        self.lock = threading.Lock()

    def __call__(self, y_true, y_pred, sample_weight):
        np.copyto(self.y_pred, y_pred, casting="unsafe")
        np.copyto(self.y_true, y_true, casting="unsafe")
        if self.weights is not None:
            np.copyto(self.weights, np.reshape(sample_weight, self.weights.shape), casting="unsafe")
        value = self.run()
        return np.asarray(value, dtype=self.d_pred.dtype), self.d_pred.copy()


def evaluate(loss, y_true, y_pred, sample_weight=None):
    """``(value, d_pred)``: the loss of the arrays and its gradient with respect to ``y_pred`` (a new
    array), by the loss's kernel bound for these shapes."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    sample_weight = None if sample_weight is None else np.asarray(sample_weight)
    key = (y_true.shape, y_true.dtype.str, y_pred.shape, y_pred.dtype.str,
           None if sample_weight is None else sample_weight.shape)
    with _guard:
        units = _units.get(loss)
        if units is None:
            units = _units[loss] = OrderedDict()
        unit = units.get(key)
        if unit is not None and len(units) > 1:
            units.move_to_end(key)
    if unit is None:
        unit = _BoundLoss(loss, y_true, y_pred, sample_weight)
        with _guard:
            units[key] = unit
            while len(units) > MAX_BOUND_PER_LOSS:
                units.popitem(last=False)
    if not unit.lock.acquire(blocking=False):  # another thread runs it now: a unit for this call alone
        return _BoundLoss(loss, y_true, y_pred, sample_weight)(y_true, y_pred, sample_weight)
    try:
        return unit(y_true, y_pred, sample_weight)
    finally:
        unit.lock.release()
