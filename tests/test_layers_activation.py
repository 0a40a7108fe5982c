"""Activation layers: forward vs NumPy (Keras formulas), gradients through the compiled
plan, the fused softmax path, PReLU's shared axes, shapes, config, errors, allocation."""

import numpy as np
import pytest

import framework as fw
from framework.layers import ELU, Dense, LeakyReLU, PReLU, ReLU, Softmax
from gradcheck import _plans, check_gradients, float64_mode
from helpers import assert_no_allocation, keras_relu


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# (id, factory, NumPy reference, kinks to keep inputs away from)
CASES = [
    ("relu", lambda: ReLU(), keras_relu, [0]),
    ("relu_max", lambda: ReLU(max_value=1.0), lambda x: keras_relu(x, max_value=1.0), [0, 1]),
    ("relu_slope", lambda: ReLU(negative_slope=0.1), lambda x: keras_relu(x, 0.1), [0]),
    ("relu_threshold", lambda: ReLU(threshold=0.5), lambda x: keras_relu(x, threshold=0.5), [0.5]),
    ("relu_all", lambda: ReLU(max_value=1.5, negative_slope=0.2, threshold=0.5),
     lambda x: keras_relu(x, 0.2, 1.5, 0.5), [0.5, 1.5]),
    ("relu_negative_threshold", lambda: ReLU(negative_slope=0.2, threshold=-0.5),
     lambda x: keras_relu(x, 0.2, None, -0.5), [-0.5]),
    ("leaky_relu", lambda: LeakyReLU(), lambda x: np.where(x >= 0, x, 0.3 * x), [0]),
    ("leaky_relu_slope", lambda: LeakyReLU(negative_slope=0.05), lambda x: np.where(x >= 0, x, 0.05 * x), [0]),
    ("elu", lambda: ELU(), lambda x: np.where(x >= 0, x, np.expm1(np.minimum(x, 0))), [0]),
    ("elu_alpha", lambda: ELU(alpha=0.4), lambda x: np.where(x >= 0, x, 0.4 * np.expm1(np.minimum(x, 0))), [0]),
    ("softmax", lambda: Softmax(), lambda x: np_softmax(x, -1), []),
    ("softmax_axis1", lambda: Softmax(axis=1), lambda x: np_softmax(x, 1), []),
    ("softmax_axis_neg2", lambda: Softmax(axis=-2), lambda x: np_softmax(x, -2), []),
    ("prelu", lambda: PReLU(alpha_initializer=fw.initializers.Constant(0.25)),
     lambda x: np.where(x >= 0, x, 0.25 * x), [0]),
]
IDS = [c[0] for c in CASES]


def _x(shape, seed=0, kinks=(), dtype=np.float64):
    """Standard normal data kept at least 0.01 away from the layer's kinks."""
    x = np.random.default_rng(seed).standard_normal(shape) * 1.5
    for k in kinks:
        near = np.abs(x - k) < 0.01
        x[near] = k + 0.05
    return x.astype(dtype)


# ----------------------------------------------------------------------------- forward

@pytest.mark.parametrize("name,factory,reference,kinks", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_numpy(name, factory, reference, kinks, dtype):
    x = _x((4, 3, 5), kinks=kinks, dtype=dtype)
    if dtype == np.float64:
        with float64_mode():
            out = factory()(x)
    else:
        out = factory()(x)
    assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, reference(x.astype(np.float64)), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape,shared,alpha_shape", [
    ((3, 4), None, (3, 4)),
    ((3, 4), [1], (1, 4)),
    ((3, 4), 1, (1, 4)),
    ((2, 3, 4), [1, 2], (1, 1, 4)),
    ((2, 3, 4), [2], (2, 1, 4)),
    ((2, 3, 4), [1, 3], (1, 3, 1)),
    ((2, 3, 4), [3], (2, 3, 1)),
    ((2, 3), [1, 2], (1, 1)),
], ids=["none", "first", "int", "spatial", "middle", "outer", "last", "all"])
def test_prelu_forward_and_alpha_shape(shape, shared, alpha_shape):
    layer = PReLU(alpha_initializer="random_normal", shared_axes=shared)
    x = _x((5,) + shape, seed=1, dtype=np.float32)
    out = layer(x)
    assert layer.alpha.shape == alpha_shape and layer.alpha.path.endswith("/alpha")
    alpha = layer.get_weights()[0]
    np.testing.assert_allclose(out, np.where(x >= 0, x, alpha * x), rtol=1e-6)
    assert layer.count_params() == int(np.prod(alpha_shape))


def test_prelu_default_alpha_is_zero():
    layer = PReLU()
    x = _x((3, 4), seed=2, dtype=np.float32)
    np.testing.assert_array_equal(layer(x), np.maximum(x, 0))
    np.testing.assert_array_equal(layer.get_weights()[0], np.zeros((4,)))


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("name,factory,reference,kinks", CASES, ids=IDS)
def test_input_gradients_direct(name, factory, reference, kinks):
    with float64_mode():
        inp = fw.Input((3, 4))
        model = fw.Model(inp, factory()(inp))
        x = _x((5, 3, 4), seed=3, kinks=kinks)
        check_gradients(model, [x], [_x((5, 3, 4), seed=4)])


@pytest.mark.parametrize("name,factory,reference,kinks", CASES, ids=IDS)
def test_gradients_inside_a_model(name, factory, reference, kinks):
    """Input -> Dense -> layer -> Dense: weight and input gradients."""
    with float64_mode():
        fw.utils.set_random_seed(0)
        inp = fw.Input((3, 4))
        h = Dense(4)(inp)
        out = Dense(2)(factory()(h))
        model = fw.Model(inp, out)
        check_gradients(model, [_x((5, 3, 4), seed=5)], [_x((5, 3, 2), seed=6)])


@pytest.mark.parametrize("shared", [None, [1], [1, 2], [2], [1, 3], [3], [1, 2, 3]],
                         ids=["none", "first", "spatial", "middle", "outer", "last", "all"])
def test_prelu_gradients_over_shared_axes(shared):
    """dalpha sums over the shared axes (and the batch): checked by finite differences."""
    with float64_mode():
        fw.utils.set_random_seed(1)
        inp = fw.Input((2, 3, 4))
        h = Dense(4)(inp)
        h = PReLU(alpha_initializer="random_normal", shared_axes=shared)(h)
        model = fw.Model(inp, Dense(2)(h))
        check_gradients(model, [_x((3, 2, 3, 4), seed=7)], [_x((3, 2, 3, 2), seed=8)])
        direct_inp = fw.Input((2, 3, 4))
        direct = fw.Model(direct_inp, PReLU(alpha_initializer="random_normal", shared_axes=shared)(direct_inp))
        check_gradients(direct, [_x((3, 2, 3, 4), seed=9)], [_x((3, 2, 3, 4), seed=10)])


def _sgd_gradients(model, xs, ys, loss="mse"):
    """Weight gradients of an ordinary training plan (no input gradients): one SGD step at lr 1."""
    model.compile(optimizer=fw.optimizers.SGD(learning_rate=1.0), loss=loss)
    before = [v.numpy() for v in model.trainable_weights]
    model.train_on_batch(xs, ys)
    return [old - v.numpy() for old, v in zip(before, model.trainable_weights)]


@pytest.mark.parametrize("shared", [None, [2]], ids=["leading", "broadcast"])
def test_prelu_without_input_gradient_or_with_frozen_alpha(shared):
    """PReLU first (its dx is not needed), and PReLU frozen (its dalpha is not needed)."""
    with float64_mode():
        fw.utils.set_random_seed(2)
        inp = fw.Input((2, 3))
        prelu = PReLU(alpha_initializer="random_normal", shared_axes=shared)
        model = fw.Model(inp, Dense(2)(prelu(inp)))
        xs, ys = [_x((4, 2, 3), seed=11)], [_x((4, 2, 2), seed=12)]
        check_gradients(model, xs, ys)
        train, _, state = _plans(model, xs, ys, "mse")
        train.train_step()
        expected = [state.grad_views[id(v)].copy() for v in model.trainable_weights]
        for got, want in zip(_sgd_gradients(model, xs, ys), expected):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)

        fw.utils.set_random_seed(3)
        inp = fw.Input((2, 3))
        frozen = PReLU(alpha_initializer="random_normal", shared_axes=shared, trainable=False)
        model = fw.Model(inp, Dense(2)(frozen(Dense(3)(inp))))
        check_gradients(model, xs, ys)
        assert len(model.trainable_weights) == 4


def test_prelu_alpha_learns():
    fw.utils.set_random_seed(4)
    inp = fw.Input((3,))
    prelu = PReLU()
    model = fw.Model(inp, prelu(inp))
    x = _x((64, 3), seed=13, dtype=np.float32)
    y = np.where(x >= 0, x, 0.5 * x).astype(np.float32)
    model.compile(optimizer=fw.optimizers.SGD(learning_rate=0.5), loss="mse")
    model.fit(x, y, batch_size=16, epochs=30, verbose=0)
    np.testing.assert_allclose(prelu.get_weights()[0], 0.5, atol=0.02)


# ----------------------------------------------------------------------------- fused softmax

def _record_fused(monkeypatch):
    seen = []
    forward = Softmax.forward

    def spy(self, ctx):
        seen.append(ctx.fused)
        return forward(self, ctx)
    monkeypatch.setattr(Softmax, "forward", spy)
    return seen


def test_softmax_fuses_with_crossentropy(monkeypatch):
    assert Softmax().fused_activation() == "softmax"
    assert Softmax(axis=1).fused_activation() is None
    seen = _record_fused(monkeypatch)
    with float64_mode():
        fw.utils.set_random_seed(5)
        inp = fw.Input((4,))
        model = fw.Model(inp, Softmax()(Dense(3)(inp)))
        y = np.eye(3)[[0, 2, 1, 1, 0]]
        check_gradients(model, [_x((5, 4), seed=14)], [y], loss="categorical_crossentropy")
        check_gradients(model, [_x((5, 4), seed=14)], [np.array([0, 2, 1, 1, 0])],
                        loss="sparse_categorical_crossentropy")
        assert True in seen
        probabilities = model(_x((5, 4), seed=15))
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0)


def test_softmax_other_axis_is_not_fused(monkeypatch):
    seen = _record_fused(monkeypatch)
    with float64_mode():
        fw.utils.set_random_seed(6)
        inp = fw.Input((3, 4))
        model = fw.Model(inp, Softmax(axis=1)(Dense(4)(inp)))
        y = np_softmax(_x((2, 3, 4), seed=16), 1)
        check_gradients(model, [_x((2, 3, 4), seed=17)], [y], loss="categorical_crossentropy")
        assert seen and not any(seen)


def test_softmax_classifier_trains():
    fw.utils.set_random_seed(7)
    model = fw.Sequential([fw.Input((4,)), Dense(8), ReLU(), Dense(3), Softmax()])
    rng = np.random.default_rng(18)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = np.argmax(x[:, :3], axis=1)
    model.compile(optimizer=fw.optimizers.Adam(learning_rate=0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=20, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8


# ----------------------------------------------------------------------------- shapes, config, errors

@pytest.mark.parametrize("name,factory,reference,kinks", CASES, ids=IDS)
def test_output_shape_and_default_names(name, factory, reference, kinks):
    layer = factory()
    assert layer(fw.Input((3, 4))).shape == (None, 3, 4)
    assert layer.compute_output_shape((2, 3, 4)) == (2, 3, 4)


def test_keras_default_names():
    from framework.utils.naming import reset_names
    reset_names()
    assert [ReLU().name, LeakyReLU().name, PReLU().name, ELU().name, Softmax().name] == \
        ["re_lu", "leaky_re_lu", "p_re_lu", "elu", "softmax"]


@pytest.mark.parametrize("layer,expected", [
    (ReLU(), {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}),
    (ReLU(max_value=6, negative_slope=0.1, threshold=-1), {"max_value": 6.0, "negative_slope": 0.1,
                                                          "threshold": -1.0}),
    (LeakyReLU(), {"negative_slope": 0.3}),
    (LeakyReLU(negative_slope=0.01), {"negative_slope": 0.01}),
    (ELU(), {"alpha": 1.0}),
    (ELU(alpha=0.5), {"alpha": 0.5}),
    (Softmax(), {"axis": -1}),
    (Softmax(axis=1), {"axis": 1}),
    (PReLU(), {"alpha_initializer": {"class_name": "Zeros", "config": {}}, "alpha_regularizer": None, "alpha_constraint": None,
               "shared_axes": None}),
    (PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=1),
     {"shared_axes": [1], "alpha_constraint": None}),
], ids=["relu", "relu_args", "leaky", "leaky_args", "elu", "elu_args", "softmax", "softmax_axis",
        "prelu", "prelu_args"])
def test_config_round_trip(layer, expected):
    config = layer.get_config()
    for key, value in expected.items():
        assert config[key] == value, key
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer) and clone.get_config() == config
    import yaml
    assert yaml.safe_load(yaml.safe_dump(config)) == config


def test_prelu_config_keeps_regularizer_and_initializer():
    layer = PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=[1, 2])
    clone = PReLU.from_config(layer.get_config())
    clone(fw.Input((2, 3, 4)))
    assert clone.alpha.shape == (1, 1, 4)
    np.testing.assert_array_equal(clone.get_weights()[0], np.ones((1, 1, 4)))
    assert clone.alpha.regularizer is not None


def test_leaky_relu_accepts_legacy_alpha():
    with pytest.warns(UserWarning, match="alpha"):
        layer = LeakyReLU(alpha=0.1)
    assert layer.get_config()["negative_slope"] == 0.1
    x = _x((2, 3), dtype=np.float32)
    np.testing.assert_allclose(layer(x), np.where(x >= 0, x, 0.1 * x), rtol=1e-6)


@pytest.mark.parametrize("factory,match", [
    (lambda: ReLU(max_value=-1.0), "max_value"),
    (lambda: ReLU(negative_slope=-0.1), "negative_slope"),
    (lambda: ReLU(negative_slope=None), "negative_slope"),
    (lambda: ReLU(threshold=None), "threshold"),
    (lambda: LeakyReLU(negative_slope=-0.2), "negative_slope"),
    (lambda: LeakyReLU(negative_slope=None), "negative_slope"),
    (lambda: ELU(alpha="one"), "alpha"),
])
def test_bad_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_softmax_bad_axis():
    with pytest.raises(ValueError) as info:
        Softmax(axis=3, name="sm_axis")(fw.Input((4,)))
    assert "sm_axis" in str(info.value) and "(None, 4)" in str(info.value)
    with pytest.raises(TypeError, match="axis"):
        Softmax(axis=1.0)


def test_prelu_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="prelu_axes"):
        PReLU(shared_axes=[3], name="prelu_axes")(fw.Input((2, 3)))
    with pytest.raises(ValueError, match="prelu_batch"):
        PReLU(shared_axes=[0], name="prelu_batch")(fw.Input((2, 3)))
    layer = PReLU(shared_axes=[1, 2], name="prelu_reuse")
    layer(fw.Input((4, 4, 3)))
    assert layer(fw.Input((8, 6, 3))).shape == (None, 8, 6, 3)  # shared axes may change size
    with pytest.raises(ValueError) as info:
        layer(fw.Input((4, 4, 5)))
    assert "prelu_reuse" in str(info.value) and "(None, 4, 4, 5)" in str(info.value)
    with pytest.raises(ValueError, match="prelu_reuse"):
        layer(fw.Input((4, 3)))


def test_stateless_layers_reused_on_other_shapes():
    relu = ReLU()
    assert relu(fw.Input((3,))).shape == (None, 3)
    assert relu(fw.Input((2, 5))).shape == (None, 2, 5)


# ----------------------------------------------------------------------------- allocation

@pytest.mark.parametrize("factory,loss", [
    (lambda: ReLU(max_value=6.0), "mse"),
    (lambda: ELU(), "mse"),
    (lambda: Softmax(), "categorical_crossentropy"),
    (lambda: Softmax(axis=1), "mse"),
    (lambda: PReLU(shared_axes=[1]), "mse"),
    (lambda: PReLU(shared_axes=[2]), "mse"),
], ids=["relu", "elu", "softmax_fused", "softmax_axis1", "prelu_leading", "prelu_broadcast"])
def test_train_step_allocates_nothing(factory, loss):
    inp = fw.Input((8, 16))
    out = factory()(Dense(16)(inp))
    model = fw.Model(inp, out)
    x = _x((32, 8, 16), dtype=np.float32)
    y = np_softmax(_x((32, 8, 16), seed=1), -1).astype(np.float32)
    model.compile(optimizer="sgd", loss=loss)
    model.train_on_batch(x, y)
    plan = model.plan("train", 32)
    assert_no_allocation(plan.train_step, calls=50, held=1024, peak=4096)
