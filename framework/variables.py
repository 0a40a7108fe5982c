"""Variables: named state (layer weights, metric accumulators) whose storage the compiler may
move into an arena.

``value`` is the live array. Packing into a parameter arena copies the value
into a slice of one contiguous array and rebinds ``value`` to that view;
``version`` counts such moves so plans built over an old location can tell
they are stale. On arrays and numbers a variable computes like its value
(``v + 1``, ``v.assign_add(x)``); with symbolic tensors it leaves the operator to
the tensor, which records the variable itself (so its gradient flows).
"""
import numbers

import numpy as np


def _operand(value):
    """The array of an operand a variable computes with, or None for what it leaves to the other side."""
    if isinstance(value, Variable):
        return value.value
    if isinstance(value, (np.ndarray, numbers.Number, np.generic)):
        return value
    return None


def _binary(function, reflected=False):
    def operator(self, other):
        other = _operand(other)
        if other is None:
            return NotImplemented
        return function(other, self.value) if reflected else function(self.value, other)
    return operator


class Variable:
    """A layer weight or metric state.

    Args:
        value: the initial array (kept C-contiguous, 0-d included).
        name: the short name ('kernel').
        path: the full name ('dense/kernel'); the name until a layer that keeps the variable sets it.
        trainable: whether training updates it.
        regularizer: a penalty on it, or None.
        constraint: a projection applied after each update, or None.
    """

    def __init__(self, value, name=None, path=None, trainable=True, regularizer=None, constraint=None):
        self.value = np.require(value, requirements="C")  # keeps 0-d weights 0-d, unlike ascontiguousarray  # keeps 0-d weights 0-d, unlike ascontiguousarray
        self.name = name or "variable"
        self.path = path or self.name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint
        self.version = 0
        self.arena = None

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype.name

    def numpy(self):
        return self.value.copy()

    def assign(self, value):
        """Copy ``value`` in place (the storage, and every view of it, stays put)."""
        if hasattr(value, "node"):  # a symbolic tensor: a call() being traced into a model's graph
            raise TypeError(f"Variable '{self.path}': assign() of a symbolic tensor inside a traced call() is not "
                            "available; inside a model, variables change through training only (a layer called "
                            "on arrays may assign)")
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(f"Cannot assign a value of shape {value.shape} to variable "
                             f"'{self.path}' of shape {self.value.shape}")
        np.copyto(self.value, value, casting="unsafe")

    def assign_add(self, value):
        """Add ``value`` in place."""
        self.assign(self.value + value)

    def assign_sub(self, value):
        """Subtract ``value`` in place."""
        self.assign(self.value - value)

    @property
    def ndim(self):
        return self.value.ndim

    def __float__(self):
        return float(self.value)

    __add__, __radd__ = _binary(np.add), _binary(np.add, True)
    __sub__, __rsub__ = _binary(np.subtract), _binary(np.subtract, True)
    __mul__, __rmul__ = _binary(np.multiply), _binary(np.multiply, True)
    __truediv__, __rtruediv__ = _binary(np.divide), _binary(np.divide, True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __pow__, __rpow__ = _binary(np.power), _binary(np.power, True)

    def __neg__(self):
        return -self.value

    def __getitem__(self, index):
        return self.value[index]

    def rebind(self, view):
        """Move storage to ``view`` (already holding the value); invalidates old plans."""
        self.value = view
        self.version += 1

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"
