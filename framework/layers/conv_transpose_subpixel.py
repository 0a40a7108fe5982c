"""Conv2DTranspose's forward pass as one sub-pixel convolution, for strides that divide the kernel.

The col2im path computes ``x_rows @ kernel^T`` (``kh*kw*filters`` columns per input pixel) and
scatter-adds the columns into the output. When every kernel size is a multiple of its stride
(``k = m*s``, as in a DCGAN's 4x4 stride-2 layers), output pixel ``(s*j + rh, s*l + rw)`` reads only the
``m x m`` input window at ``(j + off_h[rh], l + off_w[rw])`` through ``m x m`` taps of the kernel
(framework/kernels/subpixel.py): each of the ``s*s`` output phases is a stride-1 convolution. So the
forward pass is, per chunk of samples,

- ``cols``: im2col over a grid of ``m x m`` windows covering every phase's windows (``m*m*in`` values per
  window), rows ordered by grid row so that the windows one phase row reads are one block of rows; no
  im2col at all when ``m = 1`` without offsets (the windows are the input's pixels);
- ``products = cols @ packed``: the ``s*s`` phase kernels side by side in one ``(m*m*in, s*s*filters)``
  weight, one product per phase row (``s*filters`` columns) over the grid rows that phase row reads;
- ``phases_to_space``: each output pixel copies its phase's ``filters`` values from its window's row, bias
  added; the activation epilogue follows when there is one.

Border windows are computed for every phase of a phase row, also those that do not read them: for 4x4
stride 2 'same' on 14x14 inputs, 14x15 windows per phase row instead of 14x14 (1.07x the products; one
product over the whole 15x15 grid would be 1.15x). Backward keeps the col2im path (im2col of dz, then the
kernel and input gradients), which has no scatter.
"""
import numpy as np

from framework.kernels import subpixel as S
from framework.layers.convolutional import _bind, _chunks, _reshaped, _row_slices, _sequence, transpose_pad_before
from framework.plan.steps import matmul_step, rows2d_last

#: chunks hold this many times COLUMN_BYTES (4 samples of the DCGAN's 14x14x128 layer): its products
#: (14*15*samples x 512) @ (512 x 256) ran at 86 GFLOP/s on one thread with 1-sample chunks, 100 with 2 or 4;
#: on two threads with the machine loaded, 33, 57 and 67 GFLOP/s (a small product waits more often for
#: a descheduled partner thread)
CHUNK_SCALE = 4


def applies(layer):
    """True when ``layer`` (a Conv2DTranspose) runs its forward pass as a sub-pixel convolution: a stride
    above 1 and every kernel size a multiple of its stride (strides above 1 exclude dilation)."""
    return max(layer.strides) > 1 and all(k % s == 0 for k, s in zip(layer.kernel_size, layer.strides))


class _Axis:
    """The sub-pixel geometry along one axis.

    Args:
        out: output length; kernel, stride: the layer's; pad: its output offset P (transpose_pad_before).
    """

    def __init__(self, out, kernel, stride, pad):
        m = kernel // stride
        offsets = [(r + pad) // stride - (m - 1) for r in range(stride)]
        counts = [max(0, -(-(out - r) // stride)) for r in range(stride)]
        low = min(offsets)
        self.taps = np.array([[(r + pad) % stride + stride * (m - 1 - v) for v in range(m)]
                              for r in range(stride)], np.intp)
        self.window, self.pad = m, -low
        self.grid = max((c + o - low for c, o in zip(counts, offsets) if c > 0), default=0)
        self.rows = np.array([o // stride + offsets[o % stride] - low for o in range(out)], np.intp)
        self.phase = np.array([o % stride for o in range(out)], np.intp)
        #: per phase, the grid rows [first, end) its outputs read (None for a phase without outputs)
        self.spans = [(o - low, o - low + c) if c > 0 else None for c, o in zip(counts, offsets)]

    def identity(self, size):
        """True when the grid is the input itself (one tap, no offset): no im2col needed."""
        return self.window == 1 and self.pad == 0 and self.grid == size


def _setup(layer, ctx):
    """Geometry, chunks and buffers of this node (made once)."""
    if "subpixel" not in ctx.saved:
        n, h, w, channels = ctx.x.shape
        out_h, out_w, filters = ctx.y.shape[1:]
        paddings = layer.output_padding or (None, None)
        ah, aw = (_Axis(out, k, s, transpose_pad_before(k, s, 1, layer.padding, p))
                  for out, k, s, p in zip((out_h, out_w), layer.kernel_size, layer.strides, paddings))
        direct = ah.identity(h) and aw.identity(w)
        width = ah.window * aw.window * channels
        grid = ah.grid * aw.grid
        phases = layer.strides[0] * layer.strides[1] * filters
        per_sample = grid * ((0 if direct else width) + phases) + out_h * out_w * filters
        chunks = _chunks(n, per_sample * ctx.dtype.itemsize // CHUNK_SCALE)
        most = max(count for _, count in chunks) * grid
        columns = None if direct else ctx.scratch("subpixel_columns", (most, width))
        products = ctx.scratch("subpixel_products", (most, phases))
        packed = ctx.scratch("subpixel_kernel", (phases, width))
        ctx.saved["subpixel"] = (ah, aw, chunks, columns, products, packed)
    return ctx.saved["subpixel"]


def _products(layer, ah, cols, packed, products):
    """The chunk's products: with im2col's rows by grid row, one product per phase row over the grid rows
    it reads (no product for a border row a phase never reads); on the input's own rows, one product."""
    per_phase = layer.strides[1] * layer.filters
    rows = cols.shape[0] // ah.grid  # rows of one grid row: count * grid_w
    calls = []
    for rh, span in enumerate(ah.spans):
        if span is not None:
            block = slice(span[0] * rows, span[1] * rows)
            phase = slice(rh * per_phase, (rh + 1) * per_phase)
            calls.append(matmul_step(cols[block], packed[phase].T, products[block, phase]))
    return calls


def forward(layer, ctx):
    if ctx.y.size == 0:
        return []
    ah, aw, chunks, columns, products, packed = _setup(layer, ctx)
    z2, y2 = layer._pre_activation(ctx), rows2d_last(ctx.y)
    z4 = _reshaped(z2, ctx.y.shape)
    x4 = ctx.x
    x_rows = _reshaped(x4, (-1, x4.shape[3]))
    bias = ctx.weights[1] if layer.use_bias else None
    grid = ah.grid * aw.grid
    calls = [_bind(S.pack_phases, ctx.weights[0], ah.taps, aw.taps, packed)]
    for (start, count), out_rows in zip(chunks, _row_slices(chunks, z4.shape[1] * z4.shape[2])):
        rows = count * grid
        if columns is None:  # the grid is the input: its rows, sample by sample, one product
            calls.append(matmul_step(x_rows[start * grid:start * grid + rows], packed.T, products[:rows]))
            strides = (grid, aw.grid)
        else:
            cols = columns[:rows]
            calls.append(_bind(S.windows_by_grid_row, x4, start, cols, ah.window, aw.window, ah.pad, aw.pad,
                               ah.grid, aw.grid))
            calls += _products(layer, ah, cols, packed, products[:rows])
            strides = (aw.grid, count * aw.grid)
        calls.append(_bind(S.phases_to_space, products[:rows], start, count, *strides, ah.rows, ah.phase,
                           aw.rows, aw.phase, layer.strides[1], bias, z4))
        epilogue = layer._epilogue(ctx, z2[out_rows], y2[out_rows], None)
        if epilogue is not None:
            calls.append(epilogue)
    return [_sequence(calls)]
