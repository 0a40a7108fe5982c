"""Weight constraints with Keras 3 names, arguments and defaults.

A constraint is used two ways:

- eagerly, ``constraint(w)`` returns the projected weight as a new NumPy array
  (Keras's formula, computed in ``w``'s float dtype);
- in a plan, ``constraint.bind(weight)`` returns a no-argument callable that
  projects ``weight`` in place with one Numba kernel and allocates nothing.
  The trainer calls it after each optimizer update.

The norm constraints compute ``norms = sqrt(sum(w^2, axis, keepdims=True))``
and multiply ``w`` by ``desired / (epsilon + norms)`` exactly as Keras does
(so a ``UnitNorm`` result has norm ``norm / (norm + 1e-7)``, not exactly 1).
``axis`` is an int, a list of ints, or None (all axes). For a ``Dense`` kernel
``(in, units)`` the default ``axis=0`` constrains each unit's incoming weights;
for a ``Conv2D`` kernel ``(kh, kw, in, filters)`` use ``axis=[0, 1, 2]``.
"""
import numbers

import numpy as np

from framework import backend
from framework.config.registry import Registry
from framework.kernels import constraints as K


def _weight_array(weight):
    if not isinstance(weight, np.ndarray) or weight.dtype.kind != "f" or not weight.flags.c_contiguous \
            or not weight.flags.writeable:
        raise ValueError("bind() needs a writeable, C-contiguous float NumPy array for the weight; received "
                         + (f"dtype {weight.dtype}, contiguous={weight.flags.c_contiguous}"
                            if isinstance(weight, np.ndarray) else type(weight).__name__))
    return weight


def _as_float(w):
    w = np.asarray(w)
    return w if w.dtype.kind == "f" else w.astype(backend.floatx())


class Constraint:
    """Base class: a projection applied to a weight after each update (the identity here).

    Subclasses override ``__call__(w) -> new array`` and, to run in a plan
    without allocating, ``bind(weight) -> callable()`` that projects in place.
    A subclass that overrides only ``__call__`` still works in training: its
    inherited ``bind`` copies ``self(weight)`` back into the weight (this
    allocates once per step).
    """

    def __call__(self, w):
        return w

    def bind(self, weight):
        """A no-argument callable that applies the constraint to ``weight`` in place."""
        weight = _weight_array(weight)
        if type(self).__call__ is Constraint.__call__:
            return _noop

        def apply():
            np.copyto(weight, self(weight), casting="same_kind")
        return apply

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


REGISTRY = Registry("constraint", base=Constraint,
                    bad_identifier="Could not interpret {kind} identifier: {identifier!r}. Valid names: {names}")
register = REGISTRY.register
register("Constraint", "constraint")(Constraint)


def _noop():
    return None


# ----------------------------------------------------------------------------- axes

def _check_axis(axis):
    """``axis`` as given, validated: None, an int, or a non-empty list/tuple of distinct ints."""
    if axis is None or (isinstance(axis, numbers.Integral) and not isinstance(axis, bool)):
        return None if axis is None else int(axis)
    if isinstance(axis, (list, tuple)) and axis and all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
        return [int(a) for a in axis]
    raise ValueError(f"Invalid axis {axis!r}: expected an int, a list of ints, or None")


def _reduced_axes(axis, ndim, who):
    """The sorted tuple of axes ``axis`` names in a weight of rank ``ndim``; ValueError if out of range."""
    if axis is None:
        return tuple(range(ndim))
    axes = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{who}: axis {axis!r} is out of range for a weight of rank {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{who}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))


def _norm_layout(shape, reduced):
    """(rows, inner, row_group, inner_kept, groups) for ``scale_to_norm`` (framework.kernels.constraints)."""
    runs = []  # [is_reduced, size], adjacent axes of one kind merged
    for i, size in enumerate(shape):
        kind = i in reduced
        if runs and runs[-1][0] == kind:
            runs[-1][1] *= size
        else:
            runs.append([kind, size])
    *outer, (inner_reduced, inner) = runs
    kept_outer = [size for kind, size in outer if not kind]
    group = np.arange(int(np.prod(kept_outer)), dtype=np.int64).reshape(kept_outer)
    group = group.reshape([1 if kind else size for kind, size in outer])
    row_group = np.ascontiguousarray(np.broadcast_to(group, [size for _, size in outer]).reshape(-1))
    groups = group.size * (1 if inner_reduced else inner)
    return row_group.size, inner, row_group, not inner_reduced, groups


class _NormConstraint(Constraint):
    """Shared body of MaxNorm, UnitNorm and MinMaxNorm: ``w * desired(norm) / (epsilon + norm)``."""

    def _bounds(self):
        """(min_value, max_value, rate) of the desired norm."""
        raise NotImplementedError

    def _desired(self, norms):
        low, high, rate = self._bounds()
        clipped = np.clip(norms, low, high)
        return clipped if rate == 1.0 else rate * clipped + (1.0 - rate) * norms

    def __call__(self, w):
        w = _as_float(w)
        axes = _reduced_axes(self.axis, w.ndim, type(self).__name__)
        norms = np.sqrt(np.sum(np.square(w), axis=axes, keepdims=True))
        return w * (self._desired(norms) / (backend.epsilon() + norms))

    def bind(self, weight):
        weight = _weight_array(weight)
        reduced = _reduced_axes(self.axis, weight.ndim, type(self).__name__)
        rows, inner, row_group, inner_kept, groups = _norm_layout(weight.shape, reduced)
        view = weight.view()
        view.shape = (rows, inner)  # a view of the C-contiguous weight, never a copy
        sums = np.empty(groups, dtype=np.float64)
        low, high, rate = (float(v) for v in self._bounds())
        eps = float(backend.epsilon())
        kernel = K.scale_to_norm

        def apply():
            kernel(view, row_group, inner_kept, sums, low, high, rate, eps)
        return apply


@register("MaxNorm", "max_norm")
class MaxNorm(_NormConstraint):
    """Rescales each weight vector whose L2 norm exceeds ``max_value`` down to it.

    Args:
        max_value: the maximum norm of the incoming weights.
        axis: the axis (int, list, or None for all) the norms are computed over;
            0 for a ``Dense`` kernel, ``[0, 1, 2]`` for a ``Conv2D`` kernel.
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = _check_axis(axis)

    def _bounds(self):
        return 0.0, self.max_value, 1.0

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@register("NonNeg", "non_neg")
class NonNeg(Constraint):
    """Sets negative weights to zero: ``maximum(w, 0)``."""

    def __call__(self, w):
        return np.maximum(_as_float(w), 0)

    def bind(self, weight):
        flat = _weight_array(weight).reshape(-1)
        kernel = K.non_negative

        def apply():
            kernel(flat)
        return apply


@register("UnitNorm", "unit_norm")
class UnitNorm(_NormConstraint):
    """Rescales each weight vector to unit L2 norm: ``w / (epsilon + norm)``.

    Args:
        axis: the axis (int, list, or None for all) the norms are computed over.
    """

    def __init__(self, axis=0):
        self.axis = _check_axis(axis)

    def _bounds(self):
        return 1.0, 1.0, 1.0

    def __call__(self, w):
        w = _as_float(w)
        axes = _reduced_axes(self.axis, w.ndim, type(self).__name__)
        return w / (backend.epsilon() + np.sqrt(np.sum(np.square(w), axis=axes, keepdims=True)))

    def get_config(self):
        return {"axis": self.axis}


@register("MinMaxNorm", "min_max_norm")
class MinMaxNorm(_NormConstraint):
    """Rescales each weight vector toward a norm in ``[min_value, max_value]``.

    Args:
        min_value: the minimum norm of the incoming weights.
        max_value: the maximum norm of the incoming weights.
        rate: the new norm is ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``;
            1.0 enforces the bounds strictly, smaller values move toward them gradually.
        axis: the axis (int, list, or None for all) the norms are computed over.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = _check_axis(axis)

    def _bounds(self):
        return self.min_value, self.max_value, self.rate

    def __call__(self, w):
        # Keras's expression as written: rate * clip + (1 - rate) * norm, also for rate == 1
        w = _as_float(w)
        axes = _reduced_axes(self.axis, w.ndim, type(self).__name__)
        norms = np.sqrt(np.sum(np.square(w), axis=axes, keepdims=True))
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (backend.epsilon() + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class FunctionConstraint(Constraint):
    """A plain ``fn(w) -> array`` used as a constraint (Keras accepts any callable).

    It works eagerly and in training (its ``bind`` copies ``fn(weight)`` back,
    allocating each step), but cannot be serialized: subclass ``Constraint``
    and register it instead.
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, w):
        return self.fn(w)

    def get_config(self):
        raise ValueError(f"Constraint {self.fn!r} is a plain function and cannot be serialized; subclass "
                         "framework.constraints.Constraint and register it with framework.constraints.register")

    def __repr__(self):
        return f"FunctionConstraint({getattr(self.fn, '__name__', self.fn)!r})"


# ----------------------------------------------------------------------------- lookup

max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm  # Keras's shortcut aliases

# a plain function (not a class) becomes a FunctionConstraint
REGISTRY.configure(from_callable=lambda fn: None if isinstance(fn, type) else FunctionConstraint(fn))


def serialize(constraint):
    """``{'class_name': registered name, 'config': {...}}``; None stays None."""
    return REGISTRY.serialize(constraint)


def deserialize(config):
    """A constraint from ``serialize``'s output or a registered name. Only registry names are looked up."""
    return REGISTRY.deserialize(config)


def get(identifier):
    """A ``Constraint`` from None, a name ('max_norm', 'MaxNorm', ...), a config dict, a class,
    an instance, or a plain ``fn(w) -> array``; ValueError (listing the names) otherwise."""
    return REGISTRY.get(identifier)
