"""Optimizer updates: one fused serial pass over the whole trainable arena.

Scalars arrive cast to the arena's dtype so float32 stays float32. Each
update follows Keras 3's rule for the same optimizer; step-dependent factors
(bias corrections, Nadam's momentum schedule) are computed by the caller once
per step. Branches on flags (amsgrad, nesterov, centered) sit outside the
element loops, so every loop is a straight line LLVM can vectorize.

The second half holds the small kernels shared by every optimizer: gradient
clipping (by value, per-weight norm, global norm), decoupled weight decay,
gradient accumulation and the exponential moving average of the weights.
They never write through two names of one array (no in-place aliasing), which
would leave the loops scalar.
"""
import math

import numpy as np

from framework.kernels import kernel


# ----------------------------------------------------------------------------- update rules

@kernel
def sgd_update(p, g, lr):
    for i in range(p.size):
        p[i] -= lr * g[i]


@kernel
def sgd_momentum_update(p, g, m, lr, momentum, nesterov):
    """m = momentum*m - lr*g; p += m (nesterov: p += momentum*m - lr*g)."""
    if nesterov:
        for i in range(p.size):
            gi = g[i]
            mi = momentum * m[i] - lr * gi
            m[i] = mi
            p[i] += momentum * mi - lr * gi
    else:
        for i in range(p.size):
            mi = momentum * m[i] - lr * g[i]
            m[i] = mi
            p[i] += mi


@kernel
def adam_update(p, g, m, v, vhat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, amsgrad):
    """m, v moving moments; alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t) computed by the caller.

    With amsgrad the running maximum of v (vhat) is the denominator."""
    if amsgrad:
        for i in range(p.size):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * one_minus_beta_1
            vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
            m[i] = mi
            v[i] = vi
            vh = max(vhat[i], vi)
            vhat[i] = vh
            p[i] -= mi * alpha / (math.sqrt(vh) + epsilon)
    else:
        for i in range(p.size):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * one_minus_beta_1
            vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
            m[i] = mi
            v[i] = vi
            p[i] -= mi * alpha / (math.sqrt(vi) + epsilon)


@kernel
def rmsprop_update(p, g, ms, mg, mom, lr, rho, one_minus_rho, momentum, epsilon, centered):
    """Keras RMSprop: ms moving mean square, mg moving mean gradient (centered), mom momentum.

    step = lr * g / sqrt(ms - mg^2 + epsilon) (mg = 0 unless centered)."""
    use_momentum = momentum > 0
    if centered and use_momentum:
        for i in range(p.size):
            gi = g[i]
            msi = rho * ms[i] + one_minus_rho * gi * gi
            mgi = rho * mg[i] + one_minus_rho * gi
            ms[i] = msi
            mg[i] = mgi
            mi = momentum * mom[i] + lr * gi / math.sqrt(msi - mgi * mgi + epsilon)
            mom[i] = mi
            p[i] -= mi
    elif centered:
        for i in range(p.size):
            gi = g[i]
            msi = rho * ms[i] + one_minus_rho * gi * gi
            mgi = rho * mg[i] + one_minus_rho * gi
            ms[i] = msi
            mg[i] = mgi
            p[i] -= lr * gi / math.sqrt(msi - mgi * mgi + epsilon)
    elif use_momentum:
        for i in range(p.size):
            gi = g[i]
            msi = rho * ms[i] + one_minus_rho * gi * gi
            ms[i] = msi
            mi = momentum * mom[i] + lr * gi / math.sqrt(msi + epsilon)
            mom[i] = mi
            p[i] -= mi
    else:
        for i in range(p.size):
            gi = g[i]
            msi = rho * ms[i] + one_minus_rho * gi * gi
            ms[i] = msi
            p[i] -= lr * gi / math.sqrt(msi + epsilon)


@kernel
def adagrad_update(p, g, acc, lr, epsilon):
    """acc += g^2; p -= lr * g / sqrt(acc + epsilon)."""
    for i in range(p.size):
        gi = g[i]
        ai = acc[i] + gi * gi
        acc[i] = ai
        p[i] -= lr * gi / math.sqrt(ai + epsilon)


@kernel
def adadelta_update(p, g, acc_grad, acc_delta, lr, rho, one_minus_rho, epsilon):
    """Keras Adadelta, epsilon inside both square roots:

    acc_grad = rho*acc_grad + (1-rho)*g^2
    delta = -sqrt(acc_delta + eps) * g / sqrt(acc_grad + eps)
    acc_delta = rho*acc_delta + (1-rho)*delta^2;  p += lr * delta"""
    for i in range(p.size):
        gi = g[i]
        ag = rho * acc_grad[i] + one_minus_rho * gi * gi
        acc_grad[i] = ag
        ad = acc_delta[i]
        delta = -(math.sqrt(ad + epsilon) * gi) / math.sqrt(ag + epsilon)
        acc_delta[i] = rho * ad + one_minus_rho * delta * delta
        p[i] += lr * delta


@kernel
def adamax_update(p, g, m, u, alpha, one_minus_beta_1, beta_2, epsilon):
    """m += (g - m)(1-beta_1); u = max(beta_2*u, |g|); p -= alpha*m/(u + eps),
    alpha = lr / (1 - beta_1^t) from the caller."""
    for i in range(p.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1
        m[i] = mi
        ui = max(beta_2 * u[i], abs(gi))
        u[i] = ui
        p[i] -= alpha * mi / (ui + epsilon)


@kernel
def nadam_update(p, g, m, v, m_coef, g_coef, v_coef, one_minus_beta_1, one_minus_beta_2, epsilon):
    """Keras Nadam with the step's factors folded by the caller:

    m_coef = lr*u_{t+1}/(1 - prod_{t+1}), g_coef = lr*(1-u_t)/(1 - prod_t), v_coef = 1/(1-beta_2^t);
    p -= (m_coef*m + g_coef*g) / (sqrt(v*v_coef) + eps)."""
    for i in range(p.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_beta_1
        vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2
        m[i] = mi
        v[i] = vi
        p[i] -= (m_coef * mi + g_coef * gi) / (math.sqrt(vi * v_coef) + epsilon)


@kernel
def lion_update(p, g, m, lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2):
    """p -= lr * sign(beta_1*m + (1-beta_1)*g); m = beta_2*m + (1-beta_2)*g."""
    for i in range(p.size):
        gi = g[i]
        mi = m[i]
        p[i] -= lr * np.sign(mi * beta_1 + gi * one_minus_beta_1)
        m[i] = mi * beta_2 + gi * one_minus_beta_2


# ----------------------------------------------------------------------------- shared options

@kernel
def clip_by_value(g, out, limit):
    """out = clip(g, -limit, limit); NaN stays NaN."""
    low = -limit
    for i in range(g.size):
        x = g[i]
        if x > limit:
            x = limit
        elif x < low:
            x = low
        out[i] = x


@kernel
def clip_by_norm_segments(g, out, starts, stops, clipnorm):
    """Per segment (one weight each): out = g * clipnorm / max(||g||, clipnorm), Keras's clipnorm.

    Each segment is taken as a slice, so its loops index from 0: a loop over
    ``range(start, stop)`` keeps Numba's negative-index check and stays scalar (4x slower)."""
    for s in range(starts.size):
        gs = g[starts[s]:stops[s]]
        os = out[starts[s]:stops[s]]
        total = 0.0
        for i in range(gs.size):
            total += gs[i] * gs[i]
        norm = math.sqrt(total)
        if norm <= clipnorm:
            scale = 1.0
        elif norm > clipnorm:
            scale = clipnorm / norm
        else:  # NaN norm: propagate it, as Keras's maximum(norm, clipnorm) does
            scale = math.nan
        factor = out.dtype.type(scale)
        for i in range(gs.size):
            os[i] = gs[i] * factor


@kernel
def clip_by_global_norm(g, out, clipnorm):
    """out = g * min(1, clipnorm / ||g||) over the whole array; a NaN or Inf norm gives NaN
    (Keras's clip_by_global_norm). Returns the norm."""
    total = 0.0
    for i in range(g.size):
        total += g[i] * g[i]
    norm = math.sqrt(total)
    if norm <= clipnorm:
        scale = 1.0
    elif math.isinf(norm) or math.isnan(norm):
        scale = math.nan
    else:
        scale = clipnorm / norm
    factor = out.dtype.type(scale)
    for i in range(g.size):
        out[i] = g[i] * factor
    return norm


@kernel
def decay_weights(p, weight_decay, lr):
    """Decoupled weight decay as Keras applies it before the update: p -= p * wd * lr."""
    for i in range(p.size):
        p[i] -= p[i] * weight_decay * lr


@kernel
def accumulate(acc, g):
    """acc += g (a gradient-accumulation step that does not update the weights)."""
    for i in range(acc.size):
        acc[i] += g[i]


@kernel
def accumulate_mean(acc, g, steps):
    """acc = (acc + g) / steps: the mean gradient of an accumulation window."""
    for i in range(acc.size):
        acc[i] = (acc[i] + g[i]) / steps


@kernel
def ema_update(average, p, momentum, one_minus_momentum):
    """average = momentum * average + (1 - momentum) * p."""
    for i in range(p.size):
        average[i] = momentum * average[i] + one_minus_momentum * p[i]
