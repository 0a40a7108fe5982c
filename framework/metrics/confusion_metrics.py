"""Confusion-matrix metrics: weighted true/false positive/negative counts at thresholds
(``_ConfusionMetric``) and what is computed from them: Precision, Recall, TruePositives...,
AUC, SensitivityAtSpecificity and the other rate-at-rate metrics."""
import functools

import numpy as np

from framework import backend
from framework.kernels import metrics as K
from framework.losses.loss import reshape_view, squeeze_or_expand_to_same_rank
from framework.metrics.metric import Metric, register
from framework.metrics.metrics_utils import (_divide_no_nan, _is_float32, _per_sample_view, _sample_weights,
                                             _snake_case, _targets_like)


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
