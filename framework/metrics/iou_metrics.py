"""Intersection-over-union metrics from a confusion matrix of class ids: IoU, MeanIoU,
BinaryIoU, OneHotIoU and OneHotMeanIoU."""
import functools

import numpy as np

from framework import backend
from framework.kernels import metrics as K
from framework.losses.loss import reshape_view, view3
from framework.metrics.metric import Metric, register
from framework.metrics.metrics_utils import _per_sample_view, _sample_weights, _snake_case, _targets_like


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
