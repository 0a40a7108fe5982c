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


# ----------------------------------------------------------------------------- regression and probabilistic losses
# Same conventions as above. "mean_c" losses divide by C, "sum_c" ones do not.

@kernel
def mean_absolute_percentage_error(x, t, w, d, scale, eps):
    """100 * mean_c |x - t| / max(|t|, eps); the gradient at x == t is 0."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = 100.0 * scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                tt = np.float64(t[n, r, c])
                den = max(abs(tt), eps)
                e = np.float64(x[n, r, c]) - tt
                s += abs(e) / den
                d[n, r, c] = g * _sign(e) / den
        total += w[n] * s
    return 100.0 * scale * total / c_


@kernel
def mean_squared_logarithmic_error(x, t, w, d, scale, eps):
    """mean_c (log(max(x, eps) + 1) - log(max(t, eps) + 1))^2; no gradient where x < eps."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = 2.0 * scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                v = np.float64(x[n, r, c])
                p = max(v, eps)
                e = math.log1p(p) - math.log1p(max(np.float64(t[n, r, c]), eps))
                s += e * e
                d[n, r, c] = g * e / (1.0 + p) if v >= eps else 0.0
        total += w[n] * s
    return scale * total / c_


@kernel
def log_cosh(x, t, w, d, scale):
    """mean_c log(cosh(e)), e = x - t, as e + softplus(-2e) - log 2 (no overflow); d = tanh(e)."""
    n_, r_, c_ = x.shape
    total = 0.0
    log2 = math.log(2.0)
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                e = np.float64(x[n, r, c]) - np.float64(t[n, r, c])
                u = -2.0 * e
                s += e + max(u, 0.0) + math.log1p(math.exp(-abs(u))) - log2
                d[n, r, c] = g * math.tanh(e)
        total += w[n] * s
    return scale * total / c_


@kernel
def poisson(x, t, w, d, scale, eps):
    """mean_c x - t log(x + eps)."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                v = np.float64(x[n, r, c])
                tt = np.float64(t[n, r, c])
                s += v - tt * math.log(v + eps)
                d[n, r, c] = g * (1.0 - tt / (v + eps))
        total += w[n] * s
    return scale * total / c_


@kernel
def kl_divergence(x, t, w, d, scale, eps):
    """sum_c t log(t / p) with t and p clipped to [eps, 1]; no gradient where x is clipped."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                tt = min(max(np.float64(t[n, r, c]), eps), 1.0)
                v = np.float64(x[n, r, c])
                p = min(max(v, eps), 1.0)
                s += tt * math.log(tt / p)
                d[n, r, c] = -g * tt / p if eps <= v <= 1.0 else 0.0
        total += w[n] * s
    return scale * total


@kernel
def cosine_similarity(x, t, w, d, scale, eps):
    """-sum_c normalize(t) * normalize(x) over the last axis, one value per (n, r).

    normalize(v) = v * min(1 / sqrt(sum v^2), 1 / eps), as Keras's L2 normalize.
    With a = normalize(t), S = sum_c a x and k = min(...) for x:
    dL/dx_j = -(k a_j - S k^3 x_j), the second term absent where the min picks 1/eps.
    """
    n_, r_, c_ = x.shape
    total = 0.0
    cap = 1.0 / eps
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            stt = 0.0
            sxx = 0.0
            stx = 0.0
            for c in range(c_):
                tt = np.float64(t[n, r, c])
                v = np.float64(x[n, r, c])
                stt += tt * tt
                sxx += v * v
                stx += tt * v
            kt = min(1.0 / math.sqrt(stt), cap)
            kx = 1.0 / math.sqrt(sxx)
            free = kx < cap
            if not free:
                kx = cap
            s -= kt * kx * stx
            k3 = kt * stx * kx * kx * kx if free else 0.0
            for c in range(c_):
                d[n, r, c] = -g * (kt * kx * np.float64(t[n, r, c]) - k3 * np.float64(x[n, r, c]))
        total += w[n] * s
    return scale * total


# ----------------------------------------------------------------------------- hinge losses

@kernel
def _binary_labels(t):
    """True when every target is 0 or 1 (Keras then maps them to -1 / 1 for the hinge losses)."""
    n_, r_, c_ = t.shape
    for n in range(n_):
        for r in range(r_):
            for c in range(c_):
                v = t[n, r, c]
                if v != 0.0 and v != 1.0:
                    return False
    return True


@kernel
def hinge(x, t, w, d, scale):
    """mean_c max(1 - t x, 0); {0, 1} targets (all of them) become {-1, 1} first."""
    n_, r_, c_ = x.shape
    convert = _binary_labels(t)
    total = 0.0
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                tt = np.float64(t[n, r, c])
                if convert:
                    tt = 2.0 * tt - 1.0
                m = 1.0 - tt * np.float64(x[n, r, c])
                if not m <= 0.0:  # NaN takes this branch and reaches the loss
                    s += m
                    d[n, r, c] = -g * tt
                else:
                    d[n, r, c] = 0.0
        total += w[n] * s
    return scale * total / c_


@kernel
def squared_hinge(x, t, w, d, scale):
    """mean_c max(1 - t x, 0)^2; {0, 1} targets (all of them) become {-1, 1} first."""
    n_, r_, c_ = x.shape
    convert = _binary_labels(t)
    total = 0.0
    for n in range(n_):
        g = 2.0 * scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                tt = np.float64(t[n, r, c])
                if convert:
                    tt = 2.0 * tt - 1.0
                m = max(1.0 - tt * np.float64(x[n, r, c]), 0.0)
                s += m * m
                d[n, r, c] = -g * tt * m
        total += w[n] * s
    return scale * total / c_


@kernel
def categorical_hinge(x, t, w, d, scale):
    """max(neg - pos + 1, 0), pos = sum_c t x, neg = max_c (1 - t) x (first maximum on ties)."""
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            pos = 0.0
            neg = -np.inf
            k = 0
            for c in range(c_):
                tt = np.float64(t[n, r, c])
                v = np.float64(x[n, r, c])
                pos += tt * v
                u = (1.0 - tt) * v
                if u > neg:
                    neg = u
                    k = c
            m = neg - pos + 1.0
            if not m <= 0.0:  # NaN takes this branch and reaches the loss
                s += m
                for c in range(c_):
                    d[n, r, c] = -g * np.float64(t[n, r, c])
                d[n, r, k] += g * (1.0 - np.float64(t[n, r, k]))
            else:
                for c in range(c_):
                    d[n, r, c] = 0.0
        total += w[n] * s
    return scale * total


# ----------------------------------------------------------------------------- focal crossentropies

@kernel(inline="always")
def _pow_minus_one(q, gamma):
    """q ** (gamma - 1) for q >= 0, taking the limit gamma * q**(gamma-1) -> 0 at q == 0 unless gamma == 1."""
    if q > 0.0:
        return q ** (gamma - 1.0)
    return 1.0 if gamma == 1.0 else 0.0


@kernel
def binary_focal_crossentropy(x, t, w, d, scale, smoothing, eps, gamma, alpha, balance, logits):
    """mean_c of weight * (1 - p_t)^gamma * bce, as Keras.

    p = sigmoid(x) when ``logits`` else x; bce = -(t log pc + (1-t) log(1-pc))
    with pc = clip(p, eps, 1-eps); p_t = t p + (1-t)(1-p) with the unclipped p;
    weight = t alpha + (1-t)(1-alpha) when ``balance`` else 1. Targets are
    smoothed toward 0.5 first. ``d`` is the gradient w.r.t. x (the logits when
    ``logits``).
    """
    n_, r_, c_ = x.shape
    total = 0.0
    for n in range(n_):
        g = scale * w[n] / c_
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + 0.5 * smoothing
                v = np.float64(x[n, r, c])
                if logits:
                    p = _sigmoid(v)
                    dp = p * (1.0 - p)
                else:
                    p = v
                    dp = 1.0
                pc, m = _clip(p, eps)
                bce = -(tt * math.log(pc) + (1.0 - tt) * math.log(1.0 - pc))
                dbce = m * (pc - tt) / (pc * (1.0 - pc))
                q = 1.0 - (tt * p + (1.0 - tt) * (1.0 - p))
                focal = q ** gamma
                dfocal = -gamma * _pow_minus_one(q, gamma) * (2.0 * tt - 1.0)
                weight = tt * alpha + (1.0 - tt) * (1.0 - alpha) if balance else 1.0
                s += weight * focal * bce
                d[n, r, c] = g * weight * (dfocal * bce + focal * dbce) * dp
        total += w[n] * s
    return scale * total / c_


@kernel
def categorical_focal_crossentropy(x, t, w, d, scale, smoothing, eps, gamma, alpha, logits):
    """sum_c -alpha_c t_c (1 - q_c)^gamma log q_c, as Keras.

    u = softmax(x) when ``logits``, else x / sum_c x; q = clip(u, eps, 1-eps);
    targets smoothed as t (1 - ls) + ls / C; ``alpha`` holds 1 or C factors.
    With h_c = dL/du_c (zero where clipped) and H = sum_c h_c u_c:
    dL/dx_j = (h_j - H) / sum_c x for probabilities, u_j (h_j - H) for logits.
    ``d`` is scratch (exp(x - max) for logits, then h) before the gradient is written.
    """
    n_, r_, c_ = x.shape
    per_class = alpha.shape[0] > 1
    total = 0.0
    for n in range(n_):
        g = scale * w[n]
        s = 0.0
        for r in range(r_):
            top = 0.0
            norm = 0.0
            if logits:
                top = -np.inf
                for c in range(c_):
                    top = max(top, np.float64(x[n, r, c]))
                for c in range(c_):
                    e = math.exp(np.float64(x[n, r, c]) - top)
                    d[n, r, c] = e
                    norm += e
            else:
                for c in range(c_):
                    norm += np.float64(x[n, r, c])
            inv = 1.0 / norm
            hu = 0.0
            for c in range(c_):
                u = (np.float64(d[n, r, c]) if logits else np.float64(x[n, r, c])) * inv
                tt = np.float64(t[n, r, c]) * (1.0 - smoothing) + smoothing / c_
                h = 0.0
                if tt != 0.0:
                    a = np.float64(alpha[c] if per_class else alpha[0])
                    q, m = _clip(u, eps)
                    lq = math.log(q)
                    omq = 1.0 - q
                    mod = omq ** gamma
                    s -= a * tt * mod * lq
                    h = -a * tt * m * (mod / q - gamma * _pow_minus_one(omq, gamma) * lq)
                hu += h * u
                d[n, r, c] = h
            for c in range(c_):
                if logits:
                    u = math.exp(np.float64(x[n, r, c]) - top) * inv
                    d[n, r, c] = g * u * (np.float64(d[n, r, c]) - hu)
                else:
                    d[n, r, c] = g * (np.float64(d[n, r, c]) - hu) * inv
        total += w[n] * s
    return scale * total
