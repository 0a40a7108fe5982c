"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.

Inputs must have exactly the same shape (no broadcasting), except along the
concatenation axis for Concatenate, and two inputs of Multiply, which
broadcast over size-1 axes. Elementwise steps are NumPy ufunc calls
with ``out=`` over the plan's buffers; Maximum/Minimum use a Numba kernel that
also records which input won, so backward routes the gradient there.
"""
import math

import numpy as np

from framework.graph.shapes import format_shape
from framework.kernels.elementwise import flat
from framework.kernels.merging import select_backward, select_forward
from framework.plan.steps import copy_step
from framework.layers.layer import Layer

__all__ = ["Merge", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]


def _ufunc_step(ufunc, a, b, out):
    """out = ufunc(a, b), bound once."""
    def step():
        ufunc(a, b, out=out)
    return step


def _batch_dim(layer, shapes):
    sizes = {s[0] for s in shapes if s[0] is not None}
    if len(sizes) > 1:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) needs inputs with one batch "
                         f"size, received input shapes {format_shape(list(shapes))}")
    return sizes.pop() if sizes else None


class Merge(Layer):
    """Base of the elementwise merges: a list of at least 2 inputs of one shape."""

    supports_masking = True

    def compute_output_masks(self, input_masks):
        """The inputs' mask when they carry one; several different masks are not combined yet."""
        masks = [m for m in input_masks if m is not None]
        if len({id(m) for m in masks}) > 1:
            raise NotImplementedError(f"Layer '{self.name}': merging tensors that carry different masks "
                                      "is not supported yet")
        return masks[0] if masks else None

    num_inputs = None

    def check_input_shape(self, input_shape):
        """No weights, so any call is valid if compute_output_shape accepts its shapes."""

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len({s[1:] for s in shapes}) > 1:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs inputs of the same shape "
                             f"(no broadcasting), received input shapes {format_shape(shapes)}")
        return (_batch_dim(self, shapes),) + shapes[0][1:]

    def flops(self, input_shape, output_shape):
        return (len(input_shape) - 1) * math.prod(output_shape[1:])

    def _same_dtype(self, ctx):
        dtypes = {x.dtype for x in ctx.inputs}
        if len(dtypes) > 1:
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) needs inputs of one dtype, "
                            f"received {', '.join(sorted(d.name for d in dtypes))}")

    def _sum_steps(self, ctx):
        """Steps computing y = x0 + x1 + ... ."""
        self._same_dtype(ctx)
        xs, y = ctx.inputs, ctx.y
        return [_ufunc_step(np.add, xs[0], xs[1], y)] + [_ufunc_step(np.add, y, x, y) for x in xs[2:]]


class Add(Merge):
    """Elementwise sum of a list of inputs of one shape."""

    def forward(self, ctx):
        return self._sum_steps(ctx)

    def backward(self, ctx):
        return [copy_step(ctx.dy, dx) for dx in ctx.d_inputs if dx is not None]


class Subtract(Merge):
    """``inputs[0] - inputs[1]``: exactly two inputs of one shape."""

    num_inputs = 2

    def forward(self, ctx):
        self._same_dtype(ctx)
        return [_ufunc_step(np.subtract, ctx.inputs[0], ctx.inputs[1], ctx.y)]

    def backward(self, ctx):
        d0, d1 = ctx.d_inputs
        steps = [] if d0 is None else [copy_step(ctx.dy, d0)]
        if d1 is not None:
            dy, negative = ctx.dy, np.negative
            steps.append(lambda: negative(dy, out=d1))
        return steps


class Multiply(Merge):
    """Elementwise product of a list of inputs of one shape; two inputs may broadcast (size-1 axes, as
    a squeeze-and-excitation gate of shape (batch, 1, 1, channels) times a feature map)."""

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) == 2 and shapes[0][1:] != shapes[1][1:] and len(shapes[0]) == len(shapes[1]) and all(
                a == b or 1 in (a, b) for a, b in zip(shapes[0][1:], shapes[1][1:])):
            return (_batch_dim(self, shapes),) + tuple(b if a == 1 else a for a, b in zip(shapes[0][1:],
                                                                                       shapes[1][1:]))
        return super().compute_output_shape(input_shape)

    def forward(self, ctx):
        self._same_dtype(ctx)
        xs, y = ctx.inputs, ctx.y
        return [_ufunc_step(np.multiply, xs[0], xs[1], y)] + [_ufunc_step(np.multiply, y, x, y) for x in xs[2:]]

    def backward(self, ctx):
        steps = []
        for k, dx in enumerate(ctx.d_inputs):
            if dx is None:
                continue
            others = [x for j, x in enumerate(ctx.inputs) if j != k]
            if dx.shape != ctx.dy.shape:  # a broadcast input: the product's gradient summed over its size-1 axes
                full = ctx.scratch(f"broadcast_grad_{k}", ctx.dy.shape)
                axes = tuple(a for a in range(1, dx.ndim) if dx.shape[a] == 1 and full.shape[a] != 1)
                steps.append(_ufunc_step(np.multiply, ctx.dy, others[0], full))
                steps.append(lambda full=full, axes=axes, dx=dx: np.sum(full, axis=axes, keepdims=True, out=dx))
                continue
            steps.append(_ufunc_step(np.multiply, ctx.dy, others[0], dx))
            steps.extend(_ufunc_step(np.multiply, dx, x, dx) for x in others[1:])
        return steps


class Average(Merge):
    """Elementwise mean of a list of inputs of one shape."""

    def forward(self, ctx):
        count = ctx.y.dtype.type(len(ctx.inputs))
        return self._sum_steps(ctx) + [_ufunc_step(np.true_divide, ctx.y, count, ctx.y)]

    def backward(self, ctx):
        count = ctx.dy.dtype.type(len(ctx.inputs))
        return [_ufunc_step(np.true_divide, ctx.dy, count, dx) for dx in ctx.d_inputs if dx is not None]


class _Select(Merge):
    """Maximum / Minimum: forward saves the winning input per element; backward routes dy to it."""

    take_max = True

    def _winner(self, ctx):
        dtype = np.int8 if len(ctx.inputs) <= 127 else np.int32
        return flat(ctx.scratch("winner", ctx.y.shape, dtype))

    def forward(self, ctx):
        self._same_dtype(ctx)
        xs = tuple(flat(x) for x in ctx.inputs)
        y, winner, take_max = flat(ctx.y), self._winner(ctx), self.take_max
        return [lambda: select_forward(xs, y, winner, take_max)]

    def backward(self, ctx):
        winner, dy = self._winner(ctx), flat(ctx.dy)
        return [_select_step(winner, k, dy, flat(dx)) for k, dx in enumerate(ctx.d_inputs) if dx is not None]


def _select_step(winner, k, dy, dx):
    def step():
        select_backward(winner, k, dy, dx)
    return step


class Maximum(_Select):
    """Elementwise maximum of a list of inputs of one shape (gradient to the first maximum)."""

    take_max = True


class Minimum(_Select):
    """Elementwise minimum of a list of inputs of one shape (gradient to the first minimum)."""

    take_max = False


class Concatenate(Merge):
    """Concatenates a list of inputs along ``axis``; all other axes must match.

    Args:
        axis: the concatenation axis (batch axis included in the count; not the batch axis).
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Layer '{self.name}' (Concatenate): axis must be an int, received {axis!r}")
        self.axis = int(axis)

    def _axis(self, rank):
        return self.axis + rank if self.axis < 0 else self.axis

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        axis = self._axis(rank)
        where = f"Layer '{self.name}' (Concatenate)"
        if not 1 <= axis < rank:
            raise ValueError(f"{where}: axis {self.axis} is out of range (or the batch axis) for input "
                             f"shapes {format_shape(shapes)}")
        if any(len(s) != rank for s in shapes) or \
                len({s[1:axis] + s[axis + 1:] for s in shapes}) > 1:
            raise ValueError(f"{where} needs inputs with matching shapes except along axis {self.axis}, "
                             f"received input shapes {format_shape(shapes)}")
        sizes = [s[axis] for s in shapes]
        total = None if None in sizes else sum(sizes)
        return (_batch_dim(self, shapes),) + shapes[0][1:axis] + (total,) + shapes[0][axis + 1:]

    def flops(self, input_shape, output_shape):
        return 0

    def _slices(self, y, inputs):
        """Views of y (or dy) that each input fills, bound once."""
        axis, start, views = self._axis(y.ndim), 0, []
        for x in inputs:
            stop = start + x.shape[axis]
            views.append(y[(slice(None),) * axis + (slice(start, stop),)])
            start = stop
        return views

    def forward(self, ctx):
        return [copy_step(x, view) for x, view in zip(ctx.inputs, self._slices(ctx.y, ctx.inputs))]

    def backward(self, ctx):
        views = self._slices(ctx.dy, ctx.inputs)
        return [copy_step(view, dx) for dx, view in zip(ctx.d_inputs, views) if dx is not None]

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


# ----- functional interface, as keras.layers.add(...) ---------------------------------------

def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


LAYERS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)
