"""Reshaping layers: forward vs NumPy, gradients through the compiled plan, shapes,
views, config, errors, allocation."""

import numpy as np
import pytest

import framework as fw
from framework.layers import Dense, Flatten, Permute, RepeatVector, Reshape
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation

# (factory, sample input shape, NumPy reference on a batch, expected sample output shape)
CASES = [
    ("flatten", lambda: Flatten(), (2, 3, 4), lambda x: x.reshape(len(x), -1), (24,)),
    ("flatten_2d", lambda: Flatten(), (5,), lambda x: x, (5,)),
    ("flatten_1d", lambda: Flatten(), (), lambda x: x.reshape(-1, 1), (1,)),
    ("flatten_channels_first", lambda: Flatten(data_format="channels_first"), (2, 3, 4),
     lambda x: np.moveaxis(x, 1, -1).reshape(len(x), -1), (24,)),
    ("flatten_channels_first_2d", lambda: Flatten(data_format="channels_first"), (6,), lambda x: x, (6,)),
    ("reshape", lambda: Reshape((4, 6)), (2, 3, 4), lambda x: x.reshape(len(x), 4, 6), (4, 6)),
    ("reshape_infer", lambda: Reshape((-1, 2)), (3, 4), lambda x: x.reshape(len(x), 6, 2), (6, 2)),
    ("reshape_infer_first", lambda: Reshape((3, -1, 2)), (12,), lambda x: x.reshape(len(x), 3, 2, 2),
     (3, 2, 2)),
    ("reshape_int", lambda: Reshape(12), (3, 4), lambda x: x.reshape(len(x), 12), (12,)),
    ("permute_21", lambda: Permute((2, 1)), (3, 5), lambda x: x.transpose(0, 2, 1), (5, 3)),
    ("permute_312", lambda: Permute((3, 1, 2)), (2, 3, 4), lambda x: x.transpose(0, 3, 1, 2), (4, 2, 3)),
    ("permute_identity", lambda: Permute((1, 2)), (2, 3), lambda x: x, (2, 3)),
    ("repeat_vector", lambda: RepeatVector(3), (4,), lambda x: np.repeat(x[:, None, :], 3, axis=1), (3, 4)),
    ("repeat_vector_1", lambda: RepeatVector(1), (2,), lambda x: x[:, None, :], (1, 2)),
]
IDS = [c[0] for c in CASES]
WITH_FEATURES = [c for c in CASES if c[2]]  # Dense needs a feature axis


def _x(shape, batch=3, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((batch,) + shape).astype(dtype)


@pytest.mark.parametrize("name,factory,shape,reference,out_shape", CASES, ids=IDS)
def test_forward_matches_numpy(name, factory, shape, reference, out_shape):
    x = _x(shape, dtype=np.float32)
    out = factory()(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, reference(x))


@pytest.mark.parametrize("name,factory,shape,reference,out_shape", CASES, ids=IDS)
def test_output_shapes(name, factory, shape, reference, out_shape):
    layer = factory()
    assert layer(fw.Input(shape)).shape == (None,) + out_shape
    assert layer.compute_output_shape((7,) + shape) == (7,) + out_shape


@pytest.mark.parametrize("name,factory,shape,reference,out_shape", CASES, ids=IDS)
def test_input_gradients_direct(name, factory, shape, reference, out_shape):
    """Input -> layer: the input gradient is dy moved back to the input's layout."""
    with float64_mode():
        inp = fw.Input(shape)
        model = fw.Model(inp, factory()(inp))
        y = _x(out_shape, seed=1)
        check_gradients(model, [_x(shape, seed=2)], [y])


@pytest.mark.parametrize("name,factory,shape,reference,out_shape", WITH_FEATURES,
                         ids=[c[0] for c in WITH_FEATURES])
def test_gradients_inside_a_model(name, factory, shape, reference, out_shape):
    """Input -> Dense -> layer -> Dense -> (flattened) output: weights and inputs."""
    with float64_mode():
        fw.utils.set_random_seed(0)
        inp = fw.Input(shape)
        h = Dense(shape[-1], activation="tanh")(inp)
        h = factory()(h)
        h = Dense(2)(h)
        out = Flatten()(h)
        model = fw.Model(inp, out)
        y = _x(out.shape[1:], seed=3)
        check_gradients(model, [_x(shape, seed=4)], [y])


def test_views_share_the_input_buffer():
    """Flatten and Reshape steps are views: the plan emits no forward step for them."""
    from framework.plan.compiler import compile_plan
    inp = fw.Input((2, 3))
    out = Reshape((3, 2))(Flatten()(inp))
    model = fw.Model(inp, out)
    plan = compile_plan(model, "predict", 4, np.float32)
    assert plan.forward == []
    assert np.shares_memory(plan.outputs[0], plan.inputs[0])
    x = _x((2, 3), batch=4, dtype=np.float32)
    np.testing.assert_array_equal(model(x), x.reshape(4, 3, 2))


def test_flatten_in_a_classifier_trains():
    fw.utils.set_random_seed(1)
    model = fw.Sequential([fw.Input((4, 4)), Flatten(), Dense(8, activation="relu"), Dense(2, activation="softmax")])
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 4, 4)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.int64)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=10, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_permute_then_repeat_gradients_with_fan_out():
    """Permute output used twice (fan-out), RepeatVector on a Dense output."""
    with float64_mode():
        fw.utils.set_random_seed(2)
        inp = fw.Input((3, 2))
        p = Permute((2, 1))(inp)
        a = Dense(2)(p)
        b = Dense(2)(p)
        flat = Flatten()(a + b)
        out = RepeatVector(2)(Dense(3)(flat))
        model = fw.Model(inp, out)
        check_gradients(model, [_x((3, 2), seed=6)], [_x((2, 3), seed=7)])


# ----------------------------------------------------------------------------- config

@pytest.mark.parametrize("layer,key,value", [
    (Flatten(), "data_format", "channels_last"),
    (Flatten(data_format="channels_first"), "data_format", "channels_first"),
    (Reshape((2, -1)), "target_shape", [2, -1]),
    (Permute((2, 1)), "dims", [2, 1]),
    (RepeatVector(4), "n", 4),
], ids=["flatten", "flatten_cf", "reshape", "permute", "repeat_vector"])
def test_config_round_trip(layer, key, value):
    config = layer.get_config()
    assert config[key] == value
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


# ----------------------------------------------------------------------------- errors

def test_reshape_bad_size_names_layer_and_both_shapes():
    with pytest.raises(ValueError) as info:
        Reshape((5, 2), name="bad_reshape")(fw.Input((3, 4)))
    message = str(info.value)
    assert "bad_reshape" in message and "(None, 3, 4)" in message and "(5, 2)" in message
    with pytest.raises(ValueError, match="bad_infer"):
        Reshape((-1, 5), name="bad_infer")(fw.Input((3, 4)))


@pytest.mark.parametrize("target", [(2, -1, -1), (0, 3), (2.5,), ("a",)])
def test_reshape_bad_target(target):
    with pytest.raises(ValueError, match="target_shape"):
        Reshape(target)


@pytest.mark.parametrize("dims", [(1, 1), (0, 1), (2, 3), (1, 3)])
def test_permute_bad_dims(dims):
    with pytest.raises(ValueError, match="permutation"):
        Permute(dims)


def test_permute_rank_mismatch_names_layer():
    with pytest.raises(ValueError) as info:
        Permute((2, 1), name="perm_rank")(fw.Input((2, 3, 4)))
    assert "perm_rank" in str(info.value) and "(None, 2, 3, 4)" in str(info.value)


def test_repeat_vector_errors():
    with pytest.raises(ValueError) as info:
        RepeatVector(2, name="rv_rank")(fw.Input((2, 3)))
    assert "rv_rank" in str(info.value) and "(None, 2, 3)" in str(info.value)
    for n in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n must be"):
            RepeatVector(n)


def test_flatten_bad_data_format():
    with pytest.raises(ValueError, match="data_format"):
        Flatten(data_format="channels_middle")


def test_layers_reused_on_other_shapes():
    flatten = Flatten()
    assert flatten(fw.Input((2, 3))).shape == (None, 6)
    assert flatten(fw.Input((5, 5))).shape == (None, 25)
    reshape = Reshape((-1, 2))
    assert reshape(fw.Input((4,))).shape == (None, 2, 2)
    assert reshape(fw.Input((6,))).shape == (None, 3, 2)


# ----------------------------------------------------------------------------- allocation

@pytest.mark.parametrize("factory", [lambda: Flatten(data_format="channels_first"), lambda: Reshape((8, 8)),
                                     lambda: Permute((2, 1)), None],
                         ids=["flatten_cf", "reshape", "permute", "repeat_vector"])
def test_train_step_allocates_nothing(factory):
    inp = fw.Input((16, 4))
    h = Dense(4)(inp)
    if factory is None:
        h = RepeatVector(3)(Flatten()(h))
    else:
        h = factory()(h)
    out = Flatten()(Dense(2)(h))
    model = fw.Model(inp, out)
    x = _x((16, 4), batch=32, dtype=np.float32)
    y = np.zeros((32,) + out.shape[1:], np.float32)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(x, y)
    plan = model.plan("train", 32)
    assert_no_allocation(plan.train_step, calls=50, held=1024, peak=4096)
