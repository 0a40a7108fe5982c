"""Convolution machinery every convolution layer shares (channels_last): argument checks, Keras's
output geometry, im2col / col2im column buffers cut into chunks of samples, and the layer base.

The layers are in conv.py (Conv1D, Conv2D), conv2d_transpose.py (Conv2DTranspose) and
depthwise_conv.py (DepthwiseConv2D, SeparableConv2D); ``_BaseConv`` gives them argument
checks, shapes, the fused bias + activation epilogue and config.

Keras 3 arguments, defaults, weight names, shapes and order. Conv1D/Conv2D run
as im2col (a Numba kernel writing, per output pixel, the inputs it reads)
followed by one BLAS product with the Keras kernel reshaped, without copy, to
``(kh*kw*in/groups, filters)``, then the fused bias + activation epilogue. The
batch is cut into chunks of samples so a chunk's columns and output rows stay
near ``COLUMN_BYTES`` and in cache; backward keeps forward's columns when the
whole batch's fit ``KEEP_COLUMN_BYTES``, else recomputes them per chunk.
Conv2DTranspose is the adjoint: one product into columns, then col2im (forward as a sub-pixel
convolution when its strides divide its kernel: conv_transpose_subpixel.py).
Depthwise convolutions are direct Numba loops; SeparableConv2D is a depthwise
loop followed by a pointwise product.
"""
import numpy as np

from framework import activations, constraints, initializers, regularizers
from framework.graph.shapes import format_shape
from framework.kernels import conv as K
from framework.plan.steps import matmul_step, rows2d_last
from framework.layers.layer import Layer

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
    padding before, and the output (or, for col2im, source) grid size.

    Args:
        kernel, strides, dilation, pads: (height, width) pairs: taps, strides, dilations and the
            zeros added before the first pixel.
        out: (height, width) of the output grid (for col2im, the grid the columns come from).
    """

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
        elif ctx.activation_of(self).needs_input:
            z2 = rows2d_last(ctx.scratch("z", ctx.y.shape))
        else:
            z2 = rows2d_last(ctx.y)
        ctx.saved["z"] = z2
        return z2

    def _epilogue(self, ctx, z2, y2, bias):
        """y = activation(z + bias) on a block of rows (z updated in place)."""
        act = ctx.activation_of(self)
        if bias is not None:
            return act.bind_bias_forward(z2, bias, y2)
        if z2 is not y2 or act.name != "linear":
            return act.bind_forward(z2, y2)
        return None

    def _epilogue_backward(self, ctx, bias_index, row_slices):
        """Per chunk of output rows, in the given order: (calls turning dy into dz = dy * f'(z) in
        place and writing the chunk's bias gradient, dz); and the calls folding the bias partials."""
        act = ctx.activation_of(self)
        y2, dy2, z2 = rows2d_last(ctx.y), rows2d_last(ctx.dy), ctx.saved["z"]
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
