"""Normalization kernels: batch, layer and group normalization, forward and backward.

The layers pass C-contiguous views that put the normalized structure in a fixed place:

- batch norm: ``x3`` (outer, channels, inner); statistics per channel over outer and inner.
- layer norm: ``x3`` (outer, features, inner); statistics per (outer, inner) over features.
- group norm: ``x4`` (batch, P, channels, Q); statistics per (sample, group) over P, Q and
  the group's channels.

Each kernel has two loop orders: ``inner == 1`` (channels last: the innermost loop runs
across channels) and ``inner > 1`` (it runs along ``inner``), so both vectorize.

All three share one backward formula. With ``xhat = (x - mean) * rstd`` and
``g = dy * gamma``, over the M elements of one statistics set,
``dx = rstd * (g - mean(g) - xhat * mean(g * xhat))``; for a per-channel ``gamma`` this is
``dx = a * dy + b * x + c`` with per-channel (or per-set) coefficients, so the second pass is
one fused multiply-add per element. Sums over a whole batch accumulate in the data's dtype over
blocks of BLOCK rows, then in float64; per-channel coefficients are cast to the data's dtype
before the element loops, so float32 stays float32. Batch statistics are one sweep of shifted
sums (shift: the first sample's value, against cancellation); variances are biased, as Keras 3.
Everything is serial (BLAS owns the threads, see framework/kernels/__init__.py) and allocates
nothing: the layers pass preallocated scratch for statistics and coefficients.
"""
import numpy as np
from numba import types
from numba.extending import overload

from framework.kernels import kernel

#: Keras's backend.epsilon(), added to the mask count of masked batch statistics
MASK_EPSILON = 1e-7
#: rows summed in the data's dtype before adding to the float64 totals
BLOCK = 64


def _like(x, value):
    """The float ``value`` as a constant of x's float type."""
    return value


@overload(_like, inline="always")
def _like_overload(x, value):
    if x == types.float32:
        return lambda x, value: np.float32(value)
    return lambda x, value: np.float64(value)


# ----------------------------------------------------------------------------- per-channel passes

@kernel
def _channel_sums(x3, shift, p1, p2, s1, s2):
    """s1[c] = sum(x - shift[c]), s2[c] = sum((x - shift[c])**2) over outer and inner (float64).

    Channels last: rows go four at a time into partial sums p1, p2 of x's dtype, added to the
    float64 totals every BLOCK rows (fewer loads and stores of the accumulators per element).
    """
    outer, channels, inner = x3.shape
    s1[:] = 0.0
    s2[:] = 0.0
    if inner == 1:
        x2 = x3.reshape(outer, channels)
        for start in range(0, outer, BLOCK):
            stop = min(start + BLOCK, outer)
            p1[:] = 0
            p2[:] = 0
            o = start
            while o + 4 <= stop:
                for c in range(channels):
                    s = shift[c]
                    d0, d1, d2, d3 = x2[o, c] - s, x2[o + 1, c] - s, x2[o + 2, c] - s, x2[o + 3, c] - s
                    p1[c] += (d0 + d1) + (d2 + d3)
                    p2[c] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
                o += 4
            for r in range(o, stop):
                for c in range(channels):
                    d = x2[r, c] - shift[c]
                    p1[c] += d
                    p2[c] += d * d
            for c in range(channels):
                s1[c] += p1[c]
                s2[c] += p2[c]
    else:
        for o in range(outer):
            for c in range(channels):
                s = shift[c]
                t1 = _like(x3[0, 0, 0], 0.0)
                t2 = t1
                for i in range(inner):
                    d = x3[o, c, i] - s
                    t1 += d
                    t2 += d * d
                s1[c] += t1
                s2[c] += t2


@kernel
def _masked_channel_sums(x3, w, layout, shift, s0, s1, s2):
    """Weighted s1, s2 as _channel_sums and s0[c] = total weight; see _mask_weight for w and layout."""
    outer, channels, inner = x3.shape
    s0[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    for o in range(outer):
        for c in range(channels):
            weight = _mask_weight(w, layout, o, c)
            if weight == 0:
                continue
            s = shift[c]
            t1 = _like(x3[0, 0, 0], 0.0)
            t2 = t1
            for i in range(inner):
                d = x3[o, c, i] - s
                t1 += d
                t2 += d * d
            s0[c] += weight * inner
            s1[c] += weight * t1
            s2[c] += weight * t2


@kernel
def _mask_weight(w, layout, o, c):
    """The mask weight of (outer row o, channel c) of a (batch, steps) mask flattened into w:
    w[(o // layout[0]) * layout[1] + c * layout[2]]. Channels after the steps axis: layout
    (rows per step, 1, 0); channels on the steps axis: (1, steps, 1)."""
    return w[(o // layout[0]) * layout[1] + c * layout[2]]


@kernel
def _channel_affine(x3, scale, offset, y3):
    """y = x * scale[c] + offset[c]."""
    outer, channels, inner = x3.shape
    if inner == 1:
        x2 = x3.reshape(outer, channels)
        y2 = y3.reshape(outer, channels)
        for o in range(outer):
            for c in range(channels):
                y2[o, c] = x2[o, c] * scale[c] + offset[c]
    else:
        for o in range(outer):
            for c in range(channels):
                a = scale[c]
                b = offset[c]
                for i in range(inner):
                    y3[o, c, i] = x3[o, c, i] * a + b


@kernel
def _channel_grad_sums(x3, dy3, center, p1, p2, s1, s2):
    """s1[c] = sum(dy), s2[c] = sum(dy * (x - center[c])) over outer and inner (float64);
    p1, p2: partial sums as in _channel_sums."""
    outer, channels, inner = x3.shape
    s1[:] = 0.0
    s2[:] = 0.0
    if inner == 1:
        x2 = x3.reshape(outer, channels)
        d2 = dy3.reshape(outer, channels)
        for start in range(0, outer, BLOCK):
            stop = min(start + BLOCK, outer)
            p1[:] = 0
            p2[:] = 0
            o = start
            while o + 4 <= stop:
                for c in range(channels):
                    m = center[c]
                    g0, g1, g2, g3 = d2[o, c], d2[o + 1, c], d2[o + 2, c], d2[o + 3, c]
                    p1[c] += (g0 + g1) + (g2 + g3)
                    p2[c] += ((g0 * (x2[o, c] - m) + g1 * (x2[o + 1, c] - m))
                              + (g2 * (x2[o + 2, c] - m) + g3 * (x2[o + 3, c] - m)))
                o += 4
            for r in range(o, stop):
                for c in range(channels):
                    g = d2[r, c]
                    p1[c] += g
                    p2[c] += g * (x2[r, c] - center[c])
            for c in range(channels):
                s1[c] += p1[c]
                s2[c] += p2[c]
    else:
        for o in range(outer):
            for c in range(channels):
                m = center[c]
                t1 = _like(x3[0, 0, 0], 0.0)
                t2 = t1
                for i in range(inner):
                    g = dy3[o, c, i]
                    t1 += g
                    t2 += g * (x3[o, c, i] - m)
                s1[c] += t1
                s2[c] += t2


@kernel
def _channel_affine2(dy3, x3, a, b, c_, dx3):
    """dx = a[c] * dy + b[c] * x + c_[c]."""
    outer, channels, inner = x3.shape
    if inner == 1:
        x2 = x3.reshape(outer, channels)
        d2 = dy3.reshape(outer, channels)
        o2 = dx3.reshape(outer, channels)
        for o in range(outer):
            for c in range(channels):
                o2[o, c] = d2[o, c] * a[c] + x2[o, c] * b[c] + c_[c]
    else:
        for o in range(outer):
            for c in range(channels):
                ac, bc, cc = a[c], b[c], c_[c]
                for i in range(inner):
                    dx3[o, c, i] = dy3[o, c, i] * ac + x3[o, c, i] * bc + cc


@kernel
def _masked_channel_affine2(dy3, x3, w, layout, a, b, c_, dx3):
    """dx = a[c] * dy + w * (b[c] * x + c_[c]), with the mask weight of (o, c) (see _mask_weight)."""
    outer, channels, inner = x3.shape
    for o in range(outer):
        for c in range(channels):
            weight = _mask_weight(w, layout, o, c)
            ac, bc, cc = a[c], weight * b[c], weight * c_[c]
            for i in range(inner):
                dx3[o, c, i] = dy3[o, c, i] * ac + x3[o, c, i] * bc + cc


@kernel
def _scale_channels(dy3, scale, dx3):
    """dx = dy * scale[c]."""
    outer, channels, inner = dy3.shape
    if inner == 1:
        d2 = dy3.reshape(outer, channels)
        o2 = dx3.reshape(outer, channels)
        for o in range(outer):
            for c in range(channels):
                o2[o, c] = d2[o, c] * scale[c]
    else:
        for o in range(outer):
            for c in range(channels):
                a = scale[c]
                for i in range(inner):
                    dx3[o, c, i] = dy3[o, c, i] * a


# ----------------------------------------------------------------------------- batch normalization
# stats (float64, (7, channels)), saved by the forward pass for the backward pass:
#   0 sum(w * (x - shift)), 1 sum(w * (x - shift)^2), 2 shift, 3 mean, 4 variance, 5 rstd,
#   6 count (total weight)
# coeffs (x's dtype, (4, channels)): per-channel values for the element loops.
# w, layout: the flattened (batch, steps) mask and its layout (see _mask_weight); w is an empty
# array without a mask.

@kernel
def batch_norm_forward_train(x3, w, layout, gamma, beta, epsilon, momentum, moving_mean, moving_var, stats, coeffs,
                             y3):
    """Training mode: normalize with the batch statistics and update the moving ones in place.

    ``moving = moving * momentum + batch_stat * (1 - momentum)`` with the biased batch variance,
    as Keras 3. With a mask, statistics are weighted and divided by (total weight + 1e-7), as Keras.
    """
    batch_norm_train_sums(x3, w, layout, stats, coeffs)
    batch_norm_train_normalize(x3, w, gamma, beta, epsilon, momentum, moving_mean, moving_var, stats, coeffs, y3)


@kernel
def batch_norm_train_sums(x3, w, layout, stats, coeffs):
    """The first half of batch_norm_forward_train: the batch's sums, stats rows 0 and 1 (about the
    shift, row 2: the first sample's value) and 6 (the count)."""
    outer, channels, inner = x3.shape
    shift, scale, offset = coeffs[0], coeffs[1], coeffs[2]
    s1, s2, count = stats[0], stats[1], stats[6]
    for c in range(channels):
        shift[c] = x3[0, c, 0]
        stats[2, c] = shift[c]
    if w.size == 0:
        _channel_sums(x3, shift, scale, offset, s1, s2)
        count[:] = outer * inner
    else:
        _masked_channel_sums(x3, w, layout, shift, count, s1, s2)


@kernel
def batch_norm_train_normalize(x3, w, gamma, beta, epsilon, momentum, moving_mean, moving_var, stats, coeffs, y3):
    """The second half of batch_norm_forward_train: mean, variance and the moving statistics from the
    sums in stats rows 0, 1, 2 and 6, then the normalization."""
    channels = x3.shape[1]
    scale, offset = coeffs[1], coeffs[2]
    s1, s2, mean, var, rstd, count = stats[0], stats[1], stats[3], stats[4], stats[5], stats[6]
    for c in range(channels):
        denominator = count[c] + (MASK_EPSILON if w.size else 0.0)
        mean[c] = (s1[c] + count[c] * stats[2, c]) / denominator
        m = mean[c] - stats[2, c]
        # sum(w * (x - mean)^2) / denominator, from the shifted sums
        var[c] = max((s2[c] - 2.0 * m * s1[c] + m * m * count[c]) / denominator, 0.0)
        rstd[c] = 1.0 / np.sqrt(var[c] + epsilon)
        scale[c] = gamma[c] * rstd[c]
        offset[c] = beta[c] - mean[c] * gamma[c] * rstd[c]
        moving_mean[c] = moving_mean[c] * momentum + mean[c] * (1.0 - momentum)
        moving_var[c] = moving_var[c] * momentum + var[c] * (1.0 - momentum)
    _channel_affine(x3, scale, offset, y3)


@kernel
def batch_norm_backward_train(x3, dy3, w, layout, gamma, stats, write_dx, sums, coeffs, dgamma, dbeta, dx3):
    """Training-mode gradients, through the batch statistics.

    With mask weights w (1 without a mask), W = total weight (+1e-7 with a mask) and
    D = sum(w * (x - mean)) / W (zero without a mask):
    dx = rstd * gamma * dy + w * (b * (x - mean - D) - rstd * gamma * sum(dy) / W),
    b = -rstd^3 * gamma * sum(dy * (x - mean)) / W.
    """
    batch_norm_train_grad_sums(x3, dy3, stats, sums, coeffs, dgamma, dbeta)
    if write_dx:
        batch_norm_train_dx(x3, dy3, w, layout, gamma, stats, sums, coeffs, dx3)


@kernel
def batch_norm_train_grad_sums(x3, dy3, stats, sums, coeffs, dgamma, dbeta):
    """The first half of batch_norm_backward_train: sums[0] = sum(dy), sums[1] = sum(dy * (x - mean)),
    and from them the gradients of gamma and beta."""
    channels = x3.shape[1]
    s1, s2 = sums[0], sums[1]
    mean, rstd = stats[3], stats[5]
    center, a, b = coeffs[0], coeffs[1], coeffs[2]
    for c in range(channels):
        center[c] = mean[c]
    _channel_grad_sums(x3, dy3, center, a, b, s1, s2)
    for c in range(channels):
        dgamma[c] = s2[c] * rstd[c]
        dbeta[c] = s1[c]


@kernel
def batch_norm_train_dx(x3, dy3, w, layout, gamma, stats, sums, coeffs, dx3):
    """The second half of batch_norm_backward_train: the input's gradient from the sums."""
    channels = x3.shape[1]
    s1, s2 = sums[0], sums[1]
    mean, rstd, count = stats[3], stats[5], stats[6]
    a, b, k = coeffs[1], coeffs[2], coeffs[3]
    for c in range(channels):
        denominator = count[c] + (MASK_EPSILON if w.size else 0.0)
        drift = (stats[0, c] - count[c] * (mean[c] - stats[2, c])) / denominator if w.size else 0.0
        r = rstd[c]
        bc = -r * r * r * gamma[c] * s2[c] / denominator
        a[c] = r * gamma[c]
        b[c] = bc
        k[c] = -r * gamma[c] * s1[c] / denominator - bc * (mean[c] + drift)
    if w.size == 0:
        _channel_affine2(dy3, x3, a, b, k, dx3)
    else:
        _masked_channel_affine2(dy3, x3, w, layout, a, b, k, dx3)


@kernel
def _inference_scale(gamma, moving_var, epsilon, scale):
    for c in range(scale.size):
        scale[c] = gamma[c] / np.sqrt(np.float64(moving_var[c]) + epsilon)


@kernel
def batch_norm_forward_inference(x3, gamma, beta, moving_mean, moving_var, epsilon, coeffs, y3):
    """Inference mode: ``gamma * (x - moving_mean) / sqrt(moving_var + epsilon) + beta``."""
    scale, offset = coeffs[1], coeffs[2]
    _inference_scale(gamma, moving_var, epsilon, scale)
    for c in range(x3.shape[1]):
        offset[c] = beta[c] - moving_mean[c] * scale[c]
    _channel_affine(x3, scale, offset, y3)


@kernel
def batch_norm_backward_inference(x3, dy3, gamma, moving_mean, moving_var, epsilon, write_dx, sums, coeffs,
                                  dgamma, dbeta, dx3):
    """Inference-mode (affine) gradients: dx = dy * gamma * rstd, dgamma = sum(dy * xhat), dbeta = sum(dy),
    with rstd and xhat from the moving statistics."""
    channels = x3.shape[1]
    s1, s2 = sums[0], sums[1]
    center, scale = coeffs[0], coeffs[1]
    for c in range(channels):
        center[c] = moving_mean[c]
    _channel_grad_sums(x3, dy3, center, coeffs[1], coeffs[2], s1, s2)
    for c in range(channels):
        dgamma[c] = s2[c] / np.sqrt(np.float64(moving_var[c]) + epsilon)
        dbeta[c] = s1[c]
    if write_dx:
        _inference_scale(gamma, moving_var, epsilon, scale)
        _scale_channels(dy3, scale, dx3)


@kernel
def batch_norm_dx_inference(dy3, gamma, moving_var, epsilon, coeffs, dx3):
    """Inference mode, input gradient alone (frozen layer): dx = dy * gamma / sqrt(moving_var + epsilon)."""
    scale = coeffs[1]
    _inference_scale(gamma, moving_var, epsilon, scale)
    _scale_channels(dy3, scale, dx3)


# ----------------------------------------------------------------------------- layer normalization
# stats (x's dtype, (2, outer, inner)): mean and rstd per (outer, inner), saved for backward.
# rms (Keras's deprecated rms_scaling): y = x * rstd * gamma, no centering of the output, no beta;
# rstd still comes from the variance, exactly as Keras 3 computes it.

@kernel
def layer_norm_forward(x3, gamma, beta, epsilon, rms, stats, y3):
    """y = (x - mean) * rstd * gamma + beta over the features axis of (outer, features, inner)."""
    outer, features, inner = x3.shape
    zero = _like(x3[0, 0, 0], 0.0)
    one = _like(zero, 1.0)
    inv_n = _like(zero, 1.0 / features)
    eps = _like(zero, epsilon)
    center = zero if rms else one  # 0: the output keeps x's mean (rms), 1: it is centered
    use_beta = zero if rms else one
    mean, rstd = stats[0], stats[1]
    if inner == 1:
        x2 = x3.reshape(outer, features)
        y2 = y3.reshape(outer, features)
        for o in range(outer):
            t = zero
            for f in range(features):
                t += x2[o, f]
            m = t * inv_n
            t = zero
            for f in range(features):
                d = x2[o, f] - m
                t += d * d
            r = one / np.sqrt(t * inv_n + eps)
            mean[o, 0] = m
            rstd[o, 0] = r
            cm = center * m
            for f in range(features):
                y2[o, f] = (x2[o, f] - cm) * r * gamma[f] + use_beta * beta[f]
        return
    for o in range(outer):
        m_o, r_o = mean[o], rstd[o]
        m_o[:] = 0
        r_o[:] = 0
        for f in range(features):
            for i in range(inner):
                m_o[i] += x3[o, f, i]
        for i in range(inner):
            m_o[i] *= inv_n
        for f in range(features):
            for i in range(inner):
                d = x3[o, f, i] - m_o[i]
                r_o[i] += d * d
        for i in range(inner):
            r_o[i] = one / np.sqrt(r_o[i] * inv_n + eps)
        for f in range(features):
            g, b = gamma[f], use_beta * beta[f]
            for i in range(inner):
                y3[o, f, i] = (x3[o, f, i] - center * m_o[i]) * r_o[i] * g + b


@kernel
def layer_norm_backward(x3, dy3, gamma, stats, rms, write_dx, acc, work, dgamma, dbeta, dx3):
    """Gradients of layer_norm_forward. With u = (x - center * mean) * rstd and g = dy * gamma,
    over the F features of a set: dx = rstd * g - rstd * center * sum(g) / F
    - rstd^2 * (x - mean) * sum(g * u) / F; dgamma = sum(dy * u), dbeta = sum(dy).

    acc: float64 (2, features) accumulators; work: x's dtype, (2, features) when inner == 1, else (2, inner).
    """
    outer, features, inner = x3.shape
    zero = _like(x3[0, 0, 0], 0.0)
    one = _like(zero, 1.0)
    inv_n = _like(zero, 1.0 / features)
    center = zero if rms else one
    mean, rstd = stats[0], stats[1]
    acc[:] = 0.0
    du, db = acc[0], acc[1]
    if inner == 1:
        x2 = x3.reshape(outer, features)
        d2 = dy3.reshape(outer, features)
        o2 = dx3.reshape(outer, features)
        part_u, part_b = work[0], work[1]  # x's dtype, flushed into the float64 sums every 32 rows
        part_u[:] = 0
        part_b[:] = 0
        for o in range(outer):
            m, r = mean[o, 0], rstd[o, 0]
            cm = center * m
            sg = zero
            sgu = zero
            for f in range(features):
                dy = d2[o, f]
                u = (x2[o, f] - cm) * r
                g = dy * gamma[f]
                sg += g
                sgu += g * u
                part_u[f] += dy * u
                part_b[f] += dy
            if o % 32 == 31 or o == outer - 1:
                for f in range(features):
                    du[f] += part_u[f]
                    db[f] += part_b[f]
                    part_u[f] = 0
                    part_b[f] = 0
            if write_dx:
                k2 = -r * r * sgu * inv_n
                k1 = -r * center * sg * inv_n - k2 * m
                for f in range(features):
                    o2[o, f] = r * gamma[f] * d2[o, f] + k2 * x2[o, f] + k1
    else:
        sg, sgu = work[0], work[1]
        for o in range(outer):
            m_o, r_o = mean[o], rstd[o]
            sg[:] = 0
            sgu[:] = 0
            for f in range(features):
                gm = gamma[f]
                t0 = zero
                t1 = zero
                for i in range(inner):
                    dy = dy3[o, f, i]
                    u = (x3[o, f, i] - center * m_o[i]) * r_o[i]
                    sg[i] += dy * gm
                    sgu[i] += dy * gm * u
                    t0 += dy * u
                    t1 += dy
                du[f] += t0
                db[f] += t1
            if write_dx:
                for i in range(inner):
                    r = r_o[i]
                    k2 = -r * r * sgu[i] * inv_n
                    sgu[i] = k2
                    sg[i] = -r * center * sg[i] * inv_n - k2 * m_o[i]
                for f in range(features):
                    gm = gamma[f]
                    for i in range(inner):
                        dx3[o, f, i] = r_o[i] * gm * dy3[o, f, i] + sgu[i] * x3[o, f, i] + sg[i]
    for f in range(features):
        dgamma[f] = du[f]
        dbeta[f] = db[f]


# ----------------------------------------------------------------------------- group normalization
# x4 (batch, P, channels, Q); each sample x4[n] is a (P, channels, Q) block, the batch-norm layout.
# stats (float64, (batch, groups, 2)): mean and rstd per (sample, group), saved for backward.
# sums: float64 (2, channels); coeffs: x's dtype (4, channels).

@kernel
def group_norm_forward(x4, groups, gamma, beta, epsilon, stats, sums, coeffs, y4):
    """Per sample and group of channels: y = (x - mean) * rstd * gamma[c] + beta[c]."""
    batch, positions, channels, inner = x4.shape
    per_group = channels // groups
    count = np.float64(positions * per_group * inner)
    s1, s2 = sums[0], sums[1]
    shift, scale, offset = coeffs[0], coeffs[1], coeffs[2]
    for n in range(batch):
        x3 = x4[n]
        for g in range(groups):
            first = x3[0, g * per_group, 0]
            for c in range(g * per_group, (g + 1) * per_group):
                shift[c] = first
        _channel_sums(x3, shift, scale, offset, s1, s2)
        for g in range(groups):
            t1 = 0.0
            t2 = 0.0
            for c in range(g * per_group, (g + 1) * per_group):
                t1 += s1[c]
                t2 += s2[c]
            m = t1 / count
            var = max(t2 / count - m * m, 0.0)
            mean = shift[g * per_group] + m
            r = 1.0 / np.sqrt(var + epsilon)
            stats[n, g, 0] = mean
            stats[n, g, 1] = r
            for c in range(g * per_group, (g + 1) * per_group):
                scale[c] = gamma[c] * r
                offset[c] = beta[c] - mean * gamma[c] * r
        _channel_affine(x3, scale, offset, y4[n])


@kernel
def group_norm_backward(x4, dy4, groups, gamma, stats, write_dx, sums, acc, coeffs, dgamma, dbeta, dx4):
    """Gradients of group_norm_forward: per (sample, group), with g = dy * gamma[c] over its M elements,
    dx = rstd * g - rstd * sum(g) / M - rstd^3 * (x - mean) * sum(g * (x - mean)) / M.

    acc: float64 (2, channels) for dgamma and dbeta across the batch.
    """
    batch, positions, channels, inner = x4.shape
    per_group = channels // groups
    count = np.float64(positions * per_group * inner)
    s1, s2 = sums[0], sums[1]
    center, a, b, k = coeffs[0], coeffs[1], coeffs[2], coeffs[3]
    acc[:] = 0.0
    for n in range(batch):
        x3, dy3 = x4[n], dy4[n]
        for g in range(groups):
            for c in range(g * per_group, (g + 1) * per_group):
                center[c] = stats[n, g, 0]
        _channel_grad_sums(x3, dy3, center, a, b, s1, s2)
        for g in range(groups):
            mean, r = stats[n, g, 0], stats[n, g, 1]
            sg = 0.0
            sgx = 0.0
            for c in range(g * per_group, (g + 1) * per_group):
                acc[0, c] += s2[c] * r
                acc[1, c] += s1[c]
                sg += gamma[c] * s1[c]
                sgx += gamma[c] * s2[c]
            bg = -r * r * r * sgx / count
            kg = -r * sg / count - bg * mean
            for c in range(g * per_group, (g + 1) * per_group):
                a[c] = r * gamma[c]
                b[c] = bg
                k[c] = kg
        if write_dx:
            _channel_affine2(dy3, x3, a, b, k, dx4[n])
    for c in range(channels):
        dgamma[c] = acc[0, c]
        dbeta[c] = acc[1, c]
