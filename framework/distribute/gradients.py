"""The gradient all-reduce: one call over the parameter arena's single gradient array per step."""
import time

import numpy as np


class GradientReducer:
    """Called by a training plan between backward and the optimizer (``Plan.gradient_reducer``): scales
    this process's gradient by its share of the global batch, then sums it over every process in place.

    Each process's loss is the mean over its own shard (``sum_over_batch_size``), so its gradient is
    ``sum / rows``; scaled by ``rows / batch`` and summed, the processes give ``sum over the batch /
    batch``, the gradient one process computes on the whole batch. Regularization penalties are added
    after the reduction, once, as in one process.

    Args:
        world: the ``World`` of processes.
    """

    def __init__(self, world):
        self.world = world
        self.grads = None
        self.share = 1.0
        self.calls = 0
        self.seconds = 0.0     # time spent in the all-reduce (waiting for the slowest process included)
        self.bytes = 0         # size of the gradient array reduced per call

    def prepare(self, model, share):
        """Bind to ``model``'s current gradient array, with this process's ``share`` of the next batch."""
        self.grads = model.plan_cache.current_arena().grads
        self.share = share
        self.bytes = self.grads.nbytes

    def __call__(self):
        grads = self.grads
        if self.share != 1.0:
            np.multiply(grads, self.share, out=grads)
        start = time.perf_counter()
        self.world.allreduce(grads)
        self.seconds += time.perf_counter() - start
        self.calls += 1
