"""Where this process's rows sit in the global batch, for the steps that depend on the batch as a whole.

In one process nothing is set (``current`` is None) and every step sees its own batch. Data-parallel
training (``framework.distribute``) sets a ``GlobalBatch`` before each training step and takes it away
when fit ends. Two kinds of steps read it:

- Random layers draw with ``uniform_rows``: each process draws the numbers of the whole global batch from
  its generator (the generators are in step on every process) and keeps its own rows, so N processes
  apply exactly the masks one process would, sample by sample.
- ``BatchNormalization(synchronized=True)`` sums its batch statistics over the processes
  (``GlobalBatch.sum_over_processes``), so every process normalizes with the global batch's.
"""
import collections

import numpy as np

#: the global batch of the running training step, or None (one process, or outside a data-parallel fit)
current = None

#: how many draw buffers a ``GlobalBatch`` keeps (one per random layer's draw shape)
MAX_DRAW_BUFFERS = 64


class GlobalBatch:
    """This process's part of a data-parallel training step's global batch.

    Args:
        total: the rows of the global batch.
        start: the index of this process's first row in it.
        rows: this process's rows; 0 for a process whose shard is empty (its plan runs one stand-in row
            whose contributions are weighted by zero).
        sum_over_processes: a function summing a contiguous float64 array over every process, in place.
    """

    def __init__(self, total, start, rows, sum_over_processes):
        self.total = int(total)
        self.start = int(start)
        self.rows = int(rows)
        self.sum_over_processes = sum_over_processes
        self._buffers = collections.OrderedDict()

    def move_to(self, total, start, rows):
        """The next step's place (the draw buffers are kept)."""
        self.total, self.start, self.rows = int(total), int(start), int(rows)

    @property
    def share(self):
        """This process's fraction of the global batch."""
        return self.rows / self.total

    @property
    def plan_rows(self):
        """The rows of this process's plan (a stand-in row when its shard is empty)."""
        return max(self.rows, 1)

    def draw_buffer(self, sample_shape, dtype):
        """A buffer for the draws of the whole global batch (kept, at most ``MAX_DRAW_BUFFERS``)."""
        key = ((self.total,) + tuple(sample_shape), np.dtype(dtype).str)
        buffer = self._buffers.pop(key, None)
        if buffer is None:
            buffer = np.empty(key[0], dtype)
            while len(self._buffers) >= MAX_DRAW_BUFFERS:
                self._buffers.popitem(last=False)
        self._buffers[key] = buffer
        return buffer


def uniform_rows(generator, out):
    """Uniform draws in [0, 1) into ``out`` (C-contiguous, float32 or float64), whose first axis is the batch.

    In a data-parallel training step, the draws of the whole global batch are made and this process's
    rows kept: every process advances its generator alike and one process's numbers are reproduced."""
    batch = current
    if batch is None or out.ndim == 0 or out.shape[0] != batch.plan_rows:
        generator.random(dtype=out.dtype, out=out)
        return
    whole = batch.draw_buffer(out.shape[1:], out.dtype)
    generator.random(dtype=whole.dtype, out=whole)
    if batch.rows:
        out[...] = whole[batch.start:batch.start + batch.rows]


def enter(batch):
    """Make ``batch`` (a ``GlobalBatch``, or None) the one steps read."""
    global current
    current = batch
