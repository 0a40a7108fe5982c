"""Convolution layers: Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D (channels_last).

Keras 3 arguments, defaults, weight names, shapes and order. Conv1D/Conv2D run
as im2col (a Numba kernel writing, per output pixel, the inputs it reads)
followed by one BLAS product with the Keras kernel reshaped, without copy, to
``(kh*kw*in/groups, filters)``, then the fused bias + activation epilogue. The
batch is cut into chunks of samples so a chunk's columns and output rows stay
near ``COLUMN_BYTES`` and in cache; backward keeps forward's columns when the
whole batch's fit ``KEEP_COLUMN_BYTES``, else recomputes them per chunk.
Conv2DTranspose is the adjoint: one product into columns, then col2im.
Depthwise convolutions are direct Numba loops; SeparableConv2D is a depthwise
loop followed by a pointwise product.
"""
import math

import numpy as np

from framework import activations, constraints, initializers, regularizers
from framework.kernels import conv as K
from framework.layers.core import matmul_step, rows2d_last
from framework.layers.layer import Layer, format_shape

__all__ = ["Conv1D", "Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D"]

#: target bytes of one chunk's columns plus its output rows (1-4 MB measured alike, smaller or larger slower)
COLUMN_BYTES = 2 * 2**20
#: images with at most this many channels use transposed columns (measured faster up to 3)
TRANSPOSED_MAX_CHANNELS = 3
#: a convolution whose whole batch of columns fits this keeps them for backward (no im2col again)
KEEP_COLUMN_BYTES = 4 * 2**20


# ----------------------------------------------------------------------------- arguments

def _int_tuple(layer, name, value, rank, minimum=1):
    """An int or a sequence of ``rank`` ints, each >= minimum, as a tuple."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if (values is None or len(values) != rank
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in values)):
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {name} must be a {what} integer or a "
                         f"tuple of {rank} {what} integers, received {value!r}")
    return tuple(int(v) for v in values)


def _choice(layer, name, value, choices):
    value = value.lower() if isinstance(value, str) else value
    if value not in choices:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {name} must be one of "
                         f"{', '.join(repr(c) for c in choices)}, received {value!r}")
    return value


def _data_format(layer, value):
    value = _choice(layer, "data_format", value or "channels_last", ("channels_last", "channels_first"))
    if value == "channels_first":
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): data_format='channels_first' is not "
                         f"supported; only 'channels_last' (batch, ..., channels). Move the channel axis last "
                         f"first, e.g. with Permute.")
    return value


def _positive(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {name} must be a positive integer, "
                         f"received {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- geometry

def conv_output_length(size, kernel, stride, dilation, padding):
    """Keras's output length of a convolution along one axis (None stays None)."""
    if size is None:
        return None
    if padding == "valid":
        return (size - (kernel - 1) * dilation - 1) // stride + 1
    return (size + stride - 1) // stride  # 'same' and 'causal'


def conv_pad_before(size, kernel, stride, dilation, padding):
    """Zeros added before the first pixel: TF/JAX 'SAME' puts the smaller half first."""
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        return 0
    if padding == "causal":
        return extent - 1
    total = max((conv_output_length(size, kernel, stride, dilation, padding) - 1) * stride + extent - size, 0)
    return total // 2


def transpose_output_length(size, kernel, stride, dilation, padding, output_padding):
    """Keras's output length of a transposed convolution along one axis."""
    if size is None:
        return None
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(extent, stride) - extent if output_padding is None else output_padding
        return (size - 1) * stride + extent + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + extent % 2 + output_padding


def transpose_pad_before(kernel, stride, dilation, padding, output_padding):
    """Output offset P of a transposed convolution: input pixel i, tap t land on i*s + t*d - P
    (the left padding Keras's JAX backend uses, seen from the scatter side)."""
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        return 0
    total = stride + extent - 2 if output_padding is None else extent + extent % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, extent - 1)
    return extent - 1 - left


class Geometry:
    """The 2-D convolution read pattern handed to the kernels: taps, strides, dilations,
    padding before, and the output (or, for col2im, source) grid size."""

    def __init__(self, kernel, strides, dilation, pads, out):
        self.args = (kernel[0], kernel[1], strides[0], strides[1], dilation[0], dilation[1],
                     pads[0], pads[1], out[0], out[1])
        self.taps = kernel[0] * kernel[1]
        self.pixels = out[0] * out[1]


def _reshaped(array, shape):
    """A reshaped view; raises instead of silently copying (writes must land in the buffer)."""
    return np.reshape(array, shape, copy=False)


def _sequence(calls):
    """One step running bound calls in order (``step.calls`` lets benchmarks time each one)."""
    calls = tuple(calls)

    def step():
        for call in calls:
            call()
    step.calls = calls
    return step


def _bind(fn, *args):
    def call():
        fn(*args)
    return call


def _chunks(batch, per_sample_bytes):
    """[(first sample, samples)] with each chunk's buffers near COLUMN_BYTES, sizes balanced."""
    most = max(1, min(batch, COLUMN_BYTES // max(per_sample_bytes, 1)))
    count = -(-batch // most)
    size = -(-batch // count)
    return [(start, min(size, batch - start)) for start in range(0, batch, size)]


def _row_slices(chunks, pixels):
    """Row ranges of each chunk in a (batch * pixels, units) rows view."""
    return [slice(start * pixels, (start + n) * pixels) for start, n in chunks]


class _Columns:
    """im2col / col2im between a 4-D image and chunk-sized column buffers.

    Chunk k's columns hold, per output pixel, the ``taps * channels`` inputs it reads
    (``channels`` per group of the image read). Layout ``(groups, rows, width)``; images with at
    most ``TRANSPOSED_MAX_CHANNELS`` channels (no groups) use the transposed ``(width, rows)``.
    The chunks share one buffer, unless ``keep`` and the whole batch fits ``KEEP_COLUMN_BYTES``:
    then every chunk has its own and ``kept`` is True (backward reuses forward's columns).
    """

    def __init__(self, ctx, chunks, geometry, groups, channels, keep=False):
        self.chunks, self.geometry, self.groups = chunks, geometry, groups
        self.transposed = groups == 1 and channels <= TRANSPOSED_MAX_CHANNELS
        width = geometry.taps * channels
        per_sample = groups * geometry.pixels * width
        batch = sum(n for _, n in chunks)
        self.kept = keep and batch * per_sample * ctx.dtype.itemsize <= KEEP_COLUMN_BYTES
        buffer = ctx.scratch("columns", ((batch if self.kept else max(n for _, n in chunks)) * per_sample,))
        self.views = []
        for start, n in chunks:
            first = start * per_sample if self.kept else 0
            block, rows = buffer[first:first + n * per_sample], n * geometry.pixels
            self.views.append(block.reshape((width, rows) if self.transposed else (groups, rows, width)))
        self.gather, self.scatter = ((K.im2col_transposed, K.col2im_transposed) if self.transposed
                                     else (K.im2col, K.col2im))

    def matrix(self, k):
        """Chunk k's columns as a product operand: (rows, width), or (groups, rows, width)."""
        view = self.views[k]
        return view.T if self.transposed else view[0] if self.groups == 1 else view

    def im2col(self, image, k, first_sample=None):
        start = self.chunks[k][0] if first_sample is None else first_sample
        return _bind(self.gather, image, start, self.views[k], *self.geometry.args)

    def col2im(self, image, k):
        return _bind(self.scatter, self.views[k], self.chunks[k][0], image, *self.geometry.args)

    def fill(self, k, a, b):
        """Chunk k's columns = a @ b, written in the buffer's layout."""
        if self.transposed:
            return matmul_step(_swap(b), _swap(a), self.views[k])
        return matmul_step(a, b, self.matrix(k))


class _Written:
    """A gradient over chunks: the first chunk's product writes it, each later chunk writes its
    own partial, and one call adds the partials in after the loop (np.matmul cannot accumulate)."""

    def __init__(self, ctx, key, gradient, chunks):
        self.gradient = gradient
        self.partials = ctx.scratch(key, (chunks - 1,) + gradient.shape) if chunks > 1 else None

    def target(self, index):
        return self.gradient if index == 0 else self.partials[index - 1]

    def fold(self):
        if self.partials is None:
            return []
        partials = self.partials.reshape(len(self.partials), -1)
        return [_bind(K.add_partials, _reshaped(self.gradient, (-1,)), partials)]


def _group_view(rows2d, groups):
    """(rows, groups*units) -> (groups, rows, units) view, or (rows, units) when groups == 1."""
    if groups == 1:
        return rows2d
    rows, units = rows2d.shape
    return rows2d.reshape(rows, groups, units // groups).transpose(1, 0, 2)


def _all_rows(array):
    """The one chunk of an unchunked layer: every row of the (rows, channels) view."""
    return slice(0, array.size // array.shape[-1])


def _swap(matrix):
    """Transpose of the last two axes (a view)."""
    return matrix.T if matrix.ndim == 2 else matrix.transpose(0, 2, 1)


# ----------------------------------------------------------------------------- base

class _BaseConv(Layer):
    """What every convolution shares: argument checks, shapes, the bias + activation epilogue, config."""

    rank = 2
    paddings = ("valid", "same")

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, bias_initializer="zeros", bias_regularizer=None,
                 activity_regularizer=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if activity_regularizer is not None:
            raise NotImplementedError(f"Layer '{self.name}': activity_regularizer is not supported yet")
        self.kernel_size = _int_tuple(self, "kernel_size", kernel_size, self.rank)
        self.strides = _int_tuple(self, "strides", strides, self.rank)
        self.dilation_rate = _int_tuple(self, "dilation_rate", dilation_rate, self.rank)
        self.padding = _choice(self, "padding", padding, self.paddings)
        self.data_format = _data_format(self, data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer
        self.bias_regularizer = bias_regularizer
        self.bias_constraint = constraints.get(bias_constraint)

    def _forbid_strided_dilation(self):
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): strides > 1 together with "
                             f"dilation_rate > 1 is not supported (as in Keras), received "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}")

    # ----- shapes ---------------------------------------------------------------------------
    def _expected_rank(self):
        return "3-D input (batch, steps, channels)" if self.rank == 1 else \
            "4-D input (batch, height, width, channels)"

    def _check_rank(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expected {self._expected_rank()}, "
                             f"received {format_shape(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs a known channel axis, "
                             f"received input shape {format_shape(input_shape)}")

    def check_input_shape(self, input_shape):
        self._check_rank(input_shape)
        channels = self.input_spec_shape[-1]
        if input_shape[-1] != channels:
            raise ValueError(self.shape_error((None,) * (self.rank + 1) + (channels,), input_shape))
        self.compute_output_shape(input_shape)

    def _conv_spatial(self, input_shape):
        """Output spatial sizes of a forward convolution; raises when the kernel does not fit."""
        out = []
        axes = ("steps",) if self.rank == 1 else ("height", "width")
        for axis, size, k, s, d in zip(axes, input_shape[1:-1], self.kernel_size, self.strides,
                                       self.dilation_rate):
            length = conv_output_length(size, k, s, d, self.padding)
            if length is not None and length <= 0:
                extent = (k - 1) * d + 1
                padded = size + (extent - 1 if self.padding == "causal" else 0)
                dilated = f" (dilated to {extent})" if d > 1 else ""
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): kernel size {k}{dilated} is "
                                 f"larger than the padded input size {padded} along the {axis} axis (input shape "
                                 f"{format_shape(input_shape)}, padding '{self.padding}')")
            out.append(length)
        return tuple(out)

    def _conv_geometry(self, spatial_in, spatial_out):
        """The kernels' 2-D geometry; Conv1D is a height-1 image."""
        pads = tuple(conv_pad_before(n, k, s, d, self.padding) for n, k, s, d in
                     zip(spatial_in, self.kernel_size, self.strides, self.dilation_rate))
        if self.rank == 1:
            return Geometry((1,) + self.kernel_size, (1,) + self.strides, (1,) + self.dilation_rate,
                            (0,) + pads, (1,) + tuple(spatial_out))
        return Geometry(self.kernel_size, self.strides, self.dilation_rate, pads, spatial_out)

    def _image(self, array):
        """A 4-D (batch, height, width, channels) view; Conv1D data gets height 1."""
        return array.reshape(array.shape[0], 1, array.shape[1], array.shape[2]) if array.ndim == 3 else array

    # ----- bias + activation epilogue --------------------------------------------------------
    def fused_activation(self):
        return self.activation.name

    def _pre_activation(self, ctx):
        """Rows buffer receiving the linear part: the loss's logits, a saved z, or y itself."""
        if ctx.fused:
            z2 = rows2d_last(ctx.logits)
        elif self.activation.needs_input:
            z2 = rows2d_last(ctx.scratch("z", ctx.y.shape))
        else:
            z2 = rows2d_last(ctx.y)
        ctx.saved_z = z2
        return z2

    def _epilogue(self, ctx, z2, y2, bias):
        """y = activation(z + bias) on a block of rows (z updated in place)."""
        act = self.activation
        if bias is not None:
            return act.bind_bias_forward(z2, bias, y2)
        if z2 is not y2 or act.name != "linear":
            return act.bind_forward(z2, y2)
        return None

    def _epilogue_backward(self, ctx, bias_index, row_slices):
        """Per chunk of output rows, in the given order: (calls turning dy into dz = dy * f'(z) in
        place and writing the chunk's bias gradient, dz); and the calls folding the bias partials."""
        act = self.activation
        y2, dy2, z2 = rows2d_last(ctx.y), rows2d_last(ctx.dy), ctx.saved_z
        linear = ctx.fused or act.name == "linear"
        fn = activations.linear if linear else act
        d_bias = ctx.d_weights[bias_index] if self.use_bias else None
        bias_grad = None if d_bias is None else _Written(ctx, "d_bias_chunks", d_bias, len(row_slices))
        chunks = []
        for index, rows in enumerate(row_slices):
            y, dy, z = y2[rows], dy2[rows], z2[rows]
            x = z if fn.needs_input else y
            calls = []
            if bias_grad is not None:
                calls.append(fn.bind_backward_bias_grad(x, y, dy, dy, bias_grad.target(index)))
            elif not linear:
                calls.append(act.bind_backward(x, y, dy, dy))
            chunks.append((calls, dy))
        return chunks, ([] if bias_grad is None else bias_grad.fold())

    # ----- config ---------------------------------------------------------------------------
    def _base_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
        })
        return config

    def _bias_config(self):
        return {"bias_initializer": initializers.serialize(initializers.get(self.bias_initializer)),
                "bias_regularizer": regularizers.serialize(regularizers.get(self.bias_regularizer)),
                "bias_constraint": constraints.serialize(self.bias_constraint)}

    def _add_bias(self, units):
        if self.use_bias:
            self.bias = self.add_weight("bias", (units,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)


def _weight_config(prefix, initializer, regularizer, constraint):
    return {f"{prefix}_initializer": initializers.serialize(initializers.get(initializer)),
            f"{prefix}_regularizer": regularizers.serialize(regularizers.get(regularizer)),
            f"{prefix}_constraint": constraints.serialize(constraint)}


# ----------------------------------------------------------------------------- Conv1D / Conv2D

class _Conv(_BaseConv):
    """Convolution with ``filters`` outputs: im2col + one BLAS product per chunk of samples."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = _positive(self, "filters", filters)
        self.groups = _positive(self, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): filters ({self.filters}) must be "
                             f"divisible by groups ({self.groups})")
        self._forbid_strided_dilation()
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape):
        self._check_rank(input_shape)
        channels = input_shape[-1]
        if channels % self.groups:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): input channels ({channels}) must be "
                             f"divisible by groups ({self.groups}); input shape {format_shape(input_shape)}")
        self._conv_spatial(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias(self.filters)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return (input_shape[0],) + self._conv_spatial(input_shape) + (self.filters,)

    def flops(self, input_shape, output_shape):
        pixels = math.prod(d or 0 for d in output_shape[1:-1])
        return 2 * pixels * math.prod(self.kernel.shape)

    def _plan(self, ctx):
        """The image view, column buffer and chunks of this node, made once for forward and backward."""
        if getattr(ctx, "conv", None) is None:
            x4 = self._image(ctx.x)
            geometry = self._conv_geometry(ctx.x.shape[1:-1], ctx.y.shape[1:-1])
            channels = x4.shape[3] // self.groups
            # a chunk's columns plus its output and output-gradient rows
            per_sample = geometry.pixels * (geometry.taps * x4.shape[3] + 2 * self.filters) * ctx.dtype.itemsize
            chunks = _chunks(x4.shape[0], per_sample)
            ctx.conv = (x4, _Columns(ctx, chunks, geometry, self.groups, channels, keep=True),
                        _row_slices(chunks, geometry.pixels))
        return ctx.conv

    def _kernel_matrix(self, kernel):
        """The Keras kernel as (taps*in_g, filters), per group (groups, taps*in_g, filters_g): views."""
        return _group_view(_reshaped(kernel, (-1, self.filters)), self.groups)

    def forward(self, ctx):
        x4, columns, row_slices = self._plan(ctx)
        z2, y2 = self._pre_activation(ctx), rows2d_last(ctx.y)
        weights = self._kernel_matrix(ctx.weights[0])
        bias = ctx.weights[1] if self.use_bias else None
        calls = []
        for k, rows in enumerate(row_slices):
            calls.append(columns.im2col(x4, k))
            calls.append(matmul_step(columns.matrix(k), weights, _group_view(z2[rows], self.groups)))
            epilogue = self._epilogue(ctx, z2[rows], y2[rows], bias)
            if epilogue is not None:
                calls.append(epilogue)
        return [_sequence(calls)]

    def backward(self, ctx):
        x4, columns, row_slices = self._plan(ctx)
        d_kernel, dx = ctx.d_weights[0], ctx.dx
        groups = self.groups
        order = list(reversed(range(len(row_slices))))  # forward left (at least) the last chunk's columns
        epilogues, fold_bias = self._epilogue_backward(ctx, 1, [row_slices[k] for k in order])
        weights_t = _swap(self._kernel_matrix(ctx.weights[0]))
        dx4 = None if dx is None else self._image(dx)
        kernel_grad = None if d_kernel is None else _Written(ctx, "d_kernel_chunks", d_kernel, len(order))
        calls = []
        for index, (k, (epilogue, dz2)) in enumerate(zip(order, epilogues)):
            calls += epilogue
            if d_kernel is None and dx is None:
                continue
            dz = _group_view(dz2, groups)
            if index and not columns.kept:
                calls.append(columns.im2col(x4, k))
            if kernel_grad is not None:
                d_weights = self._kernel_matrix(kernel_grad.target(index))
                calls.append(matmul_step(_swap(columns.matrix(k)), dz, d_weights))
            if dx is not None:
                calls += [columns.fill(k, dz, weights_t), columns.col2im(dx4, k)]
        calls += fold_bias + ([] if kernel_grad is None else kernel_grad.fold())
        return [_sequence(calls)] if calls else []

    def get_config(self):
        config = self._base_config()
        config.update({"filters": self.filters, "groups": self.groups,
                       **_weight_config("kernel", self.kernel_initializer, self.kernel_regularizer,
                                        self.kernel_constraint),
                       **self._bias_config()})
        return config


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels) inputs; kernel (kernel_size, in/groups, filters).

    Args:
        filters, kernel_size, strides=1, padding='valid' ('same', 'causal'), data_format=None
        (channels_last only), dilation_rate=1, groups=1, activation=None, use_bias=True,
        kernel_initializer='glorot_uniform', bias_initializer='zeros', kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: as in Keras.
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels); kernel (kh, kw, in/groups, filters).

    Args:
        filters, kernel_size, strides=(1, 1), padding='valid' or 'same', data_format=None
        (channels_last only), dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
        kernel_initializer='glorot_uniform', bias_initializer='zeros', kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: as in Keras.
    """


# ----------------------------------------------------------------------------- Conv2DTranspose

class Conv2DTranspose(_BaseConv):
    """Transposed 2-D convolution (the input gradient of a Conv2D); kernel (kh, kw, filters, in).

    Args:
        filters, kernel_size, strides=(1, 1), padding='valid' or 'same', output_padding=None
        (extra rows/columns at the end, each < its stride), data_format=None, dilation_rate=(1, 1),
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: as in Keras.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        self.filters = _positive(self, "filters", filters)
        self.output_padding = None if output_padding is None else \
            _int_tuple(self, "output_padding", output_padding, self.rank, minimum=0)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"Layer '{self.name}' (Conv2DTranspose): output_padding must be smaller than strides "
                             f"along each axis, received output_padding={self.output_padding} and "
                             f"strides={self.strides}")
        self._forbid_strided_dilation()
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)

    def _output_paddings(self):
        return self.output_padding or (None,) * self.rank

    def build(self, input_shape):
        self._check_rank(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, input_shape[-1]),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias(self.filters)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        spatial = tuple(transpose_output_length(n, k, s, d, self.padding, p) for n, k, s, d, p in
                        zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate,
                            self._output_paddings()))
        return (input_shape[0],) + spatial + (self.filters,)

    def flops(self, input_shape, output_shape):
        pixels = math.prod(d or 0 for d in input_shape[1:-1])
        return 2 * pixels * math.prod(self.kernel.shape)

    def _plan(self, ctx):
        """The transposed convolution is the adjoint of a convolution reading the output grid:
        col2im(x @ kernel^T) with that convolution's geometry, whose 'output' is the input grid."""
        if getattr(ctx, "conv", None) is None:
            pads = tuple(transpose_pad_before(k, s, d, self.padding, p) for k, s, d, p in
                         zip(self.kernel_size, self.strides, self.dilation_rate, self._output_paddings()))
            geometry = Geometry(self.kernel_size, self.strides, self.dilation_rate, pads, ctx.x.shape[1:3])
            out_pixels = ctx.y.shape[1] * ctx.y.shape[2]
            per_sample = (geometry.pixels * geometry.taps + 2 * out_pixels) * self.filters * ctx.dtype.itemsize
            chunks = _chunks(ctx.x.shape[0], per_sample)
            ctx.conv = (_Columns(ctx, chunks, geometry, 1, self.filters), _row_slices(chunks, geometry.pixels),
                        _row_slices(chunks, out_pixels))
        return ctx.conv

    def _kernel_matrix(self, kernel):
        """(kh*kw*filters, in) view of the Keras kernel."""
        return _reshaped(kernel, (-1, kernel.shape[-1]))

    def forward(self, ctx):
        columns, in_rows, out_rows = self._plan(ctx)
        z2, y2, x2 = self._pre_activation(ctx), rows2d_last(ctx.y), rows2d_last(ctx.x)
        z4 = z2.reshape(ctx.y.shape)
        weights_t = self._kernel_matrix(ctx.weights[0]).T
        bias = ctx.weights[1] if self.use_bias else None
        calls = []
        for k, rows in enumerate(out_rows):
            calls += [columns.fill(k, x2[in_rows[k]], weights_t), columns.col2im(z4, k)]
            epilogue = self._epilogue(ctx, z2[rows], y2[rows], bias)
            if epilogue is not None:
                calls.append(epilogue)
        return [_sequence(calls)]

    def backward(self, ctx):
        columns, in_rows, out_rows = self._plan(ctx)
        d_kernel, dx = ctx.d_weights[0], ctx.dx
        x2, weights = rows2d_last(ctx.x), self._kernel_matrix(ctx.weights[0])
        dx2 = None if dx is None else rows2d_last(dx)
        kernel_grad = None if d_kernel is None else _Written(ctx, "d_kernel_chunks", d_kernel, len(out_rows))
        epilogues, fold_bias = self._epilogue_backward(ctx, 1, out_rows)
        calls = []
        for k, (epilogue, dz2) in enumerate(epilogues):
            calls += epilogue
            if d_kernel is None and dx is None:
                continue
            cols = columns.matrix(k)
            calls.append(columns.im2col(dz2.reshape((-1,) + ctx.y.shape[1:]), k, first_sample=0))
            if kernel_grad is not None:
                calls.append(matmul_step(cols.T, x2[in_rows[k]], self._kernel_matrix(kernel_grad.target(k))))
            if dx is not None:
                calls.append(matmul_step(cols, weights, dx2[in_rows[k]]))
        calls += fold_bias + ([] if kernel_grad is None else kernel_grad.fold())
        return [_sequence(calls)] if calls else []

    def get_config(self):
        config = self._base_config()
        config.update({"filters": self.filters,
                       "output_padding": None if self.output_padding is None else list(self.output_padding),
                       **_weight_config("kernel", self.kernel_initializer, self.kernel_regularizer,
                                        self.kernel_constraint),
                       **self._bias_config()})
        return config


# ----------------------------------------------------------------------------- depthwise

class _Depthwise(_BaseConv):
    """Shared by DepthwiseConv2D and SeparableConv2D: the direct depthwise loops."""

    def __init__(self, kernel_size, depth_multiplier, depthwise_initializer, depthwise_regularizer,
                 depthwise_constraint, **kwargs):
        super().__init__(kernel_size, **kwargs)
        self.depth_multiplier = _positive(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = depthwise_initializer
        self.depthwise_regularizer = depthwise_regularizer
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def _geometry_args(self, ctx):
        """Strides, dilations and pads for the loops (they read the sizes from the arrays)."""
        return self._conv_geometry(ctx.x.shape[1:3], ctx.y.shape[1:3]).args[2:8]

    def _depthwise_kernel_shape(self, channels):
        return self.kernel_size + (channels, self.depth_multiplier)

    def _depthwise_forward(self, ctx, kernel, out4):
        return _bind(K.depthwise_forward, ctx.x, kernel, out4, *self._geometry_args(ctx))

    def _depthwise_backward(self, ctx, kernel, d_out4, d_kernel):
        """Steps writing d_kernel (if not None) and ctx.dx (if not None) from d_out4."""
        args = self._geometry_args(ctx)
        calls = []
        if d_kernel is not None:
            calls.append(_bind(K.depthwise_backward_kernel, ctx.x, d_out4, d_kernel, *args))
        if ctx.dx is not None:
            calls.append(_bind(K.depthwise_backward_input, d_out4, kernel, ctx.dx, *args))
        return calls


class DepthwiseConv2D(_Depthwise):
    """Each input channel convolved with its own ``depth_multiplier`` filters; output channel
    c*depth_multiplier + q. Kernel (kh, kw, in, depth_multiplier), bias (in*depth_multiplier,).

    Args:
        kernel_size, strides=(1, 1), padding='valid' or 'same', depth_multiplier=1, data_format=None,
        dilation_rate=(1, 1), activation, use_bias, depthwise_initializer='glorot_uniform',
        bias_initializer='zeros', depthwise_regularizer, bias_regularizer, depthwise_constraint,
        bias_constraint: as in Keras.
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, depth_multiplier, depthwise_initializer, depthwise_regularizer,
                         depthwise_constraint, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, bias_constraint=bias_constraint, **kwargs)

    def build(self, input_shape):
        self._check_rank(input_shape)
        self._conv_spatial(input_shape)
        self.kernel = self.add_weight("kernel", self._depthwise_kernel_shape(input_shape[-1]),
                                      self.depthwise_initializer, self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint)
        self._add_bias(input_shape[-1] * self.depth_multiplier)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return (input_shape[0],) + self._conv_spatial(input_shape) + (input_shape[-1] * self.depth_multiplier,)

    def flops(self, input_shape, output_shape):
        pixels = math.prod(d or 0 for d in output_shape[1:-1])
        return 2 * pixels * math.prod(self.kernel.shape)

    def forward(self, ctx):
        z2, y2 = self._pre_activation(ctx), rows2d_last(ctx.y)
        calls = [self._depthwise_forward(ctx, ctx.weights[0], z2.reshape(ctx.y.shape))]
        epilogue = self._epilogue(ctx, z2, y2, ctx.weights[1] if self.use_bias else None)
        return [_sequence(calls + ([epilogue] if epilogue else []))]

    def backward(self, ctx):
        ((epilogue, dz2),), _ = self._epilogue_backward(ctx, 1, [_all_rows(ctx.dy)])
        calls = epilogue + self._depthwise_backward(ctx, ctx.weights[0], dz2.reshape(ctx.dy.shape),
                                                    ctx.d_weights[0])
        return [_sequence(calls)] if calls else []

    def get_config(self):
        config = self._base_config()
        config["depth_multiplier"] = self.depth_multiplier
        config.update(_weight_config("depthwise", self.depthwise_initializer, self.depthwise_regularizer,
                                     self.depthwise_constraint))
        config.update(self._bias_config())
        return config


class SeparableConv2D(_Depthwise):
    """Depthwise convolution then a 1x1 convolution to ``filters`` channels, then bias and activation.
    Weights: depthwise_kernel (kh, kw, in, depth_multiplier), pointwise_kernel
    (1, 1, in*depth_multiplier, filters), bias (filters,).

    Args:
        filters, kernel_size, strides=(1, 1), padding='valid' or 'same', data_format=None,
        dilation_rate=(1, 1), depth_multiplier=1, activation, use_bias, depthwise_initializer,
        pointwise_initializer, bias_initializer, depthwise_regularizer, pointwise_regularizer,
        bias_regularizer, depthwise_constraint, pointwise_constraint, bias_constraint: as in Keras.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, depth_multiplier, depthwise_initializer, depthwise_regularizer,
                         depthwise_constraint, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, bias_constraint=bias_constraint, **kwargs)
        self.filters = _positive(self, "filters", filters)
        self.pointwise_initializer = pointwise_initializer
        self.pointwise_regularizer = pointwise_regularizer
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        self._check_rank(input_shape)
        self._conv_spatial(input_shape)
        channels = input_shape[-1]
        self.depthwise_kernel = self.add_weight("depthwise_kernel", self._depthwise_kernel_shape(channels),
                                                self.depthwise_initializer, self.depthwise_regularizer,
                                                constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight("pointwise_kernel",
                                                (1, 1, channels * self.depth_multiplier, self.filters),
                                                self.pointwise_initializer, self.pointwise_regularizer,
                                                constraint=self.pointwise_constraint)
        self._add_bias(self.filters)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return (input_shape[0],) + self._conv_spatial(input_shape) + (self.filters,)

    def flops(self, input_shape, output_shape):
        pixels = math.prod(d or 0 for d in output_shape[1:-1])
        return 2 * pixels * (math.prod(self.depthwise_kernel.shape) + math.prod(self.pointwise_kernel.shape))

    def _middle_shape(self, ctx):
        return ctx.y.shape[:-1] + (ctx.x.shape[-1] * self.depth_multiplier,)

    def forward(self, ctx):
        middle = ctx.scratch("depthwise", self._middle_shape(ctx))
        z2, y2 = self._pre_activation(ctx), rows2d_last(ctx.y)
        pointwise = _reshaped(ctx.weights[1], (-1, self.filters))
        calls = [self._depthwise_forward(ctx, ctx.weights[0], middle),
                 matmul_step(rows2d_last(middle), pointwise, z2)]
        epilogue = self._epilogue(ctx, z2, y2, ctx.weights[2] if self.use_bias else None)
        return [_sequence(calls + ([epilogue] if epilogue else []))]

    def backward(self, ctx):
        ((calls, dz2),), _ = self._epilogue_backward(ctx, 2, [_all_rows(ctx.dy)])
        middle = rows2d_last(ctx.scratch("depthwise", self._middle_shape(ctx)))
        d_depthwise, d_pointwise = ctx.d_weights[0], ctx.d_weights[1]
        if d_pointwise is not None:
            calls.append(matmul_step(middle.T, dz2, _reshaped(d_pointwise, (-1, self.filters))))
        if d_depthwise is not None or ctx.dx is not None:
            d_middle = ctx.scratch("d_depthwise", self._middle_shape(ctx))
            pointwise = _reshaped(ctx.weights[1], (-1, self.filters))
            calls.append(matmul_step(dz2, pointwise.T, rows2d_last(d_middle)))
            calls += self._depthwise_backward(ctx, ctx.weights[0], d_middle, d_depthwise)
        return [_sequence(calls)] if calls else []

    def get_config(self):
        config = self._base_config()
        config.update({"filters": self.filters, "depth_multiplier": self.depth_multiplier})
        config.update(_weight_config("depthwise", self.depthwise_initializer, self.depthwise_regularizer,
                                     self.depthwise_constraint))
        config.update(_weight_config("pointwise", self.pointwise_initializer, self.pointwise_regularizer,
                                     self.pointwise_constraint))
        config.update(self._bias_config())
        return config


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D)
