"""Converters of BatchNormalization (inference: the moving statistics) and LayerNormalization
(opset 17's LayerNormalization operator)."""
import numpy as np

from framework.export.onnx.builder import FIRST, LAST
from framework.export.onnx.registry import converts
from framework.layers.normalization import BatchNormalization, LayerNormalization


@converts(BatchNormalization)
def batch_normalization(layer, ctx):
    """The channel axis (last): ONNX BatchNormalization, channels first. Another axis: the folded
    ``x * scale + shift`` broadcast along it."""
    shape = ctx.input_shape()
    rank = len(shape)
    axis = layer.axis + rank if layer.axis < 0 else layer.axis
    size = shape[axis]
    if axis == rank - 1:
        gamma = ctx.weight(layer.gamma) if layer.uses_gamma else ctx.const(np.ones(size), "gamma")
        beta = ctx.weight(layer.beta) if layer.uses_beta else ctx.const(np.zeros(size), "beta")
        inputs = [ctx.input(0, FIRST), gamma, beta, ctx.weight(layer.moving_mean), ctx.weight(layer.moving_variance)]
        ctx.set_output(ctx.op("BatchNormalization", inputs, epsilon=float(layer.epsilon)), FIRST)
        return
    gamma = layer.gamma.numpy() if layer.uses_gamma else np.ones(size)
    beta = layer.beta.numpy() if layer.uses_beta else np.zeros(size)
    mean, variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    scale = gamma / np.sqrt(variance + layer.epsilon)
    shift = beta - mean * scale
    broadcast = [1] * (rank - 1)
    broadcast[axis - 1] = size
    y = ctx.op("Mul", [ctx.input(0, LAST), ctx.const(scale.reshape(broadcast), "scale")])
    ctx.set_output(ctx.op("Add", [y, ctx.const(shift.reshape(broadcast), "shift")]), LAST)


@converts(LayerNormalization)
def layer_normalization(layer, ctx):
    """Normalization over trailing axes; other axis sets and rms_scaling are refused."""
    rank = len(ctx.input_shape())
    axes = sorted(a + rank if a < 0 else a for a in (layer.axis if isinstance(layer.axis, list) else [layer.axis]))
    if axes != list(range(axes[0], rank)):
        raise ctx.fail(f"axis {layer.axis} is not a run of trailing axes (ONNX LayerNormalization normalizes "
                       "over the last axes only)")
    if layer.rms_scaling:
        raise ctx.fail("rms_scaling=True has no ONNX LayerNormalization form")
    normalized = tuple(ctx.input_shape()[a] for a in axes)
    scale = ctx.weight(layer.gamma) if layer.uses_gamma else ctx.const(np.ones(normalized), "gamma")
    inputs = [ctx.input(0, LAST), scale] + ([ctx.weight(layer.beta)] if layer.uses_beta else [])
    ctx.set_output(ctx.op("LayerNormalization", inputs, axis=axes[0], epsilon=float(layer.epsilon)), LAST)


