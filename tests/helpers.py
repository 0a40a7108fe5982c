"""Checks shared by the test files: allocation of bound steps, and numeric gradients."""
import tracemalloc

import numpy as np


def allocation_growth(step, warmup=3, calls=200):
    """(bytes still held, peak bytes) that ``calls`` calls of ``step`` allocate after warm-up."""
    for _ in range(warmup):
        step()
    tracemalloc.start()
    try:
        step()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(calls):
            step()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - base, peak - base


def assert_no_allocation(step, warmup=3, calls=200, held=512, peak=2048):
    """Repeated calls allocate no array: a batch-sized temporary would exceed ``peak`` bytes."""
    held_bytes, peak_bytes = allocation_growth(step, warmup, calls)
    assert held_bytes < held and peak_bytes < peak, (held_bytes, peak_bytes)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar ``f()`` with respect to every element of ``x`` (changed in place)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g
