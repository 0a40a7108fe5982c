"""framework.ops: NumPy-like functions with Keras 3's names, on arrays and on symbolic tensors.

On NumPy arrays (and Python numbers) an op returns an array at once. On symbolic tensors (in a
functional model, or in a custom layer's ``call()`` while it is traced) it adds a node to the
graph; the plan compiler binds the node's forward steps to buffers allocated once and derives its
backward from the op's gradient rule, so models that use ops train like any other.

The Python operators of symbolic tensors (``+ - * / @ ** -x``, ``< <= > >=``, ``x[:, 0]``) are
these ops; ``a + b`` of two tensors of one shape stays an ``Add`` layer, as in Keras.
"""
import numpy as np

from framework import backend
from framework.graph import tensor as _tensor
from framework.layers import merging as _merging
from framework.ops import elementwise as _e, random_ops as _random, reductions as _r, shaping as _s
from framework.ops.operation import REGISTRY, Operation, OpError  # noqa: F401  (the base of every op, its error)


# ----- elementwise ------------------------------------------------------------------------------------
def _binary(cls, doc):
    def op(x1, x2):
        return cls()(x1, x2)
    op.__name__ = op.__qualname__ = _snake(cls.__name__)
    op.__doc__ = doc
    return op


def _unary(cls, doc):
    def op(x):
        return cls()(x)
    op.__name__ = op.__qualname__ = _snake(cls.__name__)
    op.__doc__ = doc
    return op


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


add = _binary(_e.Add, "x1 + x2, broadcast.")
subtract = _binary(_e.Subtract, "x1 - x2, broadcast.")
multiply = _binary(_e.Multiply, "x1 * x2, broadcast.")
divide = _binary(_e.Divide, "x1 / x2, broadcast (a float result).")
true_divide = divide
power = _binary(_e.Power, "x1 ** x2, broadcast.")
maximum = _binary(_e.Maximum, "The larger of x1 and x2 (ties: the gradient goes to x1).")
minimum = _binary(_e.Minimum, "The smaller of x1 and x2 (ties: the gradient goes to x1).")
negative = _unary(_e.Negative, "-x")
square = _unary(_e.Square, "x * x")
sqrt = _unary(_e.Sqrt, "The square root.")
rsqrt = _unary(_e.Rsqrt, "1 / sqrt(x).")
exp = _unary(_e.Exp, "e ** x.")
log = _unary(_e.Log, "The natural logarithm.")
log1p = _unary(_e.Log1p, "log(1 + x), accurate for small x.")
abs = _unary(_e.Abs, "|x|.")  # noqa: A001  (Keras's name)
absolute = abs
sin = _unary(_e.Sin, "The sine.")
cos = _unary(_e.Cos, "The cosine.")
tanh = _unary(_e.Tanh, "The hyperbolic tangent.")
sigmoid = _unary(_e.Sigmoid, "1 / (1 + exp(-x)).")
softplus = _unary(_e.Softplus, "log(1 + exp(x)).")
relu = _unary(_e.Relu, "max(x, 0).")
silu = _unary(_e.Silu, "x * sigmoid(x).")
swish = silu
sign = _unary(_e.Sign, "-1, 0 or 1 (no gradient).")
floor = _unary(_e.Floor, "Rounded down (no gradient).")
round = _unary(_e.Round, "Rounded half to even, as NumPy (no gradient).")  # noqa: A001
stop_gradient = _unary(_e.StopGradient, "x unchanged; no gradient flows back through it.")
logical_not = _unary(_e.LogicalNot, "Elementwise not (no gradient).")


def gelu(x, approximate=True):
    """GELU; the tanh form (``approximate=True``, Keras's default)."""
    return _e.Gelu(approximate=approximate)(x)


def clip(x, x_min, x_max):
    """x limited to [x_min, x_max]."""
    return _e.Clip(x_min, x_max)(x)


def where(condition, x1, x2):
    """x1 where condition holds, else x2 (no gradient to the condition)."""
    return _e.Where()(condition, x1, x2)


def cast(x, dtype):
    """x as dtype (the gradient passes between float dtypes)."""
    return _e.Cast(dtype)(x)


equal = _binary(_e.Equal, _e.Equal.__doc__)
not_equal = _binary(_e.NotEqual, _e.NotEqual.__doc__)
less = _binary(_e.Less, _e.Less.__doc__)
less_equal = _binary(_e.LessEqual, _e.LessEqual.__doc__)
greater = _binary(_e.Greater, _e.Greater.__doc__)
greater_equal = _binary(_e.GreaterEqual, _e.GreaterEqual.__doc__)
logical_and = _binary(_e.LogicalAnd, _e.LogicalAnd.__doc__)
logical_or = _binary(_e.LogicalOr, _e.LogicalOr.__doc__)


# ----- reductions ---------------------------------------------------------------------------------------
def sum(x, axis=None, keepdims=False):  # noqa: A001  (Keras's name)
    """The sum over axis."""
    return _r.Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """The mean over axis."""
    return _r.Mean(axis, keepdims)(x)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """The largest value over axis (ties share the gradient)."""
    return _r.Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """The smallest value over axis (ties share the gradient)."""
    return _r.Min(axis, keepdims)(x)


amax, amin = max, min


def prod(x, axis=None, keepdims=False):
    """The product over axis (its gradient assumes no zeros)."""
    return _r.Prod(axis, keepdims)(x)


def var(x, axis=None, keepdims=False):
    """The variance over axis (ddof=0)."""
    return _r.Var(axis, keepdims)(x)


def std(x, axis=None, keepdims=False):
    """The standard deviation over axis (ddof=0)."""
    return _r.Std(axis, keepdims)(x)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over axis, without overflow."""
    return _r.Logsumexp(axis, keepdims)(x)


def argmax(x, axis=None, keepdims=False):
    """The index of the largest value (int64, no gradient)."""
    if axis is None and not isinstance(x, _tensor.SymbolicTensor):
        return np.argmax(x)
    return _r.Argmax(axis, keepdims)(x)


def argmin(x, axis=None, keepdims=False):
    """The index of the smallest value (int64, no gradient)."""
    if axis is None and not isinstance(x, _tensor.SymbolicTensor):
        return np.argmin(x)
    return _r.Argmin(axis, keepdims)(x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along axis."""
    return _r.Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along axis."""
    return _r.LogSoftmax(axis)(x)


def moments(x, axes, keepdims=False):
    """(mean, variance) over ``axes``."""
    return mean(x, axes, keepdims), var(x, axes, keepdims)


# ----- shapes and products ----------------------------------------------------------------------------------
def matmul(x1, x2):
    """x1 @ x2: the last two axes multiply (a 2-D x2 applies to every row)."""
    return _s.Matmul()(x1, x2)


def reshape(x, newshape):
    """x with a new shape (the batch axis given as -1 or None)."""
    return _s.Reshape(newshape)(x)


def transpose(x, axes=None):
    """x with its axes permuted (the batch axis stays first)."""
    return _s.Transpose(axes)(x)


def expand_dims(x, axis):
    """x with a new axis of size 1."""
    return _s.ExpandDims(axis)(x)


def squeeze(x, axis=None):
    """x without axes of size 1."""
    return _s.Squeeze(axis)(x)


def concatenate(xs, axis=0):
    """The tensors joined along axis."""
    return _s.Concatenate(axis)(*xs)


def shape(x):
    """The shape as a tuple (``None`` for the batch axis of a symbolic tensor)."""
    return tuple(x.shape)


def ndim(x):
    """The number of axes."""
    return len(x.shape)


def size(x):
    """The number of elements."""
    return int(np.prod(x.shape))


# ----- arrays ---------------------------------------------------------------------------------------------
def convert_to_tensor(x, dtype=None):
    """An array (tensors here are NumPy arrays); float data takes ``floatx()`` unless ``dtype`` is given."""
    array = np.asarray(x, dtype=dtype)
    if dtype is None and array.dtype == np.float64 and not isinstance(x, np.ndarray):
        array = array.astype(backend.floatx())
    return array


def convert_to_numpy(x):
    """x as a NumPy array."""
    return np.asarray(x)


def zeros(shape, dtype=None):
    """An array of zeros (floatx by default)."""
    return np.zeros(shape, dtype=dtype or backend.floatx())


def ones(shape, dtype=None):
    """An array of ones (floatx by default)."""
    return np.ones(shape, dtype=dtype or backend.floatx())


def full(shape, fill_value, dtype=None):
    """An array filled with fill_value."""
    return np.full(shape, fill_value, dtype=dtype or backend.floatx())


def eye(N, M=None, k=0, dtype=None):  # noqa: N803  (Keras's names)
    """An identity matrix."""
    return np.eye(N, M, k, dtype=dtype or backend.floatx())


# ----- Python operators on symbolic tensors ------------------------------------------------------------------
def _merge_or(layer_function, op):
    """``a + b`` of two tensors of one shape and dtype stays the merge layer, as in Keras; anything
    else (constants, variables, broadcasting) is the op."""
    def apply(a, b):
        both = isinstance(a, _tensor.SymbolicTensor) and isinstance(b, _tensor.SymbolicTensor)
        if both and a.shape == b.shape and a.dtype == b.dtype:
            return layer_function([a, b])
        return op(a, b)
    return apply


_tensor.install_operators(
    add=_merge_or(_merging.add, add), subtract=_merge_or(_merging.subtract, subtract),
    multiply=_merge_or(_merging.multiply, multiply), divide=divide, matmul=matmul, power=power,
    negative=negative, getitem=lambda x, index: _s.GetItem(index)(x), less=less, less_equal=less_equal,
    greater=greater, greater_equal=greater_equal)


def _register_ops():
    """Every op class in the registry, by class name (model configs name ops this way)."""
    bases = {_e.Unary, _e.Binary, _e.Comparison, _e.NoGradient, _r.Reduction}
    for module in (_e, _r, _s, _random):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Operation) and value not in bases \
                    and value.__module__ == module.__name__:
                REGISTRY.register(value.__name__)(value)


_register_ops()
