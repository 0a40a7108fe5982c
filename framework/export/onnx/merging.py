"""Converters of the merge layers. Same-shaped inputs: the output is held in the layout of the first
input, the others are brought to it (a transpose only when they are held otherwise)."""
from framework.export.onnx.builder import axis_in_layout
from framework.export.onnx.registry import converts
from framework.layers.merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract

_BINARY = {Add: "Add", Subtract: "Sub", Multiply: "Mul"}
_VARIADIC = {Maximum: "Max", Minimum: "Min", Average: "Mean"}


def _inputs(ctx):
    layout = ctx.layout(0)
    return layout, [ctx.input(i, layout) for i in range(len(ctx.inputs))]


@converts(Add, Subtract, Multiply)
def binary(layer, ctx):
    """Add and Multiply fold over any number of inputs; Subtract takes exactly two."""
    layout, xs = _inputs(ctx)
    y = xs[0]
    for x in xs[1:]:
        y = ctx.op(_BINARY[type(layer)], [y, x])
    ctx.set_output(y, layout)


@converts(Maximum, Minimum, Average)
def variadic(layer, ctx):
    layout, xs = _inputs(ctx)
    ctx.set_output(ctx.op(_VARIADIC[type(layer)], xs), layout)


@converts(Concatenate)
def concatenate(layer, ctx):
    layout, xs = _inputs(ctx)
    axis = axis_in_layout(layer.axis, len(ctx.input_shape()), layout)
    ctx.set_output(ctx.op("Concat", xs, axis=axis), layout)
