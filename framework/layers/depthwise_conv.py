"""DepthwiseConv2D and SeparableConv2D: the depthwise convolutions (channels_last).

Depthwise convolutions are direct Numba loops; SeparableConv2D is a depthwise
loop followed by a pointwise product.
"""
import math

from framework import constraints
from framework.kernels import conv as K
from framework.layers.convolutional import (_BaseConv, _all_rows, _bind, _positive, _reshaped, _sequence,
                                            _weight_config)
from framework.plan.steps import matmul_step, rows2d_last

__all__ = ["DepthwiseConv2D", "SeparableConv2D"]


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
LAYERS = (DepthwiseConv2D, SeparableConv2D)
