"""Shared by the test files: allocation checks of bound steps, numeric gradients, a mask-starting layer."""
import tracemalloc

import numpy as np

from framework.graph.tensor import Mask
from framework.plan.steps import copy_step
from framework.layers.layer import Layer


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


class StartMask(Layer):
    """Test layer: passes x through and masks the steps whose first feature is 0."""

    def compute_mask(self, input_masks):
        return Mask((None, self.input_spec_shape[1]))

    def forward(self, ctx):
        x, y, mask = ctx.x, ctx.y, ctx.output_masks[0]

        def write_mask():
            np.not_equal(x[:, :, 0], 0, out=mask, casting="unsafe")
        return [copy_step(x, y), write_mask]

    def backward(self, ctx):
        return [] if ctx.dx is None else [copy_step(ctx.dy, ctx.dx)]
