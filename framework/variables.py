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


#: how many times any variable moved (``rebind``): a plan checks its weights only when this changed
MOVES = [0]


def _operand(value):
    """The array of an operand a variable computes with, or None for what it leaves to the other side."""
    if isinstance(value, Variable):
        return value.value
    if isinstance(value, (np.ndarray, numbers.Number, np.generic)):
        return value
    return None


def _binary(function, reflected=False):
    name = function.__name__

    def operator(self, other):
        value = _operand(other)
        if value is None:
            return NotImplemented
        if in_trace():  # inside a traced call(): a node that reads the variable in each step
            return _TRACE["operator"](name, other, self) if reflected else _TRACE["operator"](name, self, other)
        return function(value, self.value) if reflected else function(self.value, value)
    return operator


#: how variables behave inside a ``call()`` being traced; framework.ops installs them:
#: ``tracing()`` -> bool, ``operator(name, *operands)`` -> a graph node reading the variable when a
#: step runs, ``update(variable, value, mode)`` -> a graph node writing it
_TRACE = {}


def install_trace_hooks(tracing, operator, update):
    """Set the three functions above (``framework.ops`` calls this once)."""
    _TRACE.update(tracing=tracing, operator=operator, update=update)


def in_trace():
    """True while a layer's ``call()`` is traced into a graph: variables are then read and written
    by graph nodes, not at once."""
    return bool(_TRACE) and _TRACE["tracing"]()


def _symbolic_update(variable, value, mode):
    if not _TRACE:
        raise TypeError(f"Variable '{variable.path}': assigning a symbolic tensor needs framework.ops "
                        "(import framework first)")
    return _TRACE["update"](variable, value, mode)


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
        """Copy ``value`` in place (the storage, and every view of it, stays put). Inside a ``call()``
        being traced (or given a symbolic value) it becomes an update node run in each step of the plan."""
        if hasattr(value, "node") or in_trace():
            return _symbolic_update(self, value, "assign")
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(f"Cannot assign a value of shape {value.shape} to variable "
                             f"'{self.path}' of shape {self.value.shape}")
        np.copyto(self.value, value, casting="unsafe")

    def assign_add(self, value):
        """Add ``value`` in place."""
        if hasattr(value, "node") or in_trace():
            return _symbolic_update(self, value, "add")
        self.assign(self.value + value)

    def assign_sub(self, value):
        """Subtract ``value`` in place."""
        if hasattr(value, "node") or in_trace():
            return _symbolic_update(self, value, "subtract")
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
        return _TRACE["operator"]("negative", self) if in_trace() else -self.value

    def __getitem__(self, index):
        return self.value[index]

    def rebind(self, view):
        """Move storage to ``view`` (already holding the value); invalidates old plans."""
        self.value = view
        self.version += 1
        MOVES[0] += 1

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"
