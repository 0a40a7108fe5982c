"""Merge kernels: elementwise maximum / minimum of several arrays, and the
routing of their gradient to the input that won.

``xs`` is a tuple of 1-D arrays of one dtype (Numba compiles one version per
tuple length). Serial loops; no fastmath, so NaN propagates as in np.maximum.
"""
from framework.kernels import kernel


@kernel
def select_forward(xs, y, winner, take_max):
    """y = elementwise max (take_max) or min of xs; winner[i] = index of the input chosen.

    Ties go to the first input; a NaN wins over numbers (as np.maximum / np.minimum).
    """
    first = xs[0]
    for i in range(y.size):
        y[i] = first[i]
        winner[i] = 0
    for k in range(1, len(xs)):
        x = xs[k]
        for i in range(y.size):
            v = x[i]
            best = y[i]
            if best != best:
                continue
            if (v > best if take_max else v < best) or v != v:
                y[i] = v
                winner[i] = k


@kernel
def select_backward(winner, k, dy, dx):
    """dx = dy where input k won, else 0 (written)."""
    for i in range(dx.size):
        dx[i] = dy[i] if winner[i] == k else 0
