"""Convolution kernels: im2col / col2im around BLAS, and direct depthwise loops.

Layout is channels_last: images are (batch, height, width, channels). A
convolution is described per spatial axis by kernel size ``k``, stride ``s``,
dilation ``d`` and the padding before the first pixel ``p``: output pixel
``o`` reads input pixel ``o*s + t*d - p`` through kernel tap ``t``; pixels
outside the image read as zero.

im2col writes, for a chunk of samples starting at sample ``n0``, one row per
output pixel and, per group, the taps in the order (kh, kw, channel) of the
Keras kernel ``(kh, kw, in/groups, filters)``, so the product with the kernel
is ``cols[g] @ kernel.reshape(kh*kw*cin_g, filters)[:, group g]`` with no copy
of the kernel. ``im2col_transposed`` writes the same matrix transposed (one row
per tap and channel), faster for images of 1-3 channels. col2im and
col2im_transposed are the adjoints (scatter-add), used for the input gradient
and for Conv2DTranspose's forward pass.

All kernels are serial (BLAS owns the cores, docs/architecture.md).
"""
from framework.kernels import kernel


@kernel
def im2col(x, n0, cols, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    """cols[g, r, (i*kw + j)*cg + c] = x[n0 + n, oy*sh + i*dh - ph, ox*sw + j*dw - pw, g*cg + c]
    (zero outside the image) for the rows r = (n*oh + oy)*ow + ox of the chunk."""
    if cols.shape[0] > 1:
        _im2col_groups(x, n0, cols, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow)
    else:
        _im2col_channels(x, n0, cols[0], kh, kw, sh, sw, dh, dw, ph, pw, oh, ow)


# Separate loop nests with groups and without: the channel loop must be innermost and alone to
# vectorize (the general nest measured 2.3x slower on 32 channels).

@kernel
def _im2col_channels(x, n0, cols, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    h, w, channels = x.shape[1], x.shape[2], x.shape[3]
    for s in range(cols.shape[0] // (oh * ow)):
        n = n0 + s
        for oy in range(oh):
            for ox in range(ow):
                r = (s * oh + oy) * ow + ox
                for i in range(kh):
                    iy = oy * sh + i * dh - ph
                    for j in range(kw):
                        ix = ox * sw + j * dw - pw
                        k0 = (i * kw + j) * channels
                        if 0 <= iy < h and 0 <= ix < w:
                            for c in range(channels):
                                cols[r, k0 + c] = x[n, iy, ix, c]
                        else:
                            for c in range(channels):
                                cols[r, k0 + c] = 0


@kernel
def _im2col_groups(x, n0, cols, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    groups, rows, _ = cols.shape
    h, w, channels = x.shape[1], x.shape[2], x.shape[3]
    cg = channels // groups
    for s in range(rows // (oh * ow)):
        n = n0 + s
        for oy in range(oh):
            for ox in range(ow):
                r = (s * oh + oy) * ow + ox
                for i in range(kh):
                    iy = oy * sh + i * dh - ph
                    for j in range(kw):
                        ix = ox * sw + j * dw - pw
                        k0 = (i * kw + j) * cg
                        inside = 0 <= iy < h and 0 <= ix < w
                        for g in range(groups):
                            if inside:
                                for c in range(cg):
                                    cols[g, r, k0 + c] = x[n, iy, ix, g * cg + c]
                            else:
                                for c in range(cg):
                                    cols[g, r, k0 + c] = 0


@kernel
def col2im(cols, n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    """The adjoint of im2col: dx[n0:n0+chunk] = 0, then each column entry is added
    back to the input pixel it was read from."""
    samples = cols.shape[1] // (oh * ow)
    for n in range(n0, n0 + samples):
        for iy in range(dx.shape[1]):
            for ix in range(dx.shape[2]):
                for c in range(dx.shape[3]):
                    dx[n, iy, ix, c] = 0
    if cols.shape[0] > 1:
        _col2im_groups(cols, n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow)
    elif dx.shape[3] <= FEW_CHANNELS:
        _col2im_along_rows(cols[0], n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow)
    else:
        _col2im_channels(cols[0], n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow)


#: col2im into images of at most this many channels adds along image rows (_col2im_along_rows)
FEW_CHANNELS = 3


@kernel
def _col2im_channels(cols, n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    h, w, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    for s in range(cols.shape[0] // (oh * ow)):
        n = n0 + s
        for oy in range(oh):
            for ox in range(ow):
                r = (s * oh + oy) * ow + ox
                for i in range(kh):
                    iy = oy * sh + i * dh - ph
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = ox * sw + j * dw - pw
                        if ix < 0 or ix >= w:
                            continue
                        k0 = (i * kw + j) * channels
                        for c in range(channels):
                            dx[n, iy, ix, c] += cols[r, k0 + c]


@kernel
def _col2im_along_rows(cols, n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    """_col2im_channels with the taps outside the loop along a row of the grid: for images of 1-3
    channels the inner loop then runs along an image row (one tap, one channel: a strided read, an add)
    instead of over 1-3 channels (a generator's last 7x7 layer to one channel: 0.35 -> 0.19 ms per
    3 samples)."""
    h, w, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    width = cols.shape[1]
    flat = cols.reshape(cols.size)
    for s in range(cols.shape[0] // (oh * ow)):
        image = dx[n0 + s]
        for oy in range(oh):
            r0 = (s * oh + oy) * ow
            for i in range(kh):
                iy = oy * sh + i * dh - ph
                if iy < 0 or iy >= h:
                    continue
                row = image[iy]
                for j in range(kw):
                    off = j * dw - pw
                    lo, hi = _inside(w, ow, off, sw)
                    for c in range(channels):
                        source = flat[(r0 + lo) * width + (i * kw + j) * channels + c:]
                        target = row[lo * sw + off:, c]
                        for q in range(hi - lo):
                            target[q * sw] += source[q * width]


@kernel
def _col2im_groups(cols, n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    groups, rows, _ = cols.shape
    h, w, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    cg = channels // groups
    for s in range(rows // (oh * ow)):
        n = n0 + s
        for oy in range(oh):
            for ox in range(ow):
                r = (s * oh + oy) * ow + ox
                for i in range(kh):
                    iy = oy * sh + i * dh - ph
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = ox * sw + j * dw - pw
                        if ix < 0 or ix >= w:
                            continue
                        k0 = (i * kw + j) * cg
                        for g in range(groups):
                            for c in range(cg):
                                dx[n, iy, ix, g * cg + c] += cols[g, r, k0 + c]


@kernel
def _inside(size, out, off, stride):
    """[lo, hi): the outputs o with 0 <= o*stride + off < size."""
    lo = min(out, (max(-off, 0) + stride - 1) // stride)
    if size - 1 - off < 0:
        return lo, lo
    return lo, max(lo, min(out, (size - 1 - off) // stride + 1))


@kernel
def im2col_transposed(x, n0, cols, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    """im2col's columns transposed, one row per (tap, channel): cols[(i*kw + j)*C + c, r].

    For images with 1-3 channels: each row is then filled by runs along the image row
    (measured 1.7-2x faster than im2col's runs of 1-3 values)."""
    h, w, channels = x.shape[1], x.shape[2], x.shape[3]
    samples = cols.shape[1] // (oh * ow)
    for i in range(kh):
        for j in range(kw):
            off = j * dw - pw
            lo, hi = _inside(w, ow, off, sw)
            for c in range(channels):
                row = cols[(i * kw + j) * channels + c]
                for s in range(samples):
                    n = n0 + s
                    for oy in range(oh):
                        r0 = (s * oh + oy) * ow
                        iy = oy * sh + i * dh - ph
                        if iy < 0 or iy >= h:
                            for ox in range(ow):
                                row[r0 + ox] = 0
                            continue
                        for ox in range(lo):
                            row[r0 + ox] = 0
                        for ox in range(lo, hi):
                            row[r0 + ox] = x[n, iy, ox * sw + off, c]
                        for ox in range(hi, ow):
                            row[r0 + ox] = 0


@kernel
def col2im_transposed(cols, n0, dx, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow):
    """The adjoint of im2col_transposed (dx of the chunk's samples written)."""
    h, w, channels = dx.shape[1], dx.shape[2], dx.shape[3]
    samples = cols.shape[1] // (oh * ow)
    for n in range(n0, n0 + samples):
        for iy in range(h):
            for ix in range(w):
                for c in range(channels):
                    dx[n, iy, ix, c] = 0
    for i in range(kh):
        for j in range(kw):
            off = j * dw - pw
            lo, hi = _inside(w, ow, off, sw)
            for c in range(channels):
                row = cols[(i * kw + j) * channels + c]
                for s in range(samples):
                    n = n0 + s
                    for oy in range(oh):
                        iy = oy * sh + i * dh - ph
                        if iy < 0 or iy >= h:
                            continue
                        r0 = (s * oh + oy) * ow
                        for ox in range(lo, hi):
                            dx[n, iy, ox * sw + off, c] += row[r0 + ox]


@kernel
def add_partials(total, partials):
    """total += partials[0] + partials[1] + ... (1-D total, 2-D partials): the per-chunk weight
    gradients folded in by one call after the chunk loop."""
    for k in range(partials.shape[0]):
        for i in range(total.size):
            total[i] += partials[k, i]


@kernel
def depthwise_forward(x, kernel_, y, sh, sw, dh, dw, ph, pw):
    """y[n, oy, ox, c*m + q] = sum_(i,j) x[n, iy, ix, c] * kernel_[i, j, c, q] (written),
    kernel_ of shape (kh, kw, channels, depth_multiplier)."""
    batch, h, w, channels = x.shape
    kh, kw, _, mult = kernel_.shape
    oh, ow = y.shape[1], y.shape[2]
    for n in range(batch):
        for oy in range(oh):
            for ox in range(ow):
                for f in range(channels * mult):
                    y[n, oy, ox, f] = 0
                for i in range(kh):
                    iy = oy * sh + i * dh - ph
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = ox * sw + j * dw - pw
                        if ix < 0 or ix >= w:
                            continue
                        for c in range(channels):
                            v = x[n, iy, ix, c]
                            for q in range(mult):
                                y[n, oy, ox, c * mult + q] += v * kernel_[i, j, c, q]


@kernel
def depthwise_backward_input(dy, kernel_, dx, sh, sw, dh, dw, ph, pw):
    """dx = the input gradient of depthwise_forward for output gradient dy (written)."""
    batch, h, w, channels = dx.shape
    kh, kw, _, mult = kernel_.shape
    oh, ow = dy.shape[1], dy.shape[2]
    for n in range(batch):
        for iy in range(h):
            for ix in range(w):
                for c in range(channels):
                    dx[n, iy, ix, c] = 0
        for oy in range(oh):
            for ox in range(ow):
                for i in range(kh):
                    iy = oy * sh + i * dh - ph
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = ox * sw + j * dw - pw
                        if ix < 0 or ix >= w:
                            continue
                        for c in range(channels):
                            acc = dx[n, iy, ix, c]
                            for q in range(mult):
                                acc += dy[n, oy, ox, c * mult + q] * kernel_[i, j, c, q]
                            dx[n, iy, ix, c] = acc


@kernel
def depthwise_backward_kernel(x, dy, dkernel, sh, sw, dh, dw, ph, pw):
    """dkernel = the kernel gradient of depthwise_forward for output gradient dy (written)."""
    batch, h, w, channels = x.shape
    kh, kw, _, mult = dkernel.shape
    oh, ow = dy.shape[1], dy.shape[2]
    for i in range(kh):
        for j in range(kw):
            for c in range(channels):
                for q in range(mult):
                    dkernel[i, j, c, q] = 0
    for n in range(batch):
        for oy in range(oh):
            for ox in range(ow):
                for i in range(kh):
                    iy = oy * sh + i * dh - ph
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = ox * sw + j * dw - pw
                        if ix < 0 or ix >= w:
                            continue
                        for c in range(channels):
                            v = x[n, iy, ix, c]
                            for q in range(mult):
                                dkernel[i, j, c, q] += v * dy[n, oy, ox, c * mult + q]
