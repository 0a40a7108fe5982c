"""Kernels for masked outputs: per-step weights from sample weights and a mask."""
from framework.kernels import kernel


@kernel
def masked_row_weights(sample_weight, mask, normalize, out):
    """out[b * T + t] = sample_weight[b] * mask[b, t], times (B * T) / valid when normalize.

    With normalize, a mean over all rows equals the mean over the valid steps
    (Keras's apply_mask for 'sum_over_batch_size'); no valid step gives zeros.
    """
    batch, steps = mask.shape
    valid = 0.0
    for b in range(batch):
        for t in range(steps):
            valid += mask[b, t]
    scale = 1.0
    if normalize:
        scale = batch * steps / valid if valid > 0 else 0.0
    for b in range(batch):
        w = sample_weight[b] * scale
        for t in range(steps):
            out[b * steps + t] = w * mask[b, t]
