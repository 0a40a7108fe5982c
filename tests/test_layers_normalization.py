"""Normalization layers: forward against NumPy (Keras 3's formulas), BatchNormalization's two
modes and moving statistics, gradients through the compiled plan (float64), frozen layers,
weights through get_weights / evaluate / save, masks, config, errors and allocation."""
import numpy as np
import pytest
import yaml

import framework as fw
from framework.layers import BatchNormalization, Dense, GroupNormalization, LayerNormalization
from gradcheck import check_gradients, floatx
from helpers import StartMask, assert_no_allocation

# Tests run in float64 (exact references, gradient checks) unless they say float32.
pytestmark = pytest.mark.usefixtures("float64_seed_1")

EPS = 1e-3


# ----------------------------------------------------------------------------- NumPy references

def bn_reference(x, axis, gamma, beta, mean=None, var=None, mask=None):
    """Keras 3 BatchNormalization: batch statistics (biased variance) unless mean/var are given."""
    axis = axis % x.ndim
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    if mean is None and mask is None:
        mean, var = x.mean(reduce), x.var(reduce)
    elif mean is None:
        w = np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - 2)), x.shape)
        count = w.sum(reduce) + 1e-7
        mean = (w * x).sum(reduce) / count
        var = (w * (x - mean.reshape(shape)) ** 2).sum(reduce) / count
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + EPS)
    return y * gamma.reshape(shape) + beta.reshape(shape), mean, var


def ln_reference(x, axes, gamma, beta, rms=False):
    axes = tuple(sorted(a % x.ndim for a in axes))
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    if rms:  # Keras 3's rms_scaling: scaled by the variance, no centering, no beta
        return x / np.sqrt(var + EPS) * gamma.reshape(shape)
    return (x - mean) / np.sqrt(var + EPS) * gamma.reshape(shape) + beta.reshape(shape)


def gn_reference(x, groups, axis, gamma, beta):
    axis = axis % x.ndim
    moved = np.moveaxis(x, axis, -1)
    grouped = moved.reshape(moved.shape[:-1] + (groups, -1))
    reduce = tuple(range(1, grouped.ndim - 2)) + (grouped.ndim - 1,)
    mean, var = grouped.mean(reduce, keepdims=True), grouped.var(reduce, keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(var + EPS)).reshape(moved.shape) * gamma + beta
    return np.moveaxis(normalized, -1, axis)


def _x(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (1.5 * rng.standard_normal(shape) + 0.7).astype(dtype)


def _model(layer, shape, training=None):
    inputs = fw.Input(shape)
    return fw.Model(inputs, layer(inputs) if training is None else layer(inputs, training=training))


def _randomize(layer, seed=1, dtype=np.float64):
    """Random gamma/beta (and positive moving variance) so the references test every weight."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(w.shape).astype(dtype) for w in layer.weights]
    values = [np.abs(v) + 0.5 if w.name == "moving_variance" else v for v, w in zip(values, layer.weights)]
    layer.set_weights(values)
    return {w.name: v for w, v in zip(layer.weights, values)}


# ----------------------------------------------------------------------------- BatchNormalization forward

@pytest.mark.parametrize("shape,axis", [((6,), -1), ((4, 5), -1), ((4, 5), 1), ((3, 4, 5), 1), ((3, 4, 5), -1),
                                        ((3, 4, 5), 2)])
def test_batch_norm_forward_both_modes(shape, axis):
    x = _x((8,) + shape)
    layer = BatchNormalization(axis=axis, momentum=0.8)
    model = _model(layer, shape)
    w = _randomize(layer)
    expected, _, _ = bn_reference(x, axis, w["gamma"], w["beta"], w["moving_mean"], w["moving_variance"])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-10)
    expected, mean, var = bn_reference(x, axis, w["gamma"], w["beta"])
    np.testing.assert_allclose(model(x, training=True), expected, rtol=1e-10, atol=1e-10)
    # the training call updated the moving statistics, as Keras
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.8 * w["moving_mean"] + 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.8 * w["moving_variance"] + 0.2 * var, rtol=1e-12)


@floatx("float32")
def test_batch_norm_float32_matches_reference():
    x = _x((16, 5, 7), dtype=np.float32) + 100  # a large mean: the shifted sums keep the variance exact
    layer = BatchNormalization()
    model = _model(layer, (5, 7))
    expected, _, _ = bn_reference(x.astype(np.float64), -1, np.ones(7), np.zeros(7))
    np.testing.assert_allclose(model(x, training=True), expected, rtol=1e-4, atol=1e-4)


def test_batch_norm_center_and_scale_off_have_only_moving_weights():
    layer = BatchNormalization(center=False, scale=False)
    model = _model(layer, (3,))
    assert [w.name for w in layer.weights] == ["moving_mean", "moving_variance"]
    x = _x((10, 3))
    np.testing.assert_allclose(model(x, training=True), (x - x.mean(0)) / np.sqrt(x.var(0) + EPS), rtol=1e-10)


def test_batch_norm_weights_in_keras_order():
    layer = BatchNormalization()
    _model(layer, (4, 3))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    assert all(w.shape == (3,) for w in layer.weights)
    layer = BatchNormalization(center=False)
    _model(layer, (4,))
    assert [w.name for w in layer.weights] == ["gamma", "moving_mean", "moving_variance"]


# ----------------------------------------------------------------------------- moving statistics in fit

def test_fit_updates_moving_statistics_by_the_formula_not_the_optimizer():
    """Two train steps with SGD(lr=0): gamma/beta stay, the moving statistics follow Keras's rule."""
    layer = BatchNormalization(momentum=0.9)
    model = _model(layer, (4,))
    model.compile(optimizer=fw.optimizers.SGD(learning_rate=0.0), loss="mse")
    x1, x2 = _x((8, 4), seed=1), _x((8, 4), seed=2) * 2
    y = np.zeros((8, 4))
    model.train_on_batch(x1, y)
    model.train_on_batch(x2, y)
    mean, var = np.zeros(4), np.ones(4)
    for x in (x1, x2):
        mean = mean * 0.9 + x.mean(0) * 0.1
        var = var * 0.9 + x.var(0) * 0.1  # the biased batch variance, as Keras 3
    gamma, beta, moving_mean, moving_var = model.get_weights()
    np.testing.assert_allclose(moving_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(moving_var, var, rtol=1e-12)
    np.testing.assert_array_equal(gamma, np.ones(4))
    np.testing.assert_array_equal(beta, np.zeros(4))
    # the optimizer's slice of the arena does not hold the moving statistics
    params = model.parameter_arena().params
    assert params.size == 8
    assert not np.shares_memory(params, layer.moving_mean.value)
    assert not np.shares_memory(params, layer.moving_variance.value)


def test_moving_statistics_reach_evaluate_predict_and_saved_models(tmp_path):
    layer = BatchNormalization(momentum=0.5)
    model = fw.Sequential([fw.Input((3,)), Dense(3), layer])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _x((32, 3)), _x((32, 3), seed=5)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    gamma, beta, mean, var = layer.get_weights()
    assert np.abs(mean).max() > 0.05 and np.abs(var - 1).max() > 0.05
    hidden = x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    expected, _, _ = bn_reference(hidden, -1, gamma, beta, mean, var)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(((expected - y) ** 2).mean(), rel=1e-5)
    model.save(tmp_path / "bn.fw")
    loaded = fw.saving.load_model(tmp_path / "bn.fw")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


@floatx("float32")
def test_frozen_batch_norm_runs_in_inference_mode_during_fit():
    layer = BatchNormalization(trainable=False)
    model = fw.Sequential([fw.Input((4,)), Dense(4), layer, Dense(2)])
    w = _randomize(layer, seed=3, dtype=np.float32)
    frozen = layer.get_weights()
    model.compile(optimizer=fw.optimizers.SGD(0.1), loss="mse")
    x, y = _x((16, 4), dtype=np.float32), _x((16, 2), seed=4, dtype=np.float32)
    dense = model.layers[0]
    hidden = x[:8] @ dense.kernel.numpy() + dense.bias.numpy()
    out, _, _ = bn_reference(hidden, -1, w["gamma"], w["beta"], w["moving_mean"], w["moving_variance"])
    last = model.layers[2]
    expected_loss = ((out @ last.kernel.numpy() + last.bias.numpy() - y[:8]) ** 2).mean()
    assert model.train_on_batch(x[:8], y[:8]) == pytest.approx(expected_loss, rel=1e-5)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for before, after in zip(frozen, layer.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


# ----------------------------------------------------------------------------- LayerNormalization, GroupNormalization

@pytest.mark.parametrize("shape,axis", [((6,), -1), ((4, 6), -1), ((4, 6), 1), ((3, 4, 5), [1, 2]),
                                        ((3, 4, 5), [-1, -2]), ((3, 4, 5), [1, 3]), ((3, 4, 5), 2),
                                        ((3, 4, 5), [1, 2, 3])])
def test_layer_norm_forward(shape, axis):
    x = _x((5,) + shape)
    layer = LayerNormalization(axis=axis)
    model = _model(layer, shape)
    axes = axis if isinstance(axis, list) else [axis]
    assert layer.gamma.shape == tuple(x.shape[a] for a in sorted(a % x.ndim for a in axes))
    w = _randomize(layer)
    expected = ln_reference(x, axes, w["gamma"], w["beta"])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model(x, training=True), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_norm_rms_scaling(axis):
    with pytest.warns(UserWarning, match="variance"):
        layer = LayerNormalization(axis=axis, rms_scaling=True)
    model = _model(layer, (4, 6))
    assert [w.name for w in layer.weights] == ["gamma"]
    x = _x((5, 4, 6))
    w = _randomize(layer)
    np.testing.assert_allclose(model.predict(x, verbose=0), ln_reference(x, [axis], w["gamma"], None, rms=True),
                               rtol=1e-10)


@floatx("float32")
def test_layer_norm_center_scale_off_and_float32():
    layer = LayerNormalization(center=False, scale=False)
    model = _model(layer, (7, 33))
    assert layer.weights == []
    x = _x((4, 7, 33), dtype=np.float32)
    expected = ln_reference(x.astype(np.float64), [-1], np.ones(33), np.zeros(33))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,groups,axis", [((6,), 2, -1), ((4, 6), 3, -1), ((6, 4), 2, 1), ((3, 4, 6), -1, -1),
                                               ((3, 4, 6), 2, 2), ((3, 4, 6), 3, -1)])
def test_group_norm_forward(shape, groups, axis):
    x = _x((4,) + shape)
    layer = GroupNormalization(groups=groups, axis=axis)
    model = _model(layer, shape)
    w = _randomize(layer)
    resolved = x.shape[axis] if groups == -1 else groups
    expected = gn_reference(x, resolved, axis, w["gamma"], w["beta"])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- gradients (float64, real plan)

def _check(model, x, seed=0, **kwargs):
    y = _x((len(x),) + tuple(model.outputs[0].shape[1:]), seed=seed + 9)
    assert check_gradients(model, [x], [y], loss="mse", **kwargs) >= 10


def _dense_then(layer, shape, seed=0, training=None):
    """Dense before the layer (so weights upstream get gradients through it) and after it."""
    inputs = fw.Input(shape)
    hidden = Dense(shape[-1], bias_initializer="random_normal")(inputs)
    normalized = layer(hidden) if training is None else layer(hidden, training=training)
    return fw.Model(inputs, Dense(3)(normalized))


GRAD_LAYERS = [
    ("bn_2d", lambda: BatchNormalization(), (5,)),
    ("bn_axis1_3d", lambda: BatchNormalization(axis=1), (4, 5)),
    ("bn_4d", lambda: BatchNormalization(), (3, 2, 4)),
    ("bn_axis2_4d", lambda: BatchNormalization(axis=2), (3, 2, 4)),
    ("bn_no_center", lambda: BatchNormalization(center=False), (4, 5)),
    ("bn_no_scale", lambda: BatchNormalization(scale=False), (4, 5)),
    ("bn_plain", lambda: BatchNormalization(center=False, scale=False), (4, 5)),
    ("ln", lambda: LayerNormalization(), (4, 5)),
    ("ln_axis1", lambda: LayerNormalization(axis=1), (4, 5)),
    ("ln_two_axes", lambda: LayerNormalization(axis=[1, 2]), (3, 2, 4)),
    ("ln_split_axes", lambda: LayerNormalization(axis=[1, 3]), (3, 2, 4)),
    ("ln_rms", lambda: LayerNormalization(rms_scaling=True), (4, 5)),
    ("ln_rms_axis1", lambda: LayerNormalization(axis=1, rms_scaling=True), (4, 5)),
    ("ln_plain", lambda: LayerNormalization(center=False, scale=False), (4, 5)),
    ("gn", lambda: GroupNormalization(groups=2), (3, 4)),
    ("gn_axis1", lambda: GroupNormalization(groups=2, axis=1), (4, 3, 2)),
    ("gn_instance_4d", lambda: GroupNormalization(groups=-1), (3, 2, 4)),
    ("gn_no_scale", lambda: GroupNormalization(groups=2, scale=False), (3, 4)),
]


@pytest.mark.filterwarnings("ignore:Layer.*rms_scaling")
@pytest.mark.parametrize("name,factory,shape", GRAD_LAYERS, ids=[g[0] for g in GRAD_LAYERS])
def test_gradients(name, factory, shape):
    layer = factory()
    model = _dense_then(layer, shape)
    _randomize(layer, seed=2)
    _check(model, _x((6,) + shape, seed=3))


@pytest.mark.parametrize("axis,shape", [(-1, (5,)), (1, (4, 5)), (-1, (3, 2, 4))])
def test_gradients_batch_norm_inference_mode(axis, shape):
    """training=False at the call: the affine gradient with the moving statistics."""
    layer = BatchNormalization(axis=axis)
    model = _dense_then(layer, shape, training=False)
    _randomize(layer, seed=2)
    _check(model, _x((6,) + shape, seed=4))


def test_gradients_frozen_batch_norm():
    layer = BatchNormalization(trainable=False)
    model = _dense_then(layer, (4, 5))
    _randomize(layer, seed=2)
    _check(model, _x((6, 4, 5), seed=5))


def test_gradients_first_layer_without_input_gradient():
    """A normalization layer right after the input writes weight gradients only."""
    inputs = fw.Input((4, 5))
    hidden = LayerNormalization()(BatchNormalization()(inputs))
    model = fw.Model(inputs, Dense(2)(GroupNormalization(groups=5)(hidden)))
    x = _x((6, 4, 5), seed=6)
    assert check_gradients(model, [x], [_x((6, 4, 2), seed=7)], check_inputs=False) >= 10


# ----------------------------------------------------------------------------- masks

def _masked_data(shape=(6, 5, 3), seed=0):
    x = _x(shape, seed=seed)
    x[0, 3:, 0] = 0.0
    x[2, 1:, 0] = 0.0
    return x


@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_norm_masked_statistics_and_mask_passes_on(axis):
    """Batch statistics count only the unmasked steps, divided by (count + 1e-7) as Keras."""
    inputs = fw.Input((5, 3))
    started = StartMask()(inputs)
    layer = BatchNormalization(axis=axis, momentum=0.5)
    normalized = layer(started)
    out = LayerNormalization()(GroupNormalization(groups=3)(normalized))
    assert normalized.mask is started.mask and out.mask is started.mask
    model = fw.Model(inputs, normalized)
    x = _masked_data()
    mask = (x[:, :, 0] != 0).astype(np.float64)
    size = x.shape[axis]
    expected, mean, var = bn_reference(x, axis, np.ones(size), np.zeros(size), mask=mask)
    np.testing.assert_allclose(model(x, training=True), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * mean, rtol=1e-10)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * var, rtol=1e-10)


@pytest.mark.parametrize("axis", [-1, 1])
def test_gradients_masked_batch_norm(axis):
    inputs = fw.Input((5, 3))
    hidden = Dense(3, bias_initializer="random_normal")(StartMask()(inputs))
    layer = BatchNormalization(axis=axis)
    model = fw.Model(inputs, Dense(2)(layer(hidden)))
    _randomize(layer, seed=2)
    _check(model, _masked_data(), check_inputs=False)


# ----------------------------------------------------------------------------- no allocation in a train step

@floatx("float32")
def test_train_step_allocates_nothing():
    inputs = fw.Input((6, 8))
    hidden = BatchNormalization()(Dense(8)(StartMask()(inputs)))
    hidden = BatchNormalization(axis=1)(hidden)
    hidden = LayerNormalization(axis=[1, 2])(LayerNormalization()(hidden))
    hidden = LayerNormalization(axis=[1], center=False)(hidden)
    hidden = GroupNormalization(groups=4)(BatchNormalization(trainable=False)(hidden))
    model = fw.Model(inputs, Dense(2)(hidden))
    model.compile(optimizer="adam", loss="mse")
    x, y = _masked_data((16, 6, 8)).astype(np.float32), _x((16, 6, 2), dtype=np.float32)
    model.train_on_batch(x, y)
    plan = model.plan("train", 16)
    assert_no_allocation(plan.train_step, calls=50, held=1024, peak=4096)
    predict = model.plan("predict", 16)
    assert_no_allocation(predict.run_forward, calls=50, held=1024, peak=4096)


@floatx("float32")
def test_split_axes_layer_norm_allocates_nothing():
    model = _model(LayerNormalization(axis=[1, 3]), (3, 4, 5))
    model.compile(optimizer="sgd", loss="mse")
    x = _x((8, 3, 4, 5), dtype=np.float32)
    model.train_on_batch(x, x)
    assert_no_allocation(model.plan("train", 8).train_step, calls=50, held=1024, peak=4096)


# ----------------------------------------------------------------------------- config and errors

@pytest.mark.filterwarnings("ignore:Layer.*rms_scaling")
@floatx("float32")
@pytest.mark.parametrize("layer", [
    lambda: BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False, gamma_regularizer="l2",
                               moving_variance_initializer="zeros", beta_constraint="non_neg"),
    lambda: LayerNormalization(axis=[1, 2], rms_scaling=True, gamma_initializer="random_normal"),
    lambda: LayerNormalization(axis=-2, scale=False, beta_regularizer="l1"),
    lambda: GroupNormalization(groups=-1, axis=1, epsilon=1e-4, gamma_constraint="unit_norm"),
])
def test_config_round_trip(layer):
    layer = layer()
    config = layer.get_config()
    rebuilt = type(layer).from_config(yaml.safe_load(yaml.safe_dump(config)))
    assert rebuilt.get_config() == config
    model = _model(rebuilt, (4, 4, 4))
    original = _model(layer, (4, 4, 4))
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in layer.weights]
    x = _x((3, 4, 4, 4), dtype=np.float32)
    rebuilt.set_weights(layer.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-6)


def test_config_in_a_saved_sequential(tmp_path):
    model = fw.Sequential([fw.Input((4, 6)), BatchNormalization(), LayerNormalization(axis=[1, 2]),
                           GroupNormalization(groups=3)])
    model.save(tmp_path / "m.fw")
    loaded = fw.saving.load_model(tmp_path / "m.fw")
    assert [type(l).__name__ for l in loaded.layers] == ["BatchNormalization", "LayerNormalization",
                                                         "GroupNormalization"]


@pytest.mark.parametrize("factory,shape,message", [
    (lambda: BatchNormalization(axis=3), (4, 5), r"'bn'.*axis 3 is out of range.*\(None, 4, 5\)"),
    (lambda: BatchNormalization(axis=-4), (4, 5), r"'bn'.*axis -4 is out of range"),
    (lambda: BatchNormalization(axis=0), (4, 5), r"'bn'.*batch axis"),
    (lambda: LayerNormalization(axis=[1, 5]), (4, 5), r"'bn'.*axis 5 is out of range"),
    (lambda: GroupNormalization(groups=4, axis=-1), (4, 6), r"'bn'.*groups=4 must divide.*6"),
    (lambda: GroupNormalization(groups=32), (4, 6), r"'bn'.*groups=32 must divide.*6"),
])
def test_bad_axes_and_groups_name_the_layer(factory, shape, message):
    layer = factory()
    layer.name = "bn"
    with pytest.raises(ValueError, match=message):
        layer(fw.Input(shape))


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        GroupNormalization(groups=0)
    with pytest.raises(TypeError, match="axis must be an int"):
        BatchNormalization(axis=[1, 2])
    with pytest.raises(NotImplementedError, match="renorm"):
        BatchNormalization(renorm=True)
    layer = BatchNormalization(name="norm")
    layer(fw.Input((4, 5)))
    with pytest.raises(ValueError, match=r"'norm'.*expected input shape \(None, None, 5\), received \(None, 4, 6\)"):
        layer(fw.Input((4, 6)))
    layer(fw.Input((7, 5)))  # other axes may change, as Keras's input spec allows
