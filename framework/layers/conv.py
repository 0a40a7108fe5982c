"""Conv1D and Conv2D: im2col + one BLAS product per chunk of samples (channels_last).

Conv1D/Conv2D run as im2col (a Numba kernel writing, per output pixel, the
inputs it reads) followed by one BLAS product with the Keras kernel reshaped,
without copy, to ``(kh*kw*in/groups, filters)``, then the fused bias +
activation epilogue; the chunking and the column buffers are in
convolutional.py.
"""
import math

from framework import constraints
from framework.graph.shapes import format_shape
from framework.layers import conv_input_side
from framework.layers.convolutional import (_BaseConv, _Columns, _Written, _chunks, _group_view, _positive,
                                            _reshaped, _row_slices, _sequence, _swap, _weight_config)
from framework.plan.steps import matmul_step, rows2d_last

__all__ = ["Conv1D", "Conv2D"]


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
        if "conv" not in ctx.saved:
            x4 = self._image(ctx.x)
            geometry = self._conv_geometry(ctx.x.shape[1:-1], ctx.y.shape[1:-1])
            channels = x4.shape[3] // self.groups
            # a chunk's columns plus its output and output-gradient rows
            per_sample = geometry.pixels * (geometry.taps * x4.shape[3] + 2 * self.filters) * ctx.dtype.itemsize
            chunks = _chunks(x4.shape[0], per_sample)
            ctx.saved["conv"] = (x4, _Columns(ctx, chunks, geometry, self.groups, channels, keep=True),
                        _row_slices(chunks, geometry.pixels))
        return ctx.saved["conv"]

    def _kernel_matrix(self, kernel):
        """The Keras kernel as (taps*in_g, filters), per group (groups, taps*in_g, filters_g): views."""
        return _group_view(_reshaped(kernel, (-1, self.filters)), self.groups)

    def forward(self, ctx):
        if conv_input_side.applies(self, ctx.x.shape[-1]):
            return conv_input_side.forward(self, ctx)
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
        if conv_input_side.applies(self, ctx.x.shape[-1]):
            return conv_input_side.backward(self, ctx)
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


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (Conv1D, Conv2D)
