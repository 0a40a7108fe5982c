"""Helpers shared by the metric families: Keras's snake-case names, the state dtype rule,
safe division, and the checks and views of the buffers a bound metric reads."""
import re

import numpy as np

from framework import backend
from framework.losses.loss import reshape_view


def _snake_case(name):
    """Keras's ``to_snake_case``: 'MeanIoU' -> 'mean_io_u', 'AUC' -> 'auc'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def _is_float32(dtype):
    """Whether Keras would hold this metric's state in float32 (its dtype, else floatx)."""
    try:
        return np.dtype(dtype or backend.floatx()) != np.float64
    except TypeError:
        return True


def _divide_no_nan(x, y):
    """``x / y`` with 0 where ``y == 0`` (Keras's ``ops.divide_no_nan``)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y == 0, 0.0, x / np.where(y == 0, 1.0, y))


def _scalar_or_array(values):
    values = np.asarray(values, np.float64)
    return float(values) if values.ndim == 0 else values


def _sample_weights(sample_weight, n, metric):
    """The (n,) per-sample weight buffer a bound metric reads: ``sample_weight`` or ones."""
    w = np.ones(n) if sample_weight is None else sample_weight
    if not isinstance(w, np.ndarray) or w.shape != (n,):
        raise ValueError(f"Metric {metric.name!r}: sample_weight must have shape ({n},); "
                         f"received {getattr(w, 'shape', type(w).__name__)}")
    return w


def _targets_like(y_true, shape, y_pred, metric):
    try:
        return reshape_view(y_true, shape, "y_true")
    except ValueError as e:
        raise ValueError(f"Metric {metric.name!r}: expected y_true with {int(np.prod(shape))} elements "
                         f"for y_pred of shape {y_pred.shape}; received shape {y_true.shape}. ({e})") from None


def _per_sample_view(w, shape):
    """(N,) weights as a read-only broadcast view of ``shape`` (N, ...): no copy."""
    v = w.view()
    v.shape = (shape[0],) + (1,) * (len(shape) - 1)
    return np.broadcast_to(v, shape)
