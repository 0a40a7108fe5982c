"""Converters of the convolutions: Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D.

They take and give tensors channels first (NCW / NCHW), so a stack of them transposes only at its
ends. Keras's 'same' padding (TF's rule: the smaller half before) becomes explicit pads; only when a
spatial size is unknown and the stride is above 1 does it fall back to ``auto_pad='SAME_UPPER'``,
which is the same rule computed by the runtime.
"""
import numpy as np

from framework.export.onnx.activations import apply_activation
from framework.export.onnx.builder import FIRST
from framework.export.onnx.registry import converts
from framework.layers.conv import Conv1D, Conv2D
from framework.layers.conv2d_transpose import Conv2DTranspose
from framework.layers.convolutional import (conv_output_length, conv_pad_before, transpose_output_length,
                                            transpose_pad_before)
from framework.layers.depthwise_conv import DepthwiseConv2D, SeparableConv2D


def _extent(kernel, dilation):
    return (kernel - 1) * dilation + 1


def conv_pads(sizes, kernels, strides, dilations, padding):
    """ONNX ``pads`` (all befores, then all afters) for Keras's padding, or None if they depend on an
    unknown size (then ``auto_pad='SAME_UPPER'`` does the same)."""
    before, after = [], []
    for n, k, s, d in zip(sizes, kernels, strides, dilations):
        extent = _extent(k, d)
        if padding == "valid":
            pair = (0, 0)
        elif padding == "causal":
            pair = (extent - 1, 0)
        elif n is None:
            if s != 1:
                return None
            pair = ((extent - 1) // 2, extent - 1 - (extent - 1) // 2)
        else:
            total = max((conv_output_length(n, k, s, d, padding) - 1) * s + extent - n, 0)
            first = conv_pad_before(n, k, s, d, padding)
            pair = (first, total - first)
        before.append(pair[0])
        after.append(pair[1])
    return before + after


def _geometry(layer, ctx):
    """strides, dilations and pads (or auto_pad) attributes of the layer's ONNX node."""
    sizes = ctx.input_shape()[1:-1]
    pads = conv_pads(sizes, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
    attributes = {"strides": list(layer.strides), "dilations": list(layer.dilation_rate)}
    if pads is None:
        attributes["auto_pad"] = "SAME_UPPER"
    else:
        attributes["pads"] = pads
    return attributes


def _channels_first_kernel(kernel):
    """Keras (k..., in, out) -> ONNX (out, in, k...)."""
    rank = kernel.ndim - 2
    return np.transpose(kernel, (rank + 1, rank) + tuple(range(rank)))


def _finish(layer, ctx, y):
    rank = len(ctx.output_shape())
    ctx.set_output(apply_activation(ctx, layer.activation, y, rank, FIRST), FIRST)


def _bias(layer, ctx):
    return [ctx.weight(layer.bias)] if layer.use_bias else []


@converts(Conv1D, Conv2D)
def conv(layer, ctx):
    w = ctx.weight(layer.kernel, _channels_first_kernel, "oihw")
    y = ctx.op("Conv", [ctx.input(0, FIRST), w] + _bias(layer, ctx), kernel_shape=list(layer.kernel_size),
               group=layer.groups, **_geometry(layer, ctx))
    _finish(layer, ctx, y)


@converts(DepthwiseConv2D)
def depthwise(layer, ctx):
    y = _depthwise(layer, ctx, _bias(layer, ctx))
    _finish(layer, ctx, y)


def _depthwise(layer, ctx, bias):
    """Conv with one group per input channel; Keras's output channel c * multiplier + q."""
    channels = ctx.input_shape()[-1]

    def oihw(kernel):  # (kh, kw, C, M) -> (C * M, 1, kh, kw)
        kh, kw, c, m = kernel.shape
        return np.transpose(kernel.reshape(kh, kw, c * m), (2, 0, 1))[:, None]
    kernel = layer.depthwise_kernel if isinstance(layer, SeparableConv2D) else layer.kernel
    w = ctx.weight(kernel, oihw, "depthwise")
    return ctx.op("Conv", [ctx.input(0, FIRST), w] + bias, kernel_shape=list(layer.kernel_size), group=channels,
                  **_geometry(layer, ctx))


@converts(SeparableConv2D)
def separable(layer, ctx):
    """The depthwise Conv, then a 1x1 Conv with the bias."""
    z = _depthwise(layer, ctx, [])
    w = ctx.weight(layer.pointwise_kernel, _channels_first_kernel, "oihw")
    y = ctx.op("Conv", [z, w] + _bias(layer, ctx), kernel_shape=[1, 1])
    _finish(layer, ctx, y)


@converts(Conv2DTranspose)
def conv_transpose(layer, ctx):
    """ConvTranspose: input pixel i and tap t land on i*s + t*d - P (P from Keras's rule); the end is
    cut (pads) or extended (output_padding) to Keras's output length."""
    sizes = ctx.input_shape()[1:-1]
    extra = layer.output_padding or (None,) * len(sizes)
    before, after, output_padding = [], [], []
    for n, k, s, d, p in zip(sizes, layer.kernel_size, layer.strides, layer.dilation_rate, extra):
        n = 1 if n is None else n  # the difference below does not depend on the size
        first = transpose_pad_before(k, s, d, layer.padding, p)
        out = transpose_output_length(n, k, s, d, layer.padding, p)
        end = (n - 1) * s + _extent(k, d) - first - out
        before.append(first)
        after.append(max(end, 0))
        output_padding.append(max(-end, 0))

    def iohw(kernel):  # Keras (kh, kw, filters, in) -> ONNX (in, filters, kh, kw)
        return np.transpose(kernel, (3, 2, 0, 1))
    w = ctx.weight(layer.kernel, iohw, "iohw")
    y = ctx.op("ConvTranspose", [ctx.input(0, FIRST), w] + _bias(layer, ctx), kernel_shape=list(layer.kernel_size),
               strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=before + after,
               output_padding=output_padding if any(output_padding) else None)
    _finish(layer, ctx, y)
