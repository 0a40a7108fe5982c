"""Symbolic tensors: the edges of a functional graph.

A SymbolicTensor records a shape (batch axis first, ``None`` when unknown),
a dtype, and the node that produces it. Arithmetic operators build merge
layers, so ``x += residual`` reads as it does in Keras.
"""
import numpy as np


class SymbolicTensor:
    """Output ``index`` of ``node``; carries shape and dtype, never data."""

    def __init__(self, shape, dtype, node=None, index=0, name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype).name
        self.node = node
        self.index = index
        self.name = name
        self.mask = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def _merge(self, other, layer_name, swap=False):
        from framework.layers import merging
        if not isinstance(other, SymbolicTensor):
            raise TypeError(
                f"Cannot combine a symbolic tensor with {type(other).__name__}: both sides of "
                f"'{layer_name}' must be symbolic tensors (constants come with framework.ops)")
        layer = getattr(merging, layer_name)()
        return layer([other, self] if swap else [self, other])

    def __add__(self, other):
        return self._merge(other, "Add")

    def __radd__(self, other):
        return self._merge(other, "Add", swap=True)

    def __sub__(self, other):
        return self._merge(other, "Subtract")

    def __rsub__(self, other):
        return self._merge(other, "Subtract", swap=True)

    def __mul__(self, other):
        return self._merge(other, "Multiply")

    def __rmul__(self, other):
        return self._merge(other, "Multiply", swap=True)

    __hash__ = object.__hash__


class Mask:
    """A per-timestep mask travelling with a sequence tensor: shape (batch, steps).

    A mask is created by one layer (``Embedding(mask_zero=True)``, ``Masking``)
    and passed along by the layers that support masking. In a plan it is one
    buffer of the compute dtype holding 1.0 for real steps and 0.0 for padding,
    written by its creator's forward step and read by every consumer.
    """

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __repr__(self):
        return f"<Mask shape={self.shape}>"


def is_symbolic(value):
    """True for a SymbolicTensor or a (nested) list/tuple/dict of them."""
    if isinstance(value, SymbolicTensor):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(is_symbolic(v) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(is_symbolic(v) for v in value.values())
    return False
