"""Inverted dropout: keep where the uniform draw is >= rate, scale kept values by 1/(1-rate)."""
from framework.kernels import kernel


@kernel
def dropout_forward(x, u, rate, y):
    scale = 1.0 / (1.0 - rate)
    for i in range(x.size):
        y[i] = x[i] * scale if u[i] >= rate else 0.0


@kernel
def dropout_backward(dy, u, rate, dx):
    scale = 1.0 / (1.0 - rate)
    for i in range(dy.size):
        dx[i] = dy[i] * scale if u[i] >= rate else 0.0
