"""Streaming metrics with Keras 3 names, arguments and weighting semantics.

Mean metrics (accuracies, top-k accuracies, MSE/RMSE/MAE/MAPE, cosine similarity)
keep a weighted mean: ``update_state`` adds ``sum(w * v)`` to total and
``sum(w)`` to count, where ``v`` are per-sample values (the metric's elementwise
values averaged over every non-batch axis, as Keras's ``Mean`` reduces them) and
``w`` the sample weights (ones when none are given, so the count is the number
of samples). ``result()`` is total / count (0 when the count is 0);
``metric(y_true, y_pred)`` updates then returns the result.

The other families keep counts: confusion-matrix metrics (Precision, Recall, AUC,
TruePositives..., SensitivityAtSpecificity...) a float64 array (4, thresholds,
labels) of TP/FP/TN/FN, F-scores per-class TP/FP/FN/label sums, IoU metrics a
confusion matrix. Every state is a float64 array updated in place. In a plan,
``metric.bind(y_true, y_pred, sample_weight)`` returns a no-argument callable
that adds one batch into that array with a Numba kernel, allocating nothing.

``resolve_accuracy`` / ``compile_metric`` implement Keras 3's resolution of the
string 'accuracy' (or 'acc') in ``compile()``. See docs/metrics.md.
"""
import functools
import re

import numpy as np

from framework import backend
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
        dtype: kept for Keras compatibility and config; state is float64. Threshold
            metrics compare predictions in float32 unless it is 'float64' (Keras computes
            in the metric's dtype, floatx by default).
    """

    _direction = None  # 'up' / 'down': whether larger values are better (Keras's Metric._direction)

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

    _direction = "up"

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

    _direction = "up"

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

    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)

    def _kernel(self):
        return K.categorical_accuracy, ()


@register("SparseCategoricalAccuracy", "sparse_categorical_accuracy")
class SparseCategoricalAccuracy(_BuiltinWrapper):
    """How often ``argmax(y_pred)`` equals the integer label."""

    _direction = "up"

    sparse = True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def _kernel(self):
        return K.sparse_categorical_accuracy, ()


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


# ----------------------------------------------------------------------------- helpers

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


# ----------------------------------------------------------------------------- ranking and regression functions

def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where ``argmax(y_true)`` is among the ``k`` largest scores of ``y_pred`` (Keras's
    ``in_top_k``: ties count in the true class's favour), per position (N, ...)."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    labels = np.argmax(np.asarray(y_true, dtype=np.float64), axis=-1)
    return _in_top_k(labels, y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label is among the ``k`` largest scores of ``y_pred``; with
    ``from_sorted_ids`` y_pred holds class ids sorted by score and the label must be among
    its first ``k`` columns. Labels of shape (N, ...) or (N, ..., 1)."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.float64)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if from_sorted_ids:
        return np.any(y_true[..., None] == y_pred[..., :k], axis=-1).astype(np.float64)
    return _in_top_k(np.trunc(y_true), y_pred, k)


def _in_top_k(labels, y_pred, k):
    c = y_pred.shape[-1]
    labels = np.asarray(labels)
    valid = (labels >= 0) & (labels < c)
    index = np.where(valid, labels, 0).astype(np.int64)
    at_label = np.take_along_axis(y_pred, index[..., None], axis=-1)
    at_label = np.where(np.isnan(at_label), -np.inf, at_label)
    greater = np.sum(y_pred > at_label, axis=-1)
    return ((greater < k) & valid).astype(np.float64)


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


@register("TopKCategoricalAccuracy", "top_k_categorical_accuracy")
class TopKCategoricalAccuracy(_BuiltinWrapper):
    """How often the one-hot target's class is among the ``k`` highest predictions.

    Args:
        k: number of top predictions that count (ties with the k-th count too).
    """

    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        self.k = int(k)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=self.k)

    def _kernel(self):
        return K.top_k_categorical_accuracy, (self.k,)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@register("SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy")
class SparseTopKCategoricalAccuracy(_BuiltinWrapper):
    """How often the integer label is among the ``k`` highest predictions.

    Args:
        k: number of top predictions that count (ties with the k-th count too).
        from_sorted_ids: y_pred holds class ids sorted from the highest score down
            (at least ``k`` columns) instead of one score per class.
    """

    sparse = True
    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        self.k = int(k)
        self.from_sorted_ids = bool(from_sorted_ids)
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=self.k,
                         from_sorted_ids=self.from_sorted_ids)

    def _kernel(self):
        return K.sparse_top_k_categorical_accuracy, (self.k, self.from_sorted_ids)

    def get_config(self):
        config = {**super().get_config(), "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config


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


# ----------------------------------------------------------------------------- confusion-matrix metrics

def _parse_thresholds(thresholds, default):
    """Keras's ``parse_init_thresholds``: a list; given values must lie in [0, 1]."""
    if thresholds is None:
        return [float(default)]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    invalid = [t for t in values if t is None or t < 0 or t > 1]
    if invalid:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    return [float(t) for t in values]


def _evenly_distributed(thresholds):
    """Keras's ``is_evenly_distributed_thresholds``: i / (T - 1) for T >= 3 (within epsilon)."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=backend.epsilon()))


class _ConfusionMetric(Metric):
    """Weighted true/false positive/negative counts at each of T thresholds, kept in one
    float64 array ``(4, T, L)`` (L = 1, or the number of labels for multi-label AUC) that
    ``framework.kernels.metrics.confusion_update`` adds into in place.

    A prediction is positive at a threshold when strictly above it; a label is positive
    when nonzero. Evenly spaced thresholds use Keras's bucket formula (predictions
    clipped to [0, 1]), as Keras does."""

    def _init_confusion(self, thresholds, even, with_eps, top_k=None, class_id=None, from_logits=False,
                        multi_label=False):
        thresholds = np.asarray(thresholds, dtype=np.float64)
        self._f32 = _is_float32(self.dtype)
        order = np.argsort(thresholds, kind="stable")
        ascending = thresholds[order]
        if self._f32:
            ascending = ascending.astype(np.float32).astype(np.float64)
        self._ascending, self._order = ascending, order.astype(np.int64)
        self._even, self._with_eps = bool(even), bool(with_eps)
        self._top_k = 0 if top_k is None else int(top_k)
        self._class_id = -1 if class_id is None else int(class_id)
        self._from_logits = bool(from_logits)
        self._multi = bool(multi_label)
        self._state = None
        if not self._multi:
            self._build(1)

    def _build(self, labels):
        if self._state is None:
            self._state = np.zeros((4, len(self._ascending), labels))
        elif self._state.shape[2] != labels:
            raise ValueError(f"Metric {self.name!r} was built for {self._state.shape[2]} labels; "
                             f"received predictions with {labels}")

    def _count(self, index):
        if self._state is None:
            return np.zeros(len(self._ascending))
        return self._state[index] if self._multi else self._state[index, :, 0]

    true_positives = property(lambda self: self._count(0))
    false_positives = property(lambda self: self._count(1))
    true_negatives = property(lambda self: self._count(2))
    false_negatives = property(lambda self: self._count(3))

    def _label_weights(self, c):
        return np.ones(c)

    def _check(self, y_pred_shape, c):
        if self._top_k > c:
            raise ValueError(f"Metric {self.name!r}: top_k={self._top_k} is larger than the {c} predictions "
                             f"of the last axis")
        if self._class_id >= 0:
            if len(y_pred_shape) < 2:
                raise ValueError("When class_id is provided, y_pred must be a 2D array with shape "
                                 f"(num_samples, num_classes), found shape: {tuple(y_pred_shape)}")
            if self._class_id >= c:
                raise ValueError(f"class_id={self._class_id} is out of range for {c} classes")
        if self._multi:
            if len(y_pred_shape) != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank "
                                 f"{len(y_pred_shape)}. Full shape received for `y_pred`: {tuple(y_pred_shape)}")
            self._build(c)

    def _step(self, t, y, w):
        c = y.shape[2]
        return functools.partial(
            K.confusion_update, t, y, w, self._label_weights(c), self._top_k, self._class_id, self._from_logits,
            self._f32, self._ascending, self._order, self._even, self._with_eps, self._multi,
            np.zeros(c, dtype=np.bool_), np.zeros((2, len(self._ascending) + 1, self._state.shape[2])), self._state)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch (NumPy / array-likes); sample weights broadcast as in Keras."""
        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = np.asarray(y_true, dtype=np.float64)
        y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"Metric {self.name!r}: y_true of shape {y_true.shape} does not match "
                             f"y_pred of shape {y_pred.shape}")
        if sample_weight is None:
            w = np.ones(y_pred.shape)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)[..., None]
            _, w = squeeze_or_expand_to_same_rank(y_true, w, expand_rank_1=False)
            w = np.broadcast_to(w, y_pred.shape)
        shape = _confusion_shape(y_pred.shape)
        self._check(y_pred.shape, shape[2])
        w = np.broadcast_to(np.ascontiguousarray(w).reshape(shape), shape)
        self._step(np.ascontiguousarray(y_true).reshape(shape), np.ascontiguousarray(y_pred).reshape(shape), w)()

    def bind(self, y_true, y_pred, sample_weight=None):
        """A no-argument callable adding one batch of buffers into the counts.

        Args:
            y_true: target buffer with as many elements as ``y_pred`` (nonzero = positive).
            y_pred: model output buffer (N, ...): scores, or logits with ``from_logits``.
            sample_weight: (N,) weights, or None (ones).
        """
        if not isinstance(y_pred, np.ndarray) or y_pred.ndim < 1:
            raise ValueError(f"Metric {self.name!r}: bind() needs a NumPy array y_pred")
        shape = _confusion_shape(y_pred.shape)
        y = reshape_view(y_pred, shape, "y_pred")
        t = _targets_like(y_true, shape, y_pred, self)
        w = _sample_weights(sample_weight, y_pred.shape[0], self)
        self._check(y_pred.shape, shape[2])
        w = np.broadcast_to(w.reshape(shape), shape) if y_pred.ndim == 1 else _per_sample_view(w, shape)
        return self._step(t, y, w)

    def reset_state(self):
        if self._state is not None:
            self._state[:] = 0.0


def _confusion_shape(shape):
    """(A, R, C) for confusion kernels: rank 1 (one value per sample) becomes a single row
    (1, 1, N), so that top_k ranks across it as Keras's top_k over the last axis does."""
    if len(shape) == 0:
        return (1, 1, 1)
    if len(shape) == 1:
        return (1, 1, shape[0])
    return (shape[0], int(np.prod(shape[1:-1])), shape[-1])


class _ThresholdCounts(_ConfusionMetric):
    """Base of Precision / Recall / TruePositives...: ``thresholds`` (default 0.5; with
    ``top_k`` and no thresholds, NEG_INF), optional ``top_k`` and ``class_id``."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name or _snake_case(type(self).__name__), dtype=dtype)
        if top_k is not None and int(top_k) < 1:
            raise ValueError(f"top_k must be a positive integer; received top_k={top_k}")
        if class_id is not None and int(class_id) < 0:
            raise ValueError(f"class_id must be >= 0; received class_id={class_id}")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = _parse_thresholds(thresholds, 0.5 if top_k is None else K.NEG_INF)
        self._init_confusion(self.thresholds, _evenly_distributed(self.thresholds), False, top_k=top_k,
                             class_id=class_id)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


@register("Precision", "precision")
class Precision(_ThresholdCounts):
    """``tp / (tp + fp)`` at each threshold (0 when nothing is predicted positive).

    Args:
        thresholds: a float or a list of floats in [0, 1]; predictions strictly above a
            threshold are positive. One result per threshold (a float for one, an array
            for a list). Defaults to 0.5, or with ``top_k`` to "any value" (the top k).
        top_k: only the k highest predictions of each row (last axis) can be positive.
        class_id: only this class (column of the last axis) is evaluated.
    """

    _direction = "up"

    def result(self):
        return _first_or_all(_divide_no_nan(self._count(0), self._count(0) + self._count(1)))


@register("Recall", "recall")
class Recall(_ThresholdCounts):
    """``tp / (tp + fn)`` at each threshold (0 when there are no positive labels).

    Args: as ``Precision``.
    """

    _direction = "up"

    def result(self):
        return _first_or_all(_divide_no_nan(self._count(0), self._count(0) + self._count(3)))


def _first_or_all(values):
    return float(values[0]) if len(values) == 1 else values


class _CountMetric(_ThresholdCounts):
    _index = 0

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result(self):
        return _first_or_all(self._count(self._index).copy())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


@register("TruePositives", "true_positives")
class TruePositives(_CountMetric):
    """Weighted count of positive labels predicted above ``thresholds`` (default 0.5)."""
    _index = 0


@register("FalsePositives", "false_positives")
class FalsePositives(_CountMetric):
    """Weighted count of negative labels predicted above ``thresholds`` (default 0.5)."""
    _index = 1


@register("TrueNegatives", "true_negatives")
class TrueNegatives(_CountMetric):
    """Weighted count of negative labels predicted at or below ``thresholds`` (default 0.5)."""
    _index = 2


@register("FalseNegatives", "false_negatives")
class FalseNegatives(_CountMetric):
    """Weighted count of positive labels predicted at or below ``thresholds`` (default 0.5)."""
    _index = 3


_AUC_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR"}
_AUC_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation", "majoring": "majoring",
                   "Majoring": "majoring", "minoring": "minoring", "Minoring": "minoring"}


@register("AUC", "auc")
class AUC(_ConfusionMetric):
    """Area under the ROC or precision-recall curve, from confusion counts at fixed thresholds.

    Args:
        num_thresholds: number of thresholds (> 1): ``-epsilon``, ``i / (num_thresholds - 1)``
            for i = 1 .. num_thresholds - 2, and ``1 + epsilon``.
        curve: 'ROC' (true positive rate over false positive rate) or 'PR' (precision over recall).
        summation_method: 'interpolation' (trapezoids for ROC; Davis & Goadrich's
            interpolation for PR), 'minoring' (lower bound) or 'majoring' (upper bound).
        thresholds: explicit thresholds in [0, 1] (``num_thresholds`` is then ignored);
            ``-epsilon`` and ``1 + epsilon`` are added.
        multi_label: compute one AUC per label (last axis of 2-D predictions) and average
            them; when False every prediction is one data point.
        num_labels: number of labels (multi_label only; else taken from the first batch).
        label_weights: per-label weights: the average's weights (multi_label), else weights of
            each label's data points.
        from_logits: predictions are logits; a sigmoid is applied first.
    """

    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve not in _AUC_CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC"]')
        if summation_method not in _AUC_SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        super().__init__(name=name or "auc", dtype=dtype)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in _parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            even = _evenly_distributed(np.array([0.0] + inner + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            even = True
        eps = backend.epsilon()
        self._thresholds = np.array([0.0 - eps] + inner + [1.0 + eps])
        self.curve = _AUC_CURVES[curve]
        self.summation_method = _AUC_SUMMATIONS[summation_method]
        if num_labels and not multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self._from_logits = bool(from_logits)
        self._init_confusion(self._thresholds, even, True, from_logits=from_logits, multi_label=multi_label)
        if self.multi_label and num_labels:
            self._build(int(num_labels))

    @property
    def thresholds(self):
        """The thresholds, including the ``-epsilon`` and ``1 + epsilon`` end points."""
        return [float(t) for t in self._thresholds]

    def _label_weights(self, c):
        if self.label_weights is None or self.multi_label:
            return np.ones(c)
        if self.label_weights.shape != (c,):
            raise ValueError(f"Metric {self.name!r}: label_weights has shape {self.label_weights.shape}; "
                             f"predictions have {c} labels")
        return self.label_weights

    def _average(self, per_label):
        if not self.multi_label:
            return float(np.sum(per_label))
        by_label = np.sum(per_label, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def interpolate_pr_auc(self):
        """Keras's closed form of Davis & Goadrich's PR interpolation between thresholds."""
        tp, fp, fn = self._count(0), self._count(1), self._count(3)
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increments = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return self._average(increments)

    def result(self):
        if self._state is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        tp, fp, tn, fn = (self._count(i) for i in range(4))
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class _AtConstraint(_ConfusionMetric):
    """Base of SensitivityAtSpecificity & co.: counts at ``num_thresholds`` evenly spaced
    thresholds in [0, 1] (0.5 alone when 1); the result is the best value of one rate
    among the thresholds where another rate reaches ``value`` (0 when none does)."""

    _direction = "up"
    _arg = None

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self._arg}` must be in the range [0, 1]. Received: {self._arg}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. "
                             f"Received: num_thresholds={num_thresholds}")
        super().__init__(name=name or _snake_case(type(self).__name__), dtype=dtype)
        self.value = float(value)
        self.num_thresholds = int(num_thresholds)
        self.class_id = class_id
        if num_thresholds == 1:
            thresholds, even = [0.5], False
        else:
            thresholds = [0.0] + [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            even = True
        self.thresholds = thresholds
        self._init_confusion(thresholds, even, False, class_id=class_id)

    def _rates(self):
        tp, fp, tn, fn = (self._count(i) for i in range(4))
        return {"sensitivity": _divide_no_nan(tp, tp + fn), "specificity": _divide_no_nan(tn, tn + fp),
                "precision": _divide_no_nan(tp, tp + fp)}

    def _max_under_constraint(self, constrained, dependent):
        feasible = constrained >= self.value
        return float(np.max(dependent[feasible], initial=0.0)) if feasible.any() else 0.0

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._arg: self.value}


@register("SensitivityAtSpecificity", "sensitivity_at_specificity")
class SensitivityAtSpecificity(_AtConstraint):
    """Best sensitivity ``tp / (tp + fn)`` among thresholds whose specificity is >= ``specificity``."""

    _arg = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)
        self.specificity = self.value

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["specificity"], r["sensitivity"])


@register("SpecificityAtSensitivity", "specificity_at_sensitivity")
class SpecificityAtSensitivity(_AtConstraint):
    """Best specificity ``tn / (tn + fp)`` among thresholds whose sensitivity is >= ``sensitivity``."""

    _arg = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)
        self.sensitivity = self.value

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["sensitivity"], r["specificity"])


@register("PrecisionAtRecall", "precision_at_recall")
class PrecisionAtRecall(_AtConstraint):
    """Best precision among thresholds whose recall is >= ``recall``."""

    _arg = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)
        self.recall = self.value

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["sensitivity"], r["precision"])


@register("RecallAtPrecision", "recall_at_precision")
class RecallAtPrecision(_AtConstraint):
    """Best recall among thresholds whose precision is >= ``precision`` (0 if none reaches it)."""

    _arg = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
        self.precision = self.value

    def result(self):
        r = self._rates()
        return self._max_under_constraint(r["precision"], r["sensitivity"])


# ----------------------------------------------------------------------------- F-scores

@register("FBetaScore", "f_beta_score")
class FBetaScore(Metric):
    """F-beta score ``(1 + b^2) * p * r / (b^2 * p + r)`` from weighted counts per class.

    Args:
        average: None (one score per class: ``result()`` is an array), 'micro' (counts
            summed over classes), 'macro' (mean of the class scores) or 'weighted'
            (class scores weighted by their label sums).
        beta: weight of recall (a float > 0).
        threshold: predictions above it count as 1; None: each row's maximum counts as 1
            (every tied maximum, and never a 0).

    Inputs are (batch, classes). As Keras, precision, recall and the score divide by
    ``denominator + epsilon``, so a class without labels or predictions scores 0.
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"Invalid `threshold` argument value. It should be a Python float. "
                                 f"Received: threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(f"Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._f32 = _is_float32(dtype)
        self._state = None  # (4, classes or 1): tp, fp, fn, label sums; built from the first batch

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(f"FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={tuple(y_pred_shape)} and y_true.shape={tuple(y_true_shape)}.")
        c = y_pred_shape[-1]
        if self._state is None:
            self._num_classes = c
            self._state = np.zeros((4, 1 if self.average == "micro" else c))
        elif self._num_classes != c:
            raise ValueError(f"Metric {self.name!r} was built for {self._num_classes} classes; received {c}")

    def _step(self, t, y, w):
        threshold = 0.0 if self.threshold is None else float(self.threshold)
        if self._f32:
            threshold = float(np.float32(threshold))
        return functools.partial(K.fbeta_update, t, y, w, threshold, self.threshold is None,
                                 self.average == "micro", self._f32, self._state)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.ascontiguousarray(y_true, dtype=np.float64)
        y_pred = np.ascontiguousarray(y_pred, dtype=np.float64)
        self._build(y_true.shape, y_pred.shape)
        n = y_pred.shape[0]
        w = np.ones(n) if sample_weight is None else np.ascontiguousarray(
            np.broadcast_to(np.asarray(sample_weight, dtype=np.float64).reshape(-1), (n,)))
        self._step(y_true, y_pred, w)()

    def bind(self, y_true, y_pred, sample_weight=None):
        """A no-argument callable adding one batch: y_pred (N, C), y_true with N * C elements."""
        if not isinstance(y_pred, np.ndarray):
            raise ValueError(f"Metric {self.name!r}: bind() needs a NumPy array y_pred")
        self._build(y_pred.shape, y_pred.shape)
        y = reshape_view(y_pred, y_pred.shape, "y_pred")
        t = _targets_like(y_true, y_pred.shape, y_pred, self)
        return self._step(t, y, _sample_weights(sample_weight, y_pred.shape[0], self))

    def result(self):
        if self._state is None:
            return np.zeros(0) if self.average is None else 0.0
        tp, fp, fn, support = self._state
        eps = backend.epsilon()
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            return float(np.sum(score * support / (np.sum(support) + eps)))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def reset_state(self):
        if self._state is not None:
            self._state[:] = 0.0

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


@register("F1Score", "f1_score")
class F1Score(FBetaScore):
    """F1 score ``2 * p * r / (p + r)``: ``FBetaScore`` with ``beta=1``.

    Args:
        average: None (per-class array), 'micro', 'macro' or 'weighted' (see FBetaScore).
        threshold: predictions above it count as 1; None: each row's maximum counts as 1.
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


# ----------------------------------------------------------------------------- IoU

class _IoUBase(Metric):
    """A (num_classes, num_classes) float64 confusion matrix ``total_cm`` (rows: true class,
    columns: predicted class) that ``framework.kernels.metrics.iou_update`` adds into.

    Classes outside [0, num_classes) and ``ignore_class`` labels are skipped. Unlike
    Keras 3 (whose default dtype 'int' truncates float sample weights), weights are
    accumulated as floats, which is what Keras's docstrings show."""

    _direction = "up"

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name or _snake_case(type(self).__name__), dtype=dtype)
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        self.sparse_y_true = bool(sparse_y_true)
        self.sparse_y_pred = bool(sparse_y_pred)
        self.axis = axis
        self._state = np.zeros((self.num_classes, self.num_classes))

    @property
    def total_cm(self):
        return self._state

    def _modes(self):
        return (K.SPARSE_IDS if self.sparse_y_true else K.ARGMAX,
                K.SPARSE_IDS if self.sparse_y_pred else K.ARGMAX, 0.0)

    def _step(self, t, y, w):
        t_mode, y_mode, threshold = self._modes()
        ignore = -1 if self.ignore_class is None else int(self.ignore_class)
        return functools.partial(K.iou_update, t, y, w, t_mode, y_mode, threshold, self.num_classes,
                                 self.ignore_class is not None, ignore, self._state)

    @staticmethod
    def _eager3(a, mode, axis):
        if mode == K.ARGMAX:
            a = np.moveaxis(a, axis, -1)
            return np.ascontiguousarray(a).reshape(1, -1, a.shape[-1])
        return np.ascontiguousarray(a).reshape(1, -1, 1)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t_mode, y_mode, _ = self._modes()
        y_true = np.asarray(y_true, dtype=np.float64)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        t = self._eager3(y_true, t_mode, self.axis)
        y = self._eager3(y_pred, y_mode, self.axis)
        e = y.shape[1]
        if t.shape[1] != e:
            raise ValueError(f"Metric {self.name!r}: y_true gives {t.shape[1]} labels and y_pred {e} predictions")
        if sample_weight is None:
            w = np.ones(e)
        else:
            sw = np.asarray(sample_weight, dtype=np.float64)
            samples = y_true.shape[0] if y_true.ndim else 1
            if sw.size == 1:
                w = np.full(e, float(sw.reshape(-1)[0]))
            elif sw.size == e:
                w = sw.reshape(-1)
            elif sw.size == samples and e % samples == 0:
                w = np.repeat(sw.reshape(-1), e // samples)  # one weight per sample, over its elements
            else:
                raise ValueError(f"Metric {self.name!r}: sample_weight of shape {sw.shape} does not match "
                                 f"{e} elements")
        w = np.ascontiguousarray(w).reshape(1, e)
        self._step(t, y, np.broadcast_to(w, (1, e)))()

    def bind(self, y_true, y_pred, sample_weight=None):
        """A no-argument callable adding one batch: y_pred (N, ...) class ids, or scores along
        the last axis (``sparse_y_pred=False``); y_true likewise; weights (N,) per sample."""
        t_mode, y_mode, _ = self._modes()
        if (t_mode == K.ARGMAX or y_mode == K.ARGMAX) and self.axis not in (-1, None):
            raise NotImplementedError(f"Metric {self.name!r}: axis={self.axis} runs eagerly")
        if not isinstance(y_pred, np.ndarray) or y_pred.ndim < 1:
            raise ValueError(f"Metric {self.name!r}: bind() needs a NumPy array y_pred")
        n = y_pred.shape[0]
        y = view3(y_pred, "y_pred") if y_mode == K.ARGMAX else reshape_view(y_pred, (n, y_pred.size // n, 1), "y_pred")
        e = y.shape[1]
        if t_mode == K.ARGMAX:
            if not isinstance(y_true, np.ndarray) or y_true.ndim < 2 or y_true.size % (n * e):
                raise ValueError(f"Metric {self.name!r}: one-hot y_true of shape {getattr(y_true, 'shape', None)} "
                                 f"does not match y_pred of shape {y_pred.shape}")
            t = _targets_like(y_true, (n, e, y_true.size // (n * e)), y_pred, self)
        else:
            t = _targets_like(y_true, (n, e, 1), y_pred, self)
        w = _sample_weights(sample_weight, n, self)
        return self._step(t, y, _per_sample_view(w, (n, e)))

    def reset_state(self):
        self._state[:] = 0.0


@register("IoU", "io_u")
class IoU(_IoUBase):
    """Mean intersection-over-union ``tp / (tp + fp + fn)`` of ``target_class_ids``.

    Args:
        num_classes: number of classes (the confusion matrix is num_classes^2).
        target_class_ids: the classes whose IoUs are averaged.
        ignore_class: a label value to skip (e.g. a "void" class).
        sparse_y_true / sparse_y_pred: False: take the argmax along ``axis``.
        axis: the class axis of dense inputs.

    Classes with no labels and no predictions are left out of the mean.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which is [0, {num_classes}).")
        self.target_class_ids = [int(i) for i in target_class_ids]

    def result(self):
        cm = self._state
        tp = np.diag(cm)
        denominator = (cm.sum(axis=0) + cm.sum(axis=1) - tp)[self.target_class_ids]
        tp = tp[self.target_class_ids]
        valid = denominator > 1e-9
        eps = backend.epsilon()
        iou = np.where(valid, tp / (denominator + eps), 0.0)
        return float(np.sum(iou) / (np.sum(valid) + eps))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


@register("MeanIoU", "mean_io_u")
class MeanIoU(IoU):
    """IoU averaged over all ``num_classes`` classes (those present in labels or predictions).

    Args:
        num_classes: number of classes.
        ignore_class: a label value to skip.
        sparse_y_true / sparse_y_pred: False: take the argmax along ``axis`` (e.g.
            ``sparse_y_pred=False`` for softmax outputs).
        axis: the class axis of dense inputs.
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name or "mean_io_u", dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


@register("BinaryIoU", "binary_io_u")
class BinaryIoU(IoU):
    """IoU of classes 0 and/or 1 where predictions ``>= threshold`` are class 1.

    Args:
        target_class_ids: [0], [1] or [0, 1].
        threshold: predictions at or above it are class 1.
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = float(threshold)

    def _modes(self):
        return K.SPARSE_IDS, K.AT_LEAST_THRESHOLD, float(np.float32(self.threshold))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "target_class_ids": self.target_class_ids,
                "threshold": self.threshold}


@register("OneHotIoU", "one_hot_io_u")
class OneHotIoU(IoU):
    """IoU of ``target_class_ids`` for one-hot labels (argmax of y_true along ``axis``)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


@register("OneHotMeanIoU", "one_hot_mean_io_u")
class OneHotMeanIoU(MeanIoU):
    """Mean IoU over all classes for one-hot labels (argmax of y_true along ``axis``)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name or "one_hot_mean_io_u", dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


# ----------------------------------------------------------------------------- lookup

_FUNCTIONS = {
    accuracy: Accuracy, binary_accuracy: BinaryAccuracy, categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError, top_k_categorical_accuracy: TopKCategoricalAccuracy,
    sparse_top_k_categorical_accuracy: SparseTopKCategoricalAccuracy,
    mean_absolute_percentage_error: MeanAbsolutePercentageError, cosine_similarity: CosineSimilarity,
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
