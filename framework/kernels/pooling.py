"""Pooling kernels over channels_last arrays.

Windowed pooling takes (batch, rows, cols, channels) arrays and the geometry:
window kh x kw, strides sh x sw, and the 'same' padding ``top``/``left`` before
the first row/column (1-D pooling passes a (batch, 1, steps, channels) view).
Windows are clipped to the input, so max pooling ignores padding and average
pooling divides by the real elements it saw (as Keras).

Max pooling takes the first maximum in row-major window order; a nan wins
and stays (``v > best or v != v``), so a nan still reaches the loss, where
training reports it. It saves, per output element, where in its window that
element is: the offset ``i * kw + j`` from the unclipped window's corner
(int32; the kernels take any integer dtype); backward routes the gradient there. Backward writes every input-gradient
element: when windows do not overlap (strides >= pool) by one assignment per
element (window elements, then the uncovered remainders and gaps zeroed);
else by zero-fill then accumulation.

Speed (MaxPooling2D(2) on the benchmark convnet's (batch, 26, 26, 32) float32
activations, variants timed side by side): the innermost loop always runs
over the contiguous channel axis, and

- the common 2x2 window with stride 2 has its own loops with the window's
  offsets known to the compiler: forward twice as fast as the generic loop
  while the data is in cache (about 50 vs 95 us at batch 16); at batch 128
  the 11 MB input makes both memory-bound;
- the generic forward handles four window elements per channel loop (short
  windows repeat their last element, which changes neither a max nor, through
  a select, a sum), so the output row is written once per four elements;
- every backward channel loop stores to one or two adjacent rows of dx: with
  four store streams LLVM could not prove them independent and the loop ran
  10x slower;
- offsets are compared as int32 (int64 halves the vector width; int8 measured
  no faster).
"""
from framework.kernels import kernel


@kernel
def window_bounds(o, k, s, before, n):
    """[lo, hi) of window ``o`` (size k, stride s, ``before`` padding) clipped to [0, n)."""
    start = o * s - before
    return max(start, 0), min(start + k, n)


@kernel
def _advance(h, w, w_lo, w_hi):
    """The next window element in row-major order."""
    w += 1
    if w == w_hi:
        return h + 1, w_lo
    return h, w


@kernel
def _take4(h, w, w_lo, w_hi, cols, remaining, h0, w0, kw):
    """The next 4 window elements from cursor (h, w), repeating the last real one past
    ``remaining``: flat positions p (h * cols + w), offsets k in the unclipped window at
    (h0, w0) ((h - h0) * kw + w - w0), how many were real, and the advanced cursor."""
    p0 = p1 = p2 = p3 = h * cols + w
    k0 = k1 = k2 = k3 = (h - h0) * kw + w - w0
    h, w = _advance(h, w, w_lo, w_hi)
    if remaining > 1:
        p1 = p2 = p3 = h * cols + w
        k1 = k2 = k3 = (h - h0) * kw + w - w0
        h, w = _advance(h, w, w_lo, w_hi)
    if remaining > 2:
        p2 = p3 = h * cols + w
        k2 = k3 = (h - h0) * kw + w - w0
        h, w = _advance(h, w, w_lo, w_hi)
    if remaining > 3:
        p3 = h * cols + w
        k3 = (h - h0) * kw + w - w0
        h, w = _advance(h, w, w_lo, w_hi)
    return p0, p1, p2, p3, k0, k1, k2, k3, min(remaining, 4), h, w


@kernel
def _fast_region(x, kh, kw, sh, sw, top, left, y):
    """(output rows, output cols) handled by the 2x2 / stride 2 loops: whole windows only."""
    if kh == 2 and kw == 2 and sh == 2 and sw == 2 and top == 0 and left == 0:
        return min(y.shape[1], x.shape[1] // 2), min(y.shape[2], x.shape[2] // 2)
    return 0, 0


@kernel
def _overlapping(kh, kw, sh, sw):
    return sh < kh or sw < kw


@kernel
def _zero_sample(dx, b):
    zero = dx.dtype.type(0)
    for h in range(dx.shape[1]):
        for w in range(dx.shape[2]):
            for c in range(dx.shape[3]):
                dx[b, h, w, c] = zero


@kernel
def _zero_columns(dx, b, h, w_from, w_to):
    zero = dx.dtype.type(0)
    for w in range(w_from, w_to):
        for c in range(dx.shape[3]):
            dx[b, h, w, c] = zero


@kernel
def _zero_uncovered(dx, b, kh, kw, sh, sw, top, left, out_rows, out_cols):
    """Zero dx[b] where no window reaches (remainders, and gaps when strides exceed the pool).

    Calls happen only for non-empty gaps: a call passing arrays costs about as much as
    zeroing a short row, and most rows have no gap at all."""
    rows, cols = dx.shape[1], dx.shape[2]
    first_lo = window_bounds(0, kw, sw, left, cols)[0]
    last_hi = window_bounds(out_cols - 1, kw, sw, left, cols)[1]
    column_gaps = sw > kw or first_lo > 0 or last_hi < cols
    covered_to = 0  # rows [0, covered_to) are done
    for oh in range(out_rows + 1):
        if oh < out_rows:
            h_lo, h_hi = window_bounds(oh, kh, sh, top, rows)
        else:
            h_lo, h_hi = rows, rows
        for h in range(covered_to, h_lo):
            _zero_columns(dx, b, h, 0, cols)
        for h in range(h_lo, h_hi if column_gaps else h_lo):
            done = 0
            for ow in range(out_cols):
                w_lo, w_hi = window_bounds(ow, kw, sw, left, cols)
                if w_lo > done:
                    _zero_columns(dx, b, h, done, w_lo)
                done = w_hi
            if done < cols:
                _zero_columns(dx, b, h, done, cols)
        covered_to = max(covered_to, h_hi)


# ----- max pooling ------------------------------------------------------------------------------

@kernel
def max_pool_forward(x, kh, kw, sh, sw, top, left, y, argmax):
    """y = max of x over each window; argmax = offset of the window's first max."""
    fast_rows, fast_cols = _fast_region(x, kh, kw, sh, sw, top, left, y)
    _max_pool_2x2_forward(x, fast_rows, fast_cols, y, argmax)
    _max_pool_forward_windows(x, kh, kw, sh, sw, top, left, fast_rows, fast_cols, y, argmax)


@kernel
def _max_pool_2x2_forward(x, out_rows, out_cols, y, argmax):
    batch, channels = x.shape[0], x.shape[3]
    index = argmax.dtype.type
    q0, q1, q2, q3 = index(0), index(1), index(2), index(3)
    for b in range(batch):
        for oh in range(out_rows):
            h = 2 * oh
            for ow in range(out_cols):
                w = 2 * ow
                for c in range(channels):
                    best = x[b, h, w, c]
                    at = q0
                    v = x[b, h, w + 1, c]
                    if v > best or v != v:
                        best = v
                        at = q1
                    v = x[b, h + 1, w, c]
                    if v > best or v != v:
                        best = v
                        at = q2
                    v = x[b, h + 1, w + 1, c]
                    if v > best or v != v:
                        best = v
                        at = q3
                    y[b, oh, ow, c] = best
                    argmax[b, oh, ow, c] = at


@kernel
def _max_pool_forward_windows(x4, kh, kw, sh, sw, top, left, skip_rows, skip_cols, y4, argmax4):
    """The generic loop over every window outside [0, skip_rows) x [0, skip_cols)."""
    batch, rows, cols, channels = x4.shape
    out_rows, out_cols = y4.shape[1], y4.shape[2]
    x = x4.reshape(batch, rows * cols, channels)
    y = y4.reshape(batch, out_rows * out_cols, channels)
    argmax = argmax4.reshape(batch, out_rows * out_cols, channels)
    index = argmax.dtype.type
    for b in range(batch):
        for oh in range(out_rows):
            h_lo, h_hi = window_bounds(oh, kh, sh, top, rows)
            h0 = oh * sh - top
            for ow in range(skip_cols if oh < skip_rows else 0, out_cols):
                w_lo, w_hi = window_bounds(ow, kw, sw, left, cols)
                w0 = ow * sw - left
                o = oh * out_cols + ow
                remaining = (h_hi - h_lo) * (w_hi - w_lo)
                p0, p1, p2, p3, k0, k1, k2, k3, taken, h, w = _take4(h_lo, w_lo, w_lo, w_hi, cols, remaining,
                                                                     h0, w0, kw)
                remaining -= taken
                q0, q1, q2, q3 = index(k0), index(k1), index(k2), index(k3)
                for c in range(channels):
                    best = x[b, p0, c]
                    at = q0
                    v = x[b, p1, c]
                    if v > best or v != v:
                        best = v
                        at = q1
                    v = x[b, p2, c]
                    if v > best or v != v:
                        best = v
                        at = q2
                    v = x[b, p3, c]
                    if v > best or v != v:
                        best = v
                        at = q3
                    y[b, o, c] = best
                    argmax[b, o, c] = at
                while remaining > 0:
                    p0, p1, p2, p3, k0, k1, k2, k3, taken, h, w = _take4(h, w, w_lo, w_hi, cols, remaining,
                                                                         h0, w0, kw)
                    remaining -= taken
                    q0, q1, q2, q3 = index(k0), index(k1), index(k2), index(k3)
                    for c in range(channels):
                        best = y[b, o, c]
                        at = argmax[b, o, c]
                        v = x[b, p0, c]
                        if v > best or v != v:
                            best = v
                            at = q0
                        v = x[b, p1, c]
                        if v > best or v != v:
                            best = v
                            at = q1
                        v = x[b, p2, c]
                        if v > best or v != v:
                            best = v
                            at = q2
                        v = x[b, p3, c]
                        if v > best or v != v:
                            best = v
                            at = q3
                        y[b, o, c] = best
                        argmax[b, o, c] = at


@kernel
def max_pool_backward(dy, argmax, kh, kw, sh, sw, top, left, dx):
    """dx = sum of dy over the windows whose argmax is each position (0 elsewhere)."""
    out_rows, out_cols = dy.shape[1], dy.shape[2]
    if _overlapping(kh, kw, sh, sw):
        for b in range(dx.shape[0]):
            _zero_sample(dx, b)
        _max_pool_backward_windows(dy, argmax, kh, kw, sh, sw, top, left, 0, 0, True, dx)
        return
    for b in range(dx.shape[0]):
        _zero_uncovered(dx, b, kh, kw, sh, sw, top, left, out_rows, out_cols)
    fast_rows, fast_cols = _fast_region(dx, kh, kw, sh, sw, top, left, dy)
    _max_pool_2x2_backward(dy, argmax, fast_rows, fast_cols, dx)
    _max_pool_backward_windows(dy, argmax, kh, kw, sh, sw, top, left, fast_rows, fast_cols, False, dx)


@kernel
def _max_pool_2x2_backward(dy, argmax, out_rows, out_cols, dx):
    batch, channels = dx.shape[0], dx.shape[3]
    index = argmax.dtype.type
    zero = dx.dtype.type(0)
    for b in range(batch):
        for oh in range(out_rows):
            for i in range(2):
                h = 2 * oh + i
                q0, q1 = index(2 * i), index(2 * i + 1)
                for ow in range(out_cols):
                    w = 2 * ow
                    for c in range(channels):
                        g = dy[b, oh, ow, c]
                        a = argmax[b, oh, ow, c]
                        dx[b, h, w, c] = g if a == q0 else zero
                        dx[b, h, w + 1, c] = g if a == q1 else zero


@kernel
def _max_pool_backward_windows(dy, argmax, kh, kw, sh, sw, top, left, skip_rows, skip_cols, accumulate, dx):
    """Every window outside [0, skip_rows) x [0, skip_cols): one window element per channel loop."""
    batch, rows, cols, channels = dx.shape
    out_rows, out_cols = dy.shape[1], dy.shape[2]
    index = argmax.dtype.type
    zero = dx.dtype.type(0)
    for b in range(batch):
        for oh in range(out_rows):
            h_lo, h_hi = window_bounds(oh, kh, sh, top, rows)
            h0 = oh * sh - top
            for ow in range(skip_cols if oh < skip_rows else 0, out_cols):
                w_lo, w_hi = window_bounds(ow, kw, sw, left, cols)
                w0 = ow * sw - left
                for h in range(h_lo, h_hi):
                    for w in range(w_lo, w_hi):
                        q = index((h - h0) * kw + (w - w0))
                        if accumulate:
                            for c in range(channels):
                                dx[b, h, w, c] += dy[b, oh, ow, c] if argmax[b, oh, ow, c] == q else zero
                        else:
                            for c in range(channels):
                                dx[b, h, w, c] = dy[b, oh, ow, c] if argmax[b, oh, ow, c] == q else zero


# ----- average pooling ----------------------------------------------------------------------------

@kernel
def avg_pool_forward(x, kh, kw, sh, sw, top, left, y):
    """y = mean of x over the real elements of each window."""
    fast_rows, fast_cols = _fast_region(x, kh, kw, sh, sw, top, left, y)
    _avg_pool_2x2_forward(x, fast_rows, fast_cols, y)
    _avg_pool_forward_windows(x, kh, kw, sh, sw, top, left, fast_rows, fast_cols, y)


@kernel
def _avg_pool_2x2_forward(x, out_rows, out_cols, y):
    batch, _, _, channels = x.shape
    four = y.dtype.type(4)
    for b in range(batch):
        for oh in range(out_rows):
            h = 2 * oh
            for ow in range(out_cols):
                w = 2 * ow
                for c in range(channels):
                    y[b, oh, ow, c] = (x[b, h, w, c] + x[b, h, w + 1, c] + x[b, h + 1, w, c]
                                       + x[b, h + 1, w + 1, c]) / four


@kernel
def _avg_pool_forward_windows(x4, kh, kw, sh, sw, top, left, skip_rows, skip_cols, y4):
    batch, rows, cols, channels = x4.shape
    out_rows, out_cols = y4.shape[1], y4.shape[2]
    x = x4.reshape(batch, rows * cols, channels)
    y = y4.reshape(batch, out_rows * out_cols, channels)
    zero = y.dtype.type(0)
    for b in range(batch):
        for oh in range(out_rows):
            h_lo, h_hi = window_bounds(oh, kh, sh, top, rows)
            for ow in range(skip_cols if oh < skip_rows else 0, out_cols):
                w_lo, w_hi = window_bounds(ow, kw, sw, left, cols)
                o = oh * out_cols + ow
                count = (h_hi - h_lo) * (w_hi - w_lo)
                remaining = count
                h, w = h_lo, w_lo
                first = True
                while remaining > 0:
                    p0, p1, p2, p3, _, _, _, _, taken, h, w = _take4(h, w, w_lo, w_hi, cols, remaining, 0, 0, 0)
                    remaining -= taken
                    # selects, not 0 * x: a repeated inf must not become nan
                    for c in range(channels):
                        total = x[b, p0, c]
                        total += x[b, p1, c] if taken > 1 else zero
                        total += x[b, p2, c] if taken > 2 else zero
                        total += x[b, p3, c] if taken > 3 else zero
                        y[b, o, c] = total if first else y[b, o, c] + total
                    first = False
                divisor = y.dtype.type(count)
                for c in range(channels):
                    y[b, o, c] /= divisor


@kernel
def avg_pool_backward(dy, kh, kw, sh, sw, top, left, dx):
    """dx = sum over the windows holding each element of dy / (real elements of the window)."""
    out_rows, out_cols = dy.shape[1], dy.shape[2]
    if _overlapping(kh, kw, sh, sw):
        for b in range(dx.shape[0]):
            _zero_sample(dx, b)
        _avg_pool_backward_windows(dy, kh, kw, sh, sw, top, left, 0, 0, True, dx)
        return
    for b in range(dx.shape[0]):
        _zero_uncovered(dx, b, kh, kw, sh, sw, top, left, out_rows, out_cols)
    fast_rows, fast_cols = _fast_region(dx, kh, kw, sh, sw, top, left, dy)
    _avg_pool_2x2_backward(dy, fast_rows, fast_cols, dx)
    _avg_pool_backward_windows(dy, kh, kw, sh, sw, top, left, fast_rows, fast_cols, False, dx)


@kernel
def _avg_pool_2x2_backward(dy, out_rows, out_cols, dx):
    batch, _, _, channels = dx.shape
    four = dx.dtype.type(4)
    for b in range(batch):
        for oh in range(out_rows):
            for i in range(2):
                h = 2 * oh + i
                for ow in range(out_cols):
                    w = 2 * ow
                    for c in range(channels):
                        g = dy[b, oh, ow, c] / four
                        dx[b, h, w, c] = g
                        dx[b, h, w + 1, c] = g


@kernel
def _avg_pool_backward_windows(dy, kh, kw, sh, sw, top, left, skip_rows, skip_cols, accumulate, dx):
    batch, rows, cols, channels = dx.shape
    out_rows, out_cols = dy.shape[1], dy.shape[2]
    for b in range(batch):
        for oh in range(out_rows):
            h_lo, h_hi = window_bounds(oh, kh, sh, top, rows)
            for ow in range(skip_cols if oh < skip_rows else 0, out_cols):
                w_lo, w_hi = window_bounds(ow, kw, sw, left, cols)
                divisor = dx.dtype.type((h_hi - h_lo) * (w_hi - w_lo))
                for h in range(h_lo, h_hi):
                    for w in range(w_lo, w_hi):
                        if accumulate:
                            for c in range(channels):
                                dx[b, h, w, c] += dy[b, oh, ow, c] / divisor
                        else:
                            for c in range(channels):
                                dx[b, h, w, c] = dy[b, oh, ow, c] / divisor


# ----- global pooling over (batch, steps, channels) -------------------------------------------

@kernel
def global_max_forward(x, y, argmax):
    batch, steps, channels = x.shape
    for b in range(batch):
        for c in range(channels):
            y[b, c] = x[b, 0, c]
            argmax[b, c] = 0
        for s in range(1, steps):
            step = argmax.dtype.type(s)
            for c in range(channels):
                value = x[b, s, c]
                best = y[b, c]
                better = value > best or value != value
                y[b, c] = value if better else best
                argmax[b, c] = step if better else argmax[b, c]


@kernel
def global_max_backward(dy, argmax, dx):
    batch, steps, channels = dx.shape
    zero = dx.dtype.type(0)
    for b in range(batch):
        for s in range(steps):
            step = argmax.dtype.type(s)
            for c in range(channels):
                dx[b, s, c] = dy[b, c] if argmax[b, c] == step else zero


@kernel
def global_avg_forward(x, y):
    batch, steps, channels = x.shape
    divisor = y.dtype.type(steps)
    for b in range(batch):
        for c in range(channels):
            y[b, c] = 0
        for s in range(steps):
            for c in range(channels):
                y[b, c] += x[b, s, c]
        for c in range(channels):
            y[b, c] /= divisor


@kernel
def global_avg_backward(dy, dx):
    batch, steps, channels = dx.shape
    divisor = dx.dtype.type(steps)
    for b in range(batch):
        for s in range(steps):
            for c in range(channels):
                dx[b, s, c] = dy[b, c] / divisor


@kernel
def masked_avg_forward(x, mask, y):
    """y[b] = mean of x[b, s] over the steps with mask[b, s] != 0 (0/0 = nan when none, as Keras)."""
    batch, steps, channels = x.shape
    for b in range(batch):
        count = 0
        for c in range(channels):
            y[b, c] = 0
        for s in range(steps):
            if mask[b, s] != 0:
                count += 1
                for c in range(channels):
                    y[b, c] += x[b, s, c]
        divisor = y.dtype.type(count)
        for c in range(channels):
            y[b, c] /= divisor


@kernel
def masked_avg_backward(dy, mask, dx):
    batch, steps, channels = dx.shape
    for b in range(batch):
        count = 0
        for s in range(steps):
            if mask[b, s] != 0:
                count += 1
        divisor = dx.dtype.type(count)
        for s in range(steps):
            if mask[b, s] != 0:
                for c in range(channels):
                    dx[b, s, c] = dy[b, c] / divisor
            else:
                for c in range(channels):
                    dx[b, s, c] = 0
