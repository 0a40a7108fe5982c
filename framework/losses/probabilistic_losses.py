"""Probabilistic losses: binary, categorical and sparse categorical crossentropies, their
focal forms, KL divergence and Poisson, as functions and as classes."""
import numpy as np

from framework import backend
from framework.kernels import losses as K
from framework.losses.loss import (Loss, _as_arrays, _as_float, _check_axis, _check_smoothing, register,
                                   squeeze_or_expand_to_same_rank)


def _log_softmax(z, axis=-1):
    top = np.max(z, axis=axis, keepdims=True)
    return z - top - np.log(np.sum(np.exp(z - top), axis=axis, keepdims=True))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Elementwise BCE averaged over ``axis``; labels smoothed toward 0.5.

    Probabilities are clipped to [eps, 1-eps]; logits use the stable
    ``max(z,0) - z*t + log1p(exp(-|z|))`` (as the TensorFlow backend).
    """
    y_true, y_pred = _as_arrays(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        bce = np.maximum(y_pred, 0) - y_pred * y_true + np.log1p(np.exp(-np.abs(y_pred)))
    else:
        eps = backend.epsilon()
        p = np.clip(y_pred, eps, 1.0 - eps)
        bce = -(y_true * np.log(p) + (1.0 - y_true) * np.log(1.0 - p))
    return np.mean(bce, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(t * log p, axis)``: probabilities renormalized to sum 1 then clipped; logits via log-softmax.

    Label smoothing: ``t * (1 - ls) + ls / num_classes``.
    """
    y_true, y_pred = _as_arrays(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_crossentropy: y_true shape {y_true.shape} != y_pred shape {y_pred.shape}")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    if from_logits:
        log_p = _log_softmax(y_pred, axis)
    else:
        eps = backend.epsilon()
        log_p = np.log(np.clip(y_pred / np.sum(y_pred, axis=axis, keepdims=True), eps, 1.0 - eps))
    return -np.sum(y_true * log_p, axis=axis)


def _sparse_ce(y_true, y_pred, from_logits, ignore_class, axis):
    """(per-element loss, valid mask or None) for integer labels."""
    y_pred = np.moveaxis(_as_float(y_pred), axis, -1)
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {np.shape(y_true)} do not match "
                         f"y_pred of shape {y_pred.shape} up to the class axis")
    valid = None if ignore_class is None else labels != ignore_class
    safe = labels if valid is None else np.where(valid, labels, 0)
    safe = safe.astype(np.int64)
    num_classes = y_pred.shape[-1]
    if np.any((safe < 0) | (safe >= num_classes)):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {num_classes})")
    if from_logits:
        log_p = _log_softmax(y_pred)
    else:
        eps = backend.epsilon()
        log_p = np.log(np.clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True), eps, 1.0 - eps))
    res = -np.take_along_axis(log_p, safe[..., None], axis=-1)[..., 0]
    if valid is not None:
        res = np.where(valid, res, 0.0).astype(y_pred.dtype)
    return res, valid


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """``-log p[label]`` per element (labels (N, ...) or (N, ..., 1)); ``ignore_class`` entries give 0."""
    return _sparse_ce(y_true, y_pred, from_logits, ignore_class, axis)[0]


def kl_divergence(y_true, y_pred):
    """``sum(t * log(t / p), axis=-1)`` with both clipped to ``[epsilon, 1]``."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    eps = backend.epsilon()
    y_true, y_pred = np.clip(y_true, eps, 1.0), np.clip(y_pred, eps, 1.0)
    return np.sum(y_true * np.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""
    y_true, y_pred = _as_arrays(y_true, y_pred)
    return np.mean(y_pred - y_true * np.log(y_pred + backend.epsilon()), axis=-1)


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary crossentropy scaled by the focal factor ``(1 - p_t) ** gamma``, averaged over ``axis``.

    As Keras: labels are smoothed toward 0.5; logits go through a sigmoid; the
    crossentropy clips probabilities to [eps, 1-eps]; ``p_t = t p + (1-t)(1-p)``
    uses the unclipped p; with ``apply_class_balancing`` each term is weighted
    ``alpha`` (t = 1) / ``1 - alpha`` (t = 0).
    """
    y_true, y_pred = _as_arrays(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = _sigmoid(y_pred)
    eps = backend.epsilon()
    p = np.clip(y_pred, eps, 1.0 - eps)
    bce = -(y_true * np.log(p) + (1.0 - y_true) * np.log(1.0 - p))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal_bce = np.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal_bce = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal_bce
    return np.mean(focal_bce, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """``sum(alpha * (1 - q) ** gamma * -t * log(q), axis)``, q = clip(p / sum(p), eps, 1-eps).

    As Keras: labels smoothed as in categorical crossentropy; logits go through
    a softmax; ``alpha`` is a scalar or one factor per class.
    """
    y_true, y_pred = _as_arrays(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    if from_logits:
        y_pred = np.exp(_log_softmax(y_pred, axis))
    eps = backend.epsilon()
    output = np.clip(y_pred / np.sum(y_pred, axis=axis, keepdims=True), eps, 1.0 - eps)
    cce = -y_true * np.log(output)
    focal = np.power(1.0 - output, gamma) * np.asarray(alpha, dtype=output.dtype) * cce
    return np.sum(focal, axis=axis)


@register("BinaryCrossentropy", "binary_crossentropy", "bce", "BCE")
class BinaryCrossentropy(Loss):
    """Binary crossentropy averaged over the last axis.

    Args:
        from_logits: whether ``y_pred`` holds logits (stable softplus form) or
            probabilities (clipped to [eps, 1-eps]).
        label_smoothing: in [0, 1]; targets become ``t * (1 - ls) + 0.5 * ls``.
        axis: the axis averaged over (only -1 in a plan).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), _check_smoothing(label_smoothing), axis
        self.fusable_activation = None if self.from_logits else "sigmoid"

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def _kernel(self, fused):
        _check_axis(self)
        if fused or self.from_logits:
            return K.binary_crossentropy_logits, (self.label_smoothing,)
        return K.binary_crossentropy, (self.label_smoothing, backend.epsilon())

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


@register("CategoricalCrossentropy", "categorical_crossentropy")
class CategoricalCrossentropy(Loss):
    """Crossentropy between one-hot (or soft) targets and predictions, summed over classes.

    Args:
        from_logits: whether ``y_pred`` holds logits (log-sum-exp form) or
            probabilities (renormalized to sum 1, then clipped to [eps, 1-eps]).
        label_smoothing: in [0, 1]; targets become ``t * (1 - ls) + ls / num_classes``.
        axis: the class axis (only -1 in a plan).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), _check_smoothing(label_smoothing), axis
        self.fusable_activation = None if self.from_logits else "softmax"

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def _kernel(self, fused):
        _check_axis(self)
        if fused or self.from_logits:
            return K.categorical_crossentropy_logits, (self.label_smoothing,)
        return K.categorical_crossentropy, (self.label_smoothing, backend.epsilon())

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


@register("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(Loss):
    """Crossentropy with integer labels (shape (N, ...) or (N, ..., 1)).

    Args:
        from_logits: whether ``y_pred`` holds logits or probabilities.
        ignore_class: a label value whose entries add nothing; with the mean
            reductions the loss is averaged over the remaining entries (Keras masks them).
    """

    sparse = True

    def __init__(self, from_logits=False, ignore_class=None,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.fusable_activation = None if self.from_logits else "softmax"

    def call(self, y_true, y_pred):
        return self._values_and_mask(y_true, y_pred)[0]

    def _values_and_mask(self, y_true, y_pred):
        return _sparse_ce(y_true, y_pred, self.from_logits, self.ignore_class, -1)

    def _kernel(self, fused):
        has_ignore = self.ignore_class is not None
        ignore = float(self.ignore_class) if has_ignore else 0.0
        per_valid = has_ignore and self.reduction in ("sum_over_batch_size", "mean")
        if fused or self.from_logits:
            return K.sparse_categorical_crossentropy_logits, (ignore, has_ignore, per_valid)
        return K.sparse_categorical_crossentropy, (backend.epsilon(), ignore, has_ignore, per_valid)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


@register("KLDivergence", "kl_divergence", "kld", "KLD")
class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[epsilon, 1]``."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return kl_divergence(*squeeze_or_expand_to_same_rank(y_true, y_pred))

    def _kernel(self, fused):
        return K.kl_divergence, (backend.epsilon(),)


@register("Poisson", "poisson")
class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return poisson(*squeeze_or_expand_to_same_rank(y_true, y_pred))

    def _kernel(self, fused):
        return K.poisson, (backend.epsilon(),)


@register("BinaryFocalCrossentropy", "binary_focal_crossentropy")
class BinaryFocalCrossentropy(Loss):
    """Binary crossentropy down-weighting easy examples by ``(1 - p_t) ** gamma`` (Lin et al., 2018).

    ``p_t`` is ``y_pred`` for label 1 and ``1 - y_pred`` for label 0. With
    ``gamma=0`` and no class balancing this is binary crossentropy.

    Args:
        apply_class_balancing: weight label-1 terms by ``alpha``, label-0 terms by ``1 - alpha``.
        alpha: the balancing factor of class 1.
        gamma: the focusing parameter.
        from_logits: whether ``y_pred`` holds logits (a sigmoid is applied first).
        label_smoothing: in [0, 1]; targets become ``t * (1 - ls) + 0.5 * ls``.
        axis: the axis averaged over (only -1 in a plan).
    """

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), _check_smoothing(label_smoothing), axis
        self.fusable_activation = None if self.from_logits else "sigmoid"

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return binary_focal_crossentropy(y_true, y_pred, self.apply_class_balancing, self.alpha, self.gamma,
                                         self.from_logits, self.label_smoothing, self.axis)

    def _kernel(self, fused):
        _check_axis(self)
        return K.binary_focal_crossentropy, (self.label_smoothing, backend.epsilon(), self.gamma, self.alpha,
                                             self.apply_class_balancing, fused or self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma}


@register("CategoricalFocalCrossentropy", "categorical_focal_crossentropy")
class CategoricalFocalCrossentropy(Loss):
    """Categorical crossentropy scaled by ``alpha * (1 - p) ** gamma`` per class (Lin et al., 2018).

    Probabilities are renormalized to sum 1 and clipped to [eps, 1-eps] as in
    ``CategoricalCrossentropy``; with ``alpha=1, gamma=0`` this is that loss.

    Args:
        alpha: a weighting factor, a float or one float per class.
        gamma: the focusing parameter.
        from_logits: whether ``y_pred`` holds logits (a softmax is applied first).
        label_smoothing: in [0, 1]; targets become ``t * (1 - ls) + ls / num_classes``.
        axis: the class axis (only -1 in a plan).
    """

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = [float(a) for a in alpha] if isinstance(alpha, (list, tuple, np.ndarray)) else float(alpha)
        self.gamma = float(gamma)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), _check_smoothing(label_smoothing), axis
        self.fusable_activation = None if self.from_logits else "softmax"

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return categorical_focal_crossentropy(y_true, y_pred, self.alpha, self.gamma, self.from_logits,
                                              self.label_smoothing, self.axis)

    def bind(self, y_pred, y_true, sample_weight, d_pred, logits=None):
        if isinstance(self.alpha, list) and y_pred.ndim and len(self.alpha) != y_pred.shape[-1]:
            raise ValueError(f"Loss {self.name!r}: alpha has {len(self.alpha)} factors but y_pred has "
                             f"{y_pred.shape[-1]} classes (shape {y_pred.shape})")
        return super().bind(y_pred, y_true, sample_weight, d_pred, logits=logits)

    def _kernel(self, fused):
        _check_axis(self)
        alpha = np.array(self.alpha if isinstance(self.alpha, list) else [self.alpha], dtype=np.float64)
        return K.categorical_focal_crossentropy, (self.label_smoothing, backend.epsilon(), self.gamma, alpha,
                                                  fused or self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "alpha": self.alpha, "gamma": self.gamma}
