"""Converters of the pooling layers, channels first. Average pooling divides by the real elements of a
window (``count_include_pad=0``), as Keras's 'same' padding does; max pooling never picks padding."""
from framework.export.onnx.builder import FIRST, LAST
from framework.export.onnx.conv import conv_pads
from framework.export.onnx.registry import converts
from framework.layers.pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
                                      GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D,
                                      MaxPooling2D)


@converts(MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D)
def pooling(layer, ctx):
    sizes = ctx.input_shape()[1:-1]
    rank = len(sizes)
    pads = conv_pads(sizes, layer.pool_size, layer.strides, (1,) * rank, layer.padding)
    geometry = {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}
    if layer.mode == "max":
        y = ctx.op("MaxPool", [ctx.input(0, FIRST)], kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                   **geometry)
    else:
        y = ctx.op("AveragePool", [ctx.input(0, FIRST)], kernel_shape=list(layer.pool_size),
                   strides=list(layer.strides), count_include_pad=0, **geometry)
    ctx.set_output(y, FIRST)


@converts(GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, reads_mask=True)
def global_pooling(layer, ctx):
    """A reduction over the spatial axes of the tensor as it is held (no transpose needed)."""
    layout, rank = ctx.layout(), len(ctx.input_shape())
    axes = list(range(2, rank)) if layout == FIRST else list(range(1, rank - 1))
    op = "ReduceMax" if layer.mode == "max" else "ReduceMean"
    keep = 1 if layer.keepdims else 0
    if ctx.opset >= 18:  # from opset 18 the axes of ReduceMax / ReduceMean are an input
        y = ctx.op(op, [ctx.input(0, layout), ctx.ints(axes, "axes")], keepdims=keep)
    else:
        y = ctx.op(op, [ctx.input(0, layout)], axes=axes, keepdims=keep)
    ctx.set_output(y, layout if layer.keepdims else LAST)
