"""Variables: named weights whose storage the compiler may move into an arena.

``value`` is the live array. Packing into a parameter arena copies the value
into a slice of one contiguous array and rebinds ``value`` to that view;
``version`` counts such moves so plans built over an old location can tell
they are stale.
"""
import numpy as np


class Variable:
    """A layer weight: ``path`` ('dense/kernel'), shape, dtype, trainable flag, regularizer."""

    def __init__(self, value, name, path, trainable=True, regularizer=None, constraint=None):
        self.value = np.require(value, requirements="C")  # keeps 0-d weights 0-d, unlike ascontiguousarray
        self.name = name
        self.path = path
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
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(f"Cannot assign a value of shape {value.shape} to variable "
                             f"'{self.path}' of shape {self.value.shape}")
        np.copyto(self.value, value, casting="unsafe")

    def rebind(self, view):
        """Move storage to ``view`` (already holding the value); invalidates old plans."""
        self.value = view
        self.version += 1

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"
