"""Small array kernels the plan uses between layers: gradient accumulation,
scaling, and the batch gather that feeds the plan's input buffers."""
import numpy as np
from framework.kernels import kernel


@kernel
def add_inplace(dst, src):
    """dst += src over 1-D arrays (gradient accumulation at a fan-out)."""
    for i in range(dst.size):
        dst[i] += src[i]


@kernel
def scale_inplace(dst, factor):
    """dst *= factor over a 1-D array."""
    for i in range(dst.size):
        dst[i] *= factor


@kernel
def gather_rows(src, order, start, dst):
    """dst[i] = src[order[start + i]] for each row of 2-D dst, casting to dst's dtype."""
    rows, cols = dst.shape
    for i in range(rows):
        r = order[start + i]
        for j in range(cols):
            dst[i, j] = src[r, j]


@kernel
def copy_rows(src, start, dst):
    """dst[i] = src[start + i] for each row of 2-D dst, casting to dst's dtype."""
    rows, cols = dst.shape
    for i in range(rows):
        for j in range(cols):
            dst[i, j] = src[start + i, j]


def flat(array):
    """A 1-D view of a C-contiguous array (made once, at bind time)."""
    return array.reshape(-1)
