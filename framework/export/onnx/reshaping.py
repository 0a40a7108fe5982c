"""Converters of the reshaping layers: Flatten, Reshape, Permute, RepeatVector (channels_last, as Keras
defines them), and ZeroPadding, Cropping, UpSampling (in whichever layout their input is held)."""
from framework.export.onnx.builder import ANY, LAST, axis_in_layout, to_last
from framework.export.onnx.registry import converts
from framework.layers.reshaping import (Cropping1D, Cropping2D, Flatten, Permute, RepeatVector, Reshape, UpSampling1D,
                                        UpSampling2D, ZeroPadding1D, ZeroPadding2D)

_END = 2**62  # "to the end" for Slice


@converts(Flatten)
def flatten(layer, ctx):
    x = ctx.input(0, LAST)
    rank = len(ctx.input_shape())
    if layer.data_format == "channels_first" and rank > 2:  # Keras moves axis 1 last first
        x = ctx.op("Transpose", [x], perm=list(to_last(rank)))
    ctx.set_output(ctx.op("Reshape", [x, ctx.ints([0, -1])]), LAST)


@converts(Reshape)
def reshape(layer, ctx):
    """Reshape with 0 for the batch axis (copied from the input: the batch stays dynamic)."""
    ctx.set_output(ctx.op("Reshape", [ctx.input(0, LAST), ctx.ints((0,) + tuple(layer.target_shape))]), LAST)


@converts(Permute)
def permute(layer, ctx):
    ctx.set_output(ctx.op("Transpose", [ctx.input(0, LAST)], perm=[0] + list(layer.dims)), LAST)


@converts(RepeatVector)
def repeat_vector(layer, ctx):
    """(batch, features) -> (batch, n, features): Unsqueeze then Tile."""
    x = ctx.op("Unsqueeze", [ctx.input(0, LAST), ctx.ints([1], "axes")])
    ctx.set_output(ctx.op("Tile", [x, ctx.ints([1, layer.n, 1], "repeats")]), LAST)


def _spatial_axes(ctx):
    """(the layout the input is held in, where its Keras spatial axes 1..rank-2 sit there)."""
    layout, rank = ctx.layout(), len(ctx.input_shape())
    return layout, [axis_in_layout(a, rank, layout) for a in range(1, rank - 1)]


@converts(ZeroPadding1D, ZeroPadding2D)
def zero_padding(layer, ctx):
    layout, axes = _spatial_axes(ctx)
    rank = len(ctx.input_shape())
    before, after = [0] * rank, [0] * rank
    for axis, (a, b) in zip(axes, layer.padding):
        before[axis], after[axis] = a, b
    ctx.set_output(ctx.op("Pad", [ctx.input(0, ANY), ctx.ints(before + after, "pads")], mode="constant"), layout)


@converts(Cropping1D, Cropping2D)
def cropping(layer, ctx):
    layout, axes = _spatial_axes(ctx)
    starts = [a for a, _ in layer.cropping]
    ends = [-b if b else _END for _, b in layer.cropping]
    y = ctx.op("Slice", [ctx.input(0, ANY), ctx.ints(starts, "starts"), ctx.ints(ends, "ends"), ctx.ints(axes, "axes")])
    ctx.set_output(y, layout)


@converts(UpSampling1D, UpSampling2D)
def upsampling(layer, ctx):
    """Nearest-neighbour repeat: Resize with integer scales, asymmetric coordinates, floor rounding."""
    layout, axes = _spatial_axes(ctx)
    scales = [1.0] * len(ctx.input_shape())
    for axis, k in zip(axes, layer.size):
        scales[axis] = float(k)
    y = ctx.op("Resize", [ctx.input(0, ANY), "", ctx.const(scales, "scales")], mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    ctx.set_output(y, layout)


