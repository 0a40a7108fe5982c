"""Streaming metrics with Keras 3 names, arguments and weighting semantics.

A metric keeps a weighted mean: ``update_state`` adds ``sum(w * v)`` to total
and ``sum(w)`` to count, where ``v`` are per-sample values (the metric's
elementwise values averaged over every non-batch axis, as Keras's ``Mean``
reduces them) and ``w`` the sample weights (ones when none are given, so the
count is the number of samples). ``result()`` is total / count (0 when the
count is 0); ``metric(y_true, y_pred)`` updates then returns the result.

The state is a float64 array ``[total, count]``. In a plan,
``metric.bind(y_true, y_pred, sample_weight)`` returns a no-argument callable
that adds one batch into that array with a Numba kernel, allocating nothing.

``resolve_accuracy`` / ``compile_metric`` implement Keras 3's resolution of the
string 'accuracy' (or 'acc') in ``compile()``.
"""
import functools

import numpy as np

from framework.config.registry import Registry
from framework.kernels import metrics as K
from framework.losses import (mean_absolute_error, mean_squared_error, reshape_view,
                              squeeze_or_expand_to_same_rank, view3)

REGISTRY = Registry("metric")
register = REGISTRY.register


# ----------------------------------------------------------------------------- eager functions

def accuracy(y_true, y_pred):
    """``mean(y_true == y_pred, axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return np.mean(y_true == y_pred, axis=-1, dtype=np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """``mean(y_true == (y_pred > threshold), axis=-1)``."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return np.mean(y_true == (y_pred > threshold), axis=-1, dtype=np.float64)


def categorical_accuracy(y_true, y_pred):
    """``argmax(y_true, -1) == argmax(y_pred, -1)`` (first index on ties)."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """``y_true == argmax(y_pred, -1)`` for integer labels of shape (N, ...) or (N, ..., 1)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == np.argmax(y_pred, axis=-1)).astype(np.float64)


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


# ----------------------------------------------------------------------------- classes

class Metric:
    """Base class of streaming metrics.

    Args:
        name: name of the metric instance (the key in training logs).
        dtype: kept for Keras compatibility and config; state is float64.
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or type(self).__name__.lower()
        self.dtype = dtype

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the result so far (as Keras 3)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def bind(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError(f"Metric {self.name!r} ({type(self).__name__}) has no plan implementation")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


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


@register("Accuracy", "accuracy", "acc")
class Accuracy(_BuiltinWrapper):
    """How often ``y_pred`` equals ``y_true`` exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)

    def _kernel(self):
        return K.elementwise_mean, (K.EQUAL, 0.0)


@register("BinaryAccuracy", "binary_accuracy")
class BinaryAccuracy(_BuiltinWrapper):
    """How often ``y_pred > threshold`` equals the binary label.

    Args:
        threshold: in (0, 1); predictions above it count as 1.
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(f"Invalid value for argument `threshold`. Expected a value in interval (0, 1). "
                             f"Received: threshold={threshold}")
        self.threshold = 0.5 if threshold is None else float(threshold)
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=self.threshold)

    def _kernel(self):
        return K.elementwise_mean, (K.BINARY_EQUAL, self.threshold)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


@register("CategoricalAccuracy", "categorical_accuracy")
class CategoricalAccuracy(_BuiltinWrapper):
    """How often ``argmax(y_pred)`` equals ``argmax(y_true)`` (one-hot targets)."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)

    def _kernel(self):
        return K.categorical_accuracy, ()


@register("SparseCategoricalAccuracy", "sparse_categorical_accuracy")
class SparseCategoricalAccuracy(_BuiltinWrapper):
    """How often ``argmax(y_pred)`` equals the integer label."""

    sparse = True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def _kernel(self):
        return K.sparse_categorical_accuracy, ()


@register("MeanSquaredError", "mean_squared_error", "mse", "MSE")
class MeanSquaredError(_BuiltinWrapper):
    """Mean of ``mean(square(y_true - y_pred), axis=-1)``."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)

    def _kernel(self):
        return K.elementwise_mean, (K.SQUARED_ERROR, 0.0)


@register("MeanAbsoluteError", "mean_absolute_error", "mae", "MAE")
class MeanAbsoluteError(_BuiltinWrapper):
    """Mean of ``mean(abs(y_true - y_pred), axis=-1)``."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)

    def _kernel(self):
        return K.elementwise_mean, (K.ABSOLUTE_ERROR, 0.0)


# ----------------------------------------------------------------------------- lookup

_FUNCTIONS = {
    accuracy: Accuracy, binary_accuracy: BinaryAccuracy, categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
}


def serialize(metric):
    """``{'class_name': registered name, 'config': metric.get_config()}``."""
    return REGISTRY.serialize(metric, Metric)


def deserialize(config):
    """A metric from ``serialize``'s output or a registered name. Only registry names are looked up."""
    if isinstance(config, str):
        return get(config)
    return REGISTRY.from_config_dict(config)


def get(identifier):
    """A ``Metric`` from a name, config dict, class, instance or function.

    A string gives an instance named by that string, as Keras's ``compile``
    names metrics ('mse' logs as 'mse'). 'accuracy' here is exact-match
    ``Accuracy`` (as ``keras.metrics.get``); in ``compile`` use
    ``compile_metric``, which resolves 'accuracy'/'acc' from the shapes.
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return REGISTRY.lookup(identifier)(name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        cls = _FUNCTIONS.get(identifier)
        return cls(name=identifier.__name__) if cls else MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def resolve_accuracy(loss, y_true_shape, y_pred_shape, name="accuracy"):
    """The metric Keras 3's ``compile`` picks for 'accuracy'/'acc', named ``name``.

    Binary when y_pred's last dim is 1; sparse categorical when y_true has a
    lower rank than y_pred, or its last dim is 1 while y_pred's is not; else
    categorical. Keras 3 does not look at the loss (Keras 2 also chose binary
    for binary crossentropy); ``loss`` is accepted for that call shape and
    ignored. A rank-1 y_pred (one value per sample) counts as binary.
    """
    yt, yp = tuple(y_true_shape), tuple(y_pred_shape)
    if len(yp) <= 1 or yp[-1] == 1:
        return BinaryAccuracy(name=name)
    if len(yt) < len(yp) or (yt[-1] == 1 and yp[-1] != 1):
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


def compile_metric(identifier, y_true_shape, y_pred_shape, loss=None):
    """Keras's ``compile_utils.get_metric``: 'accuracy'/'acc' (any case) resolved by shape, else ``get``."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return resolve_accuracy(loss, y_true_shape, y_pred_shape, name=identifier)
    return get(identifier)
