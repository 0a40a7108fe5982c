"""Accuracy metrics: exact match, binary, categorical, sparse categorical and top-k
accuracies, as eager functions and as mean metrics."""
import numpy as np

from framework.kernels import metrics as K
from framework.losses.loss import squeeze_or_expand_to_same_rank
from framework.metrics.metric import register
from framework.metrics.reduction_metrics import _BuiltinWrapper


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
