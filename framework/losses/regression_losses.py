"""Regression losses: mean squared, mean absolute, Huber, mean absolute percentage and mean
squared logarithmic errors, cosine similarity and log-cosh, as functions and as classes."""
import numpy as np

from framework import backend
from framework.kernels import losses as K
from framework.losses.loss import Loss, _as_arrays, _check_axis, register, squeeze_or_expand_to_same_rank


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_as_arrays(y_true, y_pred))
    return np.mean(np.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_as_arrays(y_true, y_pred))
    return np.mean(np.abs(y_true - y_pred), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """``mean(0.5 e^2 if |e| <= delta else delta |e| - 0.5 delta^2, axis=-1)``, e = y_pred - y_true."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_as_arrays(y_true, y_pred))
    e = y_pred - y_true
    a = np.abs(e)
    return np.mean(np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon)), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_as_arrays(y_true, y_pred))
    diff = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), backend.epsilon()))
    return 100.0 * np.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_as_arrays(y_true, y_pred))
    eps = backend.epsilon()
    return np.mean(np.square(np.log1p(np.maximum(y_pred, eps)) - np.log1p(np.maximum(y_true, eps))), axis=-1)


def _l2_normalize(x, axis):
    """Keras's ``ops.normalize`` (order 2): ``x * minimum(rsqrt(sum(x^2)), 1 / epsilon)``."""
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        inv_norm = np.minimum(1.0 / np.sqrt(square_sum), 1.0 / backend.epsilon())
    return x * inv_norm


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for equal directions, 0 for a zero vector."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_as_arrays(y_true, y_pred))
    return -np.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as ``x + softplus(-2x) - log(2)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(*_as_arrays(y_true, y_pred))
    x = y_pred - y_true
    return np.mean(x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0), axis=-1)


@register("MeanSquaredError", "mean_squared_error", "mse", "MSE")
class MeanSquaredError(Loss):
    """``mean(square(y_true - y_pred), axis=-1)`` per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)

    def _kernel(self, fused):
        return K.mean_squared_error, ()


@register("MeanAbsoluteError", "mean_absolute_error", "mae", "MAE")
class MeanAbsoluteError(Loss):
    """``mean(abs(y_true - y_pred), axis=-1)`` per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)

    def _kernel(self, fused):
        return K.mean_absolute_error, ()


@register("Huber", "huber", "huber_loss")
class Huber(Loss):
    """Quadratic for ``|error| <= delta``, linear beyond; averaged over the last axis.

    Args:
        delta: the point where the loss changes from quadratic to linear.
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, self.delta)

    def _kernel(self, fused):
        return K.huber, (self.delta,)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


@register("MeanAbsolutePercentageError", "mean_absolute_percentage_error", "mape", "MAPE")
class MeanAbsolutePercentageError(Loss):
    """``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), epsilon)), axis=-1)`` per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return mean_absolute_percentage_error(y_true, y_pred)

    def _kernel(self, fused):
        return K.mean_absolute_percentage_error, (backend.epsilon(),)


@register("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", "msle", "MSLE")
class MeanSquaredLogarithmicError(Loss):
    """``mean(square(log(y_pred + 1) - log(y_true + 1)), axis=-1)``, values below epsilon raised to epsilon."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return mean_squared_logarithmic_error(y_true, y_pred)

    def _kernel(self, fused):
        return K.mean_squared_logarithmic_error, (backend.epsilon(),)


@register("CosineSimilarity", "cosine_similarity")
class CosineSimilarity(Loss):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: in [-1, 1], -1 when aligned.

    A zero vector gives 0 (Keras's normalize caps ``1 / norm`` at ``1 / epsilon``).

    Args:
        axis: the axis along which the similarity is computed (only -1 in a plan).
    """

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = axis

    def call(self, y_true, y_pred):
        return cosine_similarity(y_true, y_pred, self.axis)

    def _kernel(self, fused):
        _check_axis(self)
        return K.cosine_similarity, (backend.epsilon(),)

    def get_config(self):
        # Keras 3 leaves `axis` out of this config (so it does not round-trip); it is kept here.
        return {**super().get_config(), "axis": self.axis}


@register("LogCosh", "log_cosh")
class LogCosh(Loss):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``: about ``x^2 / 2`` for small errors, ``|x| - log 2`` for large."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return log_cosh(y_true, y_pred)

    def _kernel(self, fused):
        return K.log_cosh, ()
