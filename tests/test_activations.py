"""Activations: forward vs NumPy formulas, backward vs finite differences, registry, no-alloc."""
import math
import tracemalloc

import numpy as np
import pytest

from framework import activations as A
from framework.kernels import activations as K
from helpers import keras_relu, sigmoid

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_erfc = np.vectorize(math.erfc)


def _gelu_tanh(x):
    """Keras's 0.5x(1 + tanh(u)), written as x / (1 + exp(-2u)) to avoid cancellation."""
    u = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    with np.errstate(over="ignore"):
        return x / (1 + np.exp(-2 * u))


# (activation, kwargs, NumPy reference in float64, kinks to keep away from)
CASES = [
    ("linear", {}, lambda x: x, []),
    ("relu", {}, keras_relu, [0]),
    ("relu", {"negative_slope": 0.1}, lambda x: keras_relu(x, 0.1), [0]),
    ("relu", {"max_value": 6.0}, lambda x: keras_relu(x, max_value=6.0), [0, 6]),
    ("relu", {"threshold": 1.5}, lambda x: keras_relu(x, threshold=1.5), [1.5]),
    ("relu", {"negative_slope": 0.1, "max_value": 3.0, "threshold": 1.0},
     lambda x: keras_relu(x, 0.1, 3.0, 1.0), [1, 3]),
    ("relu", {"negative_slope": 0.3, "threshold": -1.0},
     lambda x: keras_relu(x, 0.3, None, -1.0), [-1]),
    ("relu6", {}, lambda x: np.clip(x, 0, 6), [0, 6]),
    ("leaky_relu", {}, lambda x: np.where(x >= 0, x, 0.2 * x), [0]),
    ("leaky_relu", {"negative_slope": 0.01}, lambda x: np.where(x >= 0, x, 0.01 * x), [0]),
    ("elu", {}, lambda x: np.where(x >= 0, x, np.expm1(np.minimum(x, 0))), [0]),
    ("elu", {"alpha": 0.5}, lambda x: np.where(x >= 0, x, 0.5 * np.expm1(np.minimum(x, 0))), [0]),
    ("selu", {}, lambda x: SELU_SCALE * np.where(x >= 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
     [0]),
    ("gelu", {}, lambda x: 0.5 * x * _erfc(-x / np.sqrt(2)), []),
    ("gelu", {"approximate": True},
     _gelu_tanh, []),
    ("sigmoid", {}, sigmoid, []),
    ("hard_sigmoid", {}, lambda x: np.clip(x / 6 + 0.5, 0, 1), [-3, 3]),
    ("tanh", {}, np.tanh, []),
    ("softplus", {}, lambda x: np.logaddexp(x, 0), []),
    ("softsign", {}, lambda x: x / (1 + np.abs(x)), []),
    ("silu", {}, lambda x: x * sigmoid(x), []),
    ("swish", {}, lambda x: x * sigmoid(x), []),
    ("exponential", {}, np.exp, []),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw, _, _ in CASES]


def _fn(name, kwargs):
    return getattr(A, name).with_params(**kwargs)


def _grid(name):
    wide = [-1000, -100, -50, -20, 20, 50, 100, 1000]
    if name == "exponential":
        wide = [-1000, -100, -50, 50, 80, 100]
    return np.concatenate([np.linspace(-10, 10, 401), wide])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kwargs,ref,kinks", CASES, ids=IDS)
def test_forward_matches_numpy(name, kwargs, ref, kinks, dtype):
    x = _grid(name).astype(dtype)
    with np.errstate(over="ignore"):
        expected = ref(x.astype(np.float64)).astype(dtype)
    fn = getattr(A, name)
    got = fn(x, **kwargs)  # eager Keras-style call
    assert got.dtype == dtype and got.shape == x.shape
    tol = dict(rtol=1e-12, atol=1e-15) if dtype == np.float64 else dict(rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got, expected, **tol)
    y = x.copy()  # in place: y is x
    _fn(name, kwargs).bind_forward(y, y)()
    np.testing.assert_array_equal(y, got)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "silu", "elu", "selu", "gelu", "softsign"])
def test_large_negative_tail_is_accurate(name):
    """Stable formulas keep relative accuracy (no cancellation or overflow) far out."""
    x = np.array([-30.0, -80.0, -300.0, -700.0])
    ref = next(c[2] for c in CASES if c[0] == name)  # default arguments
    got = getattr(A, name)(x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref(x), rtol=1e-12, atol=0)
    big = getattr(A, name)(np.array([1e4, -1e4], np.float32))
    assert np.all(np.isfinite(big))


@pytest.mark.parametrize("name", [c[0] for c in CASES] + ["softmax", "log_softmax"])
def test_nan_propagates(name):
    x = np.array([0.5, np.nan, -2.0])
    y = getattr(A, name)(x)
    assert np.isnan(y[1])


def test_keras_doc_examples():
    x = [-10, -5, 0.0, 5, 10]
    np.testing.assert_array_equal(A.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(A.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(A.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(A.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    np.testing.assert_allclose(A.leaky_relu([-1.0, 2.0]), [-0.2, 2.0])
    np.testing.assert_allclose(A.hard_sigmoid([-3.0, 0.0, 1.5, 3.0]), [0, 0.5, 0.75, 1])
    assert A.relu([1, -2]).dtype == np.float32  # ints become floatx()
    assert A.relu(np.float64(-2.0)).shape == ()


def _finite_difference(fn, x, h=1e-6):
    return (fn(x + h) - fn(x - h)) / (2 * h)


def _points(kinks, shape, seed=0):
    x = np.random.default_rng(seed).uniform(-5, 7, size=shape)
    for k in kinks:  # keep finite differences off the kinks
        x = np.where(np.abs(x - k) < 1e-3, x + 0.01, x)
    return x


@pytest.mark.parametrize("name,kwargs,ref,kinks", CASES, ids=IDS)
def test_backward_matches_finite_differences(name, kwargs, ref, kinks):
    fn = _fn(name, kwargs)
    x = _points(kinks, (7, 9))
    y = fn(x)
    dy = np.random.default_rng(1).normal(size=x.shape)
    expected = dy * _finite_difference(fn, x)
    dx = np.empty_like(x)
    fn.bind_backward(x, y, dy, dx)()
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)
    if not fn.needs_input:  # works from y alone, and dx may alias dy
        g = dy.copy()
        fn.bind_backward(None, y, g, g)()
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)
    else:
        with pytest.raises(ValueError, match="pre-activation"):
            fn.bind_backward(None, y, dy, dx)


def test_needs_input_table():
    assert not A.relu.needs_input and not A.sigmoid.needs_input and not A.tanh.needs_input
    assert A.gelu.needs_input and A.elu.needs_input and A.softplus.needs_input
    assert A.relu.with_params(threshold=-1.0).needs_input  # y no longer tells the regions apart
    assert not A.relu.with_params(negative_slope=0.1, max_value=6.0).needs_input
    assert len(K.NEEDS_INPUT) == K.EXPONENTIAL + 1


@pytest.mark.parametrize("name,kwargs,ref,kinks", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_bias_forward_and_backward(name, kwargs, ref, kinks, dtype):
    fn = _fn(name, kwargs)
    rng = np.random.default_rng(2)
    b = rng.normal(size=5)
    z0 = _points(kinks, (6, 5)) - b  # so that z0 + b stays off the kinks
    z0, b = z0.astype(dtype), b.astype(dtype)
    z, y = z0.copy(), np.empty_like(z0)
    fn.bind_bias_forward(z, b, y)()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(z, z0 + b, rtol=tol)
    np.testing.assert_allclose(y, fn(z0 + b), rtol=tol, atol=tol)

    dy = rng.normal(size=z.shape).astype(dtype)
    dz, db = np.empty_like(z), np.full(5, np.nan, dtype)
    fn.bind_backward_bias_grad(z, y, dy, dz, db)()
    if dtype == np.float64:
        np.testing.assert_allclose(dz, dy * _finite_difference(fn, z), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, dz.sum(axis=0), rtol=tol, atol=tol)
    if not fn.needs_input:  # y may be z; dz may be dy
        zz = z0.copy()
        fn.bind_bias_forward(zz, b, zz)()
        # in place may round differently under 'reassoc' (constants fold into the bias add)
        np.testing.assert_allclose(zz, y, rtol=tol, atol=tol)
        g, db2 = dy.copy(), np.empty_like(db)
        fn.bind_backward_bias_grad(None, zz, g, g, db2)()
        np.testing.assert_allclose(g, dz, rtol=tol, atol=tol)
        np.testing.assert_allclose(db2, db, rtol=tol, atol=tol)


def _softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


SOFTMAX_REFS = {"softmax": _softmax_ref, "log_softmax": _log_softmax_ref}


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 1, 0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_forward(name, axis, dtype):
    x = np.random.default_rng(3).normal(scale=3, size=(2, 5, 3)).astype(dtype)
    x[0, 0, 0] = 500  # huge logits must not overflow
    expected = SOFTMAX_REFS[name](x.astype(np.float64), axis).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    got = getattr(A, name)(x, axis=axis)
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    y = x.copy()
    getattr(A, name).with_params(axis=axis).bind_forward(y, y)()  # y may alias x
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_backward(name, axis):
    fn = getattr(A, name).with_params(axis=axis)
    rng = np.random.default_rng(4)
    x, w = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    y = fn(x)
    dx = np.empty_like(x)
    fn.bind_backward(None, y, w, dx)()
    numeric = np.empty_like(x)
    for i in np.ndindex(x.shape):  # gradient of L = sum(w * f(x))
        e = np.zeros_like(x)
        e[i] = 1e-6
        numeric[i] = (np.sum(w * fn(x + e)) - np.sum(w * fn(x - e))) / 2e-6
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)
    g = w.copy()
    fn.bind_backward(None, y, g, g)()  # dx may alias dy
    np.testing.assert_allclose(g, dx, rtol=1e-12)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_fused_bias(name):
    fn = getattr(A, name)
    rng = np.random.default_rng(5)
    z0, b, dy = rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=(4, 6))
    z, y = z0.copy(), np.empty_like(z0)
    fn.bind_bias_forward(z, b, y)()
    np.testing.assert_allclose(y, SOFTMAX_REFS[name](z0 + b, -1), rtol=1e-12)
    dz, db = np.empty_like(z), np.empty(6)
    fn.bind_backward_bias_grad(None, y, dy, dz, db)()
    ref_dz = np.empty_like(z)
    fn.bind_backward(None, y, dy, ref_dz)()
    np.testing.assert_allclose(dz, ref_dz, rtol=1e-12)
    np.testing.assert_allclose(db, dz.sum(axis=0), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="last axis"):
        fn.with_params(axis=0).bind_bias_forward(z, b, y)


def test_prelu_kernels():
    rng = np.random.default_rng(6)
    x = _points([0], (5, 4))
    alpha, w = rng.uniform(0.05, 0.5, size=4), rng.normal(size=(5, 4))

    def prelu(x, alpha):
        y = np.empty_like(x)
        K.prelu_forward(x, alpha, y)
        return y

    np.testing.assert_array_equal(prelu(x, alpha), np.where(x >= 0, x, alpha * x))
    dx, dalpha = np.empty_like(x), np.full(4, np.nan)
    K.prelu_backward(x, alpha, w, dx, dalpha)
    np.testing.assert_allclose(dx, w * _finite_difference(lambda v: prelu(v, alpha), x),
                               rtol=1e-6, atol=1e-9)
    numeric = np.empty(4)
    for j in range(4):
        e = np.zeros(4)
        e[j] = 1e-6
        numeric[j] = (np.sum(w * prelu(x, alpha + e)) - np.sum(w * prelu(x, alpha - e))) / 2e-6
    np.testing.assert_allclose(dalpha, numeric, rtol=1e-6, atol=1e-9)
    g = w.copy()
    K.prelu_backward(x, alpha, g, g, dalpha)  # dx may alias dy
    np.testing.assert_allclose(g, dx)


def test_get_and_serialize():
    assert A.get(None) is A.linear
    assert A.get("swish") is A.silu and A.swish is A.silu
    assert A.get(A.gelu) is A.gelu
    assert A.serialize(A.relu) == "relu" and A.serialize("swish") == "silu"
    custom = A.relu.with_params(max_value=6.0)
    config = A.serialize(custom)
    assert config == {"class_name": "relu",
                      "config": {"negative_slope": 0.0, "max_value": 6.0, "threshold": 0.0}}
    assert A.get(config) == custom and A.deserialize(config) == custom
    assert A.deserialize({"class_name": "function", "config": "tanh"}) is A.tanh
    assert A.deserialize("elu") is A.elu


def test_get_errors():
    with pytest.raises(ValueError, match="relu") as info:
        A.get("relo")
    assert "Valid choices" in str(info.value) and "sigmoid" in str(info.value)
    assert isinstance(A.get(lambda x: x), A.FunctionActivation)  # a function of ops (tests/test_custom_functions.py)
    with pytest.raises(ValueError, match="Could not interpret"):
        A.get(3)
    with pytest.raises(TypeError, match="leaky_relu.*alpha.*negative_slope"):
        A.leaky_relu.with_params(alpha=0.1)
    with pytest.raises(TypeError, match="sigmoid"):
        A.sigmoid([1.0], axis=0)
    with pytest.raises(TypeError, match="approximate"):
        A.gelu.with_params(approximate="yes")


def test_bind_validation():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match="dtype"):
        A.relu.bind_forward(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="shape"):
        A.relu.bind_forward(x, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        A.relu.bind_forward(x.T, x.T)
    with pytest.raises(ValueError, match="bias"):
        A.relu.bind_bias_forward(x, np.zeros(3, np.float32), x)


def test_bound_calls_do_not_allocate():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(32, 16)).astype(np.float32)
    y, dy, dx, db = (np.empty_like(x), rng.normal(size=x.shape).astype(np.float32),
                     np.empty_like(x), np.empty(16, np.float32))
    z, b = x.copy(), np.zeros(16, np.float32)
    calls = []
    for fn in (A.relu, A.gelu, A.sigmoid, A.softmax, A.log_softmax.with_params(axis=0)):
        calls += [fn.bind_forward(x, y), fn.bind_backward(x, y, dy, dx)]
        if fn.kind is not None or fn.axis == -1:
            calls += [fn.bind_bias_forward(z, b, y), fn.bind_backward_bias_grad(x, y, dy, dx, db)]
    for call in calls:  # warm-up: compile / load from cache
        call()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(100):
            for call in calls:
                call()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 512, after - before
    assert peak - before < 4096, peak - before
