"""Weighted means: ``Mean`` of given values, and ``MeanMetricWrapper``, the mean of a
per-sample function of (y_true, y_pred), the base of every built-in mean metric."""
import functools

import numpy as np

from framework.losses.loss import reshape_view, squeeze_or_expand_to_same_rank, view3
from framework.metrics.metric import Metric, register


def reduce_to_samplewise_values(values, sample_weight=None):
    """Keras's reduction for ``Mean``: (weighted per-sample values, per-sample weights or None).

    Values are averaged down to the weights' rank, multiplied by the weights,
    then averaged over every non-batch axis; weights of rank > 1 likewise.
    """
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        if values.ndim > sample_weight.ndim:
            values = values.mean(axis=tuple(range(sample_weight.ndim, values.ndim)))
        sample_weight = np.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if sample_weight.ndim > 1:
            sample_weight = sample_weight.mean(axis=tuple(range(1, sample_weight.ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, sample_weight


@register("Mean", "mean")
class Mean(Metric):
    """Weighted mean of the values given to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._state = np.zeros(2, dtype=np.float64)  # [total, count]; updated in place by bound kernels

    @property
    def total(self):
        return float(self._state[0])

    @property
    def count(self):
        return float(self._state[1])

    def update_state(self, values, sample_weight=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight)
        self._state[0] += values.sum()
        if sample_weight is not None:
            self._state[1] += sample_weight.sum()
        else:
            self._state[1] += values.shape[0] if values.ndim else 1

    def result(self):
        total, count = self._state
        return float(total / count) if count else 0.0

    def reset_state(self):
        self._state[:] = 0.0


class MeanMetricWrapper(Mean):
    """Mean of ``fn(y_true, y_pred, **kwargs)``: per-sample values, weighted.

    Built-in subclasses also run in plans through ``bind``; a wrapper of a
    user function is eager-only.

    Args:
        fn: ``fn(y_true, y_pred, **kwargs) -> values`` of shape (N, ...).
        name: name of the metric instance (defaults to the function's name).
        dtype: see ``Metric``.
    """

    sparse = False  # True: targets are integer labels of shape (N, *S[:-1])

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric_wrapper"), dtype=dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def target_shape(self, y_pred_shape):
        """Shape of the target buffer a plan allocates for outputs of ``y_pred_shape``."""
        return tuple(y_pred_shape[:-1]) if self.sparse else tuple(y_pred_shape)

    def _kernel(self):
        raise NotImplementedError(f"Metric {self.name!r} wraps a plain function and has no plan implementation")

    def bind(self, y_true, y_pred, sample_weight=None):
        """A no-argument callable adding one batch of buffers into the state.

        Args:
            y_true: target buffer (float, C-contiguous): same size as ``y_pred``,
                or (N, *S[:-1]) labels for sparse metrics.
            y_pred: model output buffer (N, *S).
            sample_weight: (N,) weights, or None (every sample counts 1).
        """
        kernel, extra = self._kernel()
        y = view3(y_pred, "y_pred")
        n, r, c = y.shape
        t_shape = (n, r) if self.sparse else (n, r, c)
        try:
            t = reshape_view(y_true, t_shape, "y_true")
        except ValueError as e:
            raise ValueError(f"Metric {self.name!r}: expected y_true with {int(np.prod(t_shape))} elements "
                             f"for y_pred of shape {y_pred.shape}; received shape {y_true.shape}. ({e})") from None
        w = np.ones(n) if sample_weight is None else sample_weight
        if w.shape != (n,):
            raise ValueError(f"Metric {self.name!r}: sample_weight must have shape ({n},); received {w.shape}")
        return functools.partial(kernel, t, y, w, *extra, self._state)

    def get_config(self):
        raise ValueError(f"Metric {self.name!r} wraps a plain function and cannot be serialized; "
                         f"subclass framework.metrics.Metric and register it instead")


class _BuiltinWrapper(MeanMetricWrapper):
    """A MeanMetricWrapper whose config is just {name, dtype} (plus subclass arguments)."""

    def get_config(self):
        return Metric.get_config(self)
