"""Losses with Keras 3 names, arguments, defaults and reduction semantics.

A loss is used two ways:

- eagerly, ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced
  loss as a float (NumPy, may allocate), and functions such as
  ``mean_squared_error(y_true, y_pred)`` return per-sample values;
- in a plan, ``loss.bind(y_pred, y_true, sample_weight, d_pred)`` returns a
  no-argument callable that computes the reduced loss from preallocated
  buffers with one Numba kernel and writes ``d_pred = dloss/dy_pred``,
  allocating nothing.

Shapes in a plan: an output (N, *S) is viewed as (N, R, C), C = last axis,
R = product of the middle axes (a rank-1 output is (N, 1, 1)). Per-sample loss
elements are (N, R); 'sum_over_batch_size' divides the weighted sum by N*R
(the element count, not the sum of weights, as Keras 3 does).

Fusion: for CategoricalCrossentropy / SparseCategoricalCrossentropy /
BinaryCrossentropy with ``from_logits=False``, ``fusable_activation`` names the
output activation ('softmax' / 'sigmoid'). Binding with ``logits=`` computes
the loss stably from the logits and writes the gradient with respect to the
logits, so the activation's own backward step is skipped. The focal
crossentropies fuse the same way but keep Keras's clipped formula (their
kernels recompute the probabilities from the logits), so their value does
not change.
"""
import functools

import numpy as np

from framework import backend
from framework.config.registry import Registry
from framework.kernels import losses as K

REGISTRY = Registry("loss")
register = REGISTRY.register

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_BIND_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight")


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
                         f"Received: reduction={reduction!r}")
    return reduction


# ----------------------------------------------------------------------------- shapes

def view3(a, what="y_pred"):
    """``a`` (N, *S) as an (N, R, C) view sharing memory; ValueError if that would copy."""
    if not isinstance(a, np.ndarray) or a.ndim < 1:
        raise ValueError(f"bind() needs a NumPy array of rank >= 1 for {what}; received {type(a).__name__}")
    shape = (a.shape[0], 1, 1) if a.ndim == 1 else (a.shape[0], int(np.prod(a.shape[1:-1])), a.shape[-1])
    return reshape_view(a, shape, what)


def reshape_view(a, shape, what):
    """A view of ``a`` with ``shape``; ValueError (not a silent copy) when impossible."""
    if a.size != int(np.prod(shape)):
        raise ValueError(f"{what} of shape {a.shape} cannot be viewed as {shape}")
    if not a.flags.c_contiguous or a.dtype.kind != "f":
        raise ValueError(f"bind() needs a C-contiguous float array for {what}; "
                         f"received dtype {a.dtype}, contiguous={a.flags.c_contiguous}")
    v = a.view()
    v.shape = shape
    return v


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: if ranks differ by one and the longer ends in 1, squeeze it (or expand a rank-1)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _broadcast_weight(sample_weight, values):
    """Align weights with per-sample values; lower-rank weights broadcast over trailing axes."""
    values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
    if sample_weight.ndim < values.ndim:
        sample_weight = sample_weight.reshape(sample_weight.shape + (1,) * (values.ndim - sample_weight.ndim))
    return values, sample_weight


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras 3's reduction of per-sample losses (NumPy).

    'sum' sums; 'sum_over_batch_size'/'mean' divide the weighted sum by the
    number of loss elements; 'mean_with_sample_weight' by the sum of weights;
    'none'/None return the weighted values. A mask (from ``ignore_class``)
    zeroes entries and, for the mean reductions, rescales so the mean is over
    valid entries only.
    """
    values = np.asarray(values)
    if mask is not None:
        mask = mask.astype(values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.sum()
            mask = mask * (mask.size / valid if valid else 0.0)
        if sample_weight is None:
            sample_weight = mask
        else:
            mask, sample_weight = _broadcast_weight(np.asarray(sample_weight, values.dtype), mask)
            sample_weight = sample_weight * mask
    if sample_weight is not None:
        values, sample_weight = _broadcast_weight(np.asarray(sample_weight, values.dtype), values)
        values = values * sample_weight
    if reduction in (None, "none") or values.ndim == 0 or values.size == 0:
        return values
    loss = values.sum()
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = sample_weight.sum()
        loss = loss / divisor if divisor else loss * 0.0
    elif reduction != "sum":
        loss = loss / values.size
    return loss


# ----------------------------------------------------------------------------- eager functions

def _as_float(y_pred, dtype=None):
    """``y_pred`` as an array of ``dtype``, else of its own float dtype, else of floatx()."""
    y_pred = np.asarray(y_pred)
    dtype = dtype or (y_pred.dtype if y_pred.dtype.kind == "f" else backend.floatx())
    return y_pred.astype(dtype, copy=False)


def _as_arrays(y_true, y_pred, dtype=None):
    y_pred = _as_float(y_pred, dtype)
    return np.asarray(y_true, dtype=y_pred.dtype), y_pred


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


# ----------------------------------------------------------------------------- classes

class Loss:
    """Base class: eager ``__call__`` with Keras reduction, and ``bind`` for plans.

    Subclasses implement ``call(y_true, y_pred)`` (per-sample NumPy values) and,
    to run in a plan, ``_kernel(fused)`` returning a Numba kernel and its extra
    arguments (see ``framework.kernels.losses``).

    Args:
        name: name of the loss instance.
        reduction: 'sum_over_batch_size' (default), 'sum', 'mean',
            'mean_with_sample_weight', or 'none'/None (eager only).
        dtype: dtype of eager computations; defaults to y_pred's float dtype,
            else ``backend.floatx()``.
    """

    fusable_activation = None
    sparse = False  # True: targets are integer labels of shape (N, *S[:-1])

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def _values_and_mask(self, y_true, y_pred):
        return self.call(y_true, y_pred), None

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _as_arrays(y_true, y_pred, self.dtype)
        values, mask = self._values_and_mask(y_true, y_pred)
        out = reduce_weighted_values(values, sample_weight, mask, self.reduction)
        return float(out) if np.ndim(out) == 0 else out

    def target_shape(self, y_pred_shape):
        """Shape of the target buffer a plan allocates for outputs of ``y_pred_shape``."""
        return tuple(y_pred_shape[:-1]) if self.sparse else tuple(y_pred_shape)

    # -- plan -------------------------------------------------------------------
    def _kernel(self, fused):
        raise NotImplementedError(f"{type(self).__name__} has no plan implementation (bind())")

    def bind(self, y_pred, y_true, sample_weight, d_pred, logits=None):
        """A no-argument callable returning the reduced loss and writing ``d_pred``.

        Args:
            y_pred: model output buffer (N, *S), float32 or float64, C-contiguous.
            y_true: target buffer of the same dtype: same size as ``y_pred``, or
                (N, *S[:-1]) (optionally with a trailing 1) labels for sparse losses.
            sample_weight: (N,) weights, or None for ones.
            d_pred: gradient buffer shaped like ``y_pred``.
            logits: fused mode: the pre-activation buffer whose
                ``fusable_activation`` gives ``y_pred``; the callable then reads
                the logits and writes d(loss)/d(logits) into ``d_pred``.
        """
        if self.reduction not in _BIND_REDUCTIONS:
            raise ValueError(f"Loss {self.name!r}: reduction={self.reduction!r} gives no scalar; "
                             f"a plan needs one of {_BIND_REDUCTIONS}")
        fused = logits is not None
        if fused and self.fusable_activation is None:
            raise ValueError(f"Loss {self.name!r} cannot be fused with an activation "
                             f"(fusable_activation is None)")
        source = logits if fused else y_pred
        if fused and logits.shape != y_pred.shape:
            raise ValueError(f"Loss {self.name!r}: logits shape {logits.shape} != y_pred shape {y_pred.shape}")
        if d_pred.shape != y_pred.shape or d_pred.dtype != y_pred.dtype:
            raise ValueError(f"Loss {self.name!r}: d_pred {d_pred.shape} {d_pred.dtype} must match "
                             f"y_pred {y_pred.shape} {y_pred.dtype}")
        x, d = view3(source, "y_pred"), view3(d_pred, "d_pred")
        n, r, c = x.shape
        t_shape = (n, r) if self.sparse else (n, r, c)
        try:
            t = reshape_view(y_true, t_shape, "y_true")
        except ValueError as e:
            raise ValueError(f"Loss {self.name!r}: expected y_true with {int(np.prod(t_shape))} elements "
                             f"for y_pred of shape {y_pred.shape}; received shape {y_true.shape}. ({e})") from None
        if y_true.dtype != y_pred.dtype:
            raise ValueError(f"Loss {self.name!r}: y_true dtype {y_true.dtype} != y_pred dtype {y_pred.dtype}")
        if sample_weight is None:
            sample_weight = np.ones(n, dtype=y_pred.dtype)
        if sample_weight.shape != (n,):
            raise ValueError(f"Loss {self.name!r}: sample_weight must have shape ({n},); "
                             f"received {sample_weight.shape}")
        w = sample_weight
        kernel, extra = self._kernel(fused)
        if self.reduction == "mean_with_sample_weight":
            if self.sparse and getattr(self, "ignore_class", None) is not None:
                raise ValueError(f"Loss {self.name!r}: bind() does not support "
                                 f"reduction='mean_with_sample_weight' with ignore_class")
            weight_sum = K.weight_sum

            def step():
                s = weight_sum(w)
                return kernel(x, t, w, d, 1.0 / s if s else 0.0, *extra)
            return step
        scale = 1.0 if self.reduction == "sum" else 1.0 / (n * r)
        return functools.partial(kernel, x, t, w, d, scale, *extra)

    # -- config -----------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _snake(name):
    out = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)
    return out.lstrip("_")


class LossFunctionWrapper(Loss):
    """An eager loss from a plain ``fn(y_true, y_pred) -> per-sample values``.

    It has no plan implementation (no gradient) and does not serialize: for
    training, subclass ``Loss`` and register it.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction, dtype=dtype)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return np.asarray(self.fn(*squeeze_or_expand_to_same_rank(y_true, y_pred), **self._fn_kwargs))

    def get_config(self):
        raise ValueError(f"Loss {self.name!r} wraps a plain function and cannot be serialized; "
                         f"subclass framework.losses.Loss and register it instead")


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


def _check_axis(loss):
    if loss.axis != -1:
        raise ValueError(f"Loss {loss.name!r}: bind() supports only axis=-1; received axis={loss.axis}")


def _check_smoothing(value):
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; received {value!r}")
    return float(value)


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


# ----------------------------------------------------------------------------- lookup

_FUNCTIONS = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError, huber: Huber,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, cosine_similarity: CosineSimilarity,
    log_cosh: LogCosh, kl_divergence: KLDivergence, poisson: Poisson, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
}


def serialize(loss):
    """``{'class_name': registered name, 'config': loss.get_config()}``."""
    return REGISTRY.serialize(loss, Loss)


def deserialize(config):
    """A loss from ``serialize``'s output or a registered name. Only registry names are looked up."""
    if isinstance(config, str):
        return get(config)
    if isinstance(config, dict) and config.get("class_name") == "function":  # Keras's form for a serialized loss function
        return get(config.get("config"))
    return REGISTRY.from_config_dict(config)


def get(identifier):
    """A ``Loss`` instance from a name, config dict, class, instance, or function.

    Unlike ``keras.losses.get`` (which returns the bare function for 'mse'),
    this always returns a ``Loss``, because a plan needs ``bind``. A function
    alias keeps the name written (``get('mse').name == 'mse'``, as Keras's
    compile names a wrapped function); a class name gets the class default.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = REGISTRY.lookup(identifier)
        return cls() if identifier == cls.registered_name else cls(name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        cls = _FUNCTIONS.get(identifier)
        return cls(name=identifier.__name__) if cls else LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
