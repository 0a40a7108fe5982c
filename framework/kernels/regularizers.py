"""Weight-penalty kernels: penalty value and its gradient in one pass."""
import numpy as np
from numba import njit

from framework.kernels import kernel


# 'reassoc' lets the two float64 sums vectorize (about 10x on random weights);
# it assumes nothing about NaN or Inf, so a NaN weight still shows in the penalty.
# np.sign rather than branches: branchy sign code mispredicts on random signs.
@kernel
def l1_l2_penalty_and_grad(w, g, l1, l2):
    """Return ``l1*sum|w| + l2*sum(w^2)`` and add ``l1*sign(w) + 2*l2*w`` into ``g``.

    ``w`` and ``g`` are 1-D arrays of the same length; ``g`` already holds the
    loss gradient, so the penalty gradient is accumulated, not written.
    Sums are kept in float64 whatever the weight dtype. sign(0) = 0.
    """
    s1 = 0.0
    s2 = 0.0
    two_l2 = 2.0 * l2
    for i in range(w.shape[0]):
        x = float(w[i])
        s1 += abs(x)
        s2 += x * x
        g[i] += l1 * np.sign(x) + two_l2 * x
    return l1 * s1 + l2 * s2
