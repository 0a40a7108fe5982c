"""Hinge losses for maximum-margin classification: hinge, squared hinge and categorical hinge,
as functions and as classes."""
import numpy as np

from framework.kernels import losses as K
from framework.losses.loss import Loss, _as_arrays, register, squeeze_or_expand_to_same_rank


def convert_binary_labels_to_hinge(y_true):
    """Keras's rule: when every label is 0 or 1, map them to -1 / 1; otherwise leave them."""
    y_true = np.asarray(y_true)
    if np.all((y_true == 0) | (y_true == 1)):
        return 2.0 * y_true - 1.0
    return y_true


def hinge(y_true, y_pred):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; {0, 1} labels become {-1, 1}."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    y_true = convert_binary_labels_to_hinge(y_true)
    return np.mean(np.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; {0, 1} labels become {-1, 1}."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    y_true = convert_binary_labels_to_hinge(y_true)
    return np.mean(np.square(np.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``maximum(neg - pos + 1, 0)`` with ``pos = sum(t * p)``, ``neg = max((1 - t) * p)`` over the last axis."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    pos = np.sum(y_true * y_pred, axis=-1)
    neg = np.max((1.0 - y_true) * y_pred, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


@register("Hinge", "hinge")
class Hinge(Loss):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``.

    Labels are expected in {-1, 1}; when all labels of a call (a batch, in
    training) are 0 or 1 they are converted to -1 / 1, as Keras does.
    """

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return hinge(*squeeze_or_expand_to_same_rank(y_true, y_pred))

    def _kernel(self, fused):
        return K.hinge, ()


@register("SquaredHinge", "squared_hinge")
class SquaredHinge(Loss):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; {0, 1} labels become {-1, 1} as in ``Hinge``."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return squared_hinge(*squeeze_or_expand_to_same_rank(y_true, y_pred))

    def _kernel(self, fused):
        return K.squared_hinge, ()


@register("CategoricalHinge", "categorical_hinge")
class CategoricalHinge(Loss):
    """``maximum(neg - pos + 1, 0)``, ``pos = sum(y_true * y_pred)``, ``neg = max((1 - y_true) * y_pred)``; one-hot targets."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return categorical_hinge(*squeeze_or_expand_to_same_rank(y_true, y_pred))

    def _kernel(self, fused):
        return K.categorical_hinge, ()
