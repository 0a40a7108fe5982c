"""The Keras 3 losses other than MSE, MAE, Huber and the three crossentropies: the focal
crossentropies, the hinges (Hinge, SquaredHinge, CategoricalHinge), KLDivergence, Poisson,
CosineSimilarity, LogCosh, MSLE and MAPE. Values (eager and bound) against NumPy formulas, Keras
docstring numbers, gradients against finite differences, the fused focal losses, config,
allocation, and training a model with each.

MSE, MAE, Huber, BinaryCrossentropy, CategoricalCrossentropy and SparseCategoricalCrossentropy,
and the bind contract every loss follows: tests/test_losses.py."""

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework import losses as L
from helpers import assert_no_allocation, bind_loss, numeric_grad, reduce_loss_ref, sigmoid, softmax

EPS = 1e-7


# ----------------------------------------------------------------------------- reference formulas
# Written from the Keras 3 formulas (keras/src/losses/losses.py), in float64, over the last axis.

def ref_mape(t, p):
    return 100 * np.mean(np.abs(t - p) / np.maximum(np.abs(t), EPS), -1)


def ref_msle(t, p):
    return np.mean((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2, -1)


def ref_cosine(t, p):
    nt = t / np.maximum(np.sqrt((t ** 2).sum(-1, keepdims=True)), EPS)
    npred = p / np.maximum(np.sqrt((p ** 2).sum(-1, keepdims=True)), EPS)
    return -(nt * npred).sum(-1)


def ref_log_cosh(t, p):
    return np.mean(np.log(np.cosh(p - t)), -1)


def ref_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return (t * np.log(t / p)).sum(-1)


def ref_poisson(t, p):
    return np.mean(p - t * np.log(p + EPS), -1)


def _hinge_labels(t):
    return 2 * t - 1 if np.isin(t, (0, 1)).all() else t


def ref_hinge(t, p):
    return np.mean(np.maximum(1 - _hinge_labels(t) * p, 0), -1)


def ref_squared_hinge(t, p):
    return np.mean(np.maximum(1 - _hinge_labels(t) * p, 0) ** 2, -1)


def ref_categorical_hinge(t, p):
    return np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)


def ref_binary_focal(t, p, from_logits=False, gamma=2.0, balance=False, alpha=0.25, ls=0.0):
    t = t * (1 - ls) + 0.5 * ls
    p = sigmoid(p) if from_logits else p
    pc = np.clip(p, EPS, 1 - EPS)
    bce = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * bce
    if balance:
        out = out * (t * alpha + (1 - t) * (1 - alpha))
    return out.mean(-1)


def ref_categorical_focal(t, p, from_logits=False, gamma=2.0, alpha=0.25, ls=0.0):
    t = t * (1 - ls) + ls / t.shape[-1]
    p = softmax(p) if from_logits else p
    q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return (np.asarray(alpha) * (1 - q) ** gamma * -t * np.log(q)).sum(-1)


# ----------------------------------------------------------------------------- data

def make_data(kind, shape, rng, dtype=np.float64):
    """(y_true, y_pred) for a data kind, kept away from the kinks of each loss (for finite differences)."""
    if kind == "regression":
        t, p = rng.normal(size=shape), rng.normal(size=shape)
        t += np.sign(t - p) * 0.05  # |error| >= 0.05: MAPE's kink at 0
    elif kind == "mape":
        t = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        p = t + rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "positive":
        t, p = rng.uniform(0.0, 3.0, shape), rng.uniform(0.1, 3.0, shape)
    elif kind == "distribution":
        t = rng.uniform(0.0, 1.0, shape)
        t /= t.sum(-1, keepdims=True)
        p = rng.uniform(0.05, 0.95, shape)
    elif kind in ("binary", "binary_logits"):
        t = (rng.random(shape) > 0.5).astype(float)
        p = rng.normal(size=shape) * 2 if kind == "binary_logits" else rng.uniform(0.05, 0.95, shape)
    elif kind == "signed":
        t = rng.choice([-1.0, 1.0], shape)
        m = rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)  # margin 1 - t p away from 0
        p = (1 - m) * t
    elif kind == "onehot_margin":
        # distinct non-target scores (one clear maximum, all > 0) and a hinge margin of +-0.5
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        ranks = rng.permuted(np.broadcast_to(np.arange(shape[-1], dtype=float), shape), axis=-1)
        p = 0.2 + 0.3 * ranks + rng.uniform(0.0, 0.1, shape)
        neg = np.where(t == 1, -np.inf, p).max(-1)
        margin = rng.choice([-0.5, 0.5], shape[:-1])
        p = np.where(t == 1, (neg + 1 - margin)[..., None], p)  # neg - pos + 1 = margin
    elif kind in ("categorical", "categorical_logits"):
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        p = rng.normal(size=shape) * 2 if kind == "categorical_logits" else rng.uniform(0.1, 1.0, shape)
    elif kind == "soft_categorical":
        t = rng.uniform(0.0, 1.0, shape)
        t /= t.sum(-1, keepdims=True)
        p = rng.uniform(0.1, 1.0, shape)
    else:
        raise ValueError(kind)
    return np.ascontiguousarray(t, dtype), np.ascontiguousarray(p, dtype)


# name, factory, reference, data kind
CASES = [
    ("mape", lambda: L.MeanAbsolutePercentageError(), ref_mape, "mape"),
    ("msle", lambda: L.MeanSquaredLogarithmicError(), ref_msle, "positive"),
    ("cosine", lambda: L.CosineSimilarity(), ref_cosine, "regression"),
    ("log_cosh", lambda: L.LogCosh(), ref_log_cosh, "regression"),
    ("kld", lambda: L.KLDivergence(), ref_kld, "distribution"),
    ("poisson", lambda: L.Poisson(), ref_poisson, "positive"),
    ("hinge_binary", lambda: L.Hinge(), ref_hinge, "binary"),
    ("hinge_signed", lambda: L.Hinge(), ref_hinge, "signed"),
    ("squared_hinge_binary", lambda: L.SquaredHinge(), ref_squared_hinge, "binary"),
    ("squared_hinge_signed", lambda: L.SquaredHinge(), ref_squared_hinge, "signed"),
    ("categorical_hinge", lambda: L.CategoricalHinge(), ref_categorical_hinge, "onehot_margin"),
    ("bfce", lambda: L.BinaryFocalCrossentropy(), ref_binary_focal, "binary"),
    ("bfce_balanced_ls", lambda: L.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5,
                                                           label_smoothing=0.1),
     lambda t, p: ref_binary_focal(t, p, gamma=1.5, balance=True, alpha=0.4, ls=0.1), "binary"),
    ("bfce_logits", lambda: L.BinaryFocalCrossentropy(from_logits=True, gamma=3.0, apply_class_balancing=True),
     lambda t, p: ref_binary_focal(t, p, True, gamma=3.0, balance=True), "binary_logits"),
    ("bfce_gamma0", lambda: L.BinaryFocalCrossentropy(gamma=0.0),
     lambda t, p: ref_binary_focal(t, p, gamma=0.0), "binary"),
    ("cfce", lambda: L.CategoricalFocalCrossentropy(), ref_categorical_focal, "categorical"),
    ("cfce_soft_ls", lambda: L.CategoricalFocalCrossentropy(alpha=0.5, gamma=0.5, label_smoothing=0.2),
     lambda t, p: ref_categorical_focal(t, p, gamma=0.5, alpha=0.5, ls=0.2), "soft_categorical"),
    ("cfce_logits", lambda: L.CategoricalFocalCrossentropy(from_logits=True, gamma=1.0),
     lambda t, p: ref_categorical_focal(t, p, True, gamma=1.0), "categorical_logits"),
    ("cfce_alpha_list", lambda: L.CategoricalFocalCrossentropy(alpha=[0.1, 0.2, 0.3, 0.4], from_logits=True),
     lambda t, p: ref_categorical_focal(t, p, True, alpha=[0.1, 0.2, 0.3, 0.4]), "categorical_logits"),
]
IDS = [c[0] for c in CASES]
SHAPES = [(5, 4), (3, 2, 4)]


# ----------------------------------------------------------------------------- values

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,factory,ref,kind", CASES, ids=IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_eager_and_bound_value_match_reference(name, factory, ref, kind, shape, weighted):
    rng = np.random.default_rng(len(shape) * 10 + weighted)
    t, p = make_data(kind, shape, rng)
    w = rng.uniform(0.0, 2.0, shape[0]) if weighted else None
    expected = reduce_loss_ref(ref(t, p), w)
    loss = factory()
    assert loss(t, p, sample_weight=w) == pytest.approx(expected, rel=1e-10)
    f, _ = bind_loss(loss, t, p, w)
    value = f()
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-10)
    assert f() == value  # the bound callable is repeatable


@pytest.mark.parametrize("name,factory,ref,kind", CASES, ids=IDS)
def test_reduction_none_returns_per_sample_values(name, factory, ref, kind):
    rng = np.random.default_rng(11)
    t, p = make_data(kind, (4, 3, 4), rng)
    loss = factory()
    loss.reduction = None
    out = loss(t, p)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out, ref(t, p), rtol=1e-12, atol=1e-12)
    w = rng.uniform(0.0, 2.0, 4)
    np.testing.assert_allclose(loss(t, p, sample_weight=w), ref(t, p) * w[:, None], rtol=1e-12, atol=1e-12)


def test_eager_functions_return_per_sample_values():
    rng = np.random.default_rng(12)
    for fn, ref, kind in [(L.mean_absolute_percentage_error, ref_mape, "mape"),
                          (L.mean_squared_logarithmic_error, ref_msle, "positive"),
                          (L.cosine_similarity, ref_cosine, "regression"), (L.log_cosh, ref_log_cosh, "regression"),
                          (L.kl_divergence, ref_kld, "distribution"), (L.poisson, ref_poisson, "positive"),
                          (L.hinge, ref_hinge, "binary"), (L.hinge, ref_hinge, "signed"),
                          (L.squared_hinge, ref_squared_hinge, "signed"),
                          (L.categorical_hinge, ref_categorical_hinge, "onehot_margin"),
                          (L.binary_focal_crossentropy, ref_binary_focal, "binary"),
                          (L.categorical_focal_crossentropy, ref_categorical_focal, "categorical")]:
        t, p = make_data(kind, (4, 3, 5), rng)
        out = fn(t, p)
        assert out.shape == (4, 3), fn.__name__
        np.testing.assert_allclose(out, ref(t, p), rtol=1e-12, atol=1e-12, err_msg=fn.__name__)
    t, z = make_data("binary_logits", (4, 5), rng)
    np.testing.assert_allclose(
        L.binary_focal_crossentropy(t, z, apply_class_balancing=True, alpha=0.3, gamma=1.0, from_logits=True,
                                    label_smoothing=0.1),
        ref_binary_focal(t, z, True, gamma=1.0, balance=True, alpha=0.3, ls=0.1), rtol=1e-12)
    t, z = make_data("categorical_logits", (4, 5), rng)
    np.testing.assert_allclose(
        L.categorical_focal_crossentropy(t, z, alpha=[0.1, 0.2, 0.3, 0.2, 0.2], gamma=3.0, from_logits=True,
                                         label_smoothing=0.2),
        ref_categorical_focal(t, z, True, gamma=3.0, alpha=[0.1, 0.2, 0.3, 0.2, 0.2], ls=0.2), rtol=1e-12)


@pytest.mark.parametrize("name,factory,ref,kind", CASES, ids=IDS)
def test_bound_float32_matches_float64_reference(name, factory, ref, kind):
    rng = np.random.default_rng(1)
    t, p = make_data(kind, (16, 3, 4), rng)
    w = rng.uniform(0.5, 1.5, 16)
    t32, p32, w32 = t.astype(np.float32), p.astype(np.float32), w.astype(np.float32)
    f, d = bind_loss(factory(), t32, p32, w32)
    assert f() == pytest.approx(reduce_loss_ref(ref(t32.astype(float), p32.astype(float)), w32.astype(float)), rel=1e-6)
    assert d.dtype == np.float32 and np.isfinite(d).all()
    f64, d64 = bind_loss(factory(), t32.astype(float), p32.astype(float), w32.astype(float))
    f64()
    np.testing.assert_allclose(d, d64, rtol=1e-4, atol=1e-7)


def test_keras_docstring_numbers():
    # Keras 3 docstrings (keras/src/losses/losses.py)
    yt, yp = np.array([0, 1, 0, 0]), np.array([-18.6, 0.51, 2.94, -12.8])
    assert L.BinaryFocalCrossentropy(gamma=2, from_logits=True)(yt, yp) == pytest.approx(0.691, abs=1e-3)
    assert L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2, from_logits=True)(yt, yp) == \
        pytest.approx(0.51, abs=1e-3)
    yt, yp = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    assert L.BinaryFocalCrossentropy(gamma=3, from_logits=True)(yt, yp) == pytest.approx(0.647, abs=1e-3)
    assert L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3, from_logits=True)(yt, yp) == \
        pytest.approx(0.482, abs=1e-3)
    assert L.BinaryFocalCrossentropy(gamma=3, from_logits=True)(yt, yp, sample_weight=[0.8, 0.2]) == \
        pytest.approx(0.133, abs=1e-3)
    assert L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3, from_logits=True)(
        yt, yp, sample_weight=[0.8, 0.2]) == pytest.approx(0.097, abs=1e-3)
    assert L.BinaryFocalCrossentropy(gamma=4, from_logits=True, reduction="sum")(yt, yp) == \
        pytest.approx(1.222, abs=1e-3)
    assert L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=4, from_logits=True,
                                     reduction="sum")(yt, yp) == pytest.approx(0.914, abs=1e-3)
    np.testing.assert_allclose(L.BinaryFocalCrossentropy(gamma=5, from_logits=True, reduction=None)(yt, yp),
                               [0.0017, 1.1561], atol=1e-4)
    np.testing.assert_allclose(L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=5, from_logits=True,
                                                         reduction=None)(yt, yp), [0.0004, 0.8670], atol=1e-4)
    np.testing.assert_allclose(L.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2),
                               [0.330, 0.206], atol=1e-3)
    yt, yp = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    cfce = L.CategoricalFocalCrossentropy()
    assert cfce(yt, yp) == pytest.approx(0.23315276, rel=1e-6)
    assert cfce(yt, yp, sample_weight=np.array([0.3, 0.7])) == pytest.approx(0.1632, abs=1e-4)
    assert L.CategoricalFocalCrossentropy(reduction="sum")(yt, yp) == pytest.approx(0.46631, abs=1e-5)
    np.testing.assert_allclose(L.CategoricalFocalCrossentropy(reduction=None)(yt, yp),
                               [3.2058331e-05, 4.6627346e-01], rtol=1e-6)
    np.testing.assert_allclose(L.categorical_focal_crossentropy([[0, 1, 0], [0, 0, 1]],
                                                                [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]),
                               [2.63401289e-04, 6.75912094e-01], rtol=1e-6)
    np.testing.assert_allclose(L.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
                                                   [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]), [0.0, -1.0, 1.0], atol=1e-6)
    assert L.log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).mean() == pytest.approx(0.108, abs=1e-3)
    # Keras 2 docstrings (keras/losses.py); the formulas did not change in Keras 3.
    yt, yp = [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]]
    assert L.KLDivergence()(yt, yp) == pytest.approx(0.458, abs=1e-3)
    assert L.KLDivergence()(yt, yp, sample_weight=[0.8, 0.2]) == pytest.approx(0.366, abs=1e-3)
    np.testing.assert_allclose(L.KLDivergence(reduction=None)(yt, yp), [0.916, -3.08e-06], rtol=1e-3)
    assert L.Hinge()(yt, yp) == pytest.approx(1.3)
    assert L.Hinge()(yt, yp, sample_weight=[1, 0]) == pytest.approx(0.55)
    np.testing.assert_allclose(L.Hinge(reduction=None)(yt, yp), [1.1, 1.5])
    assert L.SquaredHinge()(yt, yp) == pytest.approx(1.86)
    assert L.SquaredHinge(reduction="sum")(yt, yp) == pytest.approx(3.72)
    np.testing.assert_allclose(L.SquaredHinge(reduction=None)(yt, yp), [1.46, 2.26])
    assert L.CategoricalHinge()(yt, yp) == pytest.approx(1.4)
    assert L.CategoricalHinge()(yt, yp, sample_weight=[1, 0]) == pytest.approx(0.6)
    np.testing.assert_allclose(L.CategoricalHinge(reduction=None)(yt, yp), [1.2, 1.6])
    yp = [[1.0, 1.0], [0.0, 0.0]]
    assert L.Poisson()(yt, yp) == pytest.approx(0.5, abs=1e-6)
    assert L.Poisson()(yt, yp, sample_weight=[0.8, 0.2]) == pytest.approx(0.4, abs=1e-6)
    assert L.LogCosh()(yt, yp) == pytest.approx(0.108, abs=1e-3)
    assert L.LogCosh()(yt, yp, sample_weight=[0.8, 0.2]) == pytest.approx(0.087, abs=1e-3)
    assert L.LogCosh(reduction="sum")(yt, yp) == pytest.approx(0.217, abs=1e-3)
    yp = [[1.0, 1.0], [1.0, 0.0]]
    assert L.MeanSquaredLogarithmicError()(yt, yp) == pytest.approx(0.240, abs=1e-3)
    assert L.MeanSquaredLogarithmicError()(yt, yp, sample_weight=[0.7, 0.3]) == pytest.approx(0.120, abs=1e-3)
    mape = L.MeanAbsolutePercentageError()
    assert mape([[2.0, 1.0], [2.0, 3.0]], yp) == pytest.approx(50.0)
    assert mape([[2.0, 1.0], [2.0, 3.0]], yp, sample_weight=[0.7, 0.3]) == pytest.approx(20.0)
    np.testing.assert_allclose(L.MeanAbsolutePercentageError(reduction=None)([[2.0, 1.0], [2.0, 3.0]], yp), [25, 75])
    assert L.CosineSimilarity()([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]) == pytest.approx(-0.5)


def test_hand_computed_bound_values():
    """The docstring numbers again, through bind() (float64 buffers)."""
    yt, yp = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    for loss, expected in [(L.Hinge(), 1.3), (L.SquaredHinge(), 1.86), (L.CategoricalHinge(), 1.4),
                           (L.KLDivergence(), 0.458)]:
        assert bind_loss(loss, yt, yp.copy())[0]() == pytest.approx(expected, abs=1e-3)
    yt, z = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    assert bind_loss(L.BinaryFocalCrossentropy(gamma=3, from_logits=True), yt, z)[0]() == pytest.approx(0.647, abs=1e-3)
    f, _ = bind_loss(L.BinaryFocalCrossentropy(gamma=3, from_logits=True), yt, z, np.array([0.8, 0.2]))
    assert f() == pytest.approx(0.133, abs=1e-3)
    yt = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    yp = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    assert bind_loss(L.CategoricalFocalCrossentropy(), yt, yp)[0]() == pytest.approx(0.23315276, rel=1e-6)
    f, _ = bind_loss(L.CategoricalFocalCrossentropy(reduction="sum"), yt, yp)
    assert f() == pytest.approx(0.46631, abs=1e-5)


def test_hinge_label_conversion_is_all_or_nothing():
    p = np.array([[0.3, -0.2], [0.5, 0.1]])
    binary = np.array([[0.0, 1.0], [1.0, 1.0]])
    signed = 2 * binary - 1
    for loss in (L.Hinge(), L.SquaredHinge()):
        assert loss(binary, p) == pytest.approx(loss(signed, p))
        assert bind_loss(loss, binary, p.copy())[0]() == pytest.approx(loss(signed, p))
    # one label outside {0, 1}: nothing is converted (the zeros stay zeros), as Keras's convert_binary_labels
    mixed = np.array([[0.0, 1.0], [1.0, 0.5]])
    expected = np.mean(np.maximum(1 - mixed * p, 0), -1).mean()
    assert L.Hinge()(mixed, p) == pytest.approx(expected)
    assert bind_loss(L.Hinge(), mixed, p.copy())[0]() == pytest.approx(expected)
    # categorical hinge does not convert
    assert L.categorical_hinge([[0.0, 1.0]], [[0.2, 0.7]])[0] == pytest.approx(max(0.2 - 0.7 + 1, 0))


def test_cosine_similarity_of_a_zero_vector_is_zero():
    t = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    p = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(L.cosine_similarity(t, p), [0.0, 0.0])
    f, d = bind_loss(L.CosineSimilarity(), t, p.copy())
    assert f() == 0.0
    assert np.isfinite(d).all()
    # Keras: a zero prediction is scaled by 1/epsilon, so its gradient is -t_hat / epsilon / (N*R)
    np.testing.assert_allclose(d[1], -t[1] / 3 / EPS / 2)
    np.testing.assert_array_equal(d[0], 0.0)


def test_eager_axis_argument():
    rng = np.random.default_rng(3)
    t, p = make_data("regression", (4, 5), rng)
    np.testing.assert_allclose(L.CosineSimilarity(axis=0, reduction=None)(t.T, p.T), ref_cosine(t, p))
    t, p = make_data("categorical", (4, 5), rng)
    np.testing.assert_allclose(L.categorical_focal_crossentropy(t.T, p.T, axis=0), ref_categorical_focal(t, p))
    t, p = make_data("binary", (4, 5), rng)
    np.testing.assert_allclose(L.binary_focal_crossentropy(t.T, p.T, axis=0), ref_binary_focal(t, p))
    with pytest.raises(ValueError, match="axis"):
        L.CosineSimilarity(axis=0).bind(p, t, None, np.zeros_like(p))


def test_rank1_outputs_and_squeezed_targets():
    rng = np.random.default_rng(4)
    t, p = make_data("positive", (6,), rng)
    w = rng.uniform(0.5, 1.5, 6)
    f, _ = bind_loss(L.Poisson(), t, p, w)
    assert f() == pytest.approx(reduce_loss_ref(ref_poisson(t[:, None], p[:, None]), w))
    # (N,) targets against an (N, 1) output: Keras's squeeze_or_expand_to_same_rank
    assert L.Poisson()(t, p[:, None]) == pytest.approx(L.Poisson()(t[:, None], p[:, None]))
    assert L.LogCosh()(t[:, None], p) == pytest.approx(ref_log_cosh(t[:, None], p[:, None]).mean())


@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_with_sample_weight"])
@pytest.mark.parametrize("factory,kind", [(lambda r: L.KLDivergence(reduction=r), "distribution"),
                                          (lambda r: L.CategoricalFocalCrossentropy(reduction=r), "categorical"),
                                          (lambda r: L.LogCosh(reduction=r), "regression")])
def test_reductions_bound_match_eager(factory, kind, reduction):
    rng = np.random.default_rng(5)
    t, p = make_data(kind, (4, 3, 5), rng)
    w = rng.uniform(0.1, 1.0, 4)
    loss = factory(reduction)
    assert bind_loss(loss, t, p, w)[0]() == pytest.approx(loss(t, p, sample_weight=w), rel=1e-10)


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,factory,ref,kind", CASES, ids=IDS)
def test_bound_gradient_matches_finite_differences(name, factory, ref, kind, shape):
    rng = np.random.default_rng(6)
    t, p = make_data(kind, shape, rng)
    w = rng.uniform(0.2, 1.5, shape[0])
    for reduction in ("sum_over_batch_size", "sum"):
        loss = factory()
        loss.reduction = reduction
        f, d = bind_loss(loss, t, p, w)
        f()
        analytic = d.copy()
        assert np.abs(analytic).max() > 0
        np.testing.assert_allclose(analytic, numeric_grad(f, p), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("shape", SHAPES)
def test_fused_sigmoid_binary_focal(shape):
    rng = np.random.default_rng(7)
    t, z = make_data("binary_logits", shape, rng)
    w = rng.uniform(0.2, 1.5, shape[0])
    loss = L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2.5, label_smoothing=0.05)
    assert loss.fusable_activation == "sigmoid"
    y = sigmoid(z)
    f, d = bind_loss(loss, t, y, w, logits=z)
    ref = lambda t, p: ref_binary_focal(t, p, gamma=2.5, balance=True, ls=0.05)  # noqa: E731
    assert f() == pytest.approx(reduce_loss_ref(ref(t, y), w), rel=1e-10)  # Keras's value of the probabilities

    def value():
        y[...] = sigmoid(z)
        return f()
    np.testing.assert_allclose(d, numeric_grad(value, z), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("shape", SHAPES)
def test_fused_softmax_categorical_focal(shape):
    rng = np.random.default_rng(8)
    t, z = make_data("categorical_logits", shape, rng)
    w = rng.uniform(0.2, 1.5, shape[0])
    loss = L.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.1, 0.4], gamma=1.5, label_smoothing=0.1)
    assert loss.fusable_activation == "softmax"
    y = softmax(z)
    f, d = bind_loss(loss, t, y, w, logits=z)
    expected = reduce_loss_ref(ref_categorical_focal(t, y, gamma=1.5, alpha=[0.2, 0.3, 0.1, 0.4], ls=0.1), w)
    assert f() == pytest.approx(expected, rel=1e-10)

    def value():
        y[...] = softmax(z)
        return f()
    np.testing.assert_allclose(d, numeric_grad(value, z), rtol=1e-5, atol=1e-8)


def test_focal_with_gamma_zero_and_alpha_one_is_crossentropy():
    rng = np.random.default_rng(9)
    t, p = make_data("categorical", (6, 5), rng)
    f, d = bind_loss(L.CategoricalFocalCrossentropy(alpha=1.0, gamma=0.0), t, p)
    f_ref, d_ref = bind_loss(L.CategoricalCrossentropy(), t, p)
    assert f() == pytest.approx(f_ref(), rel=1e-12)
    np.testing.assert_allclose(d, d_ref, rtol=1e-10, atol=1e-14)
    t, p = make_data("binary", (6, 5), rng)
    f, d = bind_loss(L.BinaryFocalCrossentropy(gamma=0.0), t, p)
    f_ref, d_ref = bind_loss(L.BinaryCrossentropy(), t, p)
    assert f() == pytest.approx(f_ref(), rel=1e-12)
    np.testing.assert_allclose(d, d_ref, rtol=1e-10, atol=1e-14)


def test_nan_propagates():
    for loss, t in [(L.Poisson(), [[1.0, 2.0]]), (L.CosineSimilarity(), [[1.0, 2.0]]),
                    (L.BinaryFocalCrossentropy(), [[0.0, 1.0]]), (L.CategoricalFocalCrossentropy(), [[0.0, 1.0]]),
                    (L.KLDivergence(), [[0.5, 0.5]]), (L.LogCosh(), [[1.0, 2.0]]), (L.Hinge(), [[0.0, 1.0]]),
                    (L.SquaredHinge(), [[0.0, 1.0]]), (L.CategoricalHinge(), [[0.0, 1.0]]),
                    (L.MeanSquaredLogarithmicError(), [[1.0, 2.0]]), (L.MeanAbsolutePercentageError(), [[1.0, 2.0]])]:
        f, d = bind_loss(loss, np.array(t), np.array([[np.nan, 0.5]]))
        assert np.isnan(f()), loss


def test_categorical_focal_alpha_list_must_match_classes():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="alpha"):
        L.CategoricalFocalCrossentropy(alpha=[0.5, 0.5]).bind(p, p.copy(), None, np.zeros_like(p))


# ----------------------------------------------------------------------------- allocation

@pytest.mark.parametrize("name,factory,ref,kind", CASES, ids=IDS)
def test_bound_loss_does_not_allocate(name, factory, ref, kind):
    rng = np.random.default_rng(10)
    t, p = make_data(kind, (256, 10) if "alpha_list" not in name else (256, 4), rng, dtype=np.float32)
    w = np.ones(256, np.float32)
    f, _ = bind_loss(factory(), t, p, w)
    assert_no_allocation(f)


def test_fused_focal_does_not_allocate():
    rng = np.random.default_rng(12)
    t, z = make_data("categorical_logits", (256, 10), rng, dtype=np.float32)
    f, _ = bind_loss(L.CategoricalFocalCrossentropy(), t, softmax(z).astype(np.float32), None, logits=z)
    assert_no_allocation(f)
    t, z = make_data("binary_logits", (256, 10), rng, dtype=np.float32)
    f, _ = bind_loss(L.BinaryFocalCrossentropy(reduction="mean_with_sample_weight"), t,
                     sigmoid(z).astype(np.float32), None, logits=z)
    assert_no_allocation(f)


# ----------------------------------------------------------------------------- registry and config

NAMES = [
    ("kl_divergence", L.KLDivergence), ("kld", L.KLDivergence), ("KLD", L.KLDivergence),
    ("KLDivergence", L.KLDivergence), ("poisson", L.Poisson), ("Poisson", L.Poisson),
    ("cosine_similarity", L.CosineSimilarity), ("CosineSimilarity", L.CosineSimilarity),
    ("hinge", L.Hinge), ("Hinge", L.Hinge), ("squared_hinge", L.SquaredHinge), ("SquaredHinge", L.SquaredHinge),
    ("categorical_hinge", L.CategoricalHinge), ("CategoricalHinge", L.CategoricalHinge),
    ("log_cosh", L.LogCosh), ("LogCosh", L.LogCosh),
    ("mean_squared_logarithmic_error", L.MeanSquaredLogarithmicError), ("msle", L.MeanSquaredLogarithmicError),
    ("MSLE", L.MeanSquaredLogarithmicError), ("MeanSquaredLogarithmicError", L.MeanSquaredLogarithmicError),
    ("mean_absolute_percentage_error", L.MeanAbsolutePercentageError), ("mape", L.MeanAbsolutePercentageError),
    ("MAPE", L.MeanAbsolutePercentageError), ("MeanAbsolutePercentageError", L.MeanAbsolutePercentageError),
    ("binary_focal_crossentropy", L.BinaryFocalCrossentropy),
    ("BinaryFocalCrossentropy", L.BinaryFocalCrossentropy),
    ("categorical_focal_crossentropy", L.CategoricalFocalCrossentropy),
    ("CategoricalFocalCrossentropy", L.CategoricalFocalCrossentropy),
]


@pytest.mark.parametrize("name,cls", NAMES, ids=[n for n, _ in NAMES])
def test_get_by_name(name, cls):
    loss = L.get(name)
    assert type(loss) is cls
    # a class name gives the Keras default name, an alias keeps the name written
    assert loss.name == (cls().name if name == cls.__name__ else name)


def test_get_by_function_and_class():
    for fn, cls in [(L.kl_divergence, L.KLDivergence), (L.poisson, L.Poisson), (L.hinge, L.Hinge),
                    (L.cosine_similarity, L.CosineSimilarity), (L.log_cosh, L.LogCosh),
                    (L.squared_hinge, L.SquaredHinge), (L.categorical_hinge, L.CategoricalHinge),
                    (L.mean_squared_logarithmic_error, L.MeanSquaredLogarithmicError),
                    (L.mean_absolute_percentage_error, L.MeanAbsolutePercentageError),
                    (L.binary_focal_crossentropy, L.BinaryFocalCrossentropy),
                    (L.categorical_focal_crossentropy, L.CategoricalFocalCrossentropy)]:
        assert type(L.get(fn)) is cls
        assert type(L.get(cls)) is cls
    got = L.get({"class_name": "BinaryFocalCrossentropy", "config": {"from_logits": True, "gamma": 3}})
    assert got.from_logits and got.gamma == 3.0 and got.fusable_activation is None


def test_keras_defaults():
    assert L.BinaryFocalCrossentropy().get_config() == {
        "name": "binary_focal_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1, "apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0}
    assert L.CategoricalFocalCrossentropy().get_config() == {
        "name": "categorical_focal_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1, "alpha": 0.25, "gamma": 2.0}
    assert L.CosineSimilarity().get_config() == {"name": "cosine_similarity", "reduction": "sum_over_batch_size",
                                                 "axis": -1}
    for cls, name in [(L.KLDivergence, "kl_divergence"), (L.Poisson, "poisson"), (L.Hinge, "hinge"),
                      (L.SquaredHinge, "squared_hinge"), (L.CategoricalHinge, "categorical_hinge"),
                      (L.LogCosh, "log_cosh"), (L.MeanSquaredLogarithmicError, "mean_squared_logarithmic_error"),
                      (L.MeanAbsolutePercentageError, "mean_absolute_percentage_error")]:
        assert cls().get_config() == {"name": name, "reduction": "sum_over_batch_size"}
    with pytest.raises(ValueError, match="label_smoothing"):
        L.BinaryFocalCrossentropy(label_smoothing=1.5)


@pytest.mark.parametrize("loss", [
    L.KLDivergence(), L.Poisson(reduction="sum"), L.CosineSimilarity(axis=1, name="cos"), L.Hinge(),
    L.SquaredHinge(reduction="mean"), L.CategoricalHinge(), L.LogCosh(name="lc"), L.MeanSquaredLogarithmicError(),
    L.MeanAbsolutePercentageError(reduction="mean_with_sample_weight"),
    L.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=3.0, from_logits=True,
                              label_smoothing=0.1),
    L.CategoricalFocalCrossentropy(alpha=[0.1, 0.9], gamma=1.0, label_smoothing=0.2),
], ids=lambda l: type(l).__name__)
def test_config_round_trip(loss):
    config = loss.get_config()
    assert type(loss).from_config(config).get_config() == config
    data = L.serialize(loss)
    assert data["class_name"] == type(loss).__name__
    back = L.deserialize(data)
    assert type(back) is type(loss) and back.get_config() == config
    import yaml
    assert yaml.safe_load(yaml.safe_dump(data)) == data


# ----------------------------------------------------------------------------- end to end

def _problem(kind, rng, n=96):
    x = rng.standard_normal((n, 4)).astype(np.float32)
    w_true = rng.standard_normal((4, 3)).astype(np.float32)
    z = x @ w_true
    if kind == "regression":
        return x, z, None
    if kind == "positive":
        return x, np.log1p(np.exp(z)), "softplus"
    if kind == "distribution":
        return x, softmax(z), "softmax"
    if kind == "binary":
        return x, (z > 0).astype(np.float32), "sigmoid"
    if kind == "signed":
        return x, np.where(z > 0, 1.0, -1.0).astype(np.float32), None
    if kind == "onehot":
        return x, np.eye(3, dtype=np.float32)[z.argmax(-1)], "softmax"
    raise ValueError(kind)


TRAINING = [
    ("kl_divergence", "distribution", "softmax"),
    ("poisson", "positive", "softplus"),
    ("cosine_similarity", "regression", None),
    ("hinge", "signed", None),
    ("hinge", "binary", None),  # {0, 1} labels converted
    ("squared_hinge", "signed", "tanh"),
    ("categorical_hinge", "onehot", None),
    ("log_cosh", "regression", None),
    ("msle", "positive", "softplus"),
    ("mape", "regression", None),
    ("binary_focal_crossentropy", "binary", "sigmoid"),  # fused with the sigmoid
    (L.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True), "binary", None),
    ("categorical_focal_crossentropy", "onehot", "softmax"),  # fused with the softmax
    (L.CategoricalFocalCrossentropy(from_logits=True, alpha=[0.3, 0.3, 0.4]), "onehot", None),
]


@pytest.mark.parametrize("loss,kind,activation", TRAINING,
                         ids=[f"{l if isinstance(l, str) else type(l).__name__}-{k}" for l, k, _ in TRAINING])
def test_model_trains_with_loss(loss, kind, activation):
    fw.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y, _ = _problem(kind, rng)
    model = fw.Sequential([fw.Input((4,)), layers.Dense(16, activation="tanh"),
                           layers.Dense(3, activation=activation)])
    model.compile(optimizer=fw.optimizers.Adam(0.02), loss=loss)
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert after < before - 0.1 * abs(before) - 1e-3, (before, after)
    # the plan's loss (fused where it applies) equals the eager Keras formula on the predictions
    eager = L.get(loss)(y, model.predict(x, verbose=0).astype(np.float64))
    assert after == pytest.approx(eager, rel=2e-3, abs=1e-5)
