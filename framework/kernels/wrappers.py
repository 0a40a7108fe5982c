"""Bidirectional merge kernels: combine the forward and backward directions' outputs.

Arrays are 3-D ``(batch, steps, units)``; a last-step output is viewed with
``steps == 1``. The backward direction's sequence is in reversed time order
(``go_backwards``), so with ``reverse`` its step ``steps - 1 - t`` pairs with the
forward step ``t``. Where ``masked`` and ``mask[b, t] == 0`` the merged output
is zero (Keras forces ``zero_output_for_mask`` inside Bidirectional).
Serial loops; the mode branch is taken once per row, outside the unit loop.
"""
from framework.kernels import kernel

CONCAT, SUM, MUL, AVE, NONE = 0, 1, 2, 3, 4
MODES = {"concat": CONCAT, "sum": SUM, "mul": MUL, "ave": AVE, None: NONE}


@kernel
def merge_directions(yf, yb, reverse, mode, mask, masked, out, out2):
    """out = merge(yf, yb reversed); mode NONE writes yf to out and yb reversed to out2."""
    batch, steps, units = yf.shape
    for b in range(batch):
        for t in range(steps):
            tb = steps - 1 - t if reverse else t
            if masked and mask[b, t] == 0:
                for u in range(out.shape[2]):
                    out[b, t, u] = 0
                if mode == NONE:
                    for u in range(units):
                        out2[b, t, u] = 0
                continue
            if mode == CONCAT:
                for u in range(units):
                    out[b, t, u] = yf[b, t, u]
                for u in range(units):
                    out[b, t, units + u] = yb[b, tb, u]
            elif mode == SUM:
                for u in range(units):
                    out[b, t, u] = yf[b, t, u] + yb[b, tb, u]
            elif mode == MUL:
                for u in range(units):
                    out[b, t, u] = yf[b, t, u] * yb[b, tb, u]
            elif mode == AVE:
                for u in range(units):
                    out[b, t, u] = (yf[b, t, u] + yb[b, tb, u]) * 0.5
            else:
                for u in range(units):
                    out[b, t, u] = yf[b, t, u]
                for u in range(units):
                    out2[b, t, u] = yb[b, tb, u]


@kernel
def merge_directions_backward(dy, dy2, yf, yb, reverse, mode, mask, masked, dyf, dyb):
    """Write dyf and dyb (in the backward direction's own time order) from dy (and dy2 for NONE)."""
    batch, steps, units = yf.shape
    for b in range(batch):
        for t in range(steps):
            tb = steps - 1 - t if reverse else t
            if masked and mask[b, t] == 0:
                for u in range(units):
                    dyf[b, t, u] = 0
                for u in range(units):
                    dyb[b, tb, u] = 0
                continue
            if mode == CONCAT:
                for u in range(units):
                    dyf[b, t, u] = dy[b, t, u]
                for u in range(units):
                    dyb[b, tb, u] = dy[b, t, units + u]
            elif mode == SUM:
                for u in range(units):
                    dyf[b, t, u] = dy[b, t, u]
                for u in range(units):
                    dyb[b, tb, u] = dy[b, t, u]
            elif mode == MUL:
                for u in range(units):
                    dyf[b, t, u] = dy[b, t, u] * yb[b, tb, u]
                for u in range(units):
                    dyb[b, tb, u] = dy[b, t, u] * yf[b, t, u]
            elif mode == AVE:
                for u in range(units):
                    dyf[b, t, u] = dy[b, t, u] * 0.5
                for u in range(units):
                    dyb[b, tb, u] = dy[b, t, u] * 0.5
            else:
                for u in range(units):
                    dyf[b, t, u] = dy[b, t, u]
                for u in range(units):
                    dyb[b, tb, u] = dy2[b, t, u]
