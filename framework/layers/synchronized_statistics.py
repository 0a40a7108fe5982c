"""``BatchNormalization(synchronized=True)`` in a data-parallel fit: the statistics of the global batch.

Each process holds a shard of the global batch (``framework.plan.global_batch``). Forward, every
process sums its shard's values and squares per channel, the sums are added over the processes, and
each normalizes with the global batch's mean and variance (so the moving statistics, too, are the same
everywhere). Backward, the two per-channel sums the input's gradient needs (of ``dy`` and of
``dy * (x - mean)``) are added over the processes the same way. The gradients of ``gamma`` and ``beta``
stay each process's own: the gradient all-reduce adds them up with every other weight's.

In one process, or with ``synchronized=False``, none of this runs: the layer's fused kernels do.
"""
import numpy as np


def sum_batch_statistics(stats, reference, batch, work):
    """Turn one shard's sums in ``stats`` (rows 0 and 1 about the shard's own shift in row 2, row 6 the
    count; see kernels.normalization) into the global batch's sums about ``reference``, a per-channel
    value the same on every process (the moving mean).

    Args:
        stats: the (7, channels) float64 statistics of ``batch_norm_train_sums``.
        reference: (channels,) the common shift.
        batch: the ``GlobalBatch`` of this step.
        work: a (4, channels) float64 buffer.
    """
    s1, s2, shift, count = stats[0], stats[1], stats[2], stats[6]
    total1, total2, counts, offset = work[0], work[1], work[2], work[3]
    np.subtract(shift, reference, out=offset)
    # sum(x - R) = s1 + n d and sum((x - R)^2) = s2 + 2 d s1 + n d^2, with d = shift - R
    np.multiply(count, offset, out=total1)
    np.add(s1, total1, out=total1)
    np.multiply(total1, offset, out=total2)
    np.multiply(total2, 2.0, out=total2)
    np.add(s2, total2, out=total2)
    np.multiply(offset, offset, out=offset)
    np.multiply(offset, count, out=offset)
    np.subtract(total2, offset, out=total2)  # 2 d (s1 + n d) counted n d^2 twice
    np.copyto(counts, count)
    if batch.rows == 0:  # a stand-in row: this process adds nothing
        work[:3] = 0.0
    batch.sum_over_processes(work[:3])
    stats[0], stats[1], stats[2], stats[6] = total1, total2, reference, counts


def sum_gradient_sums(sums, batch):
    """Add one shard's (2, channels) gradient sums over the processes.

    Each process's ``dy`` is its loss's, the mean over its own rows; weighted by its share of the global
    batch the shards' sums add up to the global batch's, and divided again by the share they are in
    this process's units, as the rest of its backward pass is."""
    share = batch.share
    np.multiply(sums, share, out=sums)
    batch.sum_over_processes(sums)
    if share > 0:
        np.multiply(sums, 1.0 / share, out=sums)
