"""Losses: MSE, MAE, Huber and the three crossentropies (binary, categorical, sparse): Keras 3
values (eager and bound), gradients, the fused softmax / sigmoid crossentropies, stability, the
bind contract, registry, config, allocation.

The focal crossentropies, the hinges, KLDivergence, Poisson, CosineSimilarity, LogCosh, MSLE and
MAPE: tests/test_losses_focal_hinge_and_others.py."""

import numpy as np
import pytest

from framework import losses as L
from helpers import assert_no_allocation, bind_loss, numeric_grad, reduce_loss_ref, softmax

EPS = 1e-7


# ----------------------------------------------------------------------------- reference formulas
# Written from the Keras 3 formulas, in float64, over the last axis.

def ref_mse(t, p):
    return ((p - t) ** 2).mean(-1)


def ref_mae(t, p):
    return np.abs(p - t).mean(-1)


def ref_huber(t, p, delta=1.0):
    e = np.abs(p - t)
    return np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2).mean(-1)


def ref_bce(t, p, from_logits=False, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)


def ref_cce(t, p, from_logits=False, label_smoothing=0.0):
    c = t.shape[-1]
    t = t * (1 - label_smoothing) + label_smoothing / c
    p = softmax(p) if from_logits else p
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(t * np.log(p)).sum(-1)


def ref_scce(labels, p, from_logits=False):
    onehot = np.eye(p.shape[-1])[labels.astype(int)]
    return ref_cce(onehot, p, from_logits)


# ----------------------------------------------------------------------------- data

def make_data(kind, shape, rng, from_logits=False, dtype=np.float64):
    """(y_true, y_pred) for a loss kind; probabilities stay well inside the clip bounds."""
    if kind == "regression":
        t, p = rng.normal(size=shape), rng.normal(size=shape)
    elif kind == "binary":
        t = (rng.random(shape) > 0.5).astype(float)
        p = rng.normal(size=shape) * 2 if from_logits else rng.uniform(0.05, 0.95, shape)
    elif kind == "categorical":
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        p = rng.normal(size=shape) * 2 if from_logits else rng.uniform(0.1, 1.0, shape)  # unnormalized
    else:  # sparse
        t = rng.integers(0, shape[-1], shape[:-1]).astype(float)
        p = rng.normal(size=shape) * 2 if from_logits else rng.uniform(0.1, 1.0, shape)
    return np.ascontiguousarray(t, dtype), np.ascontiguousarray(p, dtype)


# name, factory, reference, data kind, from_logits
CASES = [
    ("mse", lambda: L.MeanSquaredError(), ref_mse, "regression", False),
    ("mae", lambda: L.MeanAbsoluteError(), ref_mae, "regression", False),
    ("huber", lambda: L.Huber(delta=0.7), lambda t, p: ref_huber(t, p, 0.7), "regression", False),
    ("bce", lambda: L.BinaryCrossentropy(), ref_bce, "binary", False),
    ("bce_ls", lambda: L.BinaryCrossentropy(label_smoothing=0.2),
     lambda t, p: ref_bce(t, p, label_smoothing=0.2), "binary", False),
    ("bce_logits", lambda: L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
     lambda t, p: ref_bce(t, p, True, 0.1), "binary", True),
    ("cce", lambda: L.CategoricalCrossentropy(), ref_cce, "categorical", False),
    ("cce_ls", lambda: L.CategoricalCrossentropy(label_smoothing=0.1),
     lambda t, p: ref_cce(t, p, label_smoothing=0.1), "categorical", False),
    ("cce_logits", lambda: L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
     lambda t, p: ref_cce(t, p, True, 0.2), "categorical", True),
    ("scce", lambda: L.SparseCategoricalCrossentropy(), ref_scce, "sparse", False),
    ("scce_logits", lambda: L.SparseCategoricalCrossentropy(from_logits=True),
     lambda t, p: ref_scce(t, p, True), "sparse", True),
]
IDS = [c[0] for c in CASES]
SHAPES = [(5, 4), (3, 2, 4)]


# ----------------------------------------------------------------------------- values

def test_hand_computed_values():
    assert L.MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]]) == pytest.approx(0.5)
    assert L.MeanAbsoluteError()([[0.0, 1.0]], [[1.0, 3.0]]) == pytest.approx(1.5)
    # Keras docstring examples.
    yt, yp = np.array([[0, 1, 0], [0, 0, 1]]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert L.CategoricalCrossentropy()(yt, yp) == pytest.approx(1.177, abs=1e-3)
    assert L.CategoricalCrossentropy()(yt, yp, sample_weight=[0.3, 0.7]) == pytest.approx(0.814, abs=1e-3)
    assert L.CategoricalCrossentropy(reduction="sum")(yt, yp) == pytest.approx(2.354, abs=1e-3)
    np.testing.assert_allclose(L.CategoricalCrossentropy(reduction=None)(yt, yp), [0.0513, 2.303], atol=1e-3)
    assert L.SparseCategoricalCrossentropy()([1, 2], yp) == pytest.approx(1.177, abs=1e-3)
    yt, yp = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    bce = L.BinaryCrossentropy(from_logits=True)
    assert bce(yt, yp) == pytest.approx(0.8654, abs=1e-4)
    assert bce(yt, yp, sample_weight=[0.8, 0.2]) == pytest.approx(0.243, abs=1e-3)
    assert L.BinaryCrossentropy(from_logits=True, reduction="sum")(yt, yp) == pytest.approx(1.730, abs=1e-3)
    np.testing.assert_allclose(L.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]),
                               [0.916, 0.714], atol=1e-3)
    assert L.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) == pytest.approx(0.155, abs=1e-3)


def test_eager_functions_return_per_sample_values():
    rng = np.random.default_rng(0)
    t, p = make_data("regression", (4, 3, 5), rng)
    assert L.mean_squared_error(t, p).shape == (4, 3)
    np.testing.assert_allclose(L.mean_squared_error(t, p), ref_mse(t, p))
    np.testing.assert_allclose(L.mean_absolute_error(t, p), ref_mae(t, p))
    np.testing.assert_allclose(L.huber(t, p, 0.5), ref_huber(t, p, 0.5))
    t, p = make_data("categorical", (4, 5), rng)
    np.testing.assert_allclose(L.categorical_crossentropy(t, p), ref_cce(t, p))
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(t.argmax(-1), p), ref_scce(t.argmax(-1), p))
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(t.argmax(-1)[:, None], p),
                               ref_scce(t.argmax(-1), p))
    # axis: the class axis may be elsewhere in eager mode.
    np.testing.assert_allclose(L.categorical_crossentropy(t.T, p.T, axis=0), ref_cce(t, p))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,factory,ref,kind,logits", CASES, ids=IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_eager_and_bound_value_match_reference(name, factory, ref, kind, logits, shape, weighted):
    rng = np.random.default_rng(len(shape) * 10 + weighted)
    t, p = make_data(kind, shape, rng, logits)
    w = rng.uniform(0.0, 2.0, shape[0]) if weighted else None
    expected = reduce_loss_ref(ref(t, p), w)
    loss = factory()
    assert loss(t, p, sample_weight=w) == pytest.approx(expected, rel=1e-10)
    f, _ = bind_loss(loss, t, p, w)
    value = f()
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("name,factory,ref,kind,logits", CASES, ids=IDS)
def test_bound_float32_matches_float64_reference(name, factory, ref, kind, logits):
    rng = np.random.default_rng(1)
    t, p = make_data(kind, (16, 3, 6), rng, logits)
    w = rng.uniform(0.5, 1.5, 16)
    expected = reduce_loss_ref(ref(t, p), w)
    t32, p32, w32 = t.astype(np.float32), p.astype(np.float32), w.astype(np.float32)
    f, d = bind_loss(factory(), t32, p32, w32)
    assert f() == pytest.approx(reduce_loss_ref(ref(t32.astype(float), p32.astype(float)), w32.astype(float)), rel=1e-6)
    assert f() == pytest.approx(expected, rel=1e-5)
    assert d.dtype == np.float32


def test_rank1_outputs_are_one_value_per_sample():
    rng = np.random.default_rng(2)
    t, p = make_data("binary", (6,), rng)
    w = rng.uniform(0.5, 1.5, 6)
    f, _ = bind_loss(L.BinaryCrossentropy(), t, p, w)
    assert f() == pytest.approx(reduce_loss_ref(ref_bce(t[:, None], p[:, None]), w))
    # unweighted, Keras's eager mean over the last (only) axis is the same number
    assert L.BinaryCrossentropy()(t, p) == pytest.approx(bind_loss(L.BinaryCrossentropy(), t, p)[0]())


@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_with_sample_weight"])
def test_reductions_bound_match_eager(reduction):
    rng = np.random.default_rng(3)
    t, p = make_data("categorical", (4, 3, 5), rng)
    w = rng.uniform(0.1, 1.0, 4)
    loss = L.CategoricalCrossentropy(reduction=reduction)
    f, _ = bind_loss(loss, t, p, w)
    assert f() == pytest.approx(loss(t, p, sample_weight=w), rel=1e-10)
    if reduction == "mean_with_sample_weight":
        assert f() == pytest.approx((ref_cce(t, p) * w[:, None]).sum() / w.sum())


def test_sum_over_batch_size_divides_by_element_count_not_weights():
    t = np.array([[0.0], [0.0]])
    p = np.array([[1.0], [3.0]])
    # (1*1 + 0*9) / 2 elements, not / sum(weights) = 1
    assert L.MeanSquaredError()(t, p, sample_weight=[1.0, 0.0]) == pytest.approx(0.5)
    assert L.MeanSquaredError(reduction="mean_with_sample_weight")(t, p, sample_weight=[1.0, 0.0]) == 1.0
    assert L.MeanSquaredError(reduction="none")(t, p, sample_weight=[1.0, 0.0]).tolist() == [1.0, 0.0]


def test_sparse_ignore_class_averages_over_valid_entries():
    rng = np.random.default_rng(4)
    labels = np.array([[0, 2, -1], [1, -1, 2]], dtype=float)
    p = rng.uniform(0.1, 1.0, (2, 3, 3))
    w = np.array([1.0, 0.5])
    valid = labels != -1
    per = np.where(valid, ref_scce(np.where(valid, labels, 0), p), 0.0)
    expected = (per * w[:, None]).sum() / valid.sum()
    loss = L.SparseCategoricalCrossentropy(ignore_class=-1)
    assert loss(labels, p, sample_weight=w) == pytest.approx(expected)
    f, d = bind_loss(loss, labels, p, w)
    assert f() == pytest.approx(expected)
    assert not d[~valid].any()
    total = (per * w[:, None]).sum()
    summed = L.SparseCategoricalCrossentropy(ignore_class=-1, reduction="sum")
    assert summed(labels, p, sample_weight=w) == pytest.approx(total)
    assert bind_loss(summed, labels, p, w)[0]() == pytest.approx(total)
    logits = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    assert bind_loss(logits, labels, np.log(p), w)[0]() == pytest.approx(
        ((np.where(valid, ref_scce(np.where(valid, labels, 0), np.log(p), True), 0.0)) * w[:, None]).sum()
        / valid.sum())


def test_sparse_labels_out_of_range_raise():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError):
        bind_loss(L.SparseCategoricalCrossentropy(), np.array([0.0, 3.0]), p)[0]()
    with pytest.raises(ValueError):
        bind_loss(L.SparseCategoricalCrossentropy(), np.array([0.0, 1.5]), p)[0]()
    with pytest.raises(ValueError):
        L.SparseCategoricalCrossentropy()([0, 3], p)


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,factory,ref,kind,logits", CASES, ids=IDS)
def test_bound_gradient_matches_finite_differences(name, factory, ref, kind, logits, shape):
    rng = np.random.default_rng(5)
    t, p = make_data(kind, shape, rng, logits)
    if kind == "regression":
        t += np.sign(p - t) * 0.05  # keep |error| away from MAE's and Huber's kinks
    w = rng.uniform(0.2, 1.5, shape[0])
    for reduction in ("sum_over_batch_size", "sum"):
        loss = factory()
        loss.reduction = reduction
        f, d = bind_loss(loss, t, p, w)
        f()
        analytic = d.copy()
        np.testing.assert_allclose(analytic, numeric_grad(f, p), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("factory,smoothing", [
    (lambda: L.CategoricalCrossentropy(label_smoothing=0.1), 0.1),
    (lambda: L.CategoricalCrossentropy(), 0.0),
])
def test_fused_softmax_cce(factory, smoothing, shape):
    rng = np.random.default_rng(6)
    t, z = make_data("categorical", shape, rng, from_logits=True)
    w = rng.uniform(0.2, 1.5, shape[0])
    loss = factory()
    assert loss.fusable_activation == "softmax"
    y = softmax(z)
    f, d = bind_loss(loss, t, y, w, logits=z)
    # same value as the unfused loss of the probabilities
    assert f() == pytest.approx(reduce_loss_ref(ref_cce(t, y, label_smoothing=smoothing), w), rel=1e-10)
    # gradient wrt logits: (softmax - t_smoothed) * w / (N*R)
    n, r = shape[0], int(np.prod(shape[1:-1]))
    ts = t * (1 - smoothing) + smoothing / shape[-1]
    w_b = w.reshape((-1,) + (1,) * (len(shape) - 1))
    np.testing.assert_allclose(d, (y - ts) * w_b / (n * r), atol=1e-12)

    def value():
        y[...] = softmax(z)  # y_pred holds softmax(logits) whenever the loss runs
        return f()
    np.testing.assert_allclose(d, numeric_grad(value, z), rtol=1e-5, atol=1e-8)


def test_fused_softmax_scce_and_sigmoid_bce():
    rng = np.random.default_rng(7)
    labels, z = make_data("sparse", (4, 2, 5), rng, from_logits=True)
    w = rng.uniform(0.2, 1.5, 4)
    y = softmax(z)
    loss = L.SparseCategoricalCrossentropy()
    assert loss.fusable_activation == "softmax"
    f, d = bind_loss(loss, labels, y, w, logits=z)
    assert f() == pytest.approx(reduce_loss_ref(ref_scce(labels, y), w), rel=1e-10)
    onehot = np.eye(5)[labels.astype(int)]
    np.testing.assert_allclose(d, (y - onehot) * w[:, None, None] / 8, atol=1e-12)
    np.testing.assert_allclose(d, numeric_grad(f, z), rtol=1e-5, atol=1e-8)

    t, z = make_data("binary", (4, 2, 3), rng, from_logits=True)
    y = 1 / (1 + np.exp(-z))
    loss = L.BinaryCrossentropy()
    assert loss.fusable_activation == "sigmoid"
    f, d = bind_loss(loss, t, y, w, logits=z)
    assert f() == pytest.approx(reduce_loss_ref(ref_bce(t, y), w), rel=1e-10)
    np.testing.assert_allclose(d, (y - t) * w[:, None, None] / (4 * 2 * 3), atol=1e-12)
    np.testing.assert_allclose(d, numeric_grad(f, z), rtol=1e-5, atol=1e-8)


def test_fusable_activation_only_for_probability_crossentropies():
    assert L.CategoricalCrossentropy(from_logits=True).fusable_activation is None
    assert L.SparseCategoricalCrossentropy(from_logits=True).fusable_activation is None
    assert L.BinaryCrossentropy(from_logits=True).fusable_activation is None
    assert L.MeanSquaredError().fusable_activation is None
    p = np.zeros((2, 3))
    with pytest.raises(ValueError, match="cannot be fused"):
        L.MeanSquaredError().bind(p, p.copy(), None, p.copy(), logits=p.copy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_stay_finite(dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, -1000.0]], dtype)
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype)
    labels = t.argmax(-1).astype(dtype)
    cases = [
        (L.CategoricalCrossentropy(from_logits=True), t, None),
        (L.CategoricalCrossentropy(), t, z),
        (L.SparseCategoricalCrossentropy(from_logits=True), labels, None),
        (L.SparseCategoricalCrossentropy(), labels, z),
        (L.BinaryCrossentropy(from_logits=True), t, None),
        (L.BinaryCrossentropy(), t, z),
    ]
    for loss, target, logits in cases:
        y = z if logits is None else np.zeros_like(z)
        f, d = bind_loss(loss, target, y, None, logits=logits)
        value = f()
        assert np.isfinite(value) and np.isfinite(d).all(), loss
        assert np.abs(d).max() <= 1.0
    # exact: both samples put -1000 - 1000 = -2000 on the true class
    assert bind_loss(L.CategoricalCrossentropy(from_logits=True), t, z)[0]() == pytest.approx(2000.0)


def test_nan_propagates():
    p = np.array([[np.nan, 0.5]])
    f, d = bind_loss(L.BinaryCrossentropy(), np.array([[0.0, 1.0]]), p)
    assert np.isnan(f()) and np.isnan(d[0, 0])


# ----------------------------------------------------------------------------- bind contract

def test_bind_validates_buffers():
    p = np.full((4, 3), 0.5)
    loss = L.MeanSquaredError()
    with pytest.raises(ValueError, match="y_true"):
        loss.bind(p, np.zeros((4, 2)), None, np.zeros_like(p))
    with pytest.raises(ValueError, match="sample_weight"):
        loss.bind(p, p.copy(), np.ones(3), np.zeros_like(p))
    with pytest.raises(ValueError, match="d_pred"):
        loss.bind(p, p.copy(), None, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        loss.bind(np.asfortranarray(np.ones((4, 3))), p.copy(), None, np.zeros_like(p))
    with pytest.raises(ValueError, match="reduction"):
        L.MeanSquaredError(reduction="none").bind(p, p.copy(), None, np.zeros_like(p))
    with pytest.raises(ValueError, match="axis"):
        L.CategoricalCrossentropy(axis=1).bind(p, p.copy(), None, np.zeros_like(p))
    # sparse targets: (N, *S[:-1]) or with a trailing 1
    scce = L.SparseCategoricalCrossentropy()
    assert scce.target_shape((4, 7, 3)) == (4, 7)
    assert np.isfinite(scce.bind(p, np.zeros((4, 1)), None, np.zeros_like(p))())


def test_bound_callable_reads_buffers_in_place():
    p = np.full((2, 2), 0.5)
    t = np.zeros((2, 2))
    f, d = bind_loss(L.MeanSquaredError(), t, p)
    assert f() == pytest.approx(0.25)
    p[...] = 1.0
    assert f() == pytest.approx(1.0)
    np.testing.assert_allclose(d, 2 * p / (2 * 2))  # 2e / (C * N)


@pytest.mark.parametrize("factory,kind,fused", [
    (lambda: L.MeanSquaredError(), "regression", False),
    (lambda: L.CategoricalCrossentropy(), "categorical", True),
    (lambda: L.SparseCategoricalCrossentropy(ignore_class=0), "sparse", False),
    (lambda: L.BinaryCrossentropy(reduction="mean_with_sample_weight"), "binary", False),
])
def test_bound_loss_does_not_allocate(factory, kind, fused):
    rng = np.random.default_rng(8)
    t, p = make_data(kind, (256, 10), rng, dtype=np.float32)
    w = np.ones(256, np.float32)
    logits = np.log(p) if fused else None
    f, _ = bind_loss(factory(), t, p, w, logits=logits)
    assert_no_allocation(f)


# ----------------------------------------------------------------------------- registry and config

def test_get_by_names_classes_functions_and_dicts():
    assert isinstance(L.get("mse"), L.MeanSquaredError) and L.get("mse").name == "mse"
    assert L.get("MeanSquaredError").name == "mean_squared_error"
    for name, cls in [("mean_squared_error", L.MeanSquaredError), ("mae", L.MeanAbsoluteError),
                      ("mean_absolute_error", L.MeanAbsoluteError), ("huber", L.Huber),
                      ("binary_crossentropy", L.BinaryCrossentropy),
                      ("categorical_crossentropy", L.CategoricalCrossentropy),
                      ("sparse_categorical_crossentropy", L.SparseCategoricalCrossentropy),
                      ("Huber", L.Huber), ("CategoricalCrossentropy", L.CategoricalCrossentropy)]:
        assert type(L.get(name)) is cls
    assert type(L.get(L.mean_squared_error)) is L.MeanSquaredError
    assert type(L.get(L.Huber)) is L.Huber
    inst = L.BinaryCrossentropy()
    assert L.get(inst) is inst and L.get(None) is None
    got = L.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert got.from_logits and got.fusable_activation is None
    assert type(L.get({"class_name": "function", "config": "mse"})) is L.MeanSquaredError
    with pytest.raises(ValueError, match="Valid choices") as e:
        L.get("mean_sqared_error")
    assert "mean_squared_error" in str(e.value)
    with pytest.raises(ValueError):
        L.get(42)


def test_custom_function_is_eager_only():
    loss = L.get(lambda t, p: np.mean(np.abs(t - p), axis=-1))
    assert loss([[0.0, 2.0]], [[1.0, 1.0]]) == pytest.approx(1.0)
    with pytest.raises(NotImplementedError):
        loss.bind(np.ones((1, 2)), np.ones((1, 2)), None, np.ones((1, 2)))
    with pytest.raises(ValueError):
        L.serialize(loss)


@pytest.mark.parametrize("loss", [
    L.MeanSquaredError(), L.MeanAbsoluteError(reduction="sum"), L.Huber(delta=2.5, name="h"),
    L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
    L.CategoricalCrossentropy(label_smoothing=0.2, reduction="mean"),
    L.SparseCategoricalCrossentropy(ignore_class=255),
], ids=lambda l: type(l).__name__)
def test_config_round_trip(loss):
    config = loss.get_config()
    assert type(loss).from_config(config).get_config() == config
    data = L.serialize(loss)
    assert data["class_name"] == type(loss).__name__
    back = L.deserialize(data)
    assert type(back) is type(loss) and back.get_config() == config


def test_keras_defaults():
    assert L.Huber().name == "huber_loss" and L.Huber().delta == 1.0
    cce = L.CategoricalCrossentropy()
    assert cce.get_config() == {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size",
                                "from_logits": False, "label_smoothing": 0.0, "axis": -1}
    assert L.SparseCategoricalCrossentropy().get_config()["ignore_class"] is None
    with pytest.raises(ValueError, match="reduction"):
        L.MeanSquaredError(reduction="avg")
