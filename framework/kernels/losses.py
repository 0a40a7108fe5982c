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

Elementwise losses (``loss[n, r]`` a mean or sum over C of a per-element
term) share one loop, ``_each``. Each is a scalar function
``f(v, tt, p) -> (value, d value / d v)`` of the float64 prediction ``v`` and
target ``tt`` (``p``: a tuple of parameters) plus a one-line kernel naming
it, so ``f`` is a compile-time constant inlined into a branch-free loop. No
jitted function is a kernel argument (that defeats ``cache=True``:
docs/architecture.md, Kernels). One kernel switching on an int code, as in
activations.py, measured worse here: MSE's first compile went from 1 s to
5.5 s (it builds every loss) and a (128, 10) call gained 0.15 us (three more
arguments, and array incref/decrefs that NRT's refcount pruning leaves in
place beyond two branches).

Class-axis losses (terms coupled along C: crossentropies, cosine, categorical
hinge, focal) keep a kernel and row loop each: their row math differs, and a
shared row loop calling an inlined ``row(x, t, d, n, r, ...)`` pays an
incref/decref per array per row (sparse crossentropy on (128, 10) float32:
3.4 us -> 4.5 us). Scalar helpers, which take no arrays, are shared.

Kernels are serial (BLAS owns the threads in a training step). fastmath keeps
NaN and Inf semantics (no 'nnan'/'ninf'), so NaN detection still works.
"""
import math

import numpy as np

from framework.kernels import kernel

_LOG_2 = math.log(2.0)


# ----------------------------------------------------------------------------- scalar helpers

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


@kernel(inline="always")
def _smooth(tt, smoothing):
    """A binary target smoothed toward 0.5."""
    return tt * (1.0 - smoothing) + 0.5 * smoothing


@kernel(inline="always")
def _pow_minus_one(q, gamma):
    """q ** (gamma - 1) for q >= 0, taking the limit gamma * q**(gamma-1) -> 0 at q == 0 unless gamma == 1."""
    if q > 0.0:
        return q ** (gamma - 1.0)
    return 1.0 if gamma == 1.0 else 0.0


# ----------------------------------------------------------------------------- elementwise losses
# Each loss: a scalar function f(v, tt, p) -> (value, derivative w.r.t. v), then
# its kernel, which runs it through _each (mean over C; KL divergence sums).

@kernel(inline="always")
def _each(x, t, w, d, scale, f, p, mean):
    """Return scale * sum_n w[n] * sum_{r,c} value / div and write d = scale * w[n] / div * slope.

    (value, slope) = f(x, t, p); div = C when ``mean`` else 1. The loop every
    elementwise loss shares: with f inlined it has no branch but f's own, so
    it vectorizes where f does.
    """
    n_, r_, c_ = x.shape
    div = c_ if mean else 1
    total = 0.0
    for n in range(n_):
        g = scale * w[n] / div
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                value, slope = f(np.float64(x[n, r, c]), np.float64(t[n, r, c]), p)
                s += value
                d[n, r, c] = g * slope
        total += w[n] * s
    return scale * total / div


@kernel(inline="always")
def _mse(v, tt, p):
    e = v - tt
    return e * e, 2.0 * e


@kernel
def mean_squared_error(x, t, w, d, scale):
    """mean_c (x - t)^2 per element."""
    return _each(x, t, w, d, scale, _mse, (), True)


@kernel(inline="always")
def _mae(v, tt, p):
    e = v - tt
    return abs(e), _sign(e)


@kernel
def mean_absolute_error(x, t, w, d, scale):
    """mean_c |x - t| per element; the gradient at x == t is 0."""
    return _each(x, t, w, d, scale, _mae, (), True)


@kernel(inline="always")
def _huber(v, tt, p):
    delta = p[0]
    e = v - tt
    a = abs(e)
    if a <= delta:
        return 0.5 * e * e, e
    return delta * a - 0.5 * delta * delta, delta * _sign(e)


@kernel
def huber(x, t, w, d, scale, delta):
    """mean_c of 0.5 e^2 if |e| <= delta else delta*|e| - 0.5 delta^2, e = x - t."""
    return _each(x, t, w, d, scale, _huber, (delta,), True)


@kernel(inline="always")
def _bce(v, tt, p):
    smoothing, eps = p
    tt = _smooth(tt, smoothing)
    q, m = _clip(v, eps)
    return -(tt * math.log(q) + (1.0 - tt) * math.log(1.0 - q)), m * (q - tt) / (q * (1.0 - q))


@kernel
def binary_crossentropy(x, t, w, d, scale, smoothing, eps):
    """mean_c -(t log p + (1-t) log(1-p)), p = clip(x, eps, 1-eps), t smoothed toward 0.5."""
    return _each(x, t, w, d, scale, _bce, (smoothing, eps), True)


@kernel(inline="always")
def _bce_logits(v, tt, p):
    tt = _smooth(tt, p[0])
    return max(v, 0.0) - v * tt + math.log1p(math.exp(-abs(v))), _sigmoid(v) - tt


@kernel
def binary_crossentropy_logits(z, t, w, d, scale, smoothing):
    """BCE of sigmoid(z) in the stable form max(z,0) - z t + log1p(exp(-|z|)); d = (sigmoid(z) - t)."""
    return _each(z, t, w, d, scale, _bce_logits, (smoothing,), True)


@kernel(inline="always")
def _mape(v, tt, p):
    den = max(abs(tt), p[0])
    e = v - tt
    return 100.0 * abs(e) / den, 100.0 * _sign(e) / den


@kernel
def mean_absolute_percentage_error(x, t, w, d, scale, eps):
    """100 * mean_c |x - t| / max(|t|, eps); the gradient at x == t is 0."""
    return _each(x, t, w, d, scale, _mape, (eps,), True)


@kernel(inline="always")
def _msle(v, tt, p):
    eps = p[0]
    q = max(v, eps)
    e = math.log1p(q) - math.log1p(max(tt, eps))
    return e * e, 2.0 * e / (1.0 + q) if v >= eps else 0.0


@kernel
def mean_squared_logarithmic_error(x, t, w, d, scale, eps):
    """mean_c (log(max(x, eps) + 1) - log(max(t, eps) + 1))^2; no gradient where x < eps."""
    return _each(x, t, w, d, scale, _msle, (eps,), True)


@kernel(inline="always")
def _log_cosh(v, tt, p):
    e = v - tt
    u = -2.0 * e
    return e + max(u, 0.0) + math.log1p(math.exp(-abs(u))) - _LOG_2, math.tanh(e)


@kernel
def log_cosh(x, t, w, d, scale):
    """mean_c log(cosh(e)), e = x - t, as e + softplus(-2e) - log 2 (no overflow); d = tanh(e)."""
    return _each(x, t, w, d, scale, _log_cosh, (), True)


@kernel(inline="always")
def _poisson(v, tt, p):
    return v - tt * math.log(v + p[0]), 1.0 - tt / (v + p[0])


@kernel
def poisson(x, t, w, d, scale, eps):
    """mean_c x - t log(x + eps)."""
    return _each(x, t, w, d, scale, _poisson, (eps,), True)


@kernel(inline="always")
def _kl_divergence(v, tt, p):
    eps = p[0]
    tt = min(max(tt, eps), 1.0)
    q = min(max(v, eps), 1.0)
    return tt * math.log(tt / q), -tt / q if eps <= v <= 1.0 else 0.0


@kernel
def kl_divergence(x, t, w, d, scale, eps):
    """sum_c t log(t / p) with t and p clipped to [eps, 1]; no gradient where x is clipped."""
    return _each(x, t, w, d, scale, _kl_divergence, (eps,), False)


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


@kernel(inline="always")
def _hinge(v, tt, p):
    if p[0]:  # loop-invariant: LLVM unswitches it out of the loop
        tt = 2.0 * tt - 1.0
    m = 1.0 - tt * v
    if not m <= 0.0:  # NaN takes this branch and reaches the loss
        return m, -tt
    return 0.0, 0.0


@kernel
def hinge(x, t, w, d, scale):
    """mean_c max(1 - t x, 0); {0, 1} targets (all of them) become {-1, 1} first."""
    return _each(x, t, w, d, scale, _hinge, (_binary_labels(t),), True)


@kernel(inline="always")
def _squared_hinge(v, tt, p):
    if p[0]:
        tt = 2.0 * tt - 1.0
    m = max(1.0 - tt * v, 0.0)
    return m * m, -2.0 * tt * m


@kernel
def squared_hinge(x, t, w, d, scale):
    """mean_c max(1 - t x, 0)^2; {0, 1} targets (all of them) become {-1, 1} first."""
    return _each(x, t, w, d, scale, _squared_hinge, (_binary_labels(t),), True)


@kernel(inline="always")
def _binary_focal(v, tt, p):
    smoothing, eps, gamma, alpha, balance, logits = p
    tt = _smooth(tt, smoothing)
    if logits:
        q = _sigmoid(v)
        dq = q * (1.0 - q)
    else:
        q = v
        dq = 1.0
    qc, m = _clip(q, eps)
    bce = -(tt * math.log(qc) + (1.0 - tt) * math.log(1.0 - qc))
    dbce = m * (qc - tt) / (qc * (1.0 - qc))
    u = 1.0 - (tt * q + (1.0 - tt) * (1.0 - q))
    focal = u ** gamma
    dfocal = -gamma * _pow_minus_one(u, gamma) * (2.0 * tt - 1.0)
    weight = tt * alpha + (1.0 - tt) * (1.0 - alpha) if balance else 1.0
    return weight * focal * bce, weight * (dfocal * bce + focal * dbce) * dq


@kernel
def binary_focal_crossentropy(x, t, w, d, scale, smoothing, eps, gamma, alpha, balance, logits):
    """mean_c of weight * (1 - p_t)^gamma * bce, as Keras.

    p = sigmoid(x) when ``logits`` else x; bce = -(t log pc + (1-t) log(1-pc))
    with pc = clip(p, eps, 1-eps); p_t = t p + (1-t)(1-p) with the unclipped p;
    weight = t alpha + (1-t)(1-alpha) when ``balance`` else 1. Targets are
    smoothed toward 0.5 first. ``d`` is the gradient w.r.t. x (the logits when
    ``logits``).
    """
    return _each(x, t, w, d, scale, _binary_focal, (smoothing, eps, gamma, alpha, balance, logits), True)


# ----------------------------------------------------------------------------- class-axis losses
# One kernel and row loop each (see the module docstring).

@kernel(inline="always")
def _smooth_categorical(tt, smoothing, c_):
    """A categorical target smoothed toward 1 / C."""
    return tt * (1.0 - smoothing) + smoothing / c_


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
                tt = _smooth_categorical(np.float64(t[n, r, c]), smoothing, c_)
                q, m = _clip(np.float64(x[n, r, c]) / norm, eps)
                s -= tt * math.log(q)
                tm += tt * m
            for c in range(c_):
                tt = _smooth_categorical(np.float64(t[n, r, c]), smoothing, c_)
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
                tt = _smooth_categorical(np.float64(t[n, r, c]), smoothing, c_)
                s += tt * (lse - np.float64(z[n, r, c]))
                st += tt
            for c in range(c_):
                tt = _smooth_categorical(np.float64(t[n, r, c]), smoothing, c_)
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
                tt = _smooth_categorical(np.float64(t[n, r, c]), smoothing, c_)
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


# ----------------------------------------------------------------------------- reductions

@kernel
def weight_sum(w):
    """sum(w) in float64 (the 'mean_with_sample_weight' divisor)."""
    s = 0.0
    for i in range(w.shape[0]):
        s += w[i]
    return s
