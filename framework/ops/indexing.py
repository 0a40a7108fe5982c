"""Ops that move or pick values: flip, roll, tile, repeat, broadcast_to, pad, take, slice, tril, triu,
take_along_axis, slice_update, stack (top_k, in ops/creation.py, uses the same kernels).

Most are one *gather* over flattened samples, ``y[b, j] = x[b, source[j]]``, where ``source`` is the
op's own NumPy function applied, when the plan is built, to one sample holding its positions
(-1 where the op writes a constant: constant padding, the zeroed triangle). So each such op is its
NumPy function plus a shape rule, and its backward is the adjoint scatter-add, which also sums what
tile, repeat and broadcast_to copied. Gathers with a tensor of indices (``take`` from a weight,
``take_along_axis``, ``top_k``'s values) run one kernel over the batch that reads each index once.
The loops are in ``framework.kernels.gather``.
"""
import numpy as np

from framework.graph.shapes import format_shape
from framework.kernels.gather import gather_along, gather_columns, scatter_along, scatter_columns
from framework.ops.operation import Operation, OpError, broadcast_shapes, normalize_axes, reduce_to, result_dtype


# ----- helpers ---------------------------------------------------------------------------------------------
def view_of(array, shape):
    """A view of ``array`` with ``shape`` (never a silent copy)."""
    view = array.view()
    view.shape = tuple(shape)
    return view


def rows_of(array):
    return view_of(array, (array.shape[0], int(np.prod(array.shape[1:], dtype=np.int64))))


def flat_of(array):
    return view_of(array, (array.size,))


def _axes_arg(axis):
    return tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else axis


def _plain(value):
    """A config value as plain data (nested lists of Python numbers)."""
    return np.asarray(value).tolist() if isinstance(value, (list, tuple, np.ndarray)) else value


def error(op, shapes, message):
    """An OpError naming the op, its operands' shapes and what is wrong."""
    return OpError(f"Op '{op.name}' ({type(op).__name__}) on {', '.join(format_shape(s) for s in shapes)}: {message}")


def one_axis(op, axis, rank):
    (axis,) = normalize_axes(op, axis, rank)
    return axis


# ----- gathers over a sample ------------------------------------------------------------------------------
class Gather(Operation):
    """An op whose every output value is one input value of the same sample (or a constant).

    Subclasses give ``compute`` (NumPy, on arrays) and ``sample_shape(shape)``: the output's sample
    shape from the input's (``None`` where a size is unknown), raising for arguments that would touch
    the batch axis. ``sources(positions)`` is ``compute`` unless a constant is written (-1)."""

    fill = 0

    def output_spec(self, shapes, dtypes):
        return tuple(shapes[0][:1]) + tuple(self.sample_shape(tuple(shapes[0]))), dtypes[0]

    def sources(self, positions):
        return self.compute(positions)

    def _sources(self, x, ctx):
        if "sources" not in ctx.saved:
            positions = np.arange(int(np.prod(x.shape[1:], dtype=np.int64))).reshape((1,) + x.shape[1:])
            ctx.saved["sources"] = np.ascontiguousarray(self.sources(positions), dtype=np.int64).reshape(-1)
        return ctx.saved["sources"]

    def bind_forward(self, xs, y, ctx):
        x2, y2, source = rows_of(xs[0]), rows_of(y), self._sources(xs[0], ctx)
        fill = y.dtype.type(self.fill)
        return [lambda: gather_columns(x2, source, fill, y2)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        if dxs[0] is None:
            return []
        dy2, dx2, source = rows_of(dy), rows_of(dxs[0]), self._sources(xs[0], ctx)
        return [lambda: scatter_columns(dy2, source, dx2)]


class Flip(Gather):
    """The order of the values along ``axis`` reversed."""

    def __init__(self, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes_arg(axis)

    def get_config(self):
        return {"axis": _plain(self.axis)}

    def compute(self, x):
        return np.flip(x, self.axis)

    def sample_shape(self, shape):
        normalize_axes(self, self.axis, len(shape))
        return shape[1:]


class Roll(Gather):
    """Values shifted by ``shift`` along ``axis``, wrapping around."""

    def __init__(self, shift, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.shift, self.axis = _axes_arg(shift), _axes_arg(axis)

    def get_config(self):
        return {"shift": _plain(self.shift), "axis": _plain(self.axis)}

    def compute(self, x):
        return np.roll(x, self.shift, self.axis)

    def sample_shape(self, shape):
        normalize_axes(self, self.axis, len(shape))
        return shape[1:]


class Tile(Gather):
    """The sample repeated ``repeats`` times along each axis (the batch axis's repeat must be 1)."""

    def __init__(self, repeats, **kwargs):
        super().__init__(**kwargs)
        self.repeats = tuple(int(r) for r in np.atleast_1d(repeats))

    def get_config(self):
        return {"repeats": list(self.repeats)}

    def compute(self, x):
        return np.tile(x, self.repeats)

    def sample_shape(self, shape):
        if len(self.repeats) > len(shape) or (len(self.repeats) == len(shape) and self.repeats[0] != 1):
            raise error(self, [shape], f"repeats {self.repeats} would tile the batch axis; give 1 for it "
                                       f"(or only the {len(shape) - 1} sample axes)")
        repeats = (1,) * (len(shape) - len(self.repeats)) + self.repeats
        return tuple(None if d is None else d * r for d, r in zip(shape[1:], repeats[1:]))


class Repeat(Gather):
    """Each value repeated ``repeats`` times (an integer, or one count per value) along ``axis``."""

    def __init__(self, repeats, axis=None, **kwargs):
        super().__init__(**kwargs)
        counts = np.asarray(repeats).reshape(-1).tolist()
        self.repeats = counts if len(counts) > 1 else int(counts[0])
        self.axis = axis

    def get_config(self):
        return {"repeats": self.repeats, "axis": self.axis}

    def compute(self, x):
        return np.repeat(x, self.repeats, self.axis)

    def sample_shape(self, shape):
        axis = one_axis(self, self.axis, len(shape))
        size = shape[axis]
        if isinstance(self.repeats, list):
            if size is not None and len(self.repeats) != size:
                raise error(self, [shape], f"{len(self.repeats)} repeat counts for axis {self.axis} of size {size}")
            size = sum(self.repeats)
        elif size is not None:
            size *= self.repeats
        return shape[1:axis] + (size,) + shape[axis + 1:]


class BroadcastTo(Gather):
    """The sample broadcast to ``shape`` (NumPy's rule; the batch axis given as None or -1 stays)."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape = tuple(None if d is None else int(d) for d in shape)

    def get_config(self):
        return {"shape": list(self.shape)}

    def compute(self, x):
        x = np.asarray(x)
        return np.array(np.broadcast_to(x, tuple(len(x) if d in (None, -1) else d for d in self.shape)))

    def sources(self, positions):
        return np.broadcast_to(positions, (1,) + self.shape[1:])

    def sample_shape(self, shape):
        if not self.shape or self.shape[0] not in (None, -1) or len(self.shape) != len(shape):
            raise error(self, [shape], f"inside a model the target shape {self.shape} has the input's rank and "
                                       "starts with the batch axis as None or -1")
        target = (None,) + self.shape[1:]
        broadcast_shapes(self, [shape, target])
        if any(t is None or t < 0 for t in target[1:]):
            raise error(self, [shape], f"the target shape {self.shape} needs every sample size")
        return target[1:]


class Pad(Gather):
    """The sample padded by ``pad_width`` ((before, after) per axis; (0, 0) for the batch axis) in a NumPy
    ``mode``: constant (``constant_values``), reflect, symmetric, edge or wrap inside a model."""

    MODES = ("constant", "reflect", "symmetric", "edge", "wrap")

    def __init__(self, pad_width, mode="constant", constant_values=None, **kwargs):
        super().__init__(**kwargs)
        self.pad_width, self.mode = _plain(pad_width), mode
        self.constant_values = constant_values
        self.fill = 0 if constant_values is None else constant_values

    def get_config(self):
        return {"pad_width": self.pad_width, "mode": self.mode, "constant_values": self.constant_values}

    def compute(self, x):
        extra = {"constant_values": self.fill} if self.mode == "constant" else {}
        return np.pad(x, self.pad_width, mode=self.mode, **extra)

    def sources(self, positions):
        if self.mode == "constant":
            return np.pad(positions, self.widths, mode="constant", constant_values=-1)
        return np.pad(positions, self.widths, mode=self.mode)

    def sample_shape(self, shape):
        if self.mode not in self.MODES:
            raise error(self, [shape], f"mode {self.mode!r} is not available inside a model; use one of {self.MODES}")
        try:
            widths = np.broadcast_to(np.asarray(self.pad_width, dtype=np.int64), (len(shape), 2))
        except ValueError:
            raise error(self, [shape], f"pad_width {self.pad_width} does not give (before, after) for each of "
                                       f"{len(shape)} axes") from None
        if widths[0].any() or (widths < 0).any():
            raise error(self, [shape], f"pad_width {self.pad_width} must pad the batch axis by (0, 0) and no axis "
                                       "by a negative width")
        self.widths = tuple((int(a), int(b)) for a, b in widths)
        return tuple(None if d is None else d + a + b for d, (a, b) in zip(shape[1:], self.widths[1:]))


class Take(Gather):
    """Entries picked along a sample ``axis`` by constant integer ``indices``."""

    def __init__(self, indices, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.indices, self.axis = _plain(indices), axis

    def get_config(self):
        return {"indices": self.indices, "axis": self.axis}

    def compute(self, x):
        return np.take(x, np.asarray(self.indices, dtype=np.int64), self.axis)

    def sample_shape(self, shape):
        axis = one_axis(self, self.axis, len(shape))
        indices = np.asarray(self.indices)
        if indices.dtype.kind not in "iu" or (shape[axis] is not None and indices.size
                                              and not -shape[axis] <= indices.min() <= indices.max() < shape[axis]):
            raise error(self, [shape], f"indices must be integers in range for axis {self.axis}, received "
                                       f"{self.indices}")
        return shape[1:axis] + indices.shape + shape[axis + 1:]


class Slice(Gather):
    """The block of size ``shape`` starting at ``start_indices`` (a size of -1 or None: to the end)."""

    def __init__(self, start_indices, shape, **kwargs):
        super().__init__(**kwargs)
        self.start_indices = [int(s) for s in start_indices]
        self.shape = [-1 if d is None else int(d) for d in shape]

    def get_config(self):
        return {"start_indices": self.start_indices, "shape": self.shape}

    def index(self):
        return tuple(slice(s, None if d == -1 else s + d) for s, d in zip(self.start_indices, self.shape))

    def compute(self, x):
        return np.array(np.asarray(x)[self.index()])

    def sample_shape(self, shape):
        rank, start, size = len(shape), self.start_indices, self.shape
        if len(start) != rank or len(size) != rank or start[0] != 0 or size[0] != -1:
            raise error(self, [shape], f"start_indices {start} and shape {size} need one entry per axis and "
                                       "must keep the batch axis whole (start 0, size None or -1)")
        out = []
        for d, s, n in zip(shape[1:], start[1:], size[1:]):
            if s < 0 or n < -1 or (d is not None and s + max(n, 0) > d):
                raise error(self, [shape], f"the block at {start} of size {size} is not inside the input")
            out.append(n if n != -1 else None if d is None else d - s)
        return tuple(out)


class Tril(Gather):
    """The lower triangle of the last two axes (at and below diagonal ``k``); zeros above."""

    keep = staticmethod(np.tril)

    def __init__(self, k=0, **kwargs):
        super().__init__(**kwargs)
        self.k = int(k)

    def get_config(self):
        return {"k": self.k}

    def compute(self, x):
        return self.keep(x, self.k)

    def sources(self, positions):
        return np.where(self.keep(np.ones(positions.shape[-2:], dtype=bool), self.k), positions, -1)

    def sample_shape(self, shape):
        if len(shape) < 3:
            raise error(self, [shape], "needs two sample axes (the last two axes form the matrices)")
        return shape[1:]


class Triu(Tril):
    """The upper triangle of the last two axes (at and above diagonal ``k``); zeros below."""

    keep = staticmethod(np.triu)


# ----- gathers by a tensor of indices ------------------------------------------------------------------------
class Lookup(Operation):
    """``ops.take(table, indices)`` with a tensor of integer indices: entries of a weight or constant
    ``table`` along ``axis`` 0 (or of the flattened table for None), an embedding lookup. The gradient
    is scatter-added into the table; indices get none. Out-of-range indices are clipped."""

    def __init__(self, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def get_config(self):
        return {"axis": self.axis}

    def compute(self, table, indices):
        return np.take(table, np.asarray(indices).astype(np.int64), self.axis)

    def output_spec(self, shapes, dtypes):
        table, indices = shapes
        if not table or table[0] is None:
            raise error(self, shapes, "a tensor of indices picks from a weight or constant; to pick within each "
                                      "sample use take_along_axis")
        if self.axis is not None and self.axis not in (0, -len(table)):
            raise error(self, shapes, f"a tensor of indices picks along axis 0 (or None) of the table, not "
                                      f"axis {self.axis}: the batch axis must stay first")
        if np.dtype(dtypes[1]).kind not in "iuf":
            raise error(self, shapes, f"indices of dtype {dtypes[1]} are not numbers")
        return tuple(indices) + (tuple(table[1:]) if self.axis is not None else ()), dtypes[0]

    def layout(self, table, indices):
        """(base, offsets, stride, n, picks per sample) of gather_along for this table and batch of indices."""
        rest = table.shape[1:] if self.axis is not None else ()
        stride = int(np.prod(rest, dtype=np.int64))
        picks = int(np.prod(indices.shape[1:], dtype=np.int64))
        base = np.tile(np.arange(stride, dtype=np.int64), picks)
        offsets = np.repeat(np.arange(picks, dtype=np.int64), stride)
        return base, offsets, stride, table.shape[0] if self.axis is not None else table.size, picks

    def bind_forward(self, xs, y, ctx):
        table, indices = xs
        base, offsets, stride, n, picks = self.layout(table, indices)
        t, i, y2 = flat_of(table), flat_of(indices), rows_of(y)
        return [lambda: gather_along(t, 0, i, picks, base, offsets, stride, n, y2)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        table, indices = xs
        steps = [lambda: dxs[1].fill(0)] if dxs[1] is not None else []
        if dxs[0] is not None:
            base, offsets, stride, n, picks = self.layout(table, indices)
            i, dy2, dt = flat_of(indices), rows_of(dy), flat_of(dxs[0])
            steps.append(lambda: scatter_along(dy2, i, picks, base, offsets, stride, n, 0, dt))
        return steps


class TakeAlongAxis(Operation):
    """``x`` picked along a sample ``axis`` by ``indices`` of the same rank (the other axes broadcast),
    as ``np.take_along_axis``; negative indices count from the end, out-of-range ones are clipped."""

    def __init__(self, axis=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def get_config(self):
        return {"axis": self.axis}

    def compute(self, x, indices):
        return np.take_along_axis(np.asarray(x), np.asarray(indices).astype(np.int64), self.axis)

    def output_spec(self, shapes, dtypes):
        x, indices = shapes
        if len(x) != len(indices):
            raise error(self, shapes, "x and indices need the same rank")
        axis = one_axis(self, self.axis, len(x))
        others = broadcast_shapes(self, [x[:axis] + (1,) + x[axis + 1:], indices[:axis] + (1,) + indices[axis + 1:]])
        self.axes = (axis,)
        return others[:axis] + (indices[axis],) + others[axis + 1:], dtypes[0]

    def layout(self, x, indices, y):
        """(x rows, index rows, base, offsets, stride, n) of gather_along; an operand without the batch
        (a constant of batch size 1) reads its one row for every sample (rows 0)."""
        (axis,) = self.axes
        x_sample, i_sample, y_sample = x.shape[1:], indices.shape[1:], y.shape[1:]
        x_size, i_size = int(np.prod(x_sample, dtype=np.int64)), int(np.prod(i_sample, dtype=np.int64))
        positions = np.arange(x_size).reshape(x_sample)
        base = np.broadcast_to(np.take(positions, [0], axis - 1), y_sample).astype(np.int64).ravel()
        offsets = np.broadcast_to(np.arange(i_size).reshape(i_sample), y_sample).astype(np.int64).ravel()
        stride = int(np.prod(x_sample[axis:], dtype=np.int64))
        x_rows = x_size if len(x) == len(y) else 0
        i_rows = i_size if len(indices) == len(y) else 0
        return x_rows, i_rows, base, offsets, stride, x_sample[axis - 1]

    def bind_forward(self, xs, y, ctx):
        x, indices = xs
        x_rows, i_rows, base, offsets, stride, n = self.layout(x, indices, y)
        xf, i, y2 = flat_of(x), flat_of(indices), rows_of(y)
        return [lambda: gather_along(xf, x_rows, i, i_rows, base, offsets, stride, n, y2)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x, indices = xs
        steps = [lambda: dxs[1].fill(0)] if dxs[1] is not None else []
        if dxs[0] is not None:
            x_rows, i_rows, base, offsets, stride, n = self.layout(x, indices, y)
            i, dy2, dx = flat_of(indices), rows_of(dy), flat_of(dxs[0])
            steps.append(lambda: scatter_along(dy2, i, i_rows, base, offsets, stride, n, x_rows, dx))
        return steps


# ----- writing blocks, stacking ------------------------------------------------------------------------------
class SliceUpdate(Operation):
    """``inputs`` with the block at ``start_indices`` replaced by ``updates`` (of the same rank). Inside a
    model the block spans the batch: ``updates`` is a tensor, or a weight/constant whose batch axis is 1
    (the same values for every sample). Both operands get gradients."""

    def __init__(self, start_indices, **kwargs):
        super().__init__(**kwargs)
        self.start_indices = [int(s) for s in start_indices]

    def get_config(self):
        return {"start_indices": self.start_indices}

    def compute(self, inputs, updates):
        inputs, updates = np.asarray(inputs), np.asarray(updates)
        out = np.array(inputs, dtype=result_dtype([inputs.dtype.name, updates.dtype.name]))
        out[tuple(slice(s, s + d) for s, d in zip(self.start_indices, updates.shape))] = updates
        return out

    def output_spec(self, shapes, dtypes):
        inputs, updates = shapes
        start = self.start_indices
        if len(inputs) != len(updates) or len(start) != len(inputs) or start[0] != 0 or updates[0] not in (None, 1):
            raise error(self, shapes, f"start_indices {start} and updates need the rank of inputs and must cover "
                                      "the batch axis whole (start 0, updates a tensor or of batch size 1)")
        if any(s < 0 or (d is not None and (u is None or s + u > d)) for s, d, u in zip(start[1:], inputs[1:],
                                                                                      updates[1:])):
            raise error(self, shapes, f"updates at {start} do not fit inside inputs")
        if inputs[0] not in (None, 1):
            raise error(self, shapes, "inputs without the batch axis need a batch size of 1")
        return (updates[0] if inputs[0] == 1 else inputs[0],) + tuple(inputs[1:]), result_dtype(dtypes)

    def region(self, array, updates):
        return array[(slice(None),) + tuple(slice(s, s + d) for s, d in zip(self.start_indices[1:], updates.shape[1:]))]

    def bind_forward(self, xs, y, ctx):
        inputs, updates = xs
        block = self.region(y, updates)
        return [lambda: np.copyto(y, inputs), lambda: np.copyto(block, updates)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        inputs, updates = xs
        d_inputs, d_updates = dxs
        steps = []
        if d_inputs is not None:
            out = d_inputs if d_inputs.shape == dy.shape else ctx.scratch("d_inputs", dy.shape)
            block = self.region(out, updates)
            steps += [lambda: np.copyto(out, dy), lambda: block.fill(0)]
            if out is not d_inputs:
                steps.append(reduce_to(out, d_inputs))
        if d_updates is not None:
            steps.append(reduce_to(self.region(dy, updates), d_updates))
        return steps


class Stack(Operation):
    """The operands (of one shape, after broadcasting) stacked along a new sample ``axis``."""

    def __init__(self, axis=0, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def get_config(self):
        return {"axis": self.axis}

    def compute(self, *xs):
        return np.stack(np.broadcast_arrays(*xs), axis=self.axis)

    def output_spec(self, shapes, dtypes):
        if len({len(s) for s in shapes}) != 1:
            raise error(self, shapes, "operands of different ranks cannot be stacked")
        shape = broadcast_shapes(self, shapes)
        axis = one_axis(self, self.axis, len(shape) + 1)
        self.axes = (axis,)
        return shape[:axis] + (len(shapes),) + shape[axis:], result_dtype(dtypes)

    def parts(self, array, count):
        (axis,) = self.axes
        return [array[(slice(None),) * axis + (i,)] for i in range(count)]

    def bind_forward(self, xs, y, ctx):
        return [lambda x=x, part=part: np.copyto(part, x) for x, part in zip(xs, self.parts(y, len(xs)))]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        return [reduce_to(part, dx) for dx, part in zip(dxs, self.parts(dy, len(xs))) if dx is not None]



def split_tensor(x, indices_or_sections, axis):
    """``ops.split`` of a symbolic tensor: one Slice node per part."""
    rank = len(x.shape)
    if not -rank <= axis < rank or axis % rank == 0:
        raise OpError(f"Op 'split' on {format_shape(x.shape)}: axis {axis} is not a sample axis")
    axis, size = axis % rank, x.shape[axis % rank]
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if size is None or sections < 1 or size % sections:
            raise OpError(f"Op 'split' on {format_shape(x.shape)}: axis {axis} of size {size} cannot be split into "
                          f"{sections} equal sections")
        cuts = [size // sections * i for i in range(1, sections)]
    else:
        cuts = [int(c) for c in indices_or_sections]
        if size is None or cuts != sorted(cuts) or not all(0 <= c <= size for c in cuts):
            raise OpError(f"Op 'split' on {format_shape(x.shape)}: indices {cuts} are not increasing positions "
                          f"along axis {axis} of size {size}")
    parts = []
    for begin, end in zip([0] + cuts, cuts + [size]):
        start, sizes = [0] * rank, [-1] * rank
        start[axis], sizes[axis] = begin, end - begin
        parts.append(Slice(start, sizes)(x))
    return parts
