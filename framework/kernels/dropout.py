"""Inverted dropout: keep where the uniform draw is >= rate, scale kept values by 1/(1-rate)."""
from numba import njit


@njit(cache=True)
def dropout_forward(x, u, rate, y):
    scale = 1.0 / (1.0 - rate)
    for i in range(x.size):
        y[i] = x[i] * scale if u[i] >= rate else 0.0


@njit(cache=True)
def dropout_backward(dy, u, rate, dx):
    scale = 1.0 / (1.0 - rate)
    for i in range(dy.size):
        dx[i] = dy[i] * scale if u[i] >= rate else 0.0
