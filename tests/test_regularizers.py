"""Regularizers: penalties, gradients from the Numba kernel, allocation-free plan calls, config."""
import tracemalloc

import numpy as np
import pytest

from framework import regularizers
from framework.kernels.regularizers import l1_l2_penalty_and_grad

X = np.array([[1.0, -2.0, 0.0], [0.5, -0.25, 3.0]])


def test_keras_defaults():
    assert regularizers.L1().get_config() == {"l1": 0.01}
    assert regularizers.L2().get_config() == {"l2": 0.01}
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    # Keras documents 0.01 for both when L1L2 is named by a string.
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.get("l1").get_config() == {"l1": 0.01}


def test_penalties_hand_computed():
    abs_sum, sq_sum = 6.75, 1 + 4 + 0.25 + 0.0625 + 9  # = 6.75, 14.3125
    assert regularizers.L1(0.1)(X) == pytest.approx(0.1 * abs_sum)
    assert regularizers.L2(0.2)(X) == pytest.approx(0.2 * sq_sum)
    assert regularizers.L1L2(0.1, 0.2)(X) == pytest.approx(0.1 * abs_sum + 0.2 * sq_sum)
    assert regularizers.L2(2.0)(np.ones((5, 5))) == pytest.approx(50.0)  # Keras docstring example
    assert regularizers.L1L2()(X) == 0.0
    assert isinstance(regularizers.L1(0.1)(X.astype(np.float32)), float)


@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(0.7), regularizers.L1L2(0.3, 0.7)])
def test_bind_penalty_and_gradient_vs_finite_differences(reg):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3))
    loss_grad = rng.standard_normal((4, 3))
    g = loss_grad.copy()
    penalty = reg.bind(w, g)()
    assert penalty == pytest.approx(reg(w), rel=1e-12)
    added = g - loss_grad  # bind adds into the existing gradient
    eps = 1e-6
    numeric = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[i] += eps
        wm[i] -= eps
        numeric[i] = (reg(wp) - reg(wm)) / (2 * eps)
    np.testing.assert_allclose(added, numeric, rtol=1e-6, atol=1e-8)


def test_kernel_sign_at_zero_and_float32():
    w = np.array([0.0, 2.0, -1.0], dtype=np.float32)
    g = np.ones(3, dtype=np.float32)
    p = l1_l2_penalty_and_grad(w, g, 0.5, 0.25)
    assert p == pytest.approx(0.5 * 3 + 0.25 * 5)
    np.testing.assert_allclose(g, [1.0, 1 + 0.5 + 1.0, 1 - 0.5 - 0.5])
    assert np.isnan(l1_l2_penalty_and_grad(np.array([np.nan, 1.0]), np.zeros(2), 0.1, 0.0))  # NaN stays visible


def test_bind_writes_through_views_and_rejects_copies():
    w = np.arange(12.0).reshape(3, 4) - 6
    g = np.zeros((3, 4))
    step = regularizers.L2(1.0).bind(w, g)
    w[:] = 1.0  # later weight updates are seen by the bound callable
    assert step() == pytest.approx(12.0)
    np.testing.assert_array_equal(g, 2.0)
    with pytest.raises(ValueError, match="contiguous"):
        regularizers.L2().bind(w[:, ::2], g[:, ::2])
    with pytest.raises(ValueError, match="shape"):
        regularizers.L2().bind(w, np.zeros(12))


def test_bound_callable_does_not_allocate():
    w = np.random.default_rng(0).standard_normal(100_000).astype(np.float32).reshape(100, 1000)
    g = np.zeros_like(w)
    step = regularizers.L1L2(0.01, 0.01).bind(w, g)
    step()  # compile and warm up outside the measurement
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            step()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 4096, f"bound regularizer allocated {peak - base} bytes at peak"
    assert current - base < 1024


def test_validation():
    for bad in (-0.1, float("nan"), float("inf"), "0.1", [0.1], True):
        with pytest.raises(ValueError, match="non-negative"):
            regularizers.L1(bad)
    assert regularizers.L1(None).l1 == 0.01 and regularizers.L1L2(None, 0.5).l1 == 0.0
    assert regularizers.L2(np.float32(0.5)).l2 == 0.5


@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(0.02), regularizers.L1L2(0.1, 0.2),
                                 regularizers.L1L2()])
def test_config_round_trip(reg):
    cfg = regularizers.serialize(reg)
    assert cfg["class_name"] == type(reg).__name__
    back = regularizers.deserialize(cfg)
    assert type(back) is type(reg) and back.get_config() == reg.get_config()
    assert type(reg).from_config(reg.get_config()).get_config() == reg.get_config()
    assert all(type(v) is float for v in cfg["config"].values())


def test_get_forms_and_errors():
    assert regularizers.get(None) is None
    for name, cls in [("l1", regularizers.L1), ("l2", regularizers.L2), ("l1_l2", regularizers.L1L2),
                      ("L1", regularizers.L1), ("L2", regularizers.L2), ("L1L2", regularizers.L1L2)]:
        assert type(regularizers.get(name)) is cls
    reg = regularizers.L2(0.5)
    assert regularizers.get(reg) is reg
    assert type(regularizers.get(regularizers.L1)) is regularizers.L1
    from_dict = regularizers.get({"class_name": "L1L2", "config": {"l2": 0.3}})
    assert from_dict.get_config() == {"l1": 0.0, "l2": 0.3}

    def custom(x):
        return 0.0
    assert regularizers.get(custom) is custom
    with pytest.raises(ValueError, match="Valid choices") as e:
        regularizers.get("l3")
    for name in ("l1", "l2", "l1_l2"):
        assert name in str(e.value)
    with pytest.raises(ValueError, match="Valid choices"):
        regularizers.deserialize({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError):
        regularizers.get(0.01)
