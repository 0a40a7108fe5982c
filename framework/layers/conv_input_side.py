"""Conv1D / Conv2D with few filters: the product on the input side, then a scatter.

im2col writes ``taps * channels`` values per output pixel, so a 7x7 convolution from 128 channels to
one (a generator's last layer) writes 49 times its input (1.3 GB at batch 64) to feed a product with
one column. With stride 1 the product can go first, on the input pixels:

- forward: ``P = x_rows @ K`` with ``K[c, (t', f)]`` the kernel with its taps flipped
  (``t' = taps - 1 - t``), then ``z = col2im(P)``: input pixel ``i``, flipped tap ``t'`` lands on
  output pixel ``i + t'*d - P'`` with ``P' = (k - 1)*d - pad`` (the scatter a transposed convolution
  does);
- backward: ``G = im2col(dz)`` on the same geometry (``taps * filters`` values per input pixel), then
  ``dx_rows = G @ K^T`` and ``dK = x_rows^T @ G`` (its taps flipped back into the Keras kernel).

Columns are ``taps * filters`` per input pixel instead of ``taps * channels`` per output pixel: the
path is taken for stride 1, one group and ``filters * INPUT_SIDE_RATIO <= channels``.
"""
from framework.kernels import conv as K
from framework.layers.convolutional import (Geometry, _bind, _chunks, _reshaped, _row_slices,
                                            _sequence, _Written, conv_pad_before)
from framework.plan.steps import copy_step, matmul_step, rows2d_last

#: the input-side product is used when the input has at least this many times more channels than filters
#: (7x7 from 128 channels to 1: 0.6 s -> see benchmarks/gan.py; at equal counts im2col is as fast)
INPUT_SIDE_RATIO = 4


def applies(layer, channels):
    """True when ``layer`` (a Conv1D / Conv2D) on ``channels`` input channels takes the input-side path."""
    return layer.groups == 1 and max(layer.strides) == 1 and layer.filters * INPUT_SIDE_RATIO <= channels


def _setup(layer, ctx):
    """Views, geometry, chunks and the flipped-kernel buffer of this node, made once for both passes."""
    if "input_side" not in ctx.saved:
        x4, z_shape = layer._image(ctx.x), layer._image(ctx.y).shape
        n, h, w, channels = x4.shape
        kernel_size = (1,) + layer.kernel_size if layer.rank == 1 else layer.kernel_size
        dilation = (1,) + layer.dilation_rate if layer.rank == 1 else layer.dilation_rate
        pads = [0] if layer.rank == 1 else []
        for size, k, d in zip(ctx.x.shape[1:-1], layer.kernel_size, layer.dilation_rate):
            pads.append((k - 1) * d - conv_pad_before(size, k, 1, d, layer.padding))
        geometry = Geometry(kernel_size, (1, 1), dilation, pads, (h, w))
        width = geometry.taps * layer.filters
        chunks = _chunks(n, h * w * (width + channels) * ctx.dtype.itemsize)
        columns = ctx.scratch("input_side_columns", (max(c for _, c in chunks) * h * w, width))
        flipped = ctx.scratch("flipped_kernel", (channels, width))
        ctx.saved["input_side"] = (x4, z_shape, geometry, chunks, columns, flipped)
    return ctx.saved["input_side"]


def _flipped_view(layer, flipped):
    """The (channels, taps*filters) buffer seen as the Keras kernel's (kh, kw, channels, filters) layout with
    the taps flipped: a copy of the kernel into this view fills the buffer."""
    kh, kw = ((1,) + layer.kernel_size) if layer.rank == 1 else layer.kernel_size
    channels = flipped.shape[0]
    view = flipped.reshape(channels, kh, kw, layer.filters).transpose(1, 2, 0, 3)[::-1, ::-1]
    return view if layer.rank == 2 else view[0]


def forward(layer, ctx):
    x4, z_shape, geometry, chunks, columns, flipped = _setup(layer, ctx)
    z2, y2 = layer._pre_activation(ctx), rows2d_last(ctx.y)
    z4 = _reshaped(z2, z_shape)
    x_rows = _reshaped(x4, (-1, x4.shape[3]))
    bias = ctx.weights[1] if layer.use_bias else None
    pixels, out_pixels = geometry.pixels, z_shape[1] * z_shape[2]
    calls = [copy_step(ctx.weights[0], _flipped_view(layer, flipped))]
    for (start, count), out_rows in zip(chunks, _row_slices(chunks, out_pixels)):
        cols = columns[:count * pixels]
        calls.append(matmul_step(x_rows[start * pixels:(start + count) * pixels], flipped, cols))
        calls.append(_bind(K.col2im, cols.reshape(1, *cols.shape), start, z4, *geometry.args))
        epilogue = layer._epilogue(ctx, z2[out_rows], y2[out_rows], bias)
        if epilogue is not None:
            calls.append(epilogue)
    return [_sequence(calls)]


def backward(layer, ctx):
    x4, z_shape, geometry, chunks, columns, flipped = _setup(layer, ctx)
    d_kernel, dx = ctx.d_weights[0], ctx.dx
    out_pixels, pixels = z_shape[1] * z_shape[2], geometry.pixels
    epilogues, fold_bias = layer._epilogue_backward(ctx, 1, _row_slices(chunks, out_pixels))
    calls = [call for chunk_calls, _ in epilogues for call in chunk_calls]
    if d_kernel is None and dx is None:
        return [_sequence(calls + fold_bias)] if calls or fold_bias else []
    dz4 = _reshaped(rows2d_last(ctx.dy), z_shape)
    x_rows = _reshaped(x4, (-1, x4.shape[3]))
    dx_rows = None if dx is None else _reshaped(layer._image(dx), (-1, x4.shape[3]))
    d_flipped = None if d_kernel is None else _Written(ctx, "d_flipped_chunks", ctx.scratch("d_flipped",
                                                                                            flipped.shape), len(chunks))
    calls.append(copy_step(ctx.weights[0], _flipped_view(layer, flipped)))
    for index, (start, count) in enumerate(chunks):
        rows = slice(start * pixels, (start + count) * pixels)
        cols = columns[:count * pixels]
        calls.append(_bind(K.im2col, dz4, start, cols.reshape(1, *cols.shape), *geometry.args))
        if d_flipped is not None:
            calls.append(matmul_step(x_rows[rows].T, cols, d_flipped.target(index)))
        if dx_rows is not None:
            calls.append(matmul_step(cols, flipped.T, dx_rows[rows]))
    if d_flipped is not None:
        calls += d_flipped.fold()
        calls.append(copy_step(_flipped_view(layer, d_flipped.gradient), d_kernel))
    return [_sequence(calls + fold_bias)]
