"""Fused recurrent cells: the gate math of one time step of SimpleRNN, LSTM and GRU.

The layers (framework/layers/recurrent.py, simple_rnn.py, lstm.py, gru.py) do
every matrix product with BLAS: the input projection of all steps at once, then
per step ``h_{t-1} @ U``; the kernels here do everything between two products
in one pass over a step's rows: bias, activations, state update, and saving
what backward needs.
Backward mirrors it: one kernel per step turns ``dh_t`` into the gate
gradients (written over the saved gates, in place) and accumulates the bias
gradient; the weight gradients are then one large product over all steps.

Layout: per-step arrays are C-contiguous ``(batch, k * units)`` slices of
time-major buffers, in *processing* order (reversed for go_backwards). ``s``
is the processing step (the index of a sequence output and its gradient),
``t`` the step's index in the input's time axis (the mask's).

Masks: a row whose mask is 0 at step t keeps its previous state (h and c are
copied over, the output repeats the previous h) and gets no gate gradient; its
state gradient passes through to the previous step, as Keras does.

Gradients flowing to ``h_{t-1}``: ``dgates @ U^T`` (a BLAS product, ``dh_rec``)
plus what does not go through that product (``carry``: the masked pass-through,
GRU's ``z * dh``). Each backward kernel reads ``dh_rec + carry + dy[:, s]`` as
the total gradient of ``h_t`` and writes the new carry in place.

Activations: int codes from framework/kernels/activations.py. The default pair
(tanh, sigmoid) has a vectorized path and saves activated gates; every other
pair goes through a per-element switch and saves pre-activations. In float32
that path's sigmoid uses an exp written as a polynomial times 2^k (cephes
expf, ~1 ulp: libm's expf is a scalar call here, llvmlite has no SVML) and its
tanh a rational function; float64 keeps libm's exp and tanh so gradient checks
stay exact. Measured on one step of LSTM(128), batch 128: the fused forward
cell went from 320 us (libm, 2-D indexing) to 64 us, the backward from 45 to
17 us (1-D row views).
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from framework.kernels import activations as A
from framework.kernels import SAFE_FASTMATH, kernel
from framework.kernels.activations import SIGMOID, TANH, _c

#: the general path's per-element activation switch: compiled once per dtype and called (its
#: 14 branches inlined into every kernel took 4x the compile time); the kernels' float options
_scalar = njit(error_model="numpy", fastmath=set(SAFE_FASTMATH))

# ---- vectorizable sigmoid / tanh ----
# Written with numba-level inlining (inline="always"): a call LLVM has to inline itself keeps
# the element loops scalar.


@intrinsic
def _pow2(typingctx, k):
    """2.0**k for an integral float k within the normal exponent range, from the exponent bits."""
    if k not in (types.float32, types.float64):
        return None
    single = k == types.float32
    bits_type, mantissa, bias = (ir.IntType(32), 23, 127) if single else (ir.IntType(64), 52, 1023)
    float_type = ir.FloatType() if single else ir.DoubleType()

    def codegen(context, builder, signature, args):
        bits = builder.fptosi(args[0], bits_type)
        bits = builder.shl(builder.add(bits, ir.Constant(bits_type, bias)), ir.Constant(bits_type, mantissa))
        return builder.bitcast(bits, float_type)
    return k(k), codegen


def _single(x):
    """True for a float32 scalar (a compile-time constant inside kernels)."""
    return False


@overload(_single, inline="always")
def _single_overload(x):
    if x == types.float32:
        return lambda x: True
    return lambda x: False


@njit(inline="always")
def _exp_nonpositive(x):
    """exp(x) for x <= 0 (cephes expf, ~1 ulp in float32): x = k ln2 + r, exp(r) by a degree-6
    polynomial, 2^k from the exponent bits. Below -87, exp(-87) (~1.6e-38) instead of a
    denormal; NaN stays NaN."""
    lo = _c(x, -87.0)
    v = x if x > lo else lo
    k = np.floor(v * _c(x, 1.44269504088896341) + _c(x, 0.5))
    r = v - k * _c(x, 0.693359375)
    r = r - k * _c(x, -2.12194440e-4)
    p = _c(x, 1.9875691500e-4) * r + _c(x, 1.3981999507e-3)
    p = p * r + _c(x, 8.3334519073e-3)
    p = p * r + _c(x, 4.1665795894e-2)
    p = p * r + _c(x, 1.6666665459e-1)
    p = p * r + _c(x, 5.0000001201e-1)
    p = p * (r * r) + r + _c(x, 1.0)
    y = p * _pow2(k)
    return y if x == x else x


@njit(inline="always")
def fast_sigmoid(x):
    """Sigmoid, stable for large |x|: the polynomial exp in float32, libm's in float64."""
    a = -abs(x)
    e = _exp_nonpositive(a) if _single(x) else math.exp(a)
    r = _c(x, 1.0) / (_c(x, 1.0) + e)
    return r if x >= 0 else e * r


@njit(inline="always")
def fast_tanh(x):
    """tanh. float32: a rational function (Eigen's, odd degree 13 over even degree 6, input
    clamped to +-7.905; relative error below 3e-7, twice as fast as through exp here);
    float64: libm's tanh."""
    if not _single(x):
        return math.tanh(x)
    c = _c(x, 7.90531110763549805)
    v = c if x > c else x
    v = -c if v < -c else v
    x2 = v * v
    p = x2 * _c(x, -2.76076847742355e-16) + _c(x, 2.00018790482477e-13)
    p = x2 * p + _c(x, -8.60467152213735e-11)
    p = x2 * p + _c(x, 5.12229709037114e-08)
    p = x2 * p + _c(x, 1.48572235717979e-05)
    p = x2 * p + _c(x, 6.37261928875436e-04)
    p = x2 * p + _c(x, 4.89352455891786e-03)
    q = x2 * _c(x, 1.19825839466702e-06) + _c(x, 1.18534705686654e-04)
    q = x2 * q + _c(x, 2.26843463243900e-03)
    q = x2 * q + _c(x, 4.89352518554385e-03)
    return v * p / q


# ---- any activation, switched per element (the general, slower path) ----

@_scalar
def _act(kind, x, p0, p1, p2):
    if kind == SIGMOID:
        return fast_sigmoid(x)
    if kind == TANH:
        return fast_tanh(x)
    if kind == A.LINEAR:
        return x
    if kind == A.RELU:
        return A._relu(x, p0, p1, p2)
    if kind == A.RELU6:
        return A._relu6(x, p0, p1, p2)
    if kind == A.LEAKY_RELU:
        return A._leaky_relu(x, p0, p1, p2)
    if kind == A.ELU:
        return A._elu(x, p0, p1, p2)
    if kind == A.SELU:
        return A._selu(x, p0, p1, p2)
    if kind == A.GELU:
        return A._gelu(x, p0, p1, p2)
    if kind == A.HARD_SIGMOID:
        return A._hard_sigmoid(x, p0, p1, p2)
    if kind == A.SOFTPLUS:
        return A._softplus(x, p0, p1, p2)
    if kind == A.SOFTSIGN:
        return A._softsign(x, p0, p1, p2)
    if kind == A.SILU:
        return A._silu(x, p0, p1, p2)
    return A._exponential(x, p0, p1, p2)


@_scalar
def _dact(kind, x, y, p0, p1, p2):
    """f'(x) given x and y = f(x)."""
    if kind == SIGMOID:
        return y * (_c(y, 1.0) - y)
    if kind == TANH:
        return _c(y, 1.0) - y * y
    if kind == A.LINEAR:
        return _c(y, 1.0)
    if kind == A.RELU:
        return A._d_relu(x, y, p0, p1, p2)
    if kind == A.RELU6:
        return A._d_relu6(x, y, p0, p1, p2)
    if kind == A.LEAKY_RELU:
        return A._d_leaky_relu(x, y, p0, p1, p2)
    if kind == A.ELU:
        return A._d_elu(x, y, p0, p1, p2)
    if kind == A.SELU:
        return A._d_selu(x, y, p0, p1, p2)
    if kind == A.GELU:
        return A._d_gelu(x, y, p0, p1, p2)
    if kind == A.HARD_SIGMOID:
        return A._d_hard_sigmoid(x, y, p0, p1, p2)
    if kind == A.SOFTPLUS:
        return A._d_softplus(x, y, p0, p1, p2)
    if kind == A.SOFTSIGN:
        return A._d_softsign(x, y, p0, p1, p2)
    if kind == A.SILU:
        return A._d_silu(x, y, p0, p1, p2)
    return A._d_exponential(x, y, p0, p1, p2)


@kernel
def activation_table(x, y, dy, kind, params):
    """y = f(x), dy = f'(x) through the recurrent kernels' activations (tests, accuracy checks)."""
    p0, p1, p2 = params[0], params[1], params[2]
    for i in range(x.size):
        v = _act(kind, x[i], p0, p1, p2)
        y[i] = v
        dy[i] = _dact(kind, x[i], v, p0, p1, p2)


# ---- shared row helpers ----
# The cells work on 1-D row views (gates[b], c[b], ...): indexing 2-D arrays inside the element
# loops kept the backward cell scalar (measured 2.5x slower).

@njit(inline="always")
def _is_masked(mask, b, t):
    return mask.shape[0] != 0 and mask[b, t] == 0


@njit(inline="always")
def _total_dh(dh, carry, dy, s, b):
    """dh += carry (+ dy[b, s] when dy is a sequence): the total gradient of h_s (rows of batch
    entry b); carry is cleared."""
    if dy.shape[0] != 0:
        d = dy[b, s]
        for j in range(dh.size):
            dh[j] += carry[j] + d[j]
            carry[j] = 0
    else:
        for j in range(dh.size):
            dh[j] += carry[j]
            carry[j] = 0


@njit(inline="always")
def _pass_through(dh, carry, g):
    """A masked row: no gate gradient; the whole state gradient goes to the previous step."""
    for j in range(dh.size):
        carry[j] = dh[j]
    for j in range(g.size):
        g[j] = 0


@njit(inline="always")
def _accumulate(db, g):
    for j in range(db.size):
        db[j] += g[j]


@njit(inline="always")
def _copy(src, dst):
    for j in range(dst.size):
        dst[j] = src[j]


# ---- sequence layout: (batch, time, features) <-> time-major processing order ----

@kernel
def sequence_to_steps(x, steps, reverse, draws, rate):
    """steps[s, b] = x[b, t] with t = s (or T-1-s when reverse); input dropout when draws is not
    empty: a value is kept where draws[b, i] >= rate and scaled by 1/(1-rate)."""
    batch, time, features = x.shape
    scale = _c(x[0, 0, 0], 1.0) / (_c(x[0, 0, 0], 1.0) - rate)
    for s in range(time):
        t = time - 1 - s if reverse else s
        for b in range(batch):
            if draws.shape[0] != 0:
                for i in range(features):
                    steps[s, b, i] = x[b, t, i] * scale if draws[b, i] >= rate else _c(scale, 0.0)
            else:
                for i in range(features):
                    steps[s, b, i] = x[b, t, i]


@kernel
def steps_to_sequence(steps, x, reverse, draws, rate):
    """The transpose of sequence_to_steps: x[b, t] = steps[s, b] (times the dropout mask)."""
    batch, time, features = x.shape
    scale = _c(x[0, 0, 0], 1.0) / (_c(x[0, 0, 0], 1.0) - rate)
    for s in range(time):
        t = time - 1 - s if reverse else s
        for b in range(batch):
            if draws.shape[0] != 0:
                for i in range(features):
                    x[b, t, i] = steps[s, b, i] * scale if draws[b, i] >= rate else _c(scale, 0.0)
            else:
                for i in range(features):
                    x[b, t, i] = steps[s, b, i]


@kernel
def dropout_scale(x, draws, rate, out):
    """out = x * keep / (1 - rate), keep = draws >= rate (2-D, recurrent dropout)."""
    scale = _c(x[0, 0], 1.0) / (_c(x[0, 0], 1.0) - rate)
    for b in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[b, j] = x[b, j] * scale if draws[b, j] >= rate else _c(scale, 0.0)


@kernel
def dropout_scale_inplace(x, draws, rate):
    scale = _c(x[0, 0], 1.0) / (_c(x[0, 0], 1.0) - rate)
    for b in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[b, j] = x[b, j] * scale if draws[b, j] >= rate else _c(scale, 0.0)


@kernel
def sequence_output(states, y, mask, reverse, zero_masked):
    """y[b, s] = states[s + 1, b]: the processed-order outputs, batch-major; with zero_masked,
    zeros at masked steps (zero_output_for_mask)."""
    batch, time, units = y.shape
    for b in range(batch):
        for s in range(time):
            t = time - 1 - s if reverse else s
            if zero_masked and _is_masked(mask, b, t):
                for j in range(units):
                    y[b, s, j] = 0
            else:
                for j in range(units):
                    y[b, s, j] = states[s + 1, b, j]


@kernel
def copy_mask(src, dst):
    """dst = 1.0 where src != 0 else 0.0 (an explicit mask of any dtype into a mask buffer)."""
    for b in range(dst.shape[0]):
        for t in range(dst.shape[1]):
            dst[b, t] = 1.0 if src[b, t] != 0 else 0.0


@kernel
def mask_sequence_grad(dy, mask, reverse, out):
    """out = dy with the processed-order steps whose mask is 0 zeroed (zero_output_for_mask)."""
    batch, time, units = dy.shape
    for b in range(batch):
        for s in range(time):
            t = time - 1 - s if reverse else s
            keep = mask[b, t] != 0
            for j in range(units):
                out[b, s, j] = dy[b, s, j] if keep else 0


# ---- SimpleRNN: h = act(x W + b + h_prev U) ----

@kernel
def simple_forward_step(pre, rec, bias, h_prev, h, mask, t, act, params):
    """pre (in: x W, out: the pre-activation), rec = h_prev U; h written."""
    p0, p1, p2 = params[0, 0], params[0, 1], params[0, 2]
    for b in range(h.shape[0]):
        if _is_masked(mask, b, t):
            _copy(h_prev[b], h[b])
            continue
        z, r, hb = pre[b], rec[b], h[b]
        for j in range(z.size):
            z[j] = z[j] + r[j] + bias[j]
        if act == TANH:
            for j in range(z.size):
                hb[j] = fast_tanh(z[j])
        else:
            for j in range(z.size):
                hb[j] = _act(act, z[j], p0, p1, p2)


@kernel
def simple_backward_step(pre, h, dh_rec, carry, dy, s, mask, t, db, act, params):
    """pre (in: the pre-activation, out: its gradient); db accumulated."""
    p0, p1, p2 = params[0, 0], params[0, 1], params[0, 2]
    for b in range(h.shape[0]):
        dh, z, hb = dh_rec[b], pre[b], h[b]
        _total_dh(dh, carry[b], dy, s, b)
        if _is_masked(mask, b, t):
            _pass_through(dh, carry[b], z)
            continue
        if act == TANH:
            for j in range(z.size):
                y = hb[j]
                z[j] = dh[j] * (_c(y, 1.0) - y * y)
        else:
            for j in range(z.size):
                z[j] = dh[j] * _dact(act, z[j], hb[j], p0, p1, p2)
        _accumulate(db, z)


# ---- LSTM, gates i, f, c, o: c = f c_prev + i act(zc), h = o act(c) ----

@kernel
def lstm_forward_step(gates, rec, bias, c_prev, c, act_c, h_prev, h, mask, t, act, rec_act, params):
    """gates (in: x W, out: saved gates), rec = h_prev U; c, act_c = act(c) and h written."""
    units = h.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    a0, a1, a2 = params[0, 0], params[0, 1], params[0, 2]
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    for b in range(h.shape[0]):
        if _is_masked(mask, b, t):
            _copy(h_prev[b], h[b])
            _copy(c_prev[b], c[b])
            continue
        g, r, cp, cb, ac, hb = gates[b], rec[b], c_prev[b], c[b], act_c[b], h[b]
        if fast:
            # loops from 0 with offset indices: a range starting elsewhere stayed scalar (8x slower)
            for j in range(2 * units):
                g[j] = fast_sigmoid(g[j] + r[j] + bias[j])
            for j in range(units):
                k = 2 * units + j
                g[k] = fast_tanh(g[k] + r[k] + bias[k])
            for j in range(units):
                k = 3 * units + j
                g[k] = fast_sigmoid(g[k] + r[k] + bias[k])
            for j in range(units):
                v = g[units + j] * cp[j] + g[j] * g[2 * units + j]
                cb[j] = v
                ac[j] = fast_tanh(v)
            for j in range(units):
                hb[j] = g[3 * units + j] * ac[j]
        else:
            for j in range(4 * units):
                g[j] = g[j] + r[j] + bias[j]
            for j in range(units):
                i = _act(rec_act, g[j], r0, r1, r2)
                f = _act(rec_act, g[units + j], r0, r1, r2)
                gg = _act(act, g[2 * units + j], a0, a1, a2)
                o = _act(rec_act, g[3 * units + j], r0, r1, r2)
                v = f * cp[j] + i * gg
                cb[j] = v
                ac[j] = _act(act, v, a0, a1, a2)
                hb[j] = o * ac[j]


@kernel
def lstm_backward_step(gates, act_c, c_prev, c, dc, dh_rec, carry, dy, s, mask, t, db, act, rec_act, params):
    """gates (in: saved, out: pre-activation gradients); dc (in: dc_t, out: dc_{t-1}); db accumulated."""
    units = c.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    a0, a1, a2 = params[0, 0], params[0, 1], params[0, 2]
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    for b in range(c.shape[0]):
        dh, g = dh_rec[b], gates[b]
        _total_dh(dh, carry[b], dy, s, b)
        if _is_masked(mask, b, t):
            _pass_through(dh, carry[b], g)
            continue
        ac, cp, cb, dcb = act_c[b], c_prev[b], c[b], dc[b]
        gi, gf, gg, go = g[:units], g[units:2 * units], g[2 * units:3 * units], g[3 * units:]
        if fast:
            for j in range(units):
                i, f, cand, o, a = gi[j], gf[j], gg[j], go[j], ac[j]
                one = _c(a, 1.0)
                dct = dcb[j] + dh[j] * o * (one - a * a)
                dcb[j] = dct * f
                gi[j] = dct * cand * i * (one - i)
                gf[j] = dct * cp[j] * f * (one - f)
                gg[j] = dct * i * (one - cand * cand)
                go[j] = dh[j] * a * o * (one - o)
        else:
            for j in range(units):
                zi, zf, zg, zo, a = gi[j], gf[j], gg[j], go[j], ac[j]
                i = _act(rec_act, zi, r0, r1, r2)
                f = _act(rec_act, zf, r0, r1, r2)
                cand = _act(act, zg, a0, a1, a2)
                o = _act(rec_act, zo, r0, r1, r2)
                dct = dcb[j] + dh[j] * o * _dact(act, cb[j], a, a0, a1, a2)
                dcb[j] = dct * f
                gi[j] = dct * cand * _dact(rec_act, zi, i, r0, r1, r2)
                gf[j] = dct * cp[j] * _dact(rec_act, zf, f, r0, r1, r2)
                gg[j] = dct * i * _dact(act, zg, cand, a0, a1, a2)
                go[j] = dh[j] * a * _dact(rec_act, zo, o, r0, r1, r2)
        _accumulate(db, g)


# ---- GRU, gates z, r, h; h = z h_prev + (1 - z) hh ----

@kernel
def gru_forward_step(gates, rec, bias, rh, h_prev, h, mask, t, act, rec_act, params):
    """reset_after=True. gates (in: x W, out: saved z, r, hh), rec = h_prev U, bias (2, 3 units);
    rh (saved) = the recurrent candidate term h_prev U_h + b_h."""
    units = h.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    a0, a1, a2 = params[0, 0], params[0, 1], params[0, 2]
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    b_in, b_rec = bias[0], bias[1]
    for b in range(h.shape[0]):
        if _is_masked(mask, b, t):
            _copy(h_prev[b], h[b])
            continue
        g, r, rhb, hp, hb = gates[b], rec[b], rh[b], h_prev[b], h[b]
        for j in range(units):
            rhb[j] = r[2 * units + j] + b_rec[2 * units + j]
        if fast:
            for j in range(2 * units):
                g[j] = fast_sigmoid(g[j] + b_in[j] + r[j] + b_rec[j])
            for j in range(units):
                k = 2 * units + j
                g[k] = fast_tanh(g[k] + b_in[k] + g[units + j] * rhb[j])
            for j in range(units):
                z = g[j]
                hb[j] = z * hp[j] + (_c(z, 1.0) - z) * g[2 * units + j]
        else:
            for j in range(2 * units):
                g[j] = g[j] + b_in[j] + r[j] + b_rec[j]
            for j in range(units):
                k = 2 * units + j
                z = _act(rec_act, g[j], r0, r1, r2)
                rr = _act(rec_act, g[units + j], r0, r1, r2)
                g[k] = g[k] + b_in[k] + rr * rhb[j]
                hb[j] = z * hp[j] + (_c(z, 1.0) - z) * _act(act, g[k], a0, a1, a2)


@kernel
def gru_backward_step(gates, drec, rh, h_prev, dh_rec, carry, dy, s, mask, t, db, act, rec_act, params):
    """reset_after=True. gates (in: saved, out: input-side gradients dz, dr, dhh); drec (out:
    recurrent-side gradients dz, dr, r dhh); db (2, 3 units) accumulated."""
    units = h_prev.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    a0, a1, a2 = params[0, 0], params[0, 1], params[0, 2]
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    for b in range(h_prev.shape[0]):
        dh, g, dr, cb = dh_rec[b], gates[b], drec[b], carry[b]
        _total_dh(dh, cb, dy, s, b)
        if _is_masked(mask, b, t):
            _pass_through(dh, cb, g)
            for j in range(dr.size):
                dr[j] = 0
            continue
        rhb, hp = rh[b], h_prev[b]
        gz, gr, gh = g[:units], g[units:2 * units], g[2 * units:]
        dz_, dr_, dh_ = dr[:units], dr[units:2 * units], dr[2 * units:]
        if fast:
            for j in range(units):
                z, r, hh, d = gz[j], gr[j], gh[j], dh[j]
                one = _c(z, 1.0)
                dhh = d * (one - z) * (one - hh * hh)
                dz = d * (hp[j] - hh) * z * (one - z)
                drr = dhh * rhb[j] * r * (one - r)
                cb[j] = d * z
                gz[j] = dz
                gr[j] = drr
                gh[j] = dhh
                dz_[j] = dz
                dr_[j] = drr
                dh_[j] = dhh * r
        else:
            for j in range(units):
                zz, zr, zh, d = gz[j], gr[j], gh[j], dh[j]
                z = _act(rec_act, zz, r0, r1, r2)
                r = _act(rec_act, zr, r0, r1, r2)
                hh = _act(act, zh, a0, a1, a2)
                dhh = d * (_c(z, 1.0) - z) * _dact(act, zh, hh, a0, a1, a2)
                dz = d * (hp[j] - hh) * _dact(rec_act, zz, z, r0, r1, r2)
                drr = dhh * rhb[j] * _dact(rec_act, zr, r, r0, r1, r2)
                cb[j] = d * z
                gz[j] = dz
                gr[j] = drr
                gh[j] = dhh
                dz_[j] = dz
                dr_[j] = drr
                dh_[j] = dhh * r
        _accumulate(db[0], g)
        _accumulate(db[1], dr)


@kernel
def gru_reset_forward_step(gates, rec, bias, rh, h_prev, mask, t, act, rec_act, params):
    """reset_after=False, before the candidate product. gates (in: x W, out: saved z, r),
    rec = h_prev U_zr (batch, 2 units), bias (3 units,); rh = r * h_prev written (the next
    product's input, saved for dU). h_prev is the state as the product sees it."""
    units = h_prev.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    for b in range(h_prev.shape[0]):
        rhb = rh[b]
        if _is_masked(mask, b, t):
            for j in range(units):
                rhb[j] = 0
            continue
        g, r, hp = gates[b], rec[b], h_prev[b]
        if fast:
            for j in range(2 * units):
                g[j] = fast_sigmoid(g[j] + r[j] + bias[j])
            for j in range(units):
                rhb[j] = g[units + j] * hp[j]
        else:
            for j in range(2 * units):
                g[j] = g[j] + r[j] + bias[j]
            for j in range(units):
                rhb[j] = _act(rec_act, g[units + j], r0, r1, r2) * hp[j]


@kernel
def gru_candidate_forward_step(gates, rec, bias, h_prev, h, mask, t, act, rec_act, params):
    """reset_after=False, after the candidate product rec = (r h_prod) U_h (batch, units):
    hh = act(x W_h + b_h + rec), h = z h_prev + (1 - z) hh."""
    units = h.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    a0, a1, a2 = params[0, 0], params[0, 1], params[0, 2]
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    for b in range(h.shape[0]):
        if _is_masked(mask, b, t):
            _copy(h_prev[b], h[b])
            continue
        g, r, hp, hb = gates[b], rec[b], h_prev[b], h[b]
        if fast:
            for j in range(units):
                k = 2 * units + j
                g[k] = fast_tanh(g[k] + bias[k] + r[j])
            for j in range(units):
                z = g[j]
                hb[j] = z * hp[j] + (_c(z, 1.0) - z) * g[2 * units + j]
        else:
            for j in range(units):
                k = 2 * units + j
                g[k] = g[k] + bias[k] + r[j]
                z = _act(rec_act, g[j], r0, r1, r2)
                hb[j] = z * hp[j] + (_c(z, 1.0) - z) * _act(act, g[k], a0, a1, a2)


@kernel
def gru_candidate_backward_step(gates, h_prev, dh_rec, carry, dy, s, mask, t, act, rec_act, params):
    """reset_after=False, first half: gates[:, z] and gates[:, h] become dz and dhh (pre-activation
    gradients); carry = z dh. The caller then forms d(r h_prod) = dhh U_h^T."""
    units = h_prev.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    a0, a1, a2 = params[0, 0], params[0, 1], params[0, 2]
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    for b in range(h_prev.shape[0]):
        dh, g, cb = dh_rec[b], gates[b], carry[b]
        _total_dh(dh, cb, dy, s, b)
        if _is_masked(mask, b, t):
            _pass_through(dh, cb, g)
            continue
        hp = h_prev[b]
        gz, gh = g[:units], g[2 * units:]
        if fast:
            for j in range(units):
                z, hh, d = gz[j], gh[j], dh[j]
                one = _c(z, 1.0)
                cb[j] = d * z
                gz[j] = d * (hp[j] - hh) * z * (one - z)
                gh[j] = d * (one - z) * (one - hh * hh)
        else:
            for j in range(units):
                zz, zh, d = gz[j], gh[j], dh[j]
                z = _act(rec_act, zz, r0, r1, r2)
                hh = _act(act, zh, a0, a1, a2)
                cb[j] = d * z
                gz[j] = d * (hp[j] - hh) * _dact(rec_act, zz, z, r0, r1, r2)
                gh[j] = d * (_c(z, 1.0) - z) * _dact(act, zh, hh, a0, a1, a2)


@kernel
def gru_reset_backward_step(gates, drh, h_prod, carry, mask, t, db, act, rec_act, params, draws, rate):
    """reset_after=False, second half, given drh = d(r h_prod): gates[:, r] becomes dr;
    carry += r drh (times the recurrent dropout mask when draws is not empty); db (3 units,)
    accumulated. h_prod is the previous state as the product saw it (after recurrent dropout)."""
    units = h_prod.shape[1]
    fast = act == TANH and rec_act == SIGMOID
    r0, r1, r2 = params[1, 0], params[1, 1], params[1, 2]
    one = _c(rate, 1.0)
    scale = one / (one - rate)
    dropped = draws.shape[0] != 0
    for b in range(h_prod.shape[0]):
        if _is_masked(mask, b, t):
            continue
        g, d, hp, cb = gates[b], drh[b], h_prod[b], carry[b]
        gr = g[units:2 * units]
        for j in range(units):
            zr = gr[j]
            if fast:
                r = zr
                dr = r * (one - r)
            else:
                r = _act(rec_act, zr, r0, r1, r2)
                dr = _dact(rec_act, zr, r, r0, r1, r2)
            keep = (scale if draws[b, j] >= rate else _c(scale, 0.0)) if dropped else one
            cb[j] += d[j] * r * keep
            gr[j] = d[j] * hp[j] * dr
        _accumulate(db, g)
