"""Neural-network ops: conv, depthwise_conv, max_pool, average_pool, batch_normalization and
sparse_categorical_crossentropy as graph nodes; binary and categorical cross-entropy and
dot_product_attention composed of other ops (their gradients come from those ops').

Images are channels_last; 1-D data (batch, steps, channels) runs the 2-D kernels on a one-row image.
The convolution and pooling steps call the kernels the Conv and Pooling layers use
(framework/kernels/conv.py, pooling.py): im2col into a column buffer cut in chunks of samples, one
BLAS product per chunk, col2im for the input gradient; direct loops for depthwise convolutions.
"""
import functools

import numpy as np

from framework import backend
from framework.graph.shapes import format_shape
from framework.graph.tensor import SymbolicTensor
from framework.kernels import conv as K
from framework.kernels.pooling import avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_forward
from framework.layers.convolutional import COLUMN_BYTES, conv_output_length, conv_pad_before
from framework.ops import elementwise as _e, reductions as _r
from framework.ops.linalg import Einsum, batched
from framework.ops.operation import Operation, OpError, normalize_axes, reduce_to, result_dtype
from framework.ops.shaping import _view


def _error(op, message):
    return OpError(f"Op '{op.name}' ({type(op).__name__}): {message}")


def _ints(op, name, value, rank):
    """An int or ``rank`` positive ints, as a tuple."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != rank or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                                  for v in values):
        raise _error(op, f"{name} must be a positive integer or {rank} of them, received {value!r}")
    return tuple(int(v) for v in values)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _image(array):
    """A (batch, rows, cols, channels) view; 1-D data is one row."""
    return _view(array, (array.shape[0], 1) + array.shape[1:]) if array.ndim == 3 else array


def _spatial_rank(op, shape):
    if len(shape) not in (3, 4) or shape[-1] is None:
        raise _error(op, f"inputs {format_shape(shape)} must be (batch, steps, channels) or "
                         "(batch, height, width, channels) with known channels (channels_last)")
    return len(shape) - 2


class _Windowed:
    """Arguments every windowed op shares: padding and data_format (channels_last only)."""

    def _settings(self, padding, data_format):
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise _error(self, f"padding must be 'valid' or 'same', received {padding!r}")
        if data_format not in (None, "channels_last"):
            raise _error(self, f"data_format={data_format!r} is not supported; only 'channels_last' (move the "
                               "channel axis last first, e.g. with ops.transpose)")
        self.padding, self.data_format = padding, data_format


# ----- convolutions -------------------------------------------------------------------------------
class Conv(_Windowed, Operation):
    """``conv(inputs, kernel)``: 1-D or 2-D convolution, channels_last; the kernel (a weight or a
    constant) is (*kernel_size, in_channels, filters), as Keras's."""

    def __init__(self, strides=1, padding="valid", data_format=None, dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        self.strides, self.dilation_rate = _plain(strides), _plain(dilation_rate)
        self._settings(padding, data_format)

    def get_config(self):
        return {"strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate}

    def output_channels(self, x, k):
        if k[-2] != x[-1]:
            raise _error(self, f"kernel {format_shape(k)} reads {k[-2]} channels, inputs {format_shape(x)} have "
                               f"{x[-1]} (grouped convolutions are not available as an op)")
        return k[-1]

    def output_spec(self, shapes, dtypes):
        x, k = shapes
        rank = _spatial_rank(self, x)
        if batched(k) or len(k) != rank + 2:
            raise _error(self, f"the kernel must be a weight or constant of shape (*kernel_size, in, out) for "
                               f"inputs {format_shape(x)}, received {format_shape(k)}")
        self.kernel_size = tuple(k[:rank])
        self.stride_tuple = _ints(self, "strides", self.strides, rank)
        self.dilation_tuple = _ints(self, "dilation_rate", self.dilation_rate, rank)
        channels = self.output_channels(x, k)
        spatial = tuple(conv_output_length(n, kk, s, d, self.padding) for n, kk, s, d in
                        zip(x[1:-1], self.kernel_size, self.stride_tuple, self.dilation_tuple))
        if any(n is not None and n <= 0 for n in spatial):
            raise _error(self, f"kernel {format_shape(k)} (dilation {self.dilation_tuple}) does not fit inputs "
                               f"{format_shape(x)} with padding '{self.padding}'")
        return (x[0],) + spatial + (channels,), result_dtype(dtypes)

    def compute(self, x, kernel):
        return _eager(self, x, kernel)

    def _geometry(self, x, y):
        """(kh, kw, sh, sw, dh, dw, ph, pw, oh, ow) of the kernels; 1-D data is one row."""
        pads = tuple(conv_pad_before(n, k, s, d, self.padding) for n, k, s, d in
                     zip(x.shape[1:-1], self.kernel_size, self.stride_tuple, self.dilation_tuple))
        one = (1,) if x.ndim == 3 else ()
        kernel, strides, dilation = one + self.kernel_size, one + self.stride_tuple, one + self.dilation_tuple
        pads, out = (0,) * len(one) + pads, one + y.shape[1:-1]
        return (kernel[0], kernel[1], strides[0], strides[1], dilation[0], dilation[1], pads[0], pads[1],
                out[0], out[1])

    def _layout(self, x, y, kernel, ctx):
        """(image view, geometry, kernel as (taps*in, filters), column buffer, chunks of samples)."""
        args = self._geometry(x, y)
        x4, filters = _image(x), y.shape[-1]
        pixels, width = args[8] * args[9], args[0] * args[1] * x4.shape[3]
        per_chunk = max(1, min(len(x4), COLUMN_BYTES // max(pixels * width * ctx.dtype.itemsize, 1)))
        columns = ctx.scratch("columns", (per_chunk * pixels, width))
        chunks = [(start, min(per_chunk, len(x4) - start)) for start in range(0, len(x4), per_chunk)]
        return x4, args, _view(kernel, (width, filters)), columns, chunks, pixels

    def bind_forward(self, xs, y, ctx):
        x4, args, w2, columns, chunks, pixels = self._layout(xs[0], y, xs[1], ctx)
        y2 = _view(y, (-1, y.shape[-1]))
        calls = []
        for start, n in chunks:
            cols = columns[:n * pixels]
            calls += [functools.partial(K.im2col, x4, start, cols.reshape((1,) + cols.shape), *args),
                      functools.partial(np.matmul, cols, w2, out=y2[start * pixels:(start + n) * pixels])]
        return [_sequence(calls)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x4, args, w2, columns, chunks, pixels = self._layout(xs[0], y, xs[1], ctx)
        dx, dk = dxs
        dy2 = _view(dy, (-1, dy.shape[-1]))
        dk2 = None if dk is None else _view(dk, w2.shape)
        part = ctx.scratch("d_kernel_part", w2.shape) if dk is not None and len(chunks) > 1 else None
        dx4 = None if dx is None else _image(dx)
        calls = []
        for index, (start, n) in enumerate(reversed(chunks)):  # forward left the last chunk's columns
            cols, rows = columns[:n * pixels], dy2[start * pixels:(start + n) * pixels]
            cols3 = cols.reshape((1,) + cols.shape)
            if dk is not None:
                if index:
                    calls.append(functools.partial(K.im2col, x4, start, cols3, *args))
                calls.append(functools.partial(np.matmul, cols.T, rows, out=part if index else dk2))
                if index:
                    calls.append(functools.partial(np.add, dk2, part, out=dk2))
            if dx is not None:  # the columns' gradient overwrites the columns, then scatters to dx
                calls += [functools.partial(np.matmul, rows, w2.T, out=cols),
                          functools.partial(K.col2im, cols3, start, dx4, *args)]
        return [_sequence(calls)] if calls else []

    def flops(self, input_shape, output_shape):
        return 2 * int(np.prod(output_shape[1:])) * int(np.prod(self.kernel_size)) * \
            (input_shape[0] if isinstance(input_shape, list) else input_shape)[-1]


class DepthwiseConv(Conv):
    """``depthwise_conv(inputs, kernel)``: each input channel convolved with its own filters; the kernel
    is (*kernel_size, in_channels, depth_multiplier), output channel ``c * depth_multiplier + q``."""

    def output_channels(self, x, k):
        if k[-2] != x[-1]:
            raise _error(self, f"kernel {format_shape(k)} reads {k[-2]} channels, inputs {format_shape(x)} have "
                               f"{x[-1]}")
        return x[-1] * k[-1]

    def bind_forward(self, xs, y, ctx):
        x4, k4, y4, args = _image(xs[0]), _kernel4(xs[1]), _image(y), self._geometry(xs[0], y)[2:8]
        return [functools.partial(K.depthwise_forward, x4, k4, y4, *args)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x4, k4, dy4, args = _image(xs[0]), _kernel4(xs[1]), _image(dy), self._geometry(xs[0], y)[2:8]
        dx, dk = dxs
        steps = []
        if dk is not None:
            steps.append(functools.partial(K.depthwise_backward_kernel, x4, dy4, _kernel4(dk), *args))
        if dx is not None:
            steps.append(functools.partial(K.depthwise_backward_input, dy4, k4, _image(dx), *args))
        return steps

    def flops(self, input_shape, output_shape):
        return 2 * int(np.prod(output_shape[1:])) * int(np.prod(self.kernel_size))


def _kernel4(kernel):
    return _view(kernel, (1,) + kernel.shape) if kernel.ndim == 3 else kernel


def _sequence(calls):
    calls = tuple(calls)

    def step():
        for call in calls:
            call()
    return step


def _eager(op, *arrays):
    """An op's result on arrays: the node's own steps on buffers made for this call."""
    arrays = [np.asarray(a) for a in arrays]
    dtype = np.dtype(result_dtype([a.dtype.name for a in arrays], True))
    arrays = [np.ascontiguousarray(a, dtype=dtype) for a in arrays]
    shape, _ = op.output_spec([(None,) + a.shape[1:] if i == 0 else a.shape for i, a in enumerate(arrays)],
                              [a.dtype.name for a in arrays])
    y = np.empty((len(arrays[0]),) + tuple(shape[1:]), dtype=dtype)
    for step in op.bind_forward(arrays, y, _EagerContext(dtype)):
        step()
    return y


class _EagerContext:
    """What ``bind_forward`` needs of a plan's context, for one call on arrays."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self._scratch = {}

    def scratch(self, key, shape, dtype=None):
        if key not in self._scratch:
            self._scratch[key] = np.empty(tuple(shape), dtype=dtype or self.dtype)
        return self._scratch[key]


# ----- pooling ------------------------------------------------------------------------------------
class MaxPool(_Windowed, Operation):
    """``max_pool(inputs, pool_size, strides=None, padding='valid')``, 1-D or 2-D, channels_last; 'same'
    padding never wins a max (as Keras)."""

    mode = "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = _plain(pool_size), _plain(strides)
        self._settings(padding, data_format)

    def get_config(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding,
                "data_format": self.data_format}

    def output_spec(self, shapes, dtypes):
        x = shapes[0]
        rank = _spatial_rank(self, x)
        self.pool = _ints(self, "pool_size", self.pool_size, rank)
        self.stride_tuple = self.pool if self.strides is None else _ints(self, "strides", self.strides, rank)
        if self.padding == "valid" and any(n is not None and n < k for n, k in zip(x[1:-1], self.pool)):
            raise _error(self, f"pool_size {self.pool} is larger than inputs {format_shape(x)} with padding 'valid'")
        spatial = tuple(None if n is None else (n - k) // s + 1 if self.padding == "valid" else -(-n // s)
                        for n, k, s in zip(x[1:-1], self.pool, self.stride_tuple))
        return (x[0],) + spatial + (x[-1],), result_dtype(dtypes, self.mode != "max")

    def compute(self, x):
        return _eager(self, x)

    def _geometry(self, x, y):
        """(kh, kw, sh, sw, top, left) of the pooling kernels; 1-D data is one row."""
        before = tuple(0 if self.padding == "valid" else max(0, (o - 1) * s + k - n) // 2
                       for n, o, k, s in zip(x.shape[1:-1], y.shape[1:-1], self.pool, self.stride_tuple))
        if x.ndim == 3:
            return (1, self.pool[0], 1, self.stride_tuple[0], 0, before[0])
        return self.pool + self.stride_tuple + before

    def bind_forward(self, xs, y, ctx):
        x4, y4, args = _image(xs[0]), _image(y), self._geometry(xs[0], y)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", y4.shape, dtype=np.int32)
            return [functools.partial(max_pool_forward, x4, *args, y4, argmax)]
        return [functools.partial(avg_pool_forward, x4, *args, y4)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        if dxs[0] is None:
            return []
        dx4, dy4, args = _image(dxs[0]), _image(dy), self._geometry(xs[0], y)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", dy4.shape, dtype=np.int32)
            return [functools.partial(max_pool_backward, dy4, argmax, *args, dx4)]
        return [functools.partial(avg_pool_backward, dy4, *args, dx4)]


class AveragePool(MaxPool):
    """``average_pool(inputs, pool_size, strides=None, padding='valid')``: with 'same' padding the mean
    of the real elements of each window (as Keras)."""

    mode = "average"


# ----- batch normalization ------------------------------------------------------------------------
class BatchNormalization(Operation):
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset``; 1-D mean, variance, offset and scale
    lie along ``axis``, other operands broadcast against ``x`` as NumPy's.

    Args:
        axis: the axis of x the 1-D operands lie along. epsilon: added to the variance.
        has_offset, has_scale: whether the operands after the variance include offset and scale.
    """

    def __init__(self, axis=-1, epsilon=1e-3, has_offset=False, has_scale=False, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = int(axis), float(epsilon)
        self.has_offset, self.has_scale = bool(has_offset), bool(has_scale)

    def get_config(self):
        return {"axis": self.axis, "epsilon": self.epsilon, "has_offset": self.has_offset,
                "has_scale": self.has_scale}

    def _names(self):
        return ["mean", "variance"] + ["offset"] * self.has_offset + ["scale"] * self.has_scale

    def _along(self, shape, rank):
        """The shape a 1-D operand of ``shape`` takes to lie along the axis."""
        if len(shape) == 1 and rank > 1:
            return tuple(shape[0] if i == self.axis % rank else 1 for i in range(rank))
        return tuple(shape)

    def output_spec(self, shapes, dtypes):
        x = shapes[0]
        normalize_axes(self, self.axis, len(x))
        for name, shape in zip(self._names(), shapes[1:]):
            along = self._along(shape, len(x))
            if len(along) > len(x) or any(d not in (1, n) for d, n in zip(reversed(along), reversed(x))):
                raise _error(self, f"{name} {format_shape(shape)} does not lie along axis {self.axis} of "
                                   f"x {format_shape(x)}")
        return tuple(x), result_dtype(dtypes, True)

    def compute(self, x, *params):
        x = np.asarray(x)
        dtype = result_dtype([x.dtype.name] + [np.asarray(p).dtype.name for p in params], True)
        views = dict(zip(self._names(), (np.reshape(p, self._along(np.shape(p), x.ndim)) for p in params)))
        factor = 1 / np.sqrt(views["variance"] + self.epsilon) * views.get("scale", 1)
        return ((x - views["mean"]) * factor + views.get("offset", 0)).astype(dtype)

    def _views(self, arrays, x):
        return dict(zip(self._names(), (a.reshape(self._along(a.shape, x.ndim)) for a in arrays)))

    def bind_forward(self, xs, y, ctx):
        x, p = xs[0], self._views(xs[1:], xs[0])
        inv, factor, eps = self._factors(p, ctx)
        mean, variance, scale, offset = p["mean"], p["variance"], p.get("scale"), p.get("offset")

        def step():
            np.add(variance, eps, out=inv)
            np.sqrt(inv, out=inv)
            np.divide(1, inv, out=inv)
            if scale is not None:
                np.multiply(inv, scale, out=factor)
            np.subtract(x, mean, out=y)
            np.multiply(y, factor, out=y)
            if offset is not None:
                np.add(y, offset, out=y)
        return [step]

    def _factors(self, p, ctx):
        """(1 / sqrt(variance + epsilon), that times scale, epsilon): scratch filled by forward."""
        inv = ctx.scratch("inv", p["variance"].shape)
        factor = inv if "scale" not in p else ctx.scratch("factor", np.broadcast_shapes(inv.shape, p["scale"].shape))
        return inv, factor, ctx.dtype.type(self.epsilon)

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x, p = xs[0], self._views(xs[1:], xs[0])
        d = {name: g.reshape(self._along(g.shape, x.ndim)) for name, g in zip(self._names(), dxs[1:]) if g is not None}
        inv, factor, _ = self._factors(p, ctx)
        centred, t = ctx.scratch("centred", x.shape), ctx.scratch("t", x.shape)
        steps = [lambda: np.subtract(x, p["mean"], out=centred)]
        if dxs[0] is not None:
            steps.append(lambda: np.multiply(dy, factor, out=dxs[0]))
        if "mean" in d:
            steps += [lambda: np.multiply(dy, factor, out=t), reduce_to(t, d["mean"]),
                      lambda: np.negative(d["mean"], out=d["mean"])]
        if "offset" in d:
            steps.append(reduce_to(dy, d["offset"]))
        if "scale" in d:
            steps += [lambda: np.multiply(dy, centred, out=t), lambda: np.multiply(t, inv, out=t),
                      reduce_to(t, d["scale"])]
        if "variance" in d:  # -1/2 (x - mean) scale (variance + epsilon)^(-3/2)
            dv = d["variance"]
            steps += [lambda: np.multiply(dy, centred, out=t), lambda: np.multiply(t, factor, out=t),
                      reduce_to(t, dv), lambda: np.multiply(dv, inv, out=dv), lambda: np.multiply(dv, inv, out=dv),
                      lambda: np.multiply(dv, -0.5, out=dv)]
        return steps


# ----- cross-entropy ------------------------------------------------------------------------------
class SparseCategoricalCrossentropy(Operation):
    """``-log p[target]`` along ``axis`` for integer labels ``target``, per sample (no reduction);
    ``output`` holds probabilities (normalized, clipped to [epsilon, 1 - epsilon], as Keras) or logits.
    A label outside [0, classes) gives 0, as Keras's one-hot does. No gradient to the labels."""

    def __init__(self, from_logits=False, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.from_logits, self.axis = bool(from_logits), int(axis)

    def get_config(self):
        return {"from_logits": self.from_logits, "axis": self.axis}

    def _target_shape(self, target, output):
        target = tuple(target)
        if len(target) == len(output) and target[-1] == 1:
            target = target[:-1]
        axis = self.axis % len(output)
        if target != tuple(output[:axis]) + tuple(output[axis + 1:]):
            raise _error(self, f"target {format_shape(target)} must be output {format_shape(output)} without "
                               f"axis {self.axis} (integer labels)")
        return axis

    def output_spec(self, shapes, dtypes):
        target, output = shapes
        (axis,) = normalize_axes(self, self.axis, len(output))
        self._target_shape(target, output)
        self.axes = (axis,)
        return tuple(output[:axis]) + tuple(output[axis + 1:]), result_dtype(dtypes[1:], True)

    def compute(self, target, output):
        output = np.asarray(output)
        output = output.astype(result_dtype([output.dtype.name], True))
        axis = self._target_shape(np.shape(target), output.shape)
        labels = np.expand_dims(np.reshape(target, output.shape[:axis] + output.shape[axis + 1:]), axis)
        log_prob = self._log_prob(output, axis)
        one_hot = np.arange(output.shape[axis]).reshape([-1 if i == axis else 1 for i in range(output.ndim)]) == labels
        return -np.sum(np.where(one_hot, log_prob, 0), axis=axis)

    def _log_prob(self, output, axis):
        if self.from_logits:
            return _r.LogSoftmax(axis).compute(output)
        eps = backend.epsilon()
        return np.log(np.clip(output / np.sum(output, axis=axis, keepdims=True), eps, 1 - eps))

    def _bound(self, xs, y, ctx):
        """Views and scratch shared by forward and backward."""
        target, x = xs
        (axis,) = self.axes
        kept = tuple(1 if i == axis else d for i, d in enumerate(x.shape))
        iota = np.arange(x.shape[axis], dtype=target.dtype).reshape([-1 if i == axis else 1 for i in range(x.ndim)])
        return (axis, target.reshape(kept), iota, ctx.scratch("one_hot", x.shape), ctx.scratch("t", x.shape),
                ctx.scratch("total", kept), kept)

    def bind_forward(self, xs, y, ctx):
        x = xs[1]
        axis, labels, iota, one_hot, t, total, kept = self._bound(xs, y, ctx)
        y = y.reshape(kept)
        if self.from_logits:
            def step():  # logsumexp(x) - x[label]; total keeps logsumexp for backward
                np.equal(iota, labels, out=one_hot, casting="unsafe")
                np.max(x, axis=axis, keepdims=True, out=total)
                np.subtract(x, total, out=t)
                np.exp(t, out=t)
                np.sum(t, axis=axis, keepdims=True, out=y)
                np.log(y, out=y)
                np.add(y, total, out=total)
                np.multiply(one_hot, x, out=t)
                np.sum(t, axis=axis, keepdims=True, out=y)
                np.subtract(total, y, out=y)
            return [step]
        q = ctx.scratch("q", x.shape)
        low, high = ctx.dtype.type(backend.epsilon()), ctx.dtype.type(1 - backend.epsilon())

        def step():  # -log(clip(x[label] / sum(x))); total keeps sum(x), q the normalized x
            np.equal(iota, labels, out=one_hot, casting="unsafe")
            np.sum(x, axis=axis, keepdims=True, out=total)
            np.divide(x, total, out=q)
            np.clip(q, low, high, out=t)
            np.log(t, out=t)
            np.multiply(one_hot, t, out=t)
            np.sum(t, axis=axis, keepdims=True, out=y)
            np.negative(y, out=y)
        return [step]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        axis, labels, iota, one_hot, t, total, kept = self._bound(xs, y, ctx)
        dx, dy = dxs[1], dy.reshape(kept)
        steps = [] if dxs[0] is None else [lambda: dxs[0].fill(0)]
        if dx is None:
            return steps
        x = xs[1]
        if self.from_logits:  # (softmax(x) - one_hot) dy
            return steps + [lambda: np.subtract(x, total, out=dx), lambda: np.exp(dx, out=dx),
                            lambda: np.subtract(dx, one_hot, out=dx), lambda: np.multiply(dx, dy, out=dx)]
        q, picked = ctx.scratch("q", x.shape), ctx.scratch("picked", kept)
        inside, below = ctx.scratch("inside", kept), ctx.scratch("below", kept)
        low, high = ctx.dtype.type(backend.epsilon()), ctx.dtype.type(1 - backend.epsilon())

        def step():  # dy [q[label] unclipped] (1 - one_hot / q[label]) / sum(x)
            np.multiply(one_hot, q, out=t)
            np.sum(t, axis=axis, keepdims=True, out=picked)
            np.greater_equal(picked, low, out=inside, casting="unsafe")
            np.less_equal(picked, high, out=below, casting="unsafe")
            np.multiply(inside, below, out=inside)
            np.clip(picked, low, high, out=picked)
            np.divide(one_hot, picked, out=dx)
            np.subtract(1, dx, out=dx)
            np.divide(inside, total, out=inside)
            np.multiply(inside, dy, out=inside)
            np.multiply(dx, inside, out=dx)
        return steps + [step]


def _shape(x):
    return tuple(x.shape) if isinstance(x, SymbolicTensor) or hasattr(x, "shape") else np.shape(x)


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise ``-(t log p + (1 - t) log(1 - p))``, p clipped to [epsilon, 1 - epsilon]; from logits
    ``softplus(x) - t x`` (no clipping, exact gradient ``sigmoid(x) - t``)."""
    if from_logits:
        return _e.Subtract()(_e.Softplus()(output), _e.Multiply()(target, output))
    eps = backend.epsilon()
    p = _e.Clip(eps, 1 - eps)(output)
    positive = _e.Multiply()(target, _e.Log()(p))
    negative = _e.Multiply()(_e.Subtract()(1.0, target), _e.Log()(_e.Subtract()(1.0, p)))
    return _e.Negative()(_e.Add()(positive, negative))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``-sum(t log p)`` along axis: p the output normalized to sum 1 and clipped to [epsilon, 1 - epsilon],
    or ``log_softmax`` of logits."""
    if _shape(target) != _shape(output):
        raise OpError(f"categorical_crossentropy: target {format_shape(_shape(target))} and output "
                      f"{format_shape(_shape(output))} must have the same shape")
    if from_logits:
        log_prob = _r.LogSoftmax(axis)(output)
    else:
        eps = backend.epsilon()
        p = _e.Divide()(output, _r.Sum(axis, keepdims=True)(output))
        log_prob = _e.Log()(_e.Clip(eps, 1 - eps)(p))
    return _e.Negative()(_r.Sum(axis)(_e.Multiply()(target, log_prob)))


#: what masked attention logits become (Keras's: -0.7 times the largest float32)
LARGE_NEGATIVE = -0.7 * 3.38953e38


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False):
    """softmax(q k^T * scale + bias, masked) v per head, for (batch, seq, heads, dim) operands."""
    shapes = [_shape(x) for x in (query, key, value)]
    if any(len(s) != 4 for s in shapes) or len({s[2] for s in shapes}) != 1 or shapes[0][3] != shapes[1][3] \
            or shapes[1][:3] != shapes[2][:3]:
        raise OpError(f"dot_product_attention: query, key and value must be (batch, seq, heads, dim) with one "
                      f"number of heads, query and key of one dim, key and value of one seq; received "
                      f"{', '.join(format_shape(s) for s in shapes)}")
    scale = 1 / np.sqrt(shapes[0][3]) if scale is None else float(scale)
    logits = _e.Multiply()(Einsum("btnh,bsnh->bnts")(query, key), scale)
    if bias is not None:
        logits = _e.Add()(logits, bias)
    keep = mask
    if is_causal:
        steps = shapes[0][1], shapes[1][1]
        if None in steps:
            raise OpError(f"dot_product_attention: is_causal needs known sequence lengths, received query "
                          f"{format_shape(shapes[0])} and key {format_shape(shapes[1])}")
        causal = np.tril(np.ones(steps, dtype=bool))
        keep = causal if keep is None else _e.LogicalAnd()(keep, causal)
    if keep is not None:
        logits = _e.Where()(keep, logits, LARGE_NEGATIVE)
    return Einsum("bnts,bsnh->btnh")(_r.Softmax(-1)(logits), value)
