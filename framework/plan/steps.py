"""Bound steps and array views that layers and the compiler share.

A step is a zero-argument callable bound to buffers when a plan is compiled; a
view reshapes a buffer once, at compile time, so no step reshapes anything.
"""
import numpy as np


def rows2d_last(array):
    """(rows, last axis) view of a C-contiguous array."""
    return array.reshape(-1, array.shape[-1]) if array.ndim != 2 else array


def rows2d(array):
    """(samples, features) view of a C-contiguous array: what the batch gather reads and writes."""
    return array.reshape(len(array), -1) if array.ndim != 2 else array


def matmul_step(a, b, out):
    """out = a @ b through BLAS, bound once."""
    matmul = np.matmul

    def step():
        matmul(a, b, out=out)
    return step


def copy_step(src, dst):
    """dst[...] = src, bound once."""
    copy = np.copyto

    def step():
        copy(dst, src)
    return step
