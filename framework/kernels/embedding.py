"""Embedding lookups and masking kernels: row gathers and scatter-adds over 2-D tables.

Ids arrive as a flat array of any integer (or float, truncated) dtype; the
gather checks their range itself and returns the position of the first bad id
(or -1), so the layer can raise a clear error in Python.
"""
from framework.kernels import kernel


@kernel
def embedding_gather(ids, table, out):
    """out[i] = table[ids[i]]; returns the first i whose id is outside [0, rows), else -1."""
    rows, width = table.shape
    for i in range(ids.size):
        index = int(ids[i])
        if index < 0 or index >= rows:
            return i
        for j in range(width):
            out[i, j] = table[index, j]
    return -1


@kernel
def embedding_scatter_add(ids, d_out, d_table):
    """d_table = 0, then d_table[ids[i]] += d_out[i] (ids already checked by the gather)."""
    rows, width = d_table.shape
    for r in range(rows):
        for j in range(width):
            d_table[r, j] = 0.0
    for i in range(ids.size):
        index = int(ids[i])
        for j in range(width):
            d_table[index, j] += d_out[i, j]


@kernel
def nonzero_mask(ids, mask):
    """mask[i] = 1 where ids[i] != 0, else 0 (Embedding(mask_zero=True))."""
    for i in range(ids.size):
        mask[i] = 1.0 if ids[i] != 0 else 0.0


@kernel
def masking_forward(x, mask_value, y, keep):
    """Rows of x (steps, features): keep[i] = any(x[i] != mask_value); y[i] = x[i] if kept else 0."""
    steps, features = x.shape
    for i in range(steps):
        kept = False
        for j in range(features):
            if x[i, j] != mask_value:
                kept = True
                break
        keep[i] = 1.0 if kept else 0.0
        for j in range(features):
            y[i, j] = x[i, j] if kept else 0.0


@kernel
def masking_backward(dy, keep, dx):
    """dx[i] = dy[i] * keep[i] row by row."""
    steps, features = dy.shape
    for i in range(steps):
        k = keep[i]
        for j in range(features):
            dx[i, j] = dy[i, j] * k
