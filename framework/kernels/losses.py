"""Loss kernels: the reduced loss and its gradient in one pass, over 3-D views.

Every kernel sees the model output as ``x`` of shape (N, R, C): N samples, R
per-sample loss elements, C the last (class / feature) axis. Arguments:

- ``t``: the target, (N, R, C) for dense losses or (N, R) float labels for
  sparse ones, in the same float dtype as ``x``;
- ``w``: per-sample weights (N,);
- ``d``: the gradient output (N, R, C), written (not accumulated); it must not
  alias ``x`` (the softmax kernels use it as scratch);
- ``scale``: the reduction factor, 1/(N*R) for 'sum_over_batch_size', 1 for 'sum'.

Each returns ``scale * sum_n w[n] * sum_r loss[n, r]`` and writes
``d = d(returned value) / dx``. Per-sample losses follow Keras: MSE, MAE,
Huber and BCE average over C, categorical crossentropies sum over C.
Sums and elementwise math are float64 whatever the input dtype.

Kernels are serial (BLAS owns the threads in a training step). fastmath keeps
NaN and Inf semantics (no 'nnan'/'ninf'), so NaN detection still works.
"""
import math

import numpy as np
from numba import njit

from framework.kernels import kernel

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


@kernel(inline="always")
def _sign(e):
    return 1.0 if e > 0.0 else (-1.0 if e < 0.0 else 0.0)


@kernel(inline="always")
def _clip(p, eps):
    """(clipped p, 1.0 if the gradient passes the clip else 0.0); NaN passes through."""
    if p < eps:
        return eps, 0.0
    if p > 1.0 - eps:
        return 1.0 - eps, 0.0
    return p, 1.0


@kernel(inline="always")
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@kernel
def mean_squared_error(x, t, w, d, scale):
    """mean_c (x - t)^2 per element."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = 2.0 * scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                e = np.float64(x[n, r, c]) - np.float64(t[n, r, c])
                s += e * e
                d[n, r, c] = g * e
        total += w[n] * s
    return scale * total / c_


@kernel
def mean_absolute_error(x, t, w, d, scale):
    """mean_c |x - t| per element; the gradient at x == t is 0."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                e = np.float64(x[n, r, c]) - np.float64(t[n, r, c])
                s += abs(e)
                d[n, r, c] = g * _sign(e)
        total += w[n] * s
    return scale * total / c_


@kernel
def huber(x, t, w, d, scale, delta):
    """mean_c of 0.5 e^2 if |e| <= delta else delta*|e| - 0.5 delta^2, e = x - t."""
    n_, r_, c_ = x.shape
    total = 0.0
    half_d2 = 0.5 * delta * delta
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                e = np.float64(x[n, r, c]) - np.float64(t[n, r, c])
                a = abs(e)
                if a <= delta:
                    s += 0.5 * e * e
                    d[n, r, c] = g * e
                else:
                    s += delta * a - half_d2
                    d[n, r, c] = g * delta * _sign(e)
        total += w[n] * s
    return scale * total / c_


@kernel
def binary_crossentropy(x, t, w, d, scale, smoothing, eps):
    """mean_c -(t log p + (1-t) log(1-p)), p = clip(x, eps, 1-eps), t smoothed toward 0.5."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + 0.5 * smoothing
                p, m = _clip(np.float64(x[n, r, c]), eps)
                s -= tt * math.log(p) + (1.0 - tt) * math.log(1.0 - p)
                d[n, r, c] = g * m * (p - tt) / (p * (1.0 - p))
        total += w[n] * s
    return scale * total / c_


@kernel
def binary_crossentropy_logits(z, t, w, d, scale, smoothing):
    """BCE of sigmoid(z) in the stable form max(z,0) - z t + log1p(exp(-|z|)); d = (sigmoid(z) - t)."""
    n_, r_, c_ = z.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + 0.5 * smoothing
                v = np.float64(z[n, r, c])
                s += max(v, 0.0) - v * tt + math.log1p(math.exp(-abs(v)))
                d[n, r, c] = g * (_sigmoid(v) - tt)
        total += w[n] * s
    return scale * total / c_


@kernel
def categorical_crossentropy(x, t, w, d, scale, smoothing, eps):
    """-sum_c t log q with q = clip(x / sum_c x, eps, 1-eps) (Keras renormalizes, then clips).

    With S = sum_c x and m_c the clip pass-through mask:
    dL/dx_j = (-t_j m_j / q_j + sum_c t_c m_c) / S.
    """
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            norm = 0.0
            for c in range(c_):
                norm += np.float64(x[n, r, c])
            tm = 0.0
            for c in range(c_):
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + smoothing / c_
                q, m = _clip(np.float64(x[n, r, c]) / norm, eps)
                s -= tt * math.log(q)
                tm += tt * m
            for c in range(c_):
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + smoothing / c_
                q, m = _clip(np.float64(x[n, r, c]) / norm, eps)
                d[n, r, c] = g * (tm - tt * m / q) / norm
        total += w[n] * s
    return scale * total


@kernel
def categorical_crossentropy_logits(z, t, w, d, scale, smoothing):
    """-sum_c t log_softmax(z) via log-sum-exp; d = softmax(z) * sum_c t - t."""
    n_, r_, c_ = z.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            top = -np.inf
            for c in range(c_):
                top = max(top, np.float64(z[n, r, c]))
            se = 0.0
            for c in range(c_):
                e = math.exp(np.float64(z[n, r, c]) - top)
                d[n, r, c] = e  # scratch: unnormalized softmax
                se += e
            lse = top + math.log(se)
            st = 0.0
            for c in range(c_):
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + smoothing / c_
                s += tt * (lse - np.float64(z[n, r, c]))
                st += tt
            for c in range(c_):
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + smoothing / c_
                d[n, r, c] = g * (np.float64(d[n, r, c]) / se * st - tt)
        total += w[n] * s
    return scale * total


@kernel
def _sparse_scale(labels, scale, ignore, has_ignore, per_valid):
    """``scale``, or 1/(number of non-ignored labels) when ``per_valid`` (0 if none are valid)."""
    if not (has_ignore and per_valid):
        return scale
    valid = 0
    for n in range(labels.shape[0]):
        for r in range(labels.shape[1]):
            if labels[n, r] != ignore:
                valid += 1
    return 1.0 / valid if valid > 0 else 0.0


@kernel(inline="always")
def _label(labels, n, r, c_):
    lab = np.float64(labels[n, r])
    k = int(lab) if -1.0 < lab < c_ else -1
    if k < 0 or k != lab:
        raise ValueError("sparse categorical crossentropy: a label is not an integer in [0, num_classes)")
    return k


@kernel
def sparse_categorical_crossentropy(x, labels, w, d, scale, eps, ignore, has_ignore, per_valid):
    """-log clip(x_k / sum_c x) for integer label k; labels equal to ``ignore`` add 0.

    ``per_valid``: divide by the number of non-ignored labels instead of using
    ``scale`` (Keras's masked 'sum_over_batch_size').
    """
    n_, r_, c_ = x.shape
    scale = _sparse_scale(labels, scale, ignore, has_ignore, per_valid)
    total = 0.0
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            if has_ignore and labels[n, r] == ignore:
                for c in range(c_):
                    d[n, r, c] = 0.0
                continue
            k = _label(labels, n, r, c_)
            norm = 0.0
            for c in range(c_):
                norm += np.float64(x[n, r, c])
            q, m = _clip(np.float64(x[n, r, k]) / norm, eps)
            s -= math.log(q)
            for c in range(c_):
                d[n, r, c] = g * m / norm
            d[n, r, k] = g * m * (1.0 - 1.0 / q) / norm
        total += w[n] * s
    return scale * total


@kernel
def sparse_categorical_crossentropy_logits(z, labels, w, d, scale, ignore, has_ignore, per_valid):
    """log-sum-exp(z) - z_k for integer label k; d = softmax(z) - onehot(k)."""
    n_, r_, c_ = z.shape
    scale = _sparse_scale(labels, scale, ignore, has_ignore, per_valid)
    total = 0.0
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            if has_ignore and labels[n, r] == ignore:
                for c in range(c_):
                    d[n, r, c] = 0.0
                continue
            k = _label(labels, n, r, c_)
            top = -np.inf
            for c in range(c_):
                top = max(top, np.float64(z[n, r, c]))
            se = 0.0
            for c in range(c_):
                e = math.exp(np.float64(z[n, r, c]) - top)
                d[n, r, c] = e
                se += e
            s += top + math.log(se) - np.float64(z[n, r, k])
            for c in range(c_):
                d[n, r, c] = g * np.float64(d[n, r, c]) / se
            d[n, r, k] -= g
        total += w[n] * s
    return scale * total


@kernel
def weight_sum(w):
    """sum(w) in float64 (the 'mean_with_sample_weight' divisor)."""
    s = 0.0
    for i in range(w.shape[0]):
        s += w[i]
    return s
