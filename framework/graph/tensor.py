"""Symbolic tensors: the edges of a functional graph.

A SymbolicTensor records a shape (batch axis first, ``None`` when unknown),
a dtype, and the node that produces it. Python operators (``+ - * / @ **``,
comparisons, ``x[:, 0]``) add nodes, so ``x += residual`` reads as it does in
Keras; which nodes is decided above the graph (``framework.ops`` installs them).
"""
import numpy as np

#: operator name ('add', 'subtract', ...) -> function(a, b) (one operand for 'negative') building the result
OPERATORS = {}
OPERATOR_NAMES = ("add", "subtract", "multiply", "divide", "matmul", "power", "negative", "getitem", "less",
                  "less_equal", "greater", "greater_equal", "not_equal", "any", "mask_of", "with_mask")


def install_operators(**functions):
    """Set what the Python operators on symbolic tensors build (``framework.ops`` installs them),
    so the graph needs no import of what sits above it."""
    unknown = set(functions) - set(OPERATOR_NAMES)
    if unknown:
        raise ValueError(f"install_operators: unknown operator(s) {sorted(unknown)}; "
                         f"valid: {', '.join(OPERATOR_NAMES)}")
    OPERATORS.update(functions)


def apply_operator(name, *operands, **options):
    """The installed op ``name`` on tensors or arrays: how layers below ``framework.ops`` use an op
    (``Embedding.compute_mask`` is ``apply_operator('not_equal', ids, 0)``)."""
    if name not in OPERATORS:
        raise TypeError(f"The '{name}' op needs framework.ops: import framework first")
    return OPERATORS[name](*operands, **options)


_UFUNC_OPERATORS = {"add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
                    "true_divide": "divide", "matmul": "matmul", "power": "power", "less": "less",
                    "less_equal": "less_equal", "greater": "greater", "greater_equal": "greater_equal"}


class SymbolicTensor:
    """Output ``index`` of ``node``; carries shape and dtype, never data.

    ``batched`` is False for a batch statistic (a reduction over the batch axis, such as a loss
    term ``ops.mean(x)``): its shape has no batch axis, and it can feed losses but not outputs.
    """

    batched = True

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

    @property
    def keras_mask(self):
        """The mask this tensor carries as a boolean (batch, steps) tensor, or None (Keras's ``_keras_mask``)."""
        if self.mask is None:
            return None
        cached = self.__dict__.get("_mask_tensor")
        if cached is None or cached[0] is not self.mask:
            cached = self.__dict__["_mask_tensor"] = (self.mask, self._operator("mask_of", self))
        return cached[1]

    _keras_mask = keras_mask

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def _operator(self, name, *operands):
        return apply_operator(name, *operands)

    def __add__(self, other):
        return self._operator("add", self, other)

    def __radd__(self, other):
        return self._operator("add", other, self)

    def __sub__(self, other):
        return self._operator("subtract", self, other)

    def __rsub__(self, other):
        return self._operator("subtract", other, self)

    def __mul__(self, other):
        return self._operator("multiply", self, other)

    def __rmul__(self, other):
        return self._operator("multiply", other, self)

    def __truediv__(self, other):
        return self._operator("divide", self, other)

    def __rtruediv__(self, other):
        return self._operator("divide", other, self)

    def __matmul__(self, other):
        return self._operator("matmul", self, other)

    def __rmatmul__(self, other):
        return self._operator("matmul", other, self)

    def __pow__(self, other):
        return self._operator("power", self, other)

    def __rpow__(self, other):
        return self._operator("power", other, self)

    def __neg__(self):
        return self._operator("negative", self)

    def __getitem__(self, index):
        return self._operator("getitem", self, index)

    def __lt__(self, other):
        return self._operator("less", self, other)

    def __le__(self, other):
        return self._operator("less_equal", self, other)

    def __gt__(self, other):
        return self._operator("greater", self, other)

    def __ge__(self, other):
        return self._operator("greater_equal", self, other)

    def __bool__(self):
        raise TypeError(f"Symbolic tensor '{self.name}' {self.shape} has no value while the graph is built: Python "
                        "control flow (if, while, and, or) on a tensor cannot be traced; use framework.ops.where "
                        "to choose between values (or framework.ops.cond between two computations)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``array + tensor`` and the other operators with an array on the left reach the ops."""
        name = _UFUNC_OPERATORS.get(ufunc.__name__)
        if method == "__call__" and name is not None and not kwargs:
            return self._operator(name, *inputs)
        raise self._no_data("A NumPy function")

    def _no_data(self, what):
        return TypeError(f"{what} was called on symbolic tensor '{self.name}' {self.shape}, which has no data "
                         "while the graph is built; use the framework.ops function of the same name")

    def __array__(self, dtype=None, copy=None):
        raise self._no_data("A NumPy function")

    def __iter__(self):
        raise TypeError(f"Symbolic tensor '{self.name}' {self.shape} cannot be iterated while the graph is built; "
                        "index it (x[:, 0]) or use framework.ops")

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
