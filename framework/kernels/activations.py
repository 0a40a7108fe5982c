"""Activation kernels: elementwise forward/backward, fused bias epilogues, softmax.

Pure Numba over C-contiguous float32/float64 arrays; no framework objects.
Each activation is a pair of scalar functions ``f(x, p0, p1, p2)`` and
``df(x, y, p0, p1, p2)`` (the derivative, from the pre-activation ``x`` or the
output ``y``, whichever is cheaper). Each activation code gets kernels of its
own (``specialized(kind)``: a module generated for that code, so the scalar pair
is a compile-time constant inlined into the loop, and a model compiles only the
activations it uses). Passing jitted functions as kernel arguments instead would
defeat ``cache=True``.

Scalar parameters ``p0..p2`` arrive already cast to the arrays' dtype, and
literals go through ``_c`` so that float32 math stays float32.

Kernels are serial: the plan runs them on batch-sized buffers while BLAS owns
the threads (ARCHITECTURE.md, Threads). fastmath keeps NaN and Inf
semantics (no 'nnan'/'ninf') so NaN detection still works.
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from framework.kernels import kernel
from framework.kernels.generated import load_module, source_hash

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# Activation codes. swish is Keras's alias of silu and shares its code.
LINEAR, RELU, RELU6, LEAKY_RELU, ELU, SELU, GELU = 0, 1, 2, 3, 4, 5, 6
SIGMOID, HARD_SIGMOID, TANH, SOFTPLUS, SOFTSIGN, SILU, EXPONENTIAL = 7, 8, 9, 10, 11, 12, 13
SWISH = SILU

# Whether the backward pass needs the pre-activation x (True) or works from
# y = f(x) alone (False: callers pass y in place of x). For RELU and
# LEAKY_RELU the derivative formula reads its first argument and gives the same
# answer from x or from y as long as negative_slope >= 0 and threshold >= 0;
# ActivationFunction.needs_input asks for x in the other cases.
NEEDS_INPUT = (
    False,  # linear
    False,  # relu
    False,  # relu6
    False,  # leaky_relu
    True,   # elu
    True,   # selu
    True,   # gelu
    False,  # sigmoid
    False,  # hard_sigmoid
    False,  # tanh
    True,   # softplus
    True,   # softsign
    True,   # silu
    False,  # exponential
)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715


def _c(x, value):
    """The Python float ``value`` as a constant of x's float type."""
    return value


@overload(_c, inline="always")
def _c_overload(x, value):
    if x == types.float32:
        return lambda x, value: np.float32(value)
    return lambda x, value: np.float64(value)


# ---- scalar functions f(x, p0, p1, p2) and derivatives df(x, y, p0, p1, p2) ----

@njit(inline="always")
def _linear(x, p0, p1, p2):
    return x


@njit(inline="always")
def _d_linear(x, y, p0, p1, p2):
    return _c(x, 1.0)


@njit(inline="always")
def _relu(x, p0, p1, p2):
    """Keras relu: p0=negative_slope, p1=max_value (inf for None), p2=threshold.

    x > threshold keeps x, clipped to [0, max_value] when a max_value is set
    (Keras clips at 0 too, which matters for a negative threshold); x <= threshold
    gives negative_slope*(x - threshold). Keras's test is strict; NaN stays NaN.
    """
    if x > p2:
        if p1 < math.inf:
            if x >= p1:
                return p1
            if x < 0:
                return _c(x, 0.0)
        return x
    if x <= p2:
        return _c(x, 0.0) if p0 == 0 else p0 * (x - p2)
    return x


@njit(inline="always")
def _d_relu(x, y, p0, p1, p2):
    # x may be y (see NEEDS_INPUT): the same tests hold on both sides where it is allowed.
    if x > p2:
        if p1 < math.inf and (x >= p1 or x < 0):
            return _c(x, 0.0)
        return _c(x, 1.0)
    return p0


@njit(inline="always")
def _relu6(x, p0, p1, p2):
    if x > 0:
        return x if x < 6 else _c(x, 6.0)
    if x <= 0:
        return _c(x, 0.0)
    return x


@njit(inline="always")
def _d_relu6(x, y, p0, p1, p2):
    return _c(x, 1.0) if 0 < x < 6 else _c(x, 0.0)


@njit(inline="always")
def _leaky_relu(x, p0, p1, p2):
    return x if x >= 0 else p0 * x


@njit(inline="always")
def _d_leaky_relu(x, y, p0, p1, p2):
    return _c(x, 1.0) if x > 0 else p0


@njit(inline="always")
def _elu(x, p0, p1, p2):
    return x if x >= 0 else p0 * math.expm1(x)


@njit(inline="always")
def _d_elu(x, y, p0, p1, p2):
    return _c(x, 1.0) if x > 0 else p0 * math.exp(x)


@njit(inline="always")
def _selu(x, p0, p1, p2):
    s = _c(x, SELU_SCALE)
    return s * x if x >= 0 else s * _c(x, SELU_ALPHA) * math.expm1(x)


@njit(inline="always")
def _d_selu(x, y, p0, p1, p2):
    s = _c(x, SELU_SCALE)
    return s if x > 0 else s * _c(x, SELU_ALPHA) * math.exp(x)


@njit(inline="always")
def _sigmoid(x, p0, p1, p2):
    """Stable for large |x| (exp of -|x| only); a select, not a branch (1.7x faster on mixed signs)."""
    e = math.exp(-abs(x))
    r = _c(x, 1.0) / (_c(x, 1.0) + e)
    return r if x >= 0 else e * r


@njit(inline="always")
def _d_sigmoid(x, y, p0, p1, p2):
    return y * (_c(y, 1.0) - y)


@njit(inline="always")
def _gelu(x, p0, p1, p2):
    """p0 == 1: tanh approximation, else the exact form (Keras's default).

    Written without cancellation for negative x: 0.5 * (1 + tanh(u)) is
    sigmoid(2u), and 0.5 * (1 + erf(t)) is 0.5 * erfc(-t).
    """
    if p0 == 1:
        u = _c(x, _SQRT_2_OVER_PI) * (x + _c(x, _GELU_C) * x * x * x)
        return x * _sigmoid(u + u, p0, p1, p2)
    return _c(x, 0.5) * x * math.erfc(-x * _c(x, _INV_SQRT_2))


@njit(inline="always")
def _d_gelu(x, y, p0, p1, p2):
    if p0 == 1:
        k = _c(x, _SQRT_2_OVER_PI)
        a = _c(x, _GELU_C)
        u = k * (x + a * x * x * x)
        s = _sigmoid(u + u, p0, p1, p2)
        du = k * (_c(x, 1.0) + _c(x, 3.0) * a * x * x)
        return s + x * _c(x, 2.0) * s * (_c(x, 1.0) - s) * du
    cdf = _c(x, 0.5) * math.erfc(-x * _c(x, _INV_SQRT_2))
    return cdf + x * _c(x, _INV_SQRT_2PI) * math.exp(_c(x, -0.5) * x * x)


@njit(inline="always")
def _hard_sigmoid(x, p0, p1, p2):
    """Keras 3: relu6(x + 3) / 6 (exactly 0 at x = -3 and 1 at x = 3)."""
    v = x + _c(x, 3.0)
    if v <= 0:
        return _c(x, 0.0)
    if v >= 6:
        return _c(x, 1.0)
    return v * _c(x, 1.0 / 6.0)


@njit(inline="always")
def _d_hard_sigmoid(x, y, p0, p1, p2):
    return _c(y, 1.0 / 6.0) if 0 < y < 1 else _c(y, 0.0)


@njit(inline="always")
def _tanh(x, p0, p1, p2):
    return math.tanh(x)


@njit(inline="always")
def _d_tanh(x, y, p0, p1, p2):
    return _c(y, 1.0) - y * y


@njit(inline="always")
def _softplus(x, p0, p1, p2):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow, no underflow to 0."""
    return max(x, _c(x, 0.0)) + math.log1p(math.exp(-abs(x)))


@njit(inline="always")
def _d_softplus(x, y, p0, p1, p2):
    return _sigmoid(x, p0, p1, p2)


@njit(inline="always")
def _softsign(x, p0, p1, p2):
    return x / (_c(x, 1.0) + abs(x))


@njit(inline="always")
def _d_softsign(x, y, p0, p1, p2):
    d = _c(x, 1.0) + abs(x)
    return _c(x, 1.0) / (d * d)


@njit(inline="always")
def _silu(x, p0, p1, p2):
    return x * _sigmoid(x, p0, p1, p2)


@njit(inline="always")
def _d_silu(x, y, p0, p1, p2):
    s = _sigmoid(x, p0, p1, p2)
    return s * (_c(x, 1.0) + x * (_c(x, 1.0) - s))


@njit(inline="always")
def _exponential(x, p0, p1, p2):
    return math.exp(x)


@njit(inline="always")
def _d_exponential(x, y, p0, p1, p2):
    return y


#: the scalar pair of each activation code, by name (what the generated kernels import)
PAIRS = {
    LINEAR: ("_linear", "_d_linear"), RELU: ("_relu", "_d_relu"), RELU6: ("_relu6", "_d_relu6"),
    LEAKY_RELU: ("_leaky_relu", "_d_leaky_relu"), ELU: ("_elu", "_d_elu"), SELU: ("_selu", "_d_selu"),
    GELU: ("_gelu", "_d_gelu"), SIGMOID: ("_sigmoid", "_d_sigmoid"),
    HARD_SIGMOID: ("_hard_sigmoid", "_d_hard_sigmoid"), TANH: ("_tanh", "_d_tanh"),
    SOFTPLUS: ("_softplus", "_d_softplus"), SOFTSIGN: ("_softsign", "_d_softsign"), SILU: ("_silu", "_d_silu"),
    EXPONENTIAL: ("_exponential", "_d_exponential"),
}


# ---- element loops (f and df are compile-time constants once inlined) ----

@njit(inline="always")
def _forward_loop(arrays, f, df, p0, p1, p2):
    x, y = arrays
    if x.ctypes.data == y.ctypes.data:  # in place: one name per array (see _bias_forward_loop)
        for i in range(x.size):
            x[i] = f(x[i], p0, p1, p2)
        return
    for i in range(x.size):
        y[i] = f(x[i], p0, p1, p2)


@njit(inline="always")
def _backward_loop(arrays, f, df, p0, p1, p2):
    x, y, dy, dx = arrays
    if dx.ctypes.data == dy.ctypes.data:
        for i in range(x.size):
            dy[i] = dy[i] * df(x[i], y[i], p0, p1, p2)
        return
    for i in range(x.size):
        dx[i] = dy[i] * df(x[i], y[i], p0, p1, p2)


@njit(inline="always")
def _bias_forward_loop(arrays, f, df, p0, p1, p2):
    z, b, y = arrays
    if z.ctypes.data == y.ctypes.data:
        # in place: index one array only; a second name for the same memory fails
        # the vectorizer's overlap check and leaves the loop scalar
        for r in range(z.shape[0]):
            for j in range(z.shape[1]):
                z[r, j] = f(z[r, j] + b[j], p0, p1, p2)
        return
    for r in range(z.shape[0]):
        for j in range(z.shape[1]):
            v = z[r, j] + b[j]
            z[r, j] = v
            y[r, j] = f(v, p0, p1, p2)


@njit(inline="always")
def _backward_bias_loop(arrays, f, df, p0, p1, p2):
    x, y, dy, dz, db = arrays
    db[:] = 0
    if dz.ctypes.data == dy.ctypes.data:
        for r in range(x.shape[0]):
            for j in range(x.shape[1]):
                g = dy[r, j] * df(x[r, j], y[r, j], p0, p1, p2)
                dy[r, j] = g
                db[j] += g
        return
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            g = dy[r, j] * df(x[r, j], y[r, j], p0, p1, p2)
            dz[r, j] = g
            db[j] += g


# ---- elementwise kernels: one set per activation code ----

_SPECIALIZED = '''"""Generated by framework.kernels.activations: the kernels of one activation ({f}); do not edit."""
from framework.kernels import kernel
from framework.kernels.generated import load_module, source_hash
from framework.kernels.activations import (_backward_bias_loop, _backward_loop, _bias_forward_loop,
                                           _forward_loop, {f}, {df})


@kernel
def forward(x, y, p0, p1, p2):
    """y = f(x) over 1-D arrays; y may be x (in place)."""
    _forward_loop((x, y), {f}, {df}, p0, p1, p2)


@kernel
def backward(x, y, dy, dx, p0, p1, p2):
    """dx = dy * f'(x) over 1-D arrays; x may be y when not NEEDS_INPUT; dx may be dy."""
    _backward_loop((x, y, dy, dx), {f}, {df}, p0, p1, p2)


@kernel
def bias_forward(z, b, y, p0, p1, p2):
    """z += b (in place, rows x units), then y = f(z); y may be z."""
    _bias_forward_loop((z, b, y), {f}, {df}, p0, p1, p2)


@kernel
def backward_bias_grad(x, y, dy, dz, db, p0, p1, p2):
    """dz = dy * f'(x) (2-D) and db[j] = sum_r dz[r, j] (written); dz may be dy."""
    _backward_bias_loop((x, y, dy, dz, db), {f}, {df}, p0, p1, p2)
'''

_specialized = {}


def specialized(kind):
    """The kernels of activation ``kind`` (``forward``, ``backward``, ``bias_forward``,
    ``backward_bias_grad``, each taking the arrays then ``p0, p1, p2``): a module generated for this
    code alone, so a model compiles the activations it uses and no other (one kernel switching over
    all fourteen took 10 s to compile cold). Its name hashes this file, so an edit here recompiles it."""
    module = _specialized.get(kind)
    if module is None:
        f, df = PAIRS[kind]
        source = _SPECIALIZED.format(f=f, df=df)
        with open(__file__, encoding="utf-8") as this:  # the generated kernels import this module's functions
            name = f"activation_{f.strip('_')}_{source_hash(source, this.read())}"
        module = _specialized[kind] = load_module("activations", name, source)
    return module


# ---- softmax family over a (outer, n, inner) view, reducing along n ----

@kernel
def softmax_forward(x, y):
    """y = exp(x - max) / sum(exp(x - max)) along axis 1; y may be x."""
    outer, n, inner = x.shape
    if n == 0:
        return
    for o in range(outer):
        for k in range(inner):
            m = x[o, 0, k]
            for i in range(1, n):
                if x[o, i, k] > m:
                    m = x[o, i, k]
            s = _c(m, 0.0)
            for i in range(n):
                e = math.exp(x[o, i, k] - m)
                y[o, i, k] = e
                s += e
            r = _c(m, 1.0) / s
            for i in range(n):
                y[o, i, k] *= r


@kernel
def softmax_backward(y, dy, dx):
    """dx = y * (dy - sum(dy * y)) along axis 1; dx may be dy."""
    outer, n, inner = y.shape
    if n == 0:
        return
    for o in range(outer):
        for k in range(inner):
            s = _c(y[o, 0, k], 0.0)
            for i in range(n):
                s += dy[o, i, k] * y[o, i, k]
            for i in range(n):
                dx[o, i, k] = y[o, i, k] * (dy[o, i, k] - s)


@kernel
def log_softmax_forward(x, y):
    """y = x - max - log(sum(exp(x - max))) along axis 1; y may be x."""
    outer, n, inner = x.shape
    if n == 0:
        return
    for o in range(outer):
        for k in range(inner):
            m = x[o, 0, k]
            for i in range(1, n):
                if x[o, i, k] > m:
                    m = x[o, i, k]
            s = _c(m, 0.0)
            for i in range(n):
                s += math.exp(x[o, i, k] - m)
            lse = m + math.log(s)
            for i in range(n):
                y[o, i, k] = x[o, i, k] - lse


@kernel
def log_softmax_backward(y, dy, dx):
    """dx = dy - exp(y) * sum(dy) along axis 1; dx may be dy."""
    outer, n, inner = y.shape
    if n == 0:
        return
    for o in range(outer):
        for k in range(inner):
            s = _c(y[o, 0, k], 0.0)
            for i in range(n):
                s += dy[o, i, k]
            for i in range(n):
                dx[o, i, k] = dy[o, i, k] - math.exp(y[o, i, k]) * s


# ---- PReLU: y = x if x >= 0 else alpha * x, alpha per feature ----

@kernel
def prelu_forward(x, alpha, y):
    """x, y (rows, features); alpha (features,), already broadcast over shared axes."""
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[r, j]
            y[r, j] = v if v >= 0 else alpha[j] * v


@kernel
def prelu_backward(x, alpha, dy, dx, dalpha):
    """dx = dy * (1 if x > 0 else alpha); dalpha[j] = sum_r dy * min(x, 0) (written).

    dx may be dy.
    """
    dalpha[:] = 0
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[r, j]
            g = dy[r, j]
            if v > 0:
                dx[r, j] = g
            else:
                dalpha[j] += g * v
                dx[r, j] = g * alpha[j]
