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
from framework import variables as _variables
from framework.layers import added_losses as _added_losses, merging as _merging
from framework.losses import loss as _loss
from framework.ops import elementwise as _e, loss_ops as _loss_ops, random_ops as _random, reductions as _r, shaping as _s
from framework.ops import creation as _c, indexing as _i
from framework.ops import conv_adjoint as _conv_adjoint, linalg as _la, masks as _masks, nn as _nn, updates as _updates
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


def clip(x, x_min, x_max):
    """x limited to [x_min, x_max]."""
    return _e.Clip(x_min, x_max)(x)


def where(condition, x1, x2):
    """x1 where condition holds, else x2 (no gradient to the condition)."""
    return _e.Where()(condition, x1, x2)


def cond(pred, true_fn, false_fn):
    """true_fn() if pred else false_fn(). A symbolic pred (a scalar or per-sample condition) computes both
    branches and picks with ops.where: they must give the same shapes, and both branches' updates run."""
    if not isinstance(pred, _tensor.SymbolicTensor):
        return true_fn() if bool(np.asarray(pred)) else false_fn()
    taken, other = true_fn(), false_fn()
    pairs = list(zip(taken, other)) if isinstance(taken, (list, tuple)) else [(taken, other)]
    if isinstance(taken, (list, tuple)) and (not isinstance(other, (list, tuple)) or len(taken) != len(other)):
        raise ValueError("ops.cond: true_fn and false_fn must return the same structure of tensors")
    for a, b in pairs:
        if tuple(np.shape(a) if not hasattr(a, "shape") else a.shape) != \
                tuple(np.shape(b) if not hasattr(b, "shape") else b.shape):
            raise ValueError(f"ops.cond: true_fn gives shape {tuple(a.shape)}, false_fn {tuple(b.shape)}; "
                             "both branches must give the same shapes")
    picked = [where(_condition_for(pred, a), a, b) for a, b in pairs]
    return type(taken)(picked) if isinstance(taken, (list, tuple)) else picked[0]


def _condition_for(pred, value):
    """A per-sample pred of shape (batch,) broadcast over the other axes of ``value``."""
    rank = len(value.shape)
    if pred.batched and len(pred.shape) == 1 and rank > 1:
        return reshape(pred, (-1,) + (1,) * (rank - 1))
    return pred


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


# ----- creation, shapes and indexing (framework/ops/indexing.py, creation.py) ---------------------------------
def _array_only(name, values):  # (no any() here: ops.any is defined below)
    if [v for v in values if isinstance(v, _tensor.SymbolicTensor)]:
        raise TypeError(f"ops.{name} makes an array from numbers; it does not take symbolic tensors "
                        "(use ops.zeros_like / ops.full_like for a tensor of another's shape)")


def zeros_like(x, dtype=None):
    """Zeros of x's shape (dtype: x's by default); no gradient."""
    return _c.FullLike(0, dtype)(x)


def ones_like(x, dtype=None):
    """Ones of x's shape (dtype: x's by default); no gradient."""
    return _c.FullLike(1, dtype)(x)


def full_like(x, fill_value, dtype=None):
    """fill_value broadcast to x's shape (dtype: x's by default); no gradient."""
    return _c.FullLike(fill_value, dtype)(x)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop) (an array; int32 from integers, else floatx)."""
    _array_only("arange", (start, stop, step))
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        whole = [v for v in (start, stop, step) if isinstance(v, (int, np.integer)) and not isinstance(v, bool)]
        dtype = "int32" if len(whole) == 3 else backend.floatx()
    return np.arange(start, stop, step, dtype=dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """num evenly spaced values from start to stop (an array, floatx by default)."""
    _array_only("linspace", (start, stop))
    return np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype or backend.floatx(),
                       axis=axis)


def broadcast_to(x, shape):
    """x broadcast to shape (inside a model, shape starts with the batch axis as None or -1)."""
    return _i.BroadcastTo(shape)(x)


def tile(x, repeats):
    """x repeated along each axis (inside a model, 1 for the batch axis)."""
    return _i.Tile(repeats)(x)


def repeat(x, repeats, axis=None):
    """Each value repeated along axis (an integer, or one count per value)."""
    return _i.Repeat(repeats, axis)(x)


def stack(x, axis=0):
    """The tensors of x stacked along a new axis (inside a model, a sample axis)."""
    return _i.Stack(axis)(*x)


def split(x, indices_or_sections, axis=0):
    """x cut along axis into equal sections or at the given indices: a list of tensors."""
    if not isinstance(x, _tensor.SymbolicTensor):
        return np.split(x, indices_or_sections, axis)
    return _i.split_tensor(x, indices_or_sections, axis)


def slice(inputs, start_indices, shape):  # noqa: A001  (Keras's name)
    """The block of the given shape starting at start_indices (a size of -1 or None runs to the end)."""
    return _i.Slice(start_indices, shape)(inputs)


def slice_update(inputs, start_indices, updates):
    """inputs with the block at start_indices replaced by updates (gradients to both)."""
    return _i.SliceUpdate(start_indices)(inputs, updates)


def take(x, indices, axis=None):
    """Entries of x along axis at indices: constant indices into a tensor, or a tensor of indices into a
    weight or constant (an embedding lookup, its gradient scatter-added)."""
    if isinstance(indices, _tensor.SymbolicTensor):
        return _i.Lookup(axis)(x, indices)
    return _i.Take(np.asarray(indices).tolist(), axis)(x)


def take_along_axis(x, indices, axis=None):
    """Entries of x picked along axis by indices of x's rank (other axes broadcast)."""
    return _i.TakeAlongAxis(axis)(x, indices)


def pad(x, pad_width, mode="constant", constant_values=None):
    """x padded by pad_width ((before, after) per axis; inside a model (0, 0) for the batch axis)."""
    return _i.Pad(pad_width, mode, constant_values)(x)


def flip(x, axis=None):
    """x with the order along axis reversed."""
    return _i.Flip(axis)(x)


def roll(x, shift, axis=None):
    """x shifted by shift along axis, wrapping around."""
    return _i.Roll(shift, axis)(x)


def one_hot(x, num_classes, axis=-1, dtype=None):
    """Integer class ids as one-hot vectors along a new axis (floatx by default; no gradient)."""
    return _c.OneHot(num_classes, axis, dtype)(x)


def tril(x, k=0):
    """The lower triangle of the last two axes (zeros above diagonal k)."""
    return _i.Tril(k)(x)


def triu(x, k=0):
    """The upper triangle of the last two axes (zeros below diagonal k)."""
    return _i.Triu(k)(x)


def cumsum(x, axis=None, dtype=None):
    """Running sums along axis."""
    return _c.Cumsum(axis, dtype)(x)


def cumprod(x, axis=None, dtype=None):
    """Running products along axis (the gradient assumes no zeros)."""
    return _c.Cumprod(axis, dtype)(x)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """Whether any value over axis is non-zero (bool, no gradient)."""
    return _c.Any(axis, keepdims)(x)


def all(x, axis=None, keepdims=False):  # noqa: A001
    """Whether every value over axis is non-zero (bool, no gradient)."""
    return _c.All(axis, keepdims)(x)


def top_k(x, k, sorted=True):  # noqa: A002
    """(values, indices) of the k largest entries along the last axis, largest first (indices: int32,
    no gradient)."""
    return _c.TopK(k, sorted)(x), _c.TopKIndices(k, sorted)(x)


erf = _unary(_c.Erf, "The error function.")


def gelu(x, approximate=True):
    """GELU: the tanh form (approximate=True, Keras's default) or the exact x * Phi(x) through erf."""
    return _e.Gelu(approximate=True)(x) if approximate else _c.ExactGelu()(x)


# ----- linear algebra and neural networks (framework/ops/linalg.py, nn.py) ------------------------------------
def dot(x1, x2):
    """np.dot: a product over the last axis of x1 and the second-to-last of x2 (the only one of a 1-D x2)."""
    shape1, shape2 = (tuple(x.shape) if hasattr(x, "shape") else np.shape(x) for x in (x1, x2))
    if not shape1 or not shape2:
        return multiply(x1, x2)
    if len(shape2) == 2 and shape2[0] is not None and len(shape1) >= 2:
        return _s.Matmul()(x1, x2)  # a weight or constant matrix: one GEMM over every row
    return _la.Tensordot(([-1], [max(len(shape2) - 2, 0)]))(x1, x2)


def tensordot(x1, x2, axes=2):
    """np.tensordot: axes an int N (the last N axes of x1 with the first N of x2) or a pair of axis lists."""
    return _la.Tensordot(axes)(x1, x2)


def einsum(subscripts, *operands):
    """np.einsum; in a model each tensor's first letter is the batch axis, which leads the output."""
    return _la.Einsum(subscripts)(*operands)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002  (Keras's name)
    """Vector norm over one axis (ord None/2, 1, inf, -inf, 0, p) or matrix norm over two (None/'fro', 1, inf)."""
    return _la.Norm(ord, axis, keepdims)(x)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """1-D or 2-D convolution (channels_last); kernel (*kernel_size, in_channels, filters)."""
    return _nn.Conv(strides, padding, data_format, dilation_rate)(inputs, kernel)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """1-D or 2-D depthwise convolution; kernel (*kernel_size, in_channels, depth_multiplier)."""
    return _nn.DepthwiseConv(strides, padding, data_format, dilation_rate)(inputs, kernel)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """1-D or 2-D max pooling (channels_last); strides default to pool_size."""
    return _nn.MaxPool(pool_size, strides, padding, data_format)(inputs)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """1-D or 2-D average pooling; with 'same' padding, the mean of each window's real elements."""
    return _nn.AveragePool(pool_size, strides, padding, data_format)(inputs)


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the 1-D statistics along axis."""
    operands = [x, mean, variance] + [p for p in (offset, scale) if p is not None]
    return _nn.BatchNormalization(axis, epsilon, offset is not None, scale is not None)(*operands)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False):
    """softmax(query key^T * scale + bias, masked) value for (batch, seq, heads, dim) operands (scale 1/sqrt(dim))."""
    return _nn.dot_product_attention(query, key, value, bias, mask, scale, is_causal)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (probabilities clipped to [epsilon, 1 - epsilon], or logits)."""
    return _nn.binary_crossentropy(target, output, from_logits)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-sum(target * log p) along axis, per sample (output normalized and clipped, or logits)."""
    return _nn.categorical_crossentropy(target, output, from_logits, axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """-log p[target] along axis for integer labels, per sample (output normalized and clipped, or logits)."""
    return _nn.SparseCategoricalCrossentropy(from_logits, axis)(target, output)


# ----- Python operators on symbolic tensors ------------------------------------------------------------------
def _merge_or(layer_function, op):
    """``a + b`` of two tensors of one shape and dtype stays the merge layer, as in Keras; anything
    else (constants, variables, broadcasting, batch statistics) is the op."""
    def apply(a, b):
        both = isinstance(a, _tensor.SymbolicTensor) and isinstance(b, _tensor.SymbolicTensor)
        if both and a.shape == b.shape and a.dtype == b.dtype and a.batched and b.batched:
            return layer_function([a, b])
        return op(a, b)
    return apply


_tensor.install_operators(
    add=_merge_or(_merging.add, add), subtract=_merge_or(_merging.subtract, subtract),
    multiply=_merge_or(_merging.multiply, multiply), divide=divide, matmul=matmul, power=power,
    negative=negative, getitem=lambda x, index: _s.GetItem(index)(x), less=less, less_equal=less_equal,
    greater=greater, greater_equal=greater_equal, not_equal=not_equal, any=any,
    mask_of=lambda x: _masks.MaskOf()(x), with_mask=lambda x, mask: _masks.WithMask()(x, mask))


_loss.install_symbolic_call(_loss_ops.symbolic_loss)


def _symbolic_update(variable, value, mode):
    """``variable.assign(value)`` in a traced call(): an update node kept with the trace."""
    if not _added_losses.tracing():
        _added_losses.record_update(variable, value)  # refused with the message that says where assign works
    if variable.trainable:
        raise TypeError(f"Variable '{variable.path}' is trainable: inside a model training updates it; a call() "
                        "may update only non-trainable variables (add_weight(..., trainable=False))")
    token = _updates.AssignVariable(mode).symbolic_call([value, variable])
    _added_losses.record_update(variable, token)
    return token


def _variable_operator(name, *operands):
    """``0.9 * self.mean`` in a traced call(): the op reads the variable when each step runs."""
    return globals()[name](*operands)


_variables.install_trace_hooks(_added_losses.tracing, _variable_operator, _symbolic_update)


def _register_ops():
    """Every op class in the registry, by class name (model configs name ops this way)."""
    bases = {_e.Unary, _e.Binary, _e.Comparison, _e.NoGradient, _r.Reduction}
    for module in (_e, _r, _s, _random, _loss_ops, _i, _c, _la, _masks, _updates, _nn, _conv_adjoint):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Operation) and value not in bases \
                    and value.__module__ == module.__name__:
                REGISTRY.register(value.__name__)(value)


_register_ops()
