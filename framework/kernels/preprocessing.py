"""Preprocessing kernels: image resampling (affine transforms, resizing) and category encoding.

Images are (batch, rows, cols, channels). ``affine_transform`` reads, for each output pixel
(row i, col j), the input at col ``a0*j + a1*i + a2`` and row ``b0*j + b1*i + b2`` (Keras's
8-number transform without its projective part), by nearest or bilinear interpolation; points
outside the image are filled by ``fill_mode``, applied to each integer neighbour as
``jax.scipy.ndimage.map_coordinates`` does (so results equal Keras's JAX backend):

* 0 'reflect': (d c b a | a b c d | d c b a), about the edge of the last pixel;
* 1 'wrap': (a b c d | a b c d | a b c d);
* 2 'constant': neighbours outside are ``fill_value``;
* 3 'nearest': (a a a a | a b c d | d d d d).

``resize`` samples a crop window at half-pixel centres (``jax.image.resize`` without
antialiasing): bilinear, or the nearest pixel (``floor((o + 0.5) * in / out)``).
"""
import math

import numpy as np

from framework.kernels import kernel

FILL_MODES = ("reflect", "wrap", "constant", "nearest")


@kernel
def _fixed_index(index, size, fill_mode):
    """The input index a neighbour ``index`` reads under ``fill_mode``; -1 for 'constant' outside."""
    if 0 <= index < size:
        return index
    if fill_mode == 2:
        return -1
    if fill_mode == 3:
        return 0 if index < 0 else size - 1
    if fill_mode == 1:
        return index % size
    if size == 1:
        return 0
    # reflect: the half-sample symmetric extension, period 2 * size
    period = 2 * size
    folded = index % period
    return folded if folded < size else period - 1 - folded


@kernel
def _round_half_away(value):
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


@kernel
def affine_transform(x, transforms, nearest, fill_mode, fill_value, y):
    """y[b] = x[b] resampled at the points transforms[b] = (a0, a1, a2, b0, b1, b2) map each output to."""
    batch, rows, cols, channels = x.shape
    for b in range(batch):
        a0, a1, a2 = transforms[b, 0], transforms[b, 1], transforms[b, 2]
        b0, b1, b2 = transforms[b, 3], transforms[b, 4], transforms[b, 5]
        for i in range(rows):
            for j in range(cols):
                source_col = a0 * j + a1 * i + a2
                source_row = b0 * j + b1 * i + b2
                if nearest:
                    r = _fixed_index(int(_round_half_away(source_row)), rows, fill_mode)
                    c = _fixed_index(int(_round_half_away(source_col)), cols, fill_mode)
                    for k in range(channels):
                        y[b, i, j, k] = x[b, r, c, k] if r >= 0 and c >= 0 else fill_value
                    continue
                row0 = math.floor(source_row)
                col0 = math.floor(source_col)
                wr1 = source_row - row0
                wc1 = source_col - col0
                wr0 = 1.0 - wr1
                wc0 = 1.0 - wc1
                r0 = _fixed_index(int(row0), rows, fill_mode)
                r1 = _fixed_index(int(row0) + 1, rows, fill_mode)
                c0 = _fixed_index(int(col0), cols, fill_mode)
                c1 = _fixed_index(int(col0) + 1, cols, fill_mode)
                for k in range(channels):
                    v00 = x[b, r0, c0, k] if r0 >= 0 and c0 >= 0 else fill_value
                    v01 = x[b, r0, c1, k] if r0 >= 0 and c1 >= 0 else fill_value
                    v10 = x[b, r1, c0, k] if r1 >= 0 and c0 >= 0 else fill_value
                    v11 = x[b, r1, c1, k] if r1 >= 0 and c1 >= 0 else fill_value
                    y[b, i, j, k] = wr0 * (wc0 * v00 + wc1 * v01) + wr1 * (wc0 * v10 + wc1 * v11)


@kernel
def _bilinear_axis(out_size, in_size, lower, weight):
    """Per output position: the lower input index and the weight of the one after it."""
    step = in_size / out_size
    for o in range(out_size):
        source = (o + 0.5) * step - 0.5
        if source < 0.0:
            source = 0.0
        if source > in_size - 1:
            source = in_size - 1.0
        base = min(int(math.floor(source)), in_size - 1)
        lower[o] = base
        weight[o] = source - base


@kernel
def _nearest_axis(out_size, in_size, lower, weight):
    """Per output position: the input index floor((o + 0.5) * in / out), computed in float32 as JAX does."""
    for o in range(out_size):
        lower[o] = min(int(math.floor(np.float32((o + 0.5) * in_size / out_size))), in_size - 1)
        weight[o] = 0.0


def resize_tables(out_rows, out_cols, height, width, nearest):
    """(row_lower, row_weight, col_lower, col_weight): per output row / col, the first of the two input
    rows / cols of a ``height`` x ``width`` window it reads and the weight of the second (0 for nearest).
    Computed once, when a plan is built."""
    tables = []
    for out_size, in_size in ((out_rows, height), (out_cols, width)):
        lower, weight = np.empty(out_size, np.int64), np.empty(out_size, np.float64)
        (_nearest_axis if nearest else _bilinear_axis)(out_size, in_size, lower, weight)
        tables += [lower, weight]
    return tuple(tables)


@kernel
def resize(x, top, left, height, width, row_lower, row_weight, col_lower, col_weight, y):
    """y = the window x[:, top:top + height, left:left + width] resampled by ``resize_tables``."""
    batch, out_rows, out_cols, channels = y.shape
    for b in range(batch):
        for i in range(out_rows):
            r0 = top + row_lower[i]
            r1 = top + min(row_lower[i] + 1, height - 1)
            wr = row_weight[i]
            for j in range(out_cols):
                c0 = left + col_lower[j]
                c1 = left + min(col_lower[j] + 1, width - 1)
                wc = col_weight[j]
                for k in range(channels):
                    upper = x[b, r0, c0, k] * (1.0 - wc) + x[b, r0, c1, k] * wc
                    lower = x[b, r1, c0, k] * (1.0 - wc) + x[b, r1, c1, k] * wc
                    y[b, i, j, k] = upper * (1.0 - wr) + lower * wr


@kernel
def resize_backward(dy, top, left, height, width, row_lower, row_weight, col_lower, col_weight, dx):
    """The adjoint of ``resize``: dx (zero outside the window) gathers dy by the same weights."""
    batch, out_rows, out_cols, channels = dy.shape
    dx[:] = 0.0
    for b in range(batch):
        for i in range(out_rows):
            r0 = top + row_lower[i]
            r1 = top + min(row_lower[i] + 1, height - 1)
            wr = row_weight[i]
            for j in range(out_cols):
                c0 = left + col_lower[j]
                c1 = left + min(col_lower[j] + 1, width - 1)
                wc = col_weight[j]
                for k in range(channels):
                    g = dy[b, i, j, k]
                    dx[b, r0, c0, k] += g * (1.0 - wr) * (1.0 - wc)
                    dx[b, r0, c1, k] += g * (1.0 - wr) * wc
                    dx[b, r1, c0, k] += g * wr * (1.0 - wc)
                    dx[b, r1, c1, k] += g * wr * wc


@kernel
def _token(value, num_tokens):
    """The token a value stands for, or -1 when it is not a whole number in [0, num_tokens)."""
    if not (0 <= value < num_tokens):  # NaN fails too
        return -1
    token = int(value)
    return token if token == value else -1


@kernel
def encode_categories(ids, num_tokens, mode, y):
    """Rows of token ids (batch, k) to (batch, num_tokens): mode 0 multi-hot (1 where a token occurs),
    1 count (occurrences). Returns the flat position of the first id that is not a whole number in
    [0, num_tokens), or -1 when all are valid."""
    rows, k = ids.shape
    bad = -1
    y[:] = 0.0
    for r in range(rows):
        for t in range(k):
            token = _token(ids[r, t], num_tokens)
            if token < 0:
                if bad < 0:
                    bad = r * k + t
                continue
            if mode == 0:
                y[r, token] = 1.0
            else:
                y[r, token] += 1.0
    return bad


@kernel
def one_hot_ids(ids, num_tokens, y):
    """ids (n,) to y (n, num_tokens) one-hot rows; returns the position of the first invalid id, or -1."""
    bad = -1
    y[:] = 0.0
    for r in range(ids.shape[0]):
        token = _token(ids[r], num_tokens)
        if token < 0:
            if bad < 0:
                bad = r
            continue
        y[r, token] = 1.0
    return bad



@kernel
def affine_transform_backward(dy, transforms, nearest, fill_mode, dx):
    """The adjoint of ``affine_transform`` with respect to x: each output's gradient goes back to the
    neighbours it read, by the same weights (nothing for 'constant' fill points)."""
    batch, rows, cols, channels = dx.shape
    dx[:] = 0.0
    for b in range(batch):
        a0, a1, a2 = transforms[b, 0], transforms[b, 1], transforms[b, 2]
        b0, b1, b2 = transforms[b, 3], transforms[b, 4], transforms[b, 5]
        for i in range(rows):
            for j in range(cols):
                source_col = a0 * j + a1 * i + a2
                source_row = b0 * j + b1 * i + b2
                if nearest:
                    r = _fixed_index(int(_round_half_away(source_row)), rows, fill_mode)
                    c = _fixed_index(int(_round_half_away(source_col)), cols, fill_mode)
                    if r >= 0 and c >= 0:
                        for k in range(channels):
                            dx[b, r, c, k] += dy[b, i, j, k]
                    continue
                row0 = math.floor(source_row)
                col0 = math.floor(source_col)
                wr1 = source_row - row0
                wc1 = source_col - col0
                r0 = _fixed_index(int(row0), rows, fill_mode)
                r1 = _fixed_index(int(row0) + 1, rows, fill_mode)
                c0 = _fixed_index(int(col0), cols, fill_mode)
                c1 = _fixed_index(int(col0) + 1, cols, fill_mode)
                for k in range(channels):
                    g = dy[b, i, j, k]
                    if r0 >= 0 and c0 >= 0:
                        dx[b, r0, c0, k] += g * (1.0 - wr1) * (1.0 - wc1)
                    if r0 >= 0 and c1 >= 0:
                        dx[b, r0, c1, k] += g * (1.0 - wr1) * wc1
                    if r1 >= 0 and c0 >= 0:
                        dx[b, r1, c0, k] += g * wr1 * (1.0 - wc1)
                    if r1 >= 0 and c1 >= 0:
                        dx[b, r1, c1, k] += g * wr1 * wc1


@kernel
def flip_images(x, draws, horizontal, vertical, y):
    """y[b] = x[b] reversed along cols (horizontal) and / or rows (vertical) where draws[b] <= 0.5,
    else a copy (Keras's rule: one draw per image, shared by both flips). Its own adjoint."""
    batch, rows, cols, channels = x.shape
    for b in range(batch):
        flip = draws[b] <= 0.5
        flip_cols = flip and horizontal
        flip_rows = flip and vertical
        for i in range(rows):
            source_row = rows - 1 - i if flip_rows else i
            for j in range(cols):
                source_col = cols - 1 - j if flip_cols else j
                for k in range(channels):
                    y[b, i, j, k] = x[b, source_row, source_col, k]


@kernel
def rotation_transforms(draws, lower, upper, rows, cols, out):
    """out[b] = the transform rotating image b by an angle uniform in [lower, upper) turns (draws in
    [0, 1)) about its centre: Keras's affine matrix with scale 1 and no shear or translation."""
    cx = 0.5 * (cols - 1)
    cy = 0.5 * (rows - 1)
    for b in range(draws.shape[0]):
        angle = (lower + draws[b] * (upper - lower)) * 2.0 * math.pi
        cos, sin = math.cos(angle), math.sin(angle)
        out[b, 0] = cos
        out[b, 1] = -sin
        out[b, 2] = cx - cx * cos + cy * sin
        out[b, 3] = sin
        out[b, 4] = cos
        out[b, 5] = cy - cx * sin - cy * cos


@kernel
def translation_transforms(height_draws, width_draws, height_range, width_range, rows, cols, out):
    """out[b] = a shift by (uniform height fraction * rows, uniform width fraction * cols) pixels."""
    for b in range(height_draws.shape[0]):
        dy = (height_range[0] + height_draws[b] * (height_range[1] - height_range[0])) * rows
        dx = (width_range[0] + width_draws[b] * (width_range[1] - width_range[0])) * cols
        out[b, 0] = 1.0
        out[b, 1] = 0.0
        out[b, 2] = -dx
        out[b, 3] = 0.0
        out[b, 4] = 1.0
        out[b, 5] = -dy


@kernel
def zoom_transforms(height_draws, width_draws, height_range, width_range, rows, cols, out):
    """out[b] = a zoom about the centre by 1 + a uniform height / width factor (> 1 zooms out); a NaN
    ``width_range`` reuses the height's zoom for the width."""
    for b in range(height_draws.shape[0]):
        zoom_y = 1.0 + height_range[0] + height_draws[b] * (height_range[1] - height_range[0])
        if math.isnan(width_range[0]):
            zoom_x = zoom_y
        else:
            zoom_x = 1.0 + width_range[0] + width_draws[b] * (width_range[1] - width_range[0])
        out[b, 0] = zoom_x
        out[b, 1] = 0.0
        out[b, 2] = (cols - 1) / 2.0 * (1.0 - zoom_x)
        out[b, 3] = 0.0
        out[b, 4] = zoom_y
        out[b, 5] = (rows - 1) / 2.0 * (1.0 - zoom_y)
