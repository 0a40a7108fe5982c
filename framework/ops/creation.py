"""Ops that create values: the ``*_like`` fills and ``one_hot`` (constants of an input's shape, no
gradient), cumulative sums and products, ``any`` / ``all``, ``top_k``, ``erf`` and the exact GELU.

``erf`` runs ``math.erf`` in a Numba loop (SciPy is not a dependency); the exact GELU reuses the
activation kernels' erfc form, which stays accurate for negative inputs.
"""

import numpy as np

from framework import backend
from framework.kernels.gather import erf_backward, erf_forward, one_hot_fill, top_k_indices
from framework.kernels.activations import GELU, specialized
from framework.ops.elementwise import Unary
from framework.kernels.gather import gather_along, scatter_along
from framework.ops.indexing import error, flat_of, one_axis, view_of
from framework.ops.operation import Operation, result_dtype
from framework.ops.reductions import Reduction

# ----- constants of an input's shape -----------------------------------------------------------------------
class FullLike(Operation):
    """A tensor of ``x``'s shape filled with ``fill_value`` (``dtype``: x's by default); no gradient."""

    differentiable = False

    def __init__(self, fill_value, dtype=None, **kwargs):
        super().__init__(**kwargs)
        self.fill_value = np.asarray(fill_value).tolist()
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def get_config(self):
        return {"fill_value": self.fill_value, "dtype": self.dtype}

    def compute(self, x):
        return np.full(np.shape(x), self.fill_value, dtype=self.dtype or np.asarray(x).dtype)

    def output_spec(self, shapes, dtypes):
        try:
            np.broadcast_shapes(np.shape(self.fill_value), tuple(1 if d is None else d for d in shapes[0]))
        except ValueError:
            raise error(self, shapes, f"fill_value of shape {np.shape(self.fill_value)} does not broadcast") from None
        return shapes[0], self.dtype or dtypes[0]

    def bind_forward(self, xs, y, ctx):
        value = np.asarray(self.fill_value, dtype=y.dtype)
        return [lambda: np.copyto(y, value)]


class OneHot(Operation):
    """Each integer of ``x`` as a one-hot vector of ``num_classes`` along a new ``axis`` (values outside
    [0, num_classes) give zeros); ``dtype`` defaults to floatx. No gradient."""

    differentiable = False

    def __init__(self, num_classes, axis=-1, dtype=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.axis = int(num_classes), int(axis)
        self.dtype = np.dtype(dtype or backend.floatx()).name

    def get_config(self):
        return {"num_classes": self.num_classes, "axis": self.axis, "dtype": self.dtype}

    def compute(self, x):
        x = np.asarray(x).astype(np.int64)
        hot = x[..., None] == np.arange(self.num_classes)
        return np.moveaxis(hot, -1, self.axis % (x.ndim + 1)).astype(self.dtype)

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        axis = one_axis(self, self.axis, len(shape) + 1)
        if np.dtype(dtypes[0]).kind not in "iuf":
            raise error(self, shapes, f"class ids of dtype {dtypes[0]} are not numbers")
        return shape[:axis] + (self.num_classes,) + shape[axis:], self.dtype

    def bind_forward(self, xs, y, ctx):
        x = xs[0]
        axis = self.axis % y.ndim
        outer = int(np.prod(x.shape[:axis], dtype=np.int64))
        x2, y3 = view_of(x, (outer, x.size // outer)), view_of(y, (outer, self.num_classes, x.size // outer))
        return [lambda: one_hot_fill(x2, y3)]


# ----- cumulative sums and products ------------------------------------------------------------------------
class Cumsum(Operation):
    """Running sums along ``axis`` (a sample axis inside a model); ``dtype`` as NumPy's."""

    def __init__(self, axis=None, dtype=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def get_config(self):
        return {"axis": self.axis, "dtype": self.dtype}

    def compute(self, x):
        return self.numpy(np.asarray(x), self.axis, dtype=self.dtype)

    numpy, ufunc = staticmethod(np.cumsum), np.add  # steps call the ufunc: np.cumsum holds memory per call

    def output_spec(self, shapes, dtypes):
        self.axes = (one_axis(self, self.axis, len(shapes[0])),)
        return shapes[0], self.dtype or result_dtype(dtypes)

    def bind_forward(self, xs, y, ctx):
        x, (axis,), accumulate = xs[0], self.axes, self.ufunc.accumulate
        return [lambda: accumulate(x, axis=axis, dtype=y.dtype, out=y)]

    def bind_backward(self, xs, y, dy, dxs, ctx):  # dx = sums of dy from the end
        dx, (axis,) = dxs[0], self.axes
        if dx is None:
            return []
        dy_reversed, dx_reversed = np.flip(dy, axis), np.flip(dx, axis)
        return [lambda: np.add.accumulate(dy_reversed, axis=axis, out=dx_reversed)]


class Cumprod(Cumsum):
    """Running products along ``axis``; the gradient, sums of ``dy * y`` from the end over ``x``, assumes
    no zeros (as ``prod``)."""

    numpy, ufunc = staticmethod(np.cumprod), np.multiply

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x, dx, (axis,) = xs[0], dxs[0], self.axes
        if dx is None:
            return []
        products = ctx.scratch("products", y.shape)
        products_reversed, dx_reversed = np.flip(products, axis), np.flip(dx, axis)
        return [lambda: np.multiply(dy, y, out=products),
                lambda: np.add.accumulate(products_reversed, axis=axis, out=dx_reversed),
                lambda: np.divide(dx, x, out=dx)]


# ----- any, all --------------------------------------------------------------------------------------------
class Any(Reduction):
    """Whether any value over ``axis`` is non-zero (bool, no gradient)."""

    differentiable = False
    numpy = staticmethod(lambda x, axis, keepdims, out=None: np.any(x, axis=axis, keepdims=keepdims, out=out))

    def output_spec(self, shapes, dtypes):
        return super().output_spec(shapes, dtypes)[0], "bool"


class All(Any):
    """Whether every value over ``axis`` is non-zero (bool, no gradient)."""

    numpy = staticmethod(lambda x, axis, keepdims, out=None: np.all(x, axis=axis, keepdims=keepdims, out=out))


# ----- erf, exact GELU -------------------------------------------------------------------------------------
class Erf(Unary):
    """The error function; its gradient is 2 / sqrt(pi) exp(-x^2)."""
    fused_formula = (  # for framework.ops.fusion
        "math.erf({0})", ("({g} * F(1.1283791670955126) * math.exp(-{0} * {0}))",))
    fused_libm = True

    def apply(self, x, y):
        erf_forward(np.ascontiguousarray(x, dtype=y.dtype).reshape(-1), y.reshape(-1))

    def bind_forward(self, xs, y, ctx):
        x, yf = flat_of(xs[0]), flat_of(y)
        return [lambda: erf_forward(x, yf)]

    def gradient(self, x, y, dy, dx, ctx):
        xf, dyf, dxf = flat_of(x), flat_of(dy), flat_of(dx)
        return [lambda: erf_backward(xf, dyf, dxf)]


class ExactGelu(Unary):
    """GELU in its exact form, ``x * Phi(x) = 0.5 x erfc(-x / sqrt(2))`` (``gelu(x, approximate=False)``)."""
    fused_formula = (  # for framework.ops.fusion
        "(F(0.5) * {0} * math.erfc(-{0} * F(0.7071067811865475)))",
        ("((F(0.5) * math.erfc(-{0} * F(0.7071067811865475)) + {0} * F(0.3989422804014327)"
         " * math.exp(F(-0.5) * {0} * {0})) * {g})",))
    fused_libm = True

    def apply(self, x, y):
        zero = y.dtype.type(0)
        specialized(GELU).forward(np.ascontiguousarray(x, dtype=y.dtype).reshape(-1), y.reshape(-1), zero, zero, zero)

    def bind_forward(self, xs, y, ctx):
        x, yf, zero = flat_of(xs[0]), flat_of(y), y.dtype.type(0)
        gelu = specialized(GELU).forward
        return [lambda: gelu(x, yf, zero, zero, zero)]

    def gradient(self, x, y, dy, dx, ctx):
        xf, yf, dyf, dxf, zero = flat_of(x), flat_of(y), flat_of(dy), flat_of(dx), dx.dtype.type(0)
        gelu = specialized(GELU).backward
        return [lambda: gelu(xf, yf, dyf, dxf, zero, zero, zero)]


# ----- top k ------------------------------------------------------------------------------------------------
class TopK(Operation):
    """The ``k`` largest values along the last axis, largest first (ties: the lower index first).

    ``ops.top_k`` returns this node's values and a ``TopKIndices`` node's indices: two nodes, each finding
    the indices (an insertion into a sorted list of k per row: fast for small k)."""

    def __init__(self, k, sorted=True, **kwargs):  # noqa: A002  (Keras's name)
        super().__init__(**kwargs)
        self.k, self.sorted = int(k), bool(sorted)

    def get_config(self):
        return {"k": self.k, "sorted": self.sorted}

    def indices(self, x):
        x = np.asarray(x)
        if self.k > x.shape[-1]:
            raise ValueError(f"top_k: k={self.k} exceeds the last axis of a {x.shape} array")
        order = np.argsort(-x if x.dtype.kind != "b" else ~x, axis=-1, kind="stable")
        return order[..., :self.k].astype(np.int32)

    def compute(self, x):
        return np.take_along_axis(np.asarray(x), self.indices(x), -1)

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        if len(shape) < 2 or self.k < 1 or (shape[-1] is not None and self.k > shape[-1]):
            raise error(self, shapes, f"k={self.k} must be between 1 and the size of the last (sample) axis")
        return shape[:-1] + (self.k,), self.dtype(dtypes[0])

    def dtype(self, x_dtype):
        return x_dtype

    def find(self, x, out):
        """A step writing the indices of x's rows into ``out`` (rows x k)."""
        x2, k = view_of(x, (-1, x.shape[-1])), self.k
        return lambda: top_k_indices(x2, k, out)

    def layout(self, x):
        n, k = x.shape[-1], self.k
        return n, np.zeros(k, dtype=np.int64), np.arange(k, dtype=np.int64)

    def bind_forward(self, xs, y, ctx):
        x = xs[0]
        n, base, offsets = self.layout(x)
        index = ctx.scratch("indices", (x.size // n, self.k), dtype=np.int64)
        xf, i, y2 = flat_of(x), flat_of(index), view_of(y, index.shape)
        return [self.find(x, index), lambda: gather_along(xf, n, i, self.k, base, offsets, 1, n, y2)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x, dx = xs[0], dxs[0]
        if dx is None:
            return []
        n, base, offsets = self.layout(x)
        index = ctx.scratch("indices", (x.size // n, self.k), dtype=np.int64)
        i, dy2, dxf = flat_of(index), view_of(dy, index.shape), flat_of(dx)
        return [lambda: scatter_along(dy2, i, self.k, base, offsets, 1, n, n, dxf)]


class TopKIndices(TopK):
    """The indices (int32) of the ``k`` largest values along the last axis; no gradient."""

    differentiable = False

    def compute(self, x):
        return self.indices(x)

    def dtype(self, x_dtype):
        return "int32"

    def bind_forward(self, xs, y, ctx):
        return [self.find(xs[0], view_of(y, (-1, self.k)))]
