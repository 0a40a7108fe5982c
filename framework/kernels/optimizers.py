"""Optimizer updates: one fused pass over the whole trainable arena.

Scalars arrive cast to the arena's dtype so float32 stays float32. Each
update follows Keras 3's rule for the same optimizer.
"""
import math

from numba import njit


@njit(cache=True)
def sgd_update(p, g, lr):
    for i in range(p.size):
        p[i] -= lr * g[i]


@njit(cache=True)
def sgd_momentum_update(p, g, m, lr, momentum, nesterov):
    for i in range(p.size):
        m[i] = momentum * m[i] - lr * g[i]
        if nesterov:
            p[i] += momentum * m[i] - lr * g[i]
        else:
            p[i] += m[i]


@njit(cache=True)
def adam_update(p, g, m, v, vhat, alpha, beta_1, beta_2, epsilon, amsgrad):
    """m, v moving moments; alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t) computed by the caller."""
    one = beta_1 - beta_1 + 1
    for i in range(p.size):
        gi = g[i]
        m[i] += (gi - m[i]) * (one - beta_1)
        v[i] += (gi * gi - v[i]) * (one - beta_2)
        denom = v[i]
        if amsgrad:
            if v[i] > vhat[i]:
                vhat[i] = v[i]
            denom = vhat[i]
        p[i] -= m[i] * alpha / (math.sqrt(denom) + epsilon)


@njit(cache=True)
def rmsprop_update(p, g, ms, mg, mom, lr, rho, momentum, epsilon, centered):
    """Keras RMSprop: ms moving mean square, mg moving mean gradient (centered), mom momentum."""
    one = rho - rho + 1
    for i in range(p.size):
        gi = g[i]
        ms[i] = rho * ms[i] + (one - rho) * gi * gi
        denom = ms[i]
        if centered:
            mg[i] = rho * mg[i] + (one - rho) * gi
            denom = ms[i] - mg[i] * mg[i]
        step = lr * gi / math.sqrt(denom + epsilon)
        if momentum > 0:
            mom[i] = momentum * mom[i] + step
            p[i] -= mom[i]
        else:
            p[i] -= step
