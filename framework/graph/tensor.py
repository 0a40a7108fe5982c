"""Symbolic tensors: the edges of a functional graph.

A SymbolicTensor records a shape (batch axis first, ``None`` when unknown),
a dtype, and the node that produces it. ``+``, ``-`` and ``*`` between two
symbolic tensors add a node, so ``x += residual`` reads as it does in Keras;
what node is decided above the graph (``install_operators``).
"""
import numpy as np

#: operator name ('add', 'subtract', 'multiply') -> function(a, b) returning the result tensor
OPERATORS = {}


def install_operators(**functions):
    """Set what ``a + b``, ``a - b``, ``a * b`` on symbolic tensors build (the merge layers
    install themselves), so the graph needs no import of what sits above it."""
    unknown = set(functions) - {"add", "subtract", "multiply"}
    if unknown:
        raise ValueError(f"install_operators: unknown operator(s) {sorted(unknown)}; valid: add, multiply, subtract")
    OPERATORS.update(functions)


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

    def _operator(self, other, name, swap=False):
        if not isinstance(other, SymbolicTensor):
            raise TypeError(
                f"Cannot combine a symbolic tensor with {type(other).__name__}: both sides of "
                f"'{name.capitalize()}' must be symbolic tensors (constants come with framework.ops)")
        if name not in OPERATORS:
            raise TypeError(f"Symbolic '{name}' is not available: import framework first")
        return OPERATORS[name](other, self) if swap else OPERATORS[name](self, other)

    def __add__(self, other):
        return self._operator(other, "add")

    def __radd__(self, other):
        return self._operator(other, "add", swap=True)

    def __sub__(self, other):
        return self._operator(other, "subtract")

    def __rsub__(self, other):
        return self._operator(other, "subtract", swap=True)

    def __mul__(self, other):
        return self._operator(other, "multiply")

    def __rmul__(self, other):
        return self._operator(other, "multiply", swap=True)

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
