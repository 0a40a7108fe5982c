"""Weight regularizers with Keras 3 names, arguments and defaults.

A regularizer is used two ways: eagerly, ``reg(x)`` returns the penalty of a
NumPy array; in a plan, ``reg.bind(weight, grad)`` returns a callable that
returns the penalty and adds its gradient into ``grad`` without allocating.
"""
import math
import numbers

import numpy as np

from framework.config.registry import Registry
from framework.kernels.regularizers import l1_l2_penalty_and_grad


def validate_factor(value, name):
    """A penalty factor as a float; ValueError unless finite and non-negative (as Keras)."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


def _flat_view(array, what):
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise ValueError(f"bind() needs a C-contiguous NumPy array for the {what}")
    return array.reshape(-1)


class Regularizer:
    """Base class: a penalty on a weight, summed into the loss."""

    def __call__(self, x):
        """The penalty of array ``x`` as a float."""
        return 0.0

    def bind(self, weight, grad):
        """A no-argument callable returning the penalty and adding its gradient into ``grad``."""
        raise NotImplementedError(f"{type(self).__name__} has no plan implementation (bind())")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


REGISTRY = Registry("regularizer", base=Regularizer, from_callable=lambda fn: fn)


class _ElementwisePenalty(Regularizer):
    """Shared body of L1, L2 and L1L2: ``l1*sum|x| + l2*sum(x^2)``."""

    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        penalty = 0.0  # a zero factor skips its term, as Keras does (0 * inf stays 0)
        if self.l1:
            penalty += self.l1 * float(np.sum(np.abs(x)))
        if self.l2:
            penalty += self.l2 * float(np.sum(np.square(x)))
        return penalty

    def bind(self, weight, grad):
        if weight.shape != grad.shape:
            raise ValueError(f"bind(): weight shape {weight.shape} != gradient shape {grad.shape}")
        w, g = _flat_view(weight, "weight"), _flat_view(grad, "gradient")
        l1, l2 = self.l1, self.l2

        def penalty_and_grad():
            return l1_l2_penalty_and_grad(w, g, l1, l2)

        return penalty_and_grad


@REGISTRY.register("L1", "l1")
class L1(_ElementwisePenalty):
    """``l1 * sum(|x|)``.

    Args:
        l1: non-negative L1 factor.
    """

    def __init__(self, l1=0.01):
        self.l1 = validate_factor(0.01 if l1 is None else l1, "l1")

    def get_config(self):
        return {"l1": self.l1}


@REGISTRY.register("L2", "l2")
class L2(_ElementwisePenalty):
    """``l2 * sum(x^2)``.

    Args:
        l2: non-negative L2 factor.
    """

    def __init__(self, l2=0.01):
        self.l2 = validate_factor(0.01 if l2 is None else l2, "l2")

    def get_config(self):
        return {"l2": self.l2}


@REGISTRY.register("L1L2", "l1_l2", "l1l2")
class L1L2(_ElementwisePenalty):
    """``l1 * sum(|x|) + l2 * sum(x^2)``.

    The constructor defaults are 0.0 (Keras), but the string 'l1_l2' gives
    ``l1=l2=0.01``, as Keras documents for string identifiers.

    Args:
        l1: non-negative L1 factor.
        l2: non-negative L2 factor.
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = validate_factor(0.0 if l1 is None else l1, "l1")
        self.l2 = validate_factor(0.0 if l2 is None else l2, "l2")

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


# Constructor arguments used when a class is named by a string.
_STRING_DEFAULTS = {L1L2: {"l1": 0.01, "l2": 0.01}}
REGISTRY.configure(from_name=lambda cls, name: cls(**_STRING_DEFAULTS.get(cls, {})))


def serialize(regularizer):
    """``{'class_name': name, 'config': {...}}`` for a registered regularizer; None stays None."""
    return REGISTRY.serialize(regularizer)


def deserialize(config):
    """A regularizer from ``serialize``'s output (or a registered name)."""
    return REGISTRY.deserialize(config)


def get(identifier):
    """Resolve a name, config dict, class, instance or ``f(x) -> float`` callable."""
    return REGISTRY.get(identifier)


#: Keras's lower-case aliases: ``regularizers.l2(1e-3)``, ``regularizers.l1_l2(l1=..., l2=...)``
l1, l2, l1_l2 = L1, L2, L1L2
