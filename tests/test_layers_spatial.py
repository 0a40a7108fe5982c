"""Spatial layers: ZeroPadding, Cropping, UpSampling (1D/2D) and SpatialDropout1D/2D.
Forward and backward against NumPy, gradients through the plan in float64, shapes,
config, errors, SpatialDropout's channel pattern and seeding, allocation."""
import numpy as np
import pytest
import yaml

import framework as fw
from framework.layers import (Cropping1D, Cropping2D, Dense, Flatten, SpatialDropout1D, SpatialDropout2D,
                              UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from framework.plan.compiler import compile_plan
from gradcheck import check_gradients, float64_mode
from test_layers_pooling import run_layer
from helpers import assert_no_allocation


def _pad(x, pairs):
    return np.pad(x, ((0, 0),) + tuple(pairs) + ((0, 0),))


def _crop(x, pairs):
    return x[(slice(None),) + tuple(slice(a, n - b) for (a, b), n in zip(pairs, x.shape[1:-1])) + (slice(None),)]


def _upsample(x, factors):
    for axis, k in enumerate(factors, start=1):
        x = np.repeat(x, k, axis=axis)
    return x


def _upsample_grad(dy, factors):
    shape = dy.shape
    blocks = [shape[0]]
    for n, k in zip(shape[1:-1], factors):
        blocks += [n // k, k]
    summed = dy.reshape(blocks + [shape[-1]])
    return summed.sum(axis=tuple(range(2, 2 * len(factors) + 1, 2)))


# (id, factory, sample shape, forward reference, backward reference (dy -> dx))
CASES = [
    ("zeropad1d_int", lambda: ZeroPadding1D(2), (5, 3), lambda x: _pad(x, [(2, 2)]), lambda d: _crop(d, [(2, 2)])),
    ("zeropad1d_pair", lambda: ZeroPadding1D((0, 3)), (5, 3), lambda x: _pad(x, [(0, 3)]),
     lambda d: _crop(d, [(0, 3)])),
    ("zeropad1d_default", lambda: ZeroPadding1D(), (4, 2), lambda x: _pad(x, [(1, 1)]), lambda d: _crop(d, [(1, 1)])),
    ("zeropad2d_int", lambda: ZeroPadding2D(1), (4, 5, 3), lambda x: _pad(x, [(1, 1), (1, 1)]),
     lambda d: _crop(d, [(1, 1), (1, 1)])),
    ("zeropad2d_pair", lambda: ZeroPadding2D((2, 1)), (4, 5, 3), lambda x: _pad(x, [(2, 2), (1, 1)]),
     lambda d: _crop(d, [(2, 2), (1, 1)])),
    ("zeropad2d_pairs", lambda: ZeroPadding2D(((1, 0), (2, 3))), (3, 4, 2), lambda x: _pad(x, [(1, 0), (2, 3)]),
     lambda d: _crop(d, [(1, 0), (2, 3)])),
    ("zeropad2d_zero", lambda: ZeroPadding2D(((0, 0), (0, 2))), (3, 4, 2), lambda x: _pad(x, [(0, 0), (0, 2)]),
     lambda d: _crop(d, [(0, 0), (0, 2)])),
    ("crop1d_default", lambda: Cropping1D(), (6, 3), lambda x: _crop(x, [(1, 1)]), lambda d: _pad(d, [(1, 1)])),
    ("crop1d_pair", lambda: Cropping1D((0, 4)), (7, 2), lambda x: _crop(x, [(0, 4)]), lambda d: _pad(d, [(0, 4)])),
    ("crop2d_int", lambda: Cropping2D(1), (5, 6, 3), lambda x: _crop(x, [(1, 1), (1, 1)]),
     lambda d: _pad(d, [(1, 1), (1, 1)])),
    ("crop2d_pair", lambda: Cropping2D((1, 2)), (5, 7, 2), lambda x: _crop(x, [(1, 1), (2, 2)]),
     lambda d: _pad(d, [(1, 1), (2, 2)])),
    ("crop2d_pairs", lambda: Cropping2D(((0, 2), (3, 0))), (5, 7, 2), lambda x: _crop(x, [(0, 2), (3, 0)]),
     lambda d: _pad(d, [(0, 2), (3, 0)])),
    ("crop2d_default", lambda: Cropping2D(), (3, 4, 2), lambda x: x, lambda d: d),
    ("upsample1d_default", lambda: UpSampling1D(), (4, 3), lambda x: _upsample(x, (2,)),
     lambda d: _upsample_grad(d, (2,))),
    ("upsample1d_3", lambda: UpSampling1D(3), (5, 2), lambda x: _upsample(x, (3,)), lambda d: _upsample_grad(d, (3,))),
    ("upsample2d_default", lambda: UpSampling2D(), (3, 4, 2), lambda x: _upsample(x, (2, 2)),
     lambda d: _upsample_grad(d, (2, 2))),
    ("upsample2d_23", lambda: UpSampling2D((2, 3)), (3, 5, 3), lambda x: _upsample(x, (2, 3)),
     lambda d: _upsample_grad(d, (2, 3))),
    ("upsample2d_1", lambda: UpSampling2D((1, 1)), (3, 5, 3), lambda x: x, lambda d: d),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,factory,shape,forward,backward", CASES, ids=IDS)
def test_forward_and_backward_match_numpy(name, factory, shape, forward, backward):
    rng = np.random.default_rng(IDS.index(name))
    x = rng.standard_normal((3,) + shape).astype(np.float32)
    expected = forward(x)
    out = factory()(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    dy = rng.standard_normal(expected.shape).astype(np.float32)
    y, dx = run_layer(factory(), x, dy)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_allclose(dx, backward(dy), rtol=1e-6)
    layer = factory()
    assert layer(fw.Input(shape)).shape == (None,) + expected.shape[1:]
    assert layer.compute_output_shape((7,) + shape) == (7,) + expected.shape[1:]


@pytest.mark.parametrize("name,factory,shape,forward,backward", CASES, ids=IDS)
def test_gradients_through_the_plan(name, factory, shape, forward, backward):
    with float64_mode():
        fw.utils.set_random_seed(IDS.index(name))
        inp = fw.Input(shape)
        h = Dense(shape[-1], activation="tanh")(inp)
        out = Dense(2)(Flatten()(factory()(h)))
        model = fw.Model(inp, out)
        rng = np.random.default_rng(1)
        check_gradients(model, [rng.standard_normal((2,) + shape)], [rng.standard_normal((2, 2))])


def test_padding_overwrites_reused_memory():
    """In a predict plan the output block may hold an earlier layer's values: borders are rewritten."""
    inp = fw.Input((3, 3, 2))
    h = Dense(2)(inp)
    h = ZeroPadding2D(1)(Dense(2)(h))
    model = fw.Model(inp, h)
    x = np.random.default_rng(0).standard_normal((4, 3, 3, 2)).astype(np.float32)
    for _ in range(2):
        out = model.predict(x, verbose=0)
        assert (out[:, 0] == 0).all() and (out[:, :, -1] == 0).all()


# ----------------------------------------------------------------------------- spatial dropout

def _dropout_model(cls, shape, seed, rate=0.5):
    inp = fw.Input(shape)
    return fw.Model(inp, cls(rate, seed=seed)(inp))


@pytest.mark.parametrize("cls,shape", [(SpatialDropout1D, (6, 40)), (SpatialDropout2D, (3, 4, 40))],
                         ids=["1d", "2d"])
def test_spatial_dropout_drops_whole_channels(cls, shape):
    x = np.random.default_rng(0).uniform(1, 2, (8,) + shape).astype(np.float32)
    out = _dropout_model(cls, shape, seed=3)(x, training=True)
    kept = out != 0
    axes = tuple(range(1, len(shape)))
    per_channel = kept.reshape(8, -1, shape[-1])
    assert (per_channel.all(axis=1) | ~per_channel.any(axis=1)).all(), "a channel was partly dropped"
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(out[kept], x[kept] * 2, rtol=1e-6)  # inverted scaling 1 / (1 - 0.5)
    # the pattern differs between samples
    assert not np.array_equal(kept.all(axis=axes)[0], kept.all(axis=axes)[1])


@pytest.mark.parametrize("cls,shape", [(SpatialDropout1D, (5, 8)), (SpatialDropout2D, (3, 4, 8))], ids=["1d", "2d"])
def test_spatial_dropout_seeding(cls, shape):
    x = np.ones((4,) + shape, np.float32)
    a = _dropout_model(cls, shape, seed=42)(x, training=True)
    b = _dropout_model(cls, shape, seed=42)(x, training=True)
    c = _dropout_model(cls, shape, seed=43)(x, training=True)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    results = []
    for seed in (5, 5, 6):
        fw.utils.set_random_seed(seed)  # unseeded layers draw their seed from the global generator
        results.append(_dropout_model(cls, shape, seed=None)(x, training=True))
    assert np.array_equal(results[0], results[1]) and not np.array_equal(results[0], results[2])


def _train(seed):
    fw.utils.set_random_seed(seed)
    model = fw.Sequential([fw.Input((6, 4)), Dense(8, activation="relu"), SpatialDropout1D(0.3),
                           UpSampling1D(2), Cropping1D((1, 2)), ZeroPadding1D((1, 2)),
                           fw.layers.Reshape((4, 3, 8)), SpatialDropout2D(0.4), UpSampling2D((1, 2)),
                           Cropping2D(((0, 1), (1, 0))), ZeroPadding2D(((1, 0), (0, 1))), Flatten(), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6, 4)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    return model.get_weights(), history.history["loss"]


def test_training_repeats_bit_for_bit_under_set_random_seed():
    w1, l1 = _train(7)
    w2, l2 = _train(7)
    w3, l3 = _train(8)
    assert l1 == l2 and all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert l1 != l3


@pytest.mark.parametrize("cls,shape", [(SpatialDropout1D, (5, 3)), (SpatialDropout2D, (2, 4, 3))], ids=["1d", "2d"])
def test_spatial_dropout_is_an_identity_view_in_inference(cls, shape):
    model = _dropout_model(cls, shape, seed=1, rate=0.9)
    x = np.random.default_rng(2).standard_normal((4,) + shape).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(model(x), x)
    plan = compile_plan(model, "predict", 4, np.float32)
    assert plan.forward == [] and np.shares_memory(plan.outputs[0], plan.inputs[0])
    zero_rate = _dropout_model(cls, shape, seed=1, rate=0.0)
    np.testing.assert_array_equal(zero_rate(x, training=True), x)


@pytest.mark.parametrize("cls,shape", [(SpatialDropout1D, (4, 3)), (SpatialDropout2D, (2, 3, 3))], ids=["1d", "2d"])
def test_spatial_dropout_gradients(cls, shape):
    """The gradient check runs the train plan once and then the eval plan in training mode, which
    draws new channels; rate 0 checks the wiring, a run_layer check the masked backward."""
    with float64_mode():
        fw.utils.set_random_seed(2)
        inp = fw.Input(shape)
        out = Dense(2)(Flatten()(cls(0.0)(Dense(3)(inp))))
        model = fw.Model(inp, out)
        rng = np.random.default_rng(3)
        check_gradients(model, [rng.standard_normal((2,) + shape)], [rng.standard_normal((2, 2))])
    x = np.random.default_rng(4).uniform(1, 2, (6,) + shape)
    dy = np.random.default_rng(5).standard_normal(x.shape)
    with float64_mode():
        y, dx = run_layer(cls(0.5, seed=0), x, dy, training=True)
    np.testing.assert_allclose(dx, np.where(y != 0, 2 * dy, 0), rtol=1e-13)
    np.testing.assert_allclose(y, np.where(y != 0, 2 * x, 0), rtol=1e-13)


# ----------------------------------------------------------------------------- config and errors

@pytest.mark.parametrize("layer", [
    ZeroPadding1D((1, 2)), ZeroPadding2D(((1, 0), (2, 3))), ZeroPadding2D(3), Cropping1D(2), Cropping2D((1, 2)),
    UpSampling1D(3), UpSampling2D((2, 3)), SpatialDropout1D(0.25, seed=3), SpatialDropout2D(0.5),
], ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    config = layer.get_config()
    assert yaml.safe_load(yaml.safe_dump(config)) == config
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_config_values_as_keras():
    assert ZeroPadding2D(2).get_config()["padding"] == [[2, 2], [2, 2]]
    assert ZeroPadding1D().get_config()["padding"] == [1, 1]
    assert Cropping2D((1, 2)).get_config()["cropping"] == [[1, 1], [2, 2]]
    assert Cropping1D().get_config()["cropping"] == [1, 1]
    assert UpSampling2D().get_config()["size"] == [2, 2]
    assert UpSampling1D().get_config()["size"] == 2
    assert SpatialDropout1D(0.2, seed=4).get_config()["seed"] == 4


@pytest.mark.parametrize("layer,shape,expected", [
    (Cropping1D((2, 2), name="crop_big"), (4, 3), "crop_big"),
    (Cropping2D(((1, 1), (2, 3)), name="crop_big"), (5, 5, 1), "crop_big"),
    (Cropping2D(((3, 2), (0, 0)), name="crop_big"), (5, 5, 1), "crop_big"),
])
def test_cropping_more_than_the_size(layer, shape, expected):
    with pytest.raises(ValueError) as info:
        layer(fw.Input(shape))
    message = str(info.value)
    assert expected in message and "(None, " + ", ".join(map(str, shape)) in message and "cropping" in message


@pytest.mark.parametrize("layer,shape", [
    (ZeroPadding2D(name="rank_err"), (4, 4)), (ZeroPadding1D(name="rank_err"), (4, 4, 1)),
    (Cropping2D(name="rank_err"), (4,)), (Cropping1D(name="rank_err"), (4, 4, 1)),
    (UpSampling2D(name="rank_err"), (4, 4)), (UpSampling1D(name="rank_err"), (4,)),
    (SpatialDropout2D(0.5, name="rank_err"), (4, 4)), (SpatialDropout1D(0.5, name="rank_err"), (4, 4, 2)),
], ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else str(v))
def test_wrong_rank_names_layer_and_shapes(layer, shape):
    with pytest.raises(ValueError) as info:
        layer(fw.Input(shape))
    message = str(info.value)
    assert "rank_err" in message and type(layer).__name__ in message
    assert "(None, " + ", ".join(map(str, shape)) in message


@pytest.mark.parametrize("factory,match", [
    (lambda: UpSampling2D(interpolation="bilinear"), "interpolation must be one of 'nearest'"),
    (lambda: UpSampling2D(data_format="channels_first"), "channels_first"),
    (lambda: UpSampling2D((0, 2)), "size"),
    (lambda: UpSampling1D(0), "size"),
    (lambda: UpSampling1D(1.5), "size"),
    (lambda: ZeroPadding2D(((1, 2), (3,))), "padding"),
    (lambda: ZeroPadding2D((1, 2, 3)), "padding"),
    (lambda: ZeroPadding1D(-1), "padding"),
    (lambda: ZeroPadding2D(data_format="channels_first"), "channels_first"),
    (lambda: Cropping2D(-1), "cropping"),
    (lambda: Cropping1D((1, 2, 3)), "cropping"),
    (lambda: Cropping2D(data_format="channels_first"), "channels_first"),
    (lambda: SpatialDropout1D(1.0), "rate"),
    (lambda: SpatialDropout2D(-0.1), "rate"),
    (lambda: SpatialDropout2D(0.5, data_format="channels_first"), "channels_first"),
])
def test_bad_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_spatial_dropout_masks_pass_through():
    assert SpatialDropout1D.supports_masking
    assert not ZeroPadding1D.supports_masking


# ----------------------------------------------------------------------------- allocation

def test_train_step_allocates_nothing():
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((6, 4)), Dense(8, activation="relu"), SpatialDropout1D(0.3),
                           UpSampling1D(2), Cropping1D((1, 2)), ZeroPadding1D((1, 2)),
                           fw.layers.Reshape((4, 3, 8)), SpatialDropout2D(0.4), UpSampling2D((1, 2)),
                           Cropping2D(((0, 1), (1, 0))), ZeroPadding2D(((1, 0), (0, 1))), Flatten(), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((16, 6, 4)).astype(np.float32)
    model.train_on_batch(x, np.zeros((16, 2), np.float32))
    plan = model.plan("train", 16)
    assert_no_allocation(plan.train_step, calls=50, held=1024, peak=4096)
