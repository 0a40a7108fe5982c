"""Bound steps and array views that layers and the compiler share.

A step is a zero-argument callable bound to buffers when a plan is compiled; a
view reshapes a buffer once, at compile time, so no step reshapes anything.
"""
import numpy as np

from framework.kernels import blas_threads


def rows2d_last(array):
    """(rows, last axis) view of a C-contiguous array."""
    return array.reshape(-1, array.shape[-1]) if array.ndim != 2 else array


def rows2d(array):
    """(samples, features) view of a C-contiguous array: what the batch gather reads and writes."""
    return array.reshape(len(array), -1) if array.ndim != 2 else array


def blas_strides(array):
    """The same view with the strides of its length-1 matrix axes set so that NumPy hands the product to
    BLAS: a (1, n) row sliced out of a bigger array keeps the big array's row stride, which NumPy's
    BLAS check rejects, and its fallback loop ran a (784, 1) @ (1, 6272) product 80x slower."""
    if array.ndim < 2 or (array.shape[-1] != 1 and array.shape[-2] != 1):
        return array
    rows, cols = array.shape[-2:]
    row_stride, col_stride = array.strides[-2:]
    size = array.itemsize
    if cols == 1:
        col_stride = size
    if rows == 1:
        row_stride = cols * col_stride if col_stride == size else size
    strides = array.strides[:-2] + (row_stride, col_stride)
    return np.lib.stride_tricks.as_strided(array, array.shape, strides, writeable=array.flags.writeable)


def matmul_step(a, b, out):
    """out = a @ b through BLAS, bound once, with the BLAS threads the product must run with
    (kernels.blas_threads.bound_product: one for a small result; all of them for a product whose rounding
    depends on the count; otherwise the plan's measured choice)."""
    matmul = np.matmul
    a, b, out = blas_strides(a), blas_strides(b), blas_strides(out)

    def step():
        matmul(a, b, out=out)
    return blas_threads.bound_product(step, a, b, out)


def copy_step(src, dst):
    """dst[...] = src, bound once."""
    copy = np.copyto

    def step():
        copy(dst, src)
    return step
