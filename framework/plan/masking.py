"""Mask buffers in a plan, and masked losses and metrics.

A mask (``framework.graph.tensor.Mask``) is started by one node and read by
the nodes downstream of it. The plan gives each mask one (batch, steps)
buffer of the compute dtype, filled with 1.0/0.0 by the node that starts it.
Masks are never released, so inference plans may reuse tensor memory freely.

A model output that carries a mask is scored per step, as Keras does: the
loss sees (batch * steps) rows weighted by ``sample_weight * mask`` and,
for the mean reductions, rescaled by steps / valid steps so the loss is the
mean over real steps; metrics use ``sample_weight * mask`` unscaled.
"""
from framework.kernels.masking import masked_row_weights

#: loss reductions whose mask weights are rescaled to average over the valid steps (as Keras's apply_mask)
_NORMALIZED = ("sum_over_batch_size", "mean")


class MaskBuffers:
    """The mask buffer of each (scope, Mask) in one plan."""

    def __init__(self, batch, dtype, allocate):
        self.batch = batch
        self.dtype = dtype
        self.allocate = allocate
        self.buffers = {}

    def of(self, key, tensor):
        """The buffer of the mask ``tensor`` (under tensor key ``key``) carries, or None. A mask started
        in an enclosing scope (a nested model's or a traced call's input) is found there."""
        if tensor.mask is None:
            return None
        scope = key[0]
        while True:
            buffer = self.buffers.get((scope, id(tensor.mask)))
            if buffer is not None or not scope:
                return buffer
            scope = scope[:-1]

    def started(self, in_tensors, key, tensor):
        """A new buffer when this output's mask is new at this node, else None."""
        mask = tensor.mask
        if mask is None or any(t.mask is mask for t in in_tensors):
            return None
        buffer = self.allocate((self.batch, tensor.shape[1]), self.dtype)  # steps: the tensor's, known here
        buffer.fill(1)
        self.buffers[(key[0], id(mask))] = buffer
        return buffer


def per_step_rows(array, mask):
    """(batch * steps, ...) view of a (batch, steps, ...) buffer."""
    rows = mask.shape[0] * mask.shape[1]
    rest = array.shape[2:]
    return array.reshape((rows,) + rest)


def masked_output(y_pred, mask, target, d_pred, logits):
    """Row views (y_pred, target, d_pred, logits) for scoring a masked output per step."""
    if y_pred.ndim < 3 or y_pred.shape[:2] != mask.shape:
        raise ValueError(f"A masked model output must be (batch, steps, ...) matching its mask {mask.shape}; "
                         f"received {y_pred.shape}")
    views = [per_step_rows(a, mask) if a is not None else None for a in (y_pred, target, d_pred, logits)]
    return tuple(views)


def bind_row_weights(sample_weight, mask, out, normalize):
    """Step writing out[b * steps + t] = sample_weight[b] * mask[b, t] (rescaled to valid steps if normalize)."""
    normalize = bool(normalize)

    def step():
        masked_row_weights(sample_weight, mask, normalize, out)
    return step


def loss_normalizes(loss):
    return getattr(loss, "reduction", None) in _NORMALIZED


def row_buffer(allocate, mask):
    return allocate((mask.shape[0] * mask.shape[1],), mask.dtype)

