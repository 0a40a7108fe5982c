"""Regression metrics: mean squared, root mean squared, mean absolute and mean absolute
percentage errors, and cosine similarity."""
import functools

import numpy as np

from framework import backend
from framework.kernels import metrics as K
from framework.losses.loss import reshape_view, squeeze_or_expand_to_same_rank
from framework.losses.regression_losses import mean_absolute_error, mean_squared_error
from framework.metrics.metric import register
from framework.metrics.metrics_utils import _sample_weights, _targets_like
from framework.metrics.reduction_metrics import _BuiltinWrapper


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon)), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
    return 100.0 * np.mean(np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), backend.epsilon())), axis=-1)


def _l2_normalize(x, axis):
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        return x * np.minimum(1.0 / np.sqrt(square_sum), 1.0 / backend.epsilon())


def cosine_similarity(y_true, y_pred, axis=-1):
    """``sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``; a zero vector gives 0."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
    return np.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


@register("MeanSquaredError", "mean_squared_error", "mse", "MSE")
class MeanSquaredError(_BuiltinWrapper):
    """Mean of ``mean(square(y_true - y_pred), axis=-1)``."""

    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)

    def _kernel(self):
        return K.elementwise_mean, (K.SQUARED_ERROR, 0.0)


@register("MeanAbsoluteError", "mean_absolute_error", "mae", "MAE")
class MeanAbsoluteError(_BuiltinWrapper):
    """Mean of ``mean(abs(y_true - y_pred), axis=-1)``."""

    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)

    def _kernel(self):
        return K.elementwise_mean, (K.ABSOLUTE_ERROR, 0.0)


@register("RootMeanSquaredError", "root_mean_squared_error")
class RootMeanSquaredError(_BuiltinWrapper):
    """``sqrt`` of the weighted mean of ``mean(square(y_true - y_pred), axis=-1)``."""

    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)

    def _kernel(self):
        return K.elementwise_mean, (K.SQUARED_ERROR, 0.0)

    def result(self):
        return float(np.sqrt(super().result()))


@register("MeanAbsolutePercentageError", "mean_absolute_percentage_error", "mape", "MAPE")
class MeanAbsolutePercentageError(_BuiltinWrapper):
    """Mean of ``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon)), axis=-1)``."""

    _direction = "down"

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)

    def _kernel(self):
        return K.elementwise_mean, (K.ABSOLUTE_PERCENTAGE_ERROR, float(backend.epsilon()))


@register("CosineSimilarity", "cosine_similarity")
class CosineSimilarity(_BuiltinWrapper):
    """Mean cosine similarity between y_true and y_pred along ``axis`` (1 = same direction).

    Args:
        axis: the axis the similarity is computed along (not the batch axis in a plan).
    """

    _direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        self.axis = int(axis)
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=self.axis)

    def bind(self, y_true, y_pred, sample_weight=None):
        if not isinstance(y_pred, np.ndarray) or y_pred.ndim < 2:
            raise NotImplementedError(f"Metric {self.name!r}: a plan needs y_pred of rank >= 2")
        axis = self.axis % y_pred.ndim
        if axis == 0:
            raise NotImplementedError(f"Metric {self.name!r}: axis=0 (the batch axis) runs eagerly")
        s = y_pred.shape
        shape = (s[0], int(np.prod(s[1:axis])), s[axis], int(np.prod(s[axis + 1:])))
        y = reshape_view(y_pred, shape, "y_pred")
        t = _targets_like(y_true, shape, y_pred, self)
        w = _sample_weights(sample_weight, s[0], self)
        return functools.partial(K.cosine_similarity, t, y, w, self._state)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
