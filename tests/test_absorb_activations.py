"""Activation layers run in the epilogue of the Dense or convolution before them
(framework.ops.absorb_activations): which entries join, plans equal to plans that run the activation layer
on its own (outputs, weight and input gradients), finite differences, the loss's own fusion, summary()."""
import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.ops import fusion
from gradcheck import check_gradients, float64_mode, floatx
from helpers import one_training_step


@pytest.fixture
def mode():
    """Set ``fusion.MODE`` for a test; restored after."""
    saved = fusion.MODE
    yield lambda value: setattr(fusion, "MODE", value)
    fusion.MODE = saved


#: name -> (sample shape, the layer before the activation)
PRODUCERS = {
    "dense": ((6,), lambda: layers.Dense(5)),
    "dense on a sequence": ((3, 6), lambda: layers.Dense(5)),
    "conv1d": ((9, 3), lambda: layers.Conv1D(4, 3, padding="same")),
    "conv2d strided": ((8, 8, 3), lambda: layers.Conv2D(4, 3, strides=2)),
    "conv2d to few filters (input side)": ((7, 7, 8), lambda: layers.Conv2D(1, 3, padding="same")),
    "conv2d transpose, sub-pixel": ((4, 4, 3), lambda: layers.Conv2DTranspose(4, 4, strides=2, padding="same")),
    "conv2d transpose, col2im": ((4, 4, 3), lambda: layers.Conv2DTranspose(4, 3, strides=2)),
    "depthwise": ((6, 6, 3), lambda: layers.DepthwiseConv2D(3, depth_multiplier=2)),
    "separable": ((6, 6, 3), lambda: layers.SeparableConv2D(4, 3, padding="same")),
}
#: name -> the activation layer
ACTIVATIONS = {
    "leaky relu": lambda: layers.LeakyReLU(0.2),
    "relu capped": lambda: layers.ReLU(max_value=1.0),
    "elu (reads its input)": lambda: layers.ELU(),
    "tanh": lambda: layers.Activation("tanh"),
}


def _model(producer, activation, shape, seed=0):
    fw.utils.set_random_seed(seed)
    inp = layers.Input(shape)
    h = activation()(producer()(inp))
    return fw.Model(inp, layers.Dense(2)(layers.Flatten()(h)))


def _step(model, x, y, fused_mode, mode):
    """(output, weight gradients, input gradient, entry kinds) of one training step."""
    mode(fused_mode)
    _, output, grads, input_grad = one_training_step(model, x, y)
    return output, grads, input_grad, _kinds(model)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_absorbed_plan_equals_plan_with_the_activation_layer(producer, activation, dtype, mode):
    shape, make = PRODUCERS[producer]
    rng = np.random.default_rng(1)
    with floatx(dtype):
        model = _model(make, ACTIVATIONS[activation], shape)
        x = rng.standard_normal((5,) + shape).astype(dtype)
        y = rng.standard_normal((5, 2)).astype(dtype)
        joined = _step(model, x, y, "1", mode)
        alone = _step(model, x, y, "0", mode)
    activation_kind = type(ACTIVATIONS[activation]()).__name__
    assert activation_kind not in joined[3] and activation_kind in alone[3]
    tol = 1e-6 if dtype == "float32" else 1e-13
    for a, b in [(joined[0], alone[0]), (joined[2], alone[2])] + list(zip(joined[1], alone[1])):
        assert np.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(b))))), np.max(np.abs(a - b))


@pytest.mark.parametrize("producer", ["dense", "conv2d strided", "conv2d transpose, sub-pixel", "separable"])
def test_absorbed_gradients_match_finite_differences(producer, mode):
    mode("1")
    shape, make = PRODUCERS[producer]
    with float64_mode():
        model = _model(make, ACTIVATIONS["elu (reads its input)"], shape, seed=3)
        rng = np.random.default_rng(2)
        check_gradients(model, [rng.standard_normal((3,) + shape)], [rng.standard_normal((3, 2))])
        assert "ELU" not in [type(e.layer).__name__ for e in model.flat_graph(training=True)[2]]


def _kinds(model):
    return [type(entry.layer).__name__ for entry in model.flat_graph(training=True)[2]]


def test_what_is_not_absorbed(mode):
    mode("1")
    inp = layers.Input((6,))
    shared = layers.Dense(4)(inp)
    two_uses = fw.Model(inp, layers.Add()([layers.ReLU()(shared), shared]))
    assert _kinds(two_uses).count("ReLU") == 1  # the Dense output is read twice
    own = fw.Model(inp, layers.LeakyReLU()(layers.Dense(4, activation="tanh")(inp)))
    assert "LeakyReLU" in _kinds(own)  # the Dense applies an activation of its own
    softmax = fw.Model(inp, layers.Activation("softmax")(layers.Dense(4)(inp)))
    assert "Activation" in _kinds(softmax)  # softmax is not elementwise

    class MyDense(layers.Dense):
        pass

    subclass = fw.Model(inp, layers.ReLU()(MyDense(4)(inp)))
    assert "ReLU" in _kinds(subclass)
    pinned_inner = layers.Dense(4)(inp)
    both = fw.Model(inp, [pinned_inner, layers.ReLU()(pinned_inner)])
    assert "ReLU" in _kinds(both)  # the Dense output is a model output
    seq = layers.Input((5,), dtype="int32")
    masked = layers.Dense(3)(layers.Embedding(10, 4, mask_zero=True)(seq))
    assert "ReLU" in _kinds(fw.Model(seq, layers.ReLU()(masked)))
    mode("0")
    assert "LeakyReLU" in _kinds(fw.Model(inp, layers.LeakyReLU()(layers.Dense(4)(inp))))


def test_summary_still_lists_the_activation_layer_and_a_final_sigmoid_trains_alike(mode):
    mode("1")
    fw.utils.set_random_seed(0)
    model = fw.Sequential([layers.Input((6,)), layers.Dense(8), layers.LeakyReLU(0.2), layers.Dense(1),
                           layers.Activation("sigmoid")])
    assert _kinds(model) == ["Dense", "Dense"]
    lines = []
    model.summary(print_fn=lines.append)
    names = [layer.name for layer in model.layers]
    assert [line.split()[0] for line in lines[0].splitlines() if line.split()[:1] and line.split()[0] in names] \
        == names, lines[0]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)).astype("float32"), (rng.uniform(size=(16, 1)) > 0.5).astype("float32")
    weights = model.get_weights()
    results = []
    for fused in ("1", "0"):
        mode(fused)
        fw.utils.set_random_seed(1)
        copy = fw.Sequential.from_config(model.get_config())
        copy.set_weights(weights)
        copy.compile(optimizer="sgd", loss="binary_crossentropy")  # the loss takes the final sigmoid either way
        copy.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        results.append(copy.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
