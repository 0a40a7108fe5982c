"""Optimizer updates: one fused pass over the whole trainable arena.

Scalars arrive cast to the arena's dtype so float32 stays float32. Each
update follows Keras 3's rule for the same optimizer.
"""
import math

from framework.kernels import kernel


@kernel
def sgd_update(p, g, lr):
    for i in range(p.size):
        p[i] -= lr * g[i]


@kernel
def sgd_momentum_update(p, g, m, lr, momentum, nesterov):
    for i in range(p.size):
        m[i] = momentum * m[i] - lr * g[i]
        if nesterov:
            p[i] += momentum * m[i] - lr * g[i]
        else:
            p[i] += m[i]


@kernel
def adam_update(p, g, m, v, vhat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, amsgrad):
    """m, v moving moments; alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t) computed by the caller.

    With amsgrad the running maximum of v (vhat) is the denominator. The branch
    sits outside the loops so each loop vectorizes."""
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
    """Keras RMSprop: ms moving mean square, mg moving mean gradient (centered), mom momentum."""
    for i in range(p.size):
        gi = g[i]
        ms[i] = rho * ms[i] + one_minus_rho * gi * gi
        denom = ms[i]
        if centered:
            mg[i] = rho * mg[i] + one_minus_rho * gi
            denom = ms[i] - mg[i] * mg[i]
        step = lr * gi / math.sqrt(denom + epsilon)
        if momentum > 0:
            mom[i] = momentum * mom[i] + step
            p[i] -= mom[i]
        else:
            p[i] -= step
