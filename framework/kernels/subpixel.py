"""Sub-pixel kernels for transposed convolutions whose strides divide their kernel sizes.

Along one axis, a transposed convolution (stride ``s``, kernel ``k = m*s``, output offset ``P``) sends
input pixel ``i`` through tap ``t`` to output pixel ``i*s + t - P``. Output pixel ``o = s*j + r``
(phase ``r``) therefore reads ``m`` consecutive input pixels ``j + off[r] + v`` (``v < m``) through the
taps ``taps[r, v] = (r + P) % s + s*(m - 1 - v)``: every phase is a stride-1 convolution with an
``m``-tap kernel. With the phase kernels side by side as the columns of one packed weight
``(m*m*in, s*s*filters)`` (stored transposed), an im2col over a grid of ``m x m`` windows and products
with the packed weight give every phase; ``phases_to_space`` interleaves the phases into the output image
(and adds the bias).

Window rows are ordered by grid row, then sample, then grid column (``(J*samples + n)*grid_w + Jw``), so
the windows one phase row uses are one contiguous block of rows; without im2col (one tap, no offset) the
rows are the input's own ``(n*grid_h + J)*grid_w + Jw``. ``phases_to_space`` takes the two row strides.

``taps_h`` / ``taps_w`` are ``(s, m)`` arrays of kernel tap indices; ``rows_h[o]`` / ``rows_w[o]`` the
window (grid) row and column of output row / column ``o`` and ``phase_h[o]`` / ``phase_w[o]`` its phase.

Inner loops index 1-D views with a range variable: an index loaded from an array or computed from
arguments could be negative as far as LLVM knows, and Numba's wraparound select then keeps the loop
scalar (phases_to_space measured 5x slower that way).
"""
from framework.kernels import kernel


@kernel
def pack_phases(kernel_, taps_h, taps_w, packed):
    """packed[(rh*sw + rw)*F + f, (v*mw + w)*C + c] = kernel_[taps_h[rh, v], taps_w[rw, w], f, c] for the
    Keras kernel ``(kh, kw, filters, in)``: the phase kernels' columns, transposed (``packed.T`` is the
    product's right operand), so each copy is a contiguous run of ``in`` values."""
    filters, channels = kernel_.shape[2], kernel_.shape[3]
    sh, mh = taps_h.shape
    sw, mw = taps_w.shape
    for rh in range(sh):
        for rw in range(sw):
            for f in range(filters):
                target = packed[(rh * sw + rw) * filters + f]
                for v in range(mh):
                    for w in range(mw):
                        source = kernel_[taps_h[rh, v], taps_w[rw, w], f]
                        column = target[(v * mw + w) * channels:]
                        for c in range(channels):
                            column[c] = source[c]


@kernel
def windows_by_grid_row(x, n0, cols, mh, mw, ph, pw, grid_h, grid_w):
    """cols[(J*samples + n)*grid_w + Jw, (v*mw + w)*C + c] = x[n0 + n, J + v - ph, Jw + w - pw, c]
    (zero outside the image) for the chunk's ``samples = rows / (grid_h*grid_w)`` samples."""
    h, w_in, channels = x.shape[1], x.shape[2], x.shape[3]
    samples = cols.shape[0] // (grid_h * grid_w)
    for grid_row in range(grid_h):
        for n in range(samples):
            image = x[n0 + n]
            for grid_col in range(grid_w):
                target = cols[(grid_row * samples + n) * grid_w + grid_col]
                for v in range(mh):
                    iy = grid_row + v - ph
                    for w in range(mw):
                        ix = grid_col + w - pw
                        column = target[(v * mw + w) * channels:]
                        if 0 <= iy < h and 0 <= ix < w_in:
                            source = image[iy, ix]
                            for c in range(channels):
                                column[c] = source[c]
                        else:
                            for c in range(channels):
                                column[c] = 0


@kernel
def phases_to_space(products, n0, samples, stride_n, stride_h, rows_h, phase_h, rows_w, phase_w, sw, bias, z):
    """z[n0 + n, oy, ox, f] = products[n*stride_n + rows_h[oy]*stride_h + rows_w[ox],
    (phase_h[oy]*sw + phase_w[ox])*F + f] (+ bias[f]) for the chunk's samples n < samples."""
    filters = z.shape[3]
    for n in range(samples):
        for oy in range(z.shape[1]):
            row0 = n * stride_n + rows_h[oy] * stride_h
            col_h = phase_h[oy] * sw
            out = z[n0 + n, oy]
            for ox in range(z.shape[2]):
                col0 = (col_h + phase_w[ox]) * filters
                source = products[row0 + rows_w[ox], col0:col0 + filters]
                target = out[ox]
                if bias is None:
                    for f in range(filters):
                        target[f] = source[f]
                else:
                    for f in range(filters):
                        target[f] = source[f] + bias[f]
