"""Spatial reshaping kernels: zero padding, cropping, nearest upsampling, spatial dropout.

Padding and cropping work on (batch, rows, row_length) views: a 2-D layer
passes (batch, rows, cols * channels), a 1-D layer (batch, steps, channels),
so each row is one contiguous copy. Padding's gradient is a crop and a crop's
gradient is a zero padding, so the two kernels serve both directions.
"""
from framework.kernels import kernel


@kernel
def pad_rows(x, top, left, y):
    """y = x placed at rows [top, top + rows), elements [left, left + length) of each row; zeros elsewhere."""
    batch, rows, length = x.shape
    out_rows, out_length = y.shape[1], y.shape[2]
    for b in range(batch):
        for r in range(out_rows):
            source = r - top
            if 0 <= source < rows:
                for i in range(left):
                    y[b, r, i] = 0.0
                for i in range(length):
                    y[b, r, left + i] = x[b, source, i]
                for i in range(left + length, out_length):
                    y[b, r, i] = 0.0
            else:
                for i in range(out_length):
                    y[b, r, i] = 0.0


@kernel
def crop_rows(x, top, left, y):
    """y = x[:, top:top + out_rows, left:left + out_length]."""
    batch, out_rows, out_length = y.shape
    for b in range(batch):
        for r in range(out_rows):
            for i in range(out_length):
                y[b, r, i] = x[b, top + r, left + i]


@kernel
def upsample_nearest(x, sh, sw, y):
    """y[b, h * sh + i, w * sw + j] = x[b, h, w] over (batch, rows, cols, channels)."""
    batch, rows, cols, channels = x.shape
    for b in range(batch):
        for h in range(rows):
            for i in range(sh):
                for w in range(cols):
                    for j in range(sw):
                        for c in range(channels):
                            y[b, h * sh + i, w * sw + j, c] = x[b, h, w, c]


@kernel
def upsample_nearest_backward(dy, sh, sw, dx):
    """dx[b, h, w] = sum of dy over the sh x sw block that copied it."""
    batch, rows, cols, channels = dx.shape
    for b in range(batch):
        for h in range(rows):
            for w in range(cols):
                for c in range(channels):
                    dx[b, h, w, c] = 0.0
                for i in range(sh):
                    for j in range(sw):
                        for c in range(channels):
                            dx[b, h, w, c] += dy[b, h * sh + i, w * sw + j, c]


@kernel
def channel_keep_factors(u, rate):
    """Turn 1-D uniform draws u in place into factors: 1 / (1 - rate) where u >= rate (kept), else 0."""
    scale = 1.0 / (1.0 - rate)
    for i in range(u.size):
        u[i] = scale if u[i] >= rate else 0.0


@kernel
def scale_channels(x, factors, y):
    """y[b, s, c] = x[b, s, c] * factors[b, c], exactly 0 where the factor is 0 (spatial dropout).

    The same map gives the gradient: pass dy as ``x`` and dx as ``y``.
    """
    batch, steps, channels = x.shape
    zero = y.dtype.type(0)
    for b in range(batch):
        for s in range(steps):
            for c in range(channels):
                f = factors[b, c]
                y[b, s, c] = x[b, s, c] * f if f != zero else zero
