"""The base class of losses, and what every loss shares: the reductions, the (N, R, C) views
a plan binds, Keras's rank alignment of targets and predictions, ``LossFunctionWrapper`` for
plain functions, and the registry of loss classes."""
import functools

import numpy as np

from framework import backend
from framework.config.registry import Registry
from framework.kernels import losses as K

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_BIND_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight")


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
                         f"Received: reduction={reduction!r}")
    return reduction


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
    values = np.asanyarray(values)  # an array a gradient tape records stays one (NumPy's functions reach its ops)
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
    loss = np.sum(values)
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = float(np.sum(sample_weight))
        loss = loss / divisor if divisor else loss * 0.0
    elif reduction != "sum":
        loss = loss / values.size
    return loss


def _as_float(y_pred, dtype=None):
    """``y_pred`` as an array of ``dtype``, else of its own float dtype, else of floatx()."""
    y_pred = np.asanyarray(y_pred)  # a tape's recorded array stays one
    dtype = dtype or (y_pred.dtype if y_pred.dtype.kind == "f" else backend.floatx())
    return y_pred.astype(dtype, copy=False)


def _as_arrays(y_true, y_pred, dtype=None):
    y_pred = _as_float(y_pred, dtype)
    return np.asarray(y_true, dtype=y_pred.dtype), y_pred


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
        if SYMBOLIC_CALL and any(not isinstance(v, np.ndarray) and hasattr(v, "node")
                                 for v in (y_true, y_pred, sample_weight)):
            return SYMBOLIC_CALL[0](self, y_true, y_pred, sample_weight)
        tapes = TAPE_CALL[0]((y_true, y_pred, sample_weight)) if TAPE_CALL else None
        taped = bool(tapes)
        if taped and self.has_plan_step():  # recorded by those GradientTapes: one kernel
            return TAPE_CALL[1](self, y_true, y_pred, sample_weight, tapes)
        y_true, y_pred = _as_arrays(y_true, y_pred, self.dtype)
        values, mask = self._values_and_mask(y_true, y_pred)  # on recorded arrays, ops record each step
        out = reduce_weighted_values(values, sample_weight, mask, self.reduction)
        return float(out) if np.ndim(out) == 0 and not taped else out

    def target_shape(self, y_pred_shape):
        """Shape of the target buffer a plan allocates for outputs of ``y_pred_shape``."""
        return tuple(y_pred_shape[:-1]) if self.sparse else tuple(y_pred_shape)

    # -- plan -------------------------------------------------------------------
    @classmethod
    def has_plan_step(cls):
        """True when the class binds its own kernel (every built-in loss); a loss that only gives
        ``call()`` written with framework.ops is traced instead (framework.training.traced_loss)."""
        return cls._kernel is not Loss._kernel or cls.bind is not Loss.bind

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


#: how a loss computes on symbolic tensors (a graph node), installed by framework.ops from above
SYMBOLIC_CALL = []


#: (tracks(values), call(loss, y_true, y_pred, sample_weight)): a loss on arrays a GradientTape records
TAPE_CALL = []


def install_tape_call(tracks, call):
    """Set how a loss called on arrays a gradient tape records is computed (framework.training.tape):
    ``tracks(values)`` gives the tapes recording one of the values, ``call(loss, y_true, y_pred,
    sample_weight, tapes)`` computes and records the loss for them."""
    TAPE_CALL[:] = [tracks, call]


def install_symbolic_call(function):
    """Set ``function(loss, y_true, y_pred, sample_weight)``: a loss called on symbolic tensors."""
    SYMBOLIC_CALL[:] = [function]


REGISTRY = Registry("loss", base=Loss)
register = REGISTRY.register


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
        self.fn, self.fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return np.asarray(self.fn(*squeeze_or_expand_to_same_rank(y_true, y_pred), **self.fn_kwargs))

    def get_config(self):
        raise ValueError(f"Loss {self.name!r} wraps a plain function and cannot be serialized; "
                         f"subclass framework.losses.Loss and register it instead")


def _check_axis(loss):
    if loss.axis != -1:
        raise ValueError(f"Loss {loss.name!r}: bind() supports only axis=-1; received axis={loss.axis}")


def _check_smoothing(value):
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; received {value!r}")
    return float(value)
