"""Streaming-metric kernels: accumulate a weighted mean of per-sample values.

Outputs are viewed as (N, R, C) like the loss kernels. Each kernel computes a
per-sample value v[n] (the metric's elementwise value averaged over R and C,
as Keras's Mean reduces non-batch axes) and adds, in place,
``acc[0] += sum_n w[n] * v[n]`` and ``acc[1] += sum_n w[n]``, where ``acc`` is
the metric's float64 state (total, count). Writing into the state array
instead of returning a tuple keeps a bound update allocation-free.

Argmax ties resolve to the first index (as NumPy and TensorFlow argmax).
"""
import numpy as np
from numba import njit

from framework.kernels import kernel

# Elementwise metric codes for ``elementwise_mean``.
SQUARED_ERROR, ABSOLUTE_ERROR, EQUAL, BINARY_EQUAL = 0, 1, 2, 3


@kernel
def elementwise_mean(t, y, w, kind, threshold, acc):
    """Per-sample mean over (R, C) of: squared error, absolute error, y == t,
    or (y > threshold) == t (``kind``: SQUARED_ERROR, ABSOLUTE_ERROR, EQUAL, BINARY_EQUAL)."""
    n_, r_, c_ = y.shape
    inv = 1.0 / (r_ * c_)
    total = 0.0
    count = 0.0
    for n in range(n_):
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                yv = np.float64(y[n, r, c])
                tv = np.float64(t[n, r, c])
                if kind == SQUARED_ERROR:
                    s += (yv - tv) * (yv - tv)
                elif kind == ABSOLUTE_ERROR:
                    s += abs(yv - tv)
                elif kind == EQUAL:
                    s += 1.0 if yv == tv else 0.0
                else:
                    s += 1.0 if (1.0 if yv > threshold else 0.0) == tv else 0.0
        total += w[n] * s * inv
        count += w[n]
    acc[0] += total
    acc[1] += count


@kernel(inline="always")
def _argmax(a, n, r):
    best = 0
    for c in range(1, a.shape[2]):
        if a[n, r, c] > a[n, r, best]:
            best = c
    return best


@kernel
def categorical_accuracy(t, y, w, acc):
    """Per-sample fraction of positions r with argmax(y) == argmax(t)."""
    n_, r_, _ = y.shape
    total = 0.0
    count = 0.0
    for n in range(n_):
        hits = 0
        for r in range(r_):
            if _argmax(y, n, r) == _argmax(t, n, r):
                hits += 1
        total += w[n] * hits / r_
        count += w[n]
    acc[0] += total
    acc[1] += count


@kernel
def sparse_categorical_accuracy(labels, y, w, acc):
    """Per-sample fraction of positions r with argmax(y) == label (labels (N, R) as floats)."""
    n_, r_, _ = y.shape
    total = 0.0
    count = 0.0
    for n in range(n_):
        hits = 0
        for r in range(r_):
            if _argmax(y, n, r) == labels[n, r]:
                hits += 1
        total += w[n] * hits / r_
        count += w[n]
    acc[0] += total
    acc[1] += count
