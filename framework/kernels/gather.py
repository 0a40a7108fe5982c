"""Gathers, scatters and small per-row loops for the ops that move or pick values
(``framework.ops.indexing`` and ``framework.ops.creation``): index maps computed when a plan is
built drive one pass over the batch; ``erf`` (SciPy is not a dependency), one-hot and top-k.
"""
import math

from framework.kernels import kernel

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@kernel
def gather_columns(x, source, fill, y):
    """y[b, j] = x[b, source[j]], or ``fill`` where source[j] < 0 (2-D x and y)."""
    for b in range(y.shape[0]):
        for j in range(y.shape[1]):
            s = source[j]
            y[b, j] = x[b, s] if s >= 0 else fill


@kernel
def scatter_columns(dy, source, dx):
    """The adjoint of gather_columns: dx = 0, then dx[b, source[j]] += dy[b, j] where source[j] >= 0."""
    dx[:, :] = 0
    for b in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            s = source[j]
            if s >= 0:
                dx[b, s] += dy[b, j]


@kernel
def gather_along(x, x_rows, index, index_rows, base, offsets, stride, n, y):
    """y[b, j] = x[b * x_rows + base[j] + stride * k] with k = index[b * index_rows + offsets[j]]
    (1-D x and index, 2-D y); a negative k counts from the end, k is clipped to [0, n)."""
    for b in range(y.shape[0]):
        for j in range(y.shape[1]):
            k = int(index[b * index_rows + offsets[j]])
            if k < 0:
                k += n
            k = min(max(k, 0), n - 1)
            y[b, j] = x[b * x_rows + base[j] + stride * k]


@kernel
def scatter_along(dy, index, index_rows, base, offsets, stride, n, x_rows, dx):
    """The adjoint of gather_along: dx = 0 (1-D), then every dy[b, j] added where it was read from."""
    dx[:] = 0
    for b in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            k = int(index[b * index_rows + offsets[j]])
            if k < 0:
                k += n
            k = min(max(k, 0), n - 1)
            dx[b * x_rows + base[j] + stride * k] += dy[b, j]


@kernel
def erf_forward(x, y):
    """y = erf(x) over 1-D arrays."""
    for i in range(x.size):
        y[i] = math.erf(x[i])


@kernel
def erf_backward(x, dy, dx):
    """dx = dy * 2 / sqrt(pi) * exp(-x^2) over 1-D arrays."""
    for i in range(x.size):
        dx[i] = dy[i] * _TWO_OVER_SQRT_PI * math.exp(-x[i] * x[i])


@kernel
def one_hot_fill(x, out):
    """out[o, k, i] = 1 where x[o, i] == k, else 0 (x: outer x inner, out: outer x classes x inner)."""
    out[:, :, :] = 0
    for o in range(x.shape[0]):
        for i in range(x.shape[1]):
            k = int(x[o, i])
            if 0 <= k < out.shape[1]:
                out[o, k, i] = 1


@kernel
def top_k_indices(x, k, out):
    """out[r] = the indices of the k largest values of row x[r], largest first, ties by lower index."""
    for r in range(x.shape[0]):
        count = 0
        for i in range(x.shape[1]):
            v = x[r, i]
            if count == k and not v > x[r, out[r, k - 1]]:
                continue
            j = min(count, k - 1)
            while j > 0 and v > x[r, out[r, j - 1]]:
                out[r, j] = out[r, j - 1]
                j -= 1
            out[r, j] = i
            count = min(count + 1, k)
