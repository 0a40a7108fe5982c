"""Ops that move data: matmul, reshape, transpose, expand_dims, squeeze, concatenate, slicing.

Products go to BLAS through ``np.matmul(..., out=)``; a weight's gradient in a batched product is
one GEMM over the rows of every sample. Reshapes that only view their input emit no step.
"""
import numpy as np

from framework.graph.shapes import format_shape
from framework.ops.operation import Operation, OpError, normalize_axes, result_dtype
from framework.plan.steps import copy_step, matmul_step


def _view(array, shape):
    """A view of ``array`` with ``shape`` (never a silent copy)."""
    view = array.view()
    view.shape = tuple(shape)
    return view


class Matmul(Operation):
    """``x1 @ x2`` as NumPy: the last two axes multiply, leading axes match (a 2-D ``x2``, a weight,
    applies to every row of ``x1``)."""

    def compute(self, a, b):
        return np.matmul(a, b)

    def output_spec(self, shapes, dtypes):
        a, b = shapes
        if len(a) < 2 or len(b) < 2 or (a[-1] is not None and b[-2] is not None and a[-1] != b[-2]):
            raise OpError(f"Op '{self.name}' (Matmul): cannot multiply {format_shape(a)} by {format_shape(b)} "
                          "(the last axis of the first must equal the second-to-last of the second)")
        if len(b) == 2 and b[0] is None:
            raise OpError(f"Op '{self.name}' (Matmul): the second operand {format_shape(b)} is a batch of vectors; "
                          "multiply samples by a matrix (a weight or constant) or batches of matrices of one rank")
        if len(b) == 2:
            return a[:-1] + (b[-1],), result_dtype(dtypes)
        if len(a) != len(b) or any(x is not None and y is not None and x != y for x, y in zip(a[:-2], b[:-2])):
            raise OpError(f"Op '{self.name}' (Matmul): batched operands {format_shape(a)} and {format_shape(b)} "
                          "need the same leading axes")
        return a[:-1] + (b[-1],), result_dtype(dtypes)

    def flops(self, input_shape, output_shape):
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        return 2 * int(np.prod(output_shape[1:])) * first[-1]

    def bind_forward(self, xs, y, ctx):
        a, b = xs
        if b.ndim == 2 and a.ndim > 2:  # one GEMM over every row of every sample
            a, y = _view(a, (-1, a.shape[-1])), _view(y, (-1, y.shape[-1]))
        return [matmul_step(a, b, y)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        a, b = xs
        da, db = dxs
        steps = []
        if b.ndim == 2:
            a2, dy2 = _view(a, (-1, a.shape[-1])), _view(dy, (-1, dy.shape[-1]))
            if da is not None:
                da2 = _view(da, (-1, da.shape[-1]))
                steps.append(matmul_step(dy2, b.T, da2))
            if db is not None:
                steps.append(matmul_step(a2.T, dy2, db))
            return steps
        if da is not None:
            bt = np.swapaxes(b, -1, -2)
            steps.append(matmul_step(dy, bt, da))
        if db is not None:
            at = np.swapaxes(a, -1, -2)
            steps.append(matmul_step(at, dy, db))
        return steps


class Reshape(Operation):
    """Each sample to a new shape; ``newshape`` includes the batch axis as -1 or None (Keras's form)."""

    def __init__(self, newshape, **kwargs):
        super().__init__(**kwargs)
        self.newshape = tuple(None if d is None else int(d) for d in newshape)

    def get_config(self):
        return {"newshape": list(self.newshape)}

    def compute(self, x):
        x = np.asarray(x)
        return np.reshape(x, tuple(len(x) if d is None else d for d in self.newshape))

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        if not self.newshape or self.newshape[0] not in (None, -1):
            raise OpError(f"Op '{self.name}' (Reshape): inside a model the new shape starts with the batch axis "
                          f"as -1 or None, received {self.newshape}")
        tail = list(self.newshape[1:])
        size = int(np.prod([d for d in shape[1:]])) if None not in shape[1:] else None
        if tail.count(-1) > 1:
            raise OpError(f"Op '{self.name}' (Reshape): only one -1 may be inferred, received {self.newshape}")
        if -1 in tail and size is not None:
            known = int(np.prod([d for d in tail if d != -1]))
            tail[tail.index(-1)] = size // known if known else 0
        if size is not None and int(np.prod(tail)) != size:
            raise OpError(f"Op '{self.name}' (Reshape): cannot reshape {format_shape(shape)} "
                          f"to {format_shape((None,) + tuple(tail))}")
        self.tail = tuple(tail)  # -1 stays only where the input's size is unknown (a plan never sees that)
        return (None,) + self.tail, dtypes[0]

    def output_views(self, ctx):
        return [_view(ctx.x, (ctx.x.shape[0],) + self.tail)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx = dxs[0]
        return [] if dx is None else [copy_step(dy.reshape(dx.shape), dx)]


class Transpose(Operation):
    """Permutes a sample's axes; ``axes`` includes the batch axis, which stays first."""

    def __init__(self, axes=None, **kwargs):
        super().__init__(**kwargs)
        self.axes = None if axes is None else tuple(int(a) for a in axes)

    def get_config(self):
        return {"axes": None if self.axes is None else list(self.axes)}

    def compute(self, x):
        return np.transpose(x, self.axes)

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        rank = len(shape)
        axes = tuple(reversed(range(rank))) if self.axes is None else tuple(a % rank for a in self.axes)
        if sorted(axes) != list(range(rank)) or axes[0] != 0:
            raise OpError(f"Op '{self.name}' (Transpose): axes {self.axes} of a rank-{rank} tensor must be a "
                          "permutation that keeps the batch axis (0) first")
        self.perm = axes
        return tuple(shape[a] for a in axes), dtypes[0]

    def bind_forward(self, xs, y, ctx):
        return [copy_step(np.transpose(xs[0], self.perm), y)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx = dxs[0]
        if dx is None:
            return []
        return [copy_step(dy, np.transpose(dx, self.perm))]


class ExpandDims(Operation):
    """A new axis of size 1 at ``axis`` (not before the batch axis)."""

    def __init__(self, axis, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def get_config(self):
        return {"axis": self.axis}

    def compute(self, x):
        return np.expand_dims(x, self.axis)

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        (axis,) = normalize_axes(self, self.axis, len(shape) + 1)
        return shape[:axis] + (1,) + shape[axis:], dtypes[0]

    def output_views(self, ctx):
        axis = self.axis % (ctx.x.ndim + 1)
        return [_view(ctx.x, ctx.x.shape[:axis] + (1,) + ctx.x.shape[axis:])]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx = dxs[0]
        return [] if dx is None else [copy_step(dy.reshape(dx.shape), dx)]


class Squeeze(ExpandDims):
    """Removes axes of size 1 (``axis`` or every such sample axis)."""

    def __init__(self, axis=None, **kwargs):
        Operation.__init__(self, **kwargs)
        self.axis = axis

    def compute(self, x):
        return np.squeeze(x, self.axis)

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        axes = normalize_axes(self, self.axis, len(shape)) if self.axis is not None else \
            tuple(i for i, d in enumerate(shape) if i and d == 1)
        if any(shape[a] != 1 for a in axes):
            raise OpError(f"Op '{self.name}' (Squeeze): axis {self.axis} of {format_shape(shape)} is not of size 1")
        self.axes = axes
        return tuple(d for i, d in enumerate(shape) if i not in axes), dtypes[0]

    def output_views(self, ctx):
        return [_view(ctx.x, tuple(d for i, d in enumerate(ctx.x.shape) if i not in self.axes))]


class Concatenate(Operation):
    """Operands joined along ``axis`` (a sample axis)."""

    def __init__(self, axis=0, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def get_config(self):
        return {"axis": self.axis}

    def compute(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def output_spec(self, shapes, dtypes):
        rank = len(shapes[0])
        (axis,) = normalize_axes(self, self.axis, rank)
        for s in shapes:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
                raise OpError(f"Op '{self.name}' (Concatenate): shapes {', '.join(format_shape(t) for t in shapes)} "
                              f"differ outside axis {self.axis}")
        size = None if any(s[axis] is None for s in shapes) else sum(s[axis] for s in shapes)
        self.axes = (axis,)
        return shapes[0][:axis] + (size,) + shapes[0][axis + 1:], result_dtype(dtypes)

    def _parts(self, array, xs):
        (axis,) = self.axes
        index, parts = 0, []
        for x in xs:
            cut = [slice(None)] * array.ndim
            cut[axis] = slice(index, index + x.shape[axis])
            parts.append(array[tuple(cut)])
            index += x.shape[axis]
        return parts

    def bind_forward(self, xs, y, ctx):
        return [copy_step(x, part) for x, part in zip(xs, self._parts(y, xs))]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        return [copy_step(part, dx) for dx, part in zip(dxs, self._parts(dy, xs)) if dx is not None]


def _index_part(part):
    """An index part from its config form ({'slice': [start, stop, step]}, '...') or as given."""
    if isinstance(part, dict) and "slice" in part:
        return slice(*part["slice"])
    return Ellipsis if part == "..." else part


class GetItem(Operation):
    """``x[index]`` for a static index of slices, integers, ``None`` and ``...`` that keeps the
    batch axis whole."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        index = index if isinstance(index, (tuple, list)) else (index,)
        self.index = tuple(_index_part(part) for part in index)

    def get_config(self):
        return {"index": [{"slice": [p.start, p.stop, p.step]} if isinstance(p, slice) else
                          "..." if p is Ellipsis else p for p in self.index]}

    def compute(self, x):
        return np.asarray(x)[self.index]

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        first = self.index[0] if self.index else slice(None)
        if not (first is Ellipsis or first == slice(None)):
            raise OpError(f"Op '{self.name}' (GetItem): index {self.index!r} must keep the batch axis whole "
                          "(start with ':' or '...')")
        for part in self.index:
            if not isinstance(part, (slice, int, type(None), type(Ellipsis))) or isinstance(part, bool):
                raise OpError(f"Op '{self.name}' (GetItem): index part {part!r} is not a slice, an integer, None "
                              "or ...; gather with ops.take")
        probe = np.broadcast_to(np.empty((), dtype=np.bool_), tuple(1 if d is None else d for d in shape))[self.index]
        return (None,) + probe.shape[1:], dtypes[0]

    def bind_forward(self, xs, y, ctx):
        return [copy_step(xs[0][self.index], y)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx = dxs[0]
        if dx is None:
            return []
        part = dx[self.index]
        return [lambda: dx.fill(0), copy_step(dy, part)]
