"""Conv2DTranspose: the adjoint of a convolution, one product into columns then col2im (channels_last);
strides dividing the kernel run forward as a sub-pixel convolution (conv_transpose_subpixel.py)."""
import math

from framework import constraints
from framework.layers import conv_transpose_subpixel
from framework.layers.convolutional import (Geometry, _BaseConv, _Columns, _Written, _chunks, _int_tuple,
                                            _positive, _reshaped, _row_slices, _sequence, _weight_config,
                                            transpose_output_length, transpose_pad_before)
from framework.plan.steps import matmul_step, rows2d_last

__all__ = ["Conv2DTranspose"]

#: with the sub-pixel forward, backward's chunks hold this many times COLUMN_BYTES: for the DCGAN's
#: 14x14x128 -> 28x28x128 layer at batch 64, 22 instead of 64 chunks, so 21 kernel-gradient partials
#: (1 MB each) instead of 63 and their fold 1.2 instead of 3.6-4.8 ms a step; the products ran alike
BACKWARD_CHUNK_SCALE = 4


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
        if "conv" not in ctx.saved:
            pads = tuple(transpose_pad_before(k, s, d, self.padding, p) for k, s, d, p in
                         zip(self.kernel_size, self.strides, self.dilation_rate, self._output_paddings()))
            geometry = Geometry(self.kernel_size, self.strides, self.dilation_rate, pads, ctx.x.shape[1:3])
            out_pixels = ctx.y.shape[1] * ctx.y.shape[2]
            per_sample = (geometry.pixels * geometry.taps + 2 * out_pixels) * self.filters * ctx.dtype.itemsize
            if conv_transpose_subpixel.applies(self):  # backward only: fewer kernel-gradient partials
                per_sample //= BACKWARD_CHUNK_SCALE
            chunks = _chunks(ctx.x.shape[0], per_sample)
            ctx.saved["conv"] = (_Columns(ctx, chunks, geometry, 1, self.filters), _row_slices(chunks, geometry.pixels),
                        _row_slices(chunks, out_pixels))
        return ctx.saved["conv"]

    def _kernel_matrix(self, kernel):
        """(kh*kw*filters, in) view of the Keras kernel."""
        return _reshaped(kernel, (-1, kernel.shape[-1]))

    def forward(self, ctx):
        if conv_transpose_subpixel.applies(self):
            return conv_transpose_subpixel.forward(self, ctx)
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


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (Conv2DTranspose,)
