"""Gradient checks through the compiled plan (tests/gradcheck.py), in float64: every
activation in Dense, every loss (fused and unfused), shared layers, fan-out, nested
models, multi-output with loss weights, regularizers and Dropout(rate=0)."""
import numpy as np
import pytest

import framework as fw
from framework import layers, losses
from framework.layers import Dense, Dropout
from gradcheck import check_gradients

try:
    from framework.layers import Add, Concatenate
except ImportError:  # pragma: no cover - merging layers are written concurrently
    Add = Concatenate = None

pytestmark = pytest.mark.usefixtures("float64_seed_1")  # every check runs in float64, seed 1

needs_merging = pytest.mark.skipif(Add is None, reason="framework.layers.merging is not importable yet")

ACTIVATIONS = ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid",
               "tanh", "softplus", "softsign", "swish", "silu", "softmax", "log_softmax", "exponential"]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _check(model, xs, ys, loss="mse", **kwargs):
    checked = check_gradients(model, xs, ys, loss=loss, **kwargs)
    assert checked >= 10
    return checked


def _nonzero_gradient(model):
    """The plan's gradient arena after check_gradients ran one train step."""
    grads = model.parameter_arena().grads
    assert np.abs(grads).max() > 1e-8, "all gradients are zero: the check would be vacuous"


# ----------------------------------------------------------------------------- activations

@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_activation(activation):
    rng = _rng(ACTIVATIONS.index(activation))
    # scale 2 reaches past relu6's and hard_sigmoid's inner region in some entries; random
    # values keep away from kinks with probability one
    x = 2.0 * rng.standard_normal((6, 4))
    y = rng.standard_normal((6, 3))
    model = fw.Sequential([fw.Input((4,)), Dense(3, activation=activation, bias_initializer="random_normal")])
    _check(model, [x], [y])
    _nonzero_gradient(model)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softmax", "gelu"])
def test_activation_in_hidden_layer_without_bias(activation):
    rng = _rng(1)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    model = fw.Sequential([fw.Input((4,)), Dense(6, activation=activation, use_bias=False), Dense(2)])
    _check(model, [x], [y])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "tanh"])
def test_activation_layer(name):
    rng = _rng(2)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    model = fw.Sequential([fw.Input((4,)), Dense(3), layers.Activation(name), Dense(3)])
    _check(model, [x], [y])


# ----------------------------------------------------------------------------- losses

def _labels(rng, n, classes):
    return rng.integers(0, classes, n)


def _one_hot(labels, classes):
    return np.eye(classes)[labels]


def test_mse():
    rng = _rng(3)
    model = fw.Sequential([fw.Input((4,)), Dense(3, activation="tanh")])
    _check(model, [rng.standard_normal((6, 4))], [rng.standard_normal((6, 3))], loss="mse")


def test_mae():
    rng = _rng(4)
    model = fw.Sequential([fw.Input((4,)), Dense(3)])
    _check(model, [rng.standard_normal((6, 4))], [rng.standard_normal((6, 3))], loss="mae")


@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_huber(delta):
    rng = _rng(5)
    model = fw.Sequential([fw.Input((4,)), Dense(3)])
    # spread targets so both the quadratic and the linear branch are used
    y = 3.0 * rng.standard_normal((8, 3))
    _check(model, [rng.standard_normal((8, 4))], [y], loss=losses.Huber(delta=delta))


def test_binary_crossentropy_fused_with_sigmoid():
    rng = _rng(6)
    model = fw.Sequential([fw.Input((4,)), Dense(3, activation="sigmoid")])
    y = rng.integers(0, 2, (6, 3)).astype(np.float64)
    _check(model, [rng.standard_normal((6, 4))], [y], loss="binary_crossentropy")


def test_binary_crossentropy_soft_targets():
    rng = _rng(7)
    model = fw.Sequential([fw.Input((4,)), Dense(2, activation="sigmoid")])
    _check(model, [rng.standard_normal((6, 4))], [rng.uniform(0.1, 0.9, (6, 2))], loss="binary_crossentropy")


def test_binary_crossentropy_from_logits():
    rng = _rng(8)
    model = fw.Sequential([fw.Input((4,)), Dense(3)])
    y = rng.integers(0, 2, (6, 3)).astype(np.float64)
    _check(model, [rng.standard_normal((6, 4))], [y], loss=losses.BinaryCrossentropy(from_logits=True))


def test_binary_crossentropy_unfused_probabilities():
    """Softmax outputs are probabilities but not fusable with BCE: the unfused path."""
    rng = _rng(9)
    model = fw.Sequential([fw.Input((4,)), Dense(3, activation="softmax")])
    y = rng.integers(0, 2, (6, 3)).astype(np.float64)
    _check(model, [rng.standard_normal((6, 4))], [y], loss="binary_crossentropy")


def test_categorical_crossentropy_fused_with_softmax():
    rng = _rng(10)
    model = fw.Sequential([fw.Input((4,)), Dense(5, activation="softmax")])
    _check(model, [rng.standard_normal((7, 4))], [_one_hot(_labels(rng, 7, 5), 5)], loss="categorical_crossentropy")


def test_categorical_crossentropy_fused_label_smoothing():
    rng = _rng(11)
    model = fw.Sequential([fw.Input((4,)), Dense(5, activation="softmax")])
    _check(model, [rng.standard_normal((7, 4))], [_one_hot(_labels(rng, 7, 5), 5)],
           loss=losses.CategoricalCrossentropy(label_smoothing=0.1))


def test_categorical_crossentropy_from_logits():
    rng = _rng(12)
    model = fw.Sequential([fw.Input((4,)), Dense(5)])
    _check(model, [rng.standard_normal((7, 4))], [_one_hot(_labels(rng, 7, 5), 5)],
           loss=losses.CategoricalCrossentropy(from_logits=True))


def test_categorical_crossentropy_unfused_sigmoid_outputs():
    """Keras renormalizes probabilities that do not sum to one; the gradient must follow."""
    rng = _rng(13)
    model = fw.Sequential([fw.Input((4,)), Dense(4, activation="sigmoid")])
    _check(model, [rng.standard_normal((6, 4))], [_one_hot(_labels(rng, 6, 4), 4)], loss="categorical_crossentropy")


def test_softmax_activation_layer_fused_with_crossentropy():
    rng = _rng(14)
    model = fw.Sequential([fw.Input((4,)), Dense(5), layers.Activation("softmax")])
    _check(model, [rng.standard_normal((7, 4))], [_one_hot(_labels(rng, 7, 5), 5)], loss="categorical_crossentropy")


def test_sparse_categorical_crossentropy():
    rng = _rng(15)
    model = fw.Sequential([fw.Input((4,)), Dense(5, activation="softmax")])
    _check(model, [rng.standard_normal((7, 4))], [_labels(rng, 7, 5)], loss="sparse_categorical_crossentropy")


def test_sparse_categorical_crossentropy_from_logits():
    rng = _rng(16)
    model = fw.Sequential([fw.Input((4,)), Dense(8, activation="relu"), Dense(5)])
    _check(model, [rng.standard_normal((7, 4))], [_labels(rng, 7, 5)],
           loss=losses.SparseCategoricalCrossentropy(from_logits=True))


def test_sparse_categorical_crossentropy_unfused():
    rng = _rng(17)
    model = fw.Sequential([fw.Input((4,)), Dense(5, activation="sigmoid")])
    _check(model, [rng.standard_normal((7, 4))], [_labels(rng, 7, 5)], loss="sparse_categorical_crossentropy")


def test_fused_softmax_output_that_is_also_consumed():
    """A softmax output read by another layer cannot be fused with the loss on it."""
    rng = _rng(18)
    inputs = fw.Input((4,))
    probs = Dense(3, activation="softmax", name="probs")(inputs)
    other = Dense(2, name="other")(probs)
    model = fw.Model(inputs, [probs, other])
    _check(model, [rng.standard_normal((6, 4))], [_one_hot(_labels(rng, 6, 3), 3), rng.standard_normal((6, 2))],
           loss=["categorical_crossentropy", "mse"])


# ----------------------------------------------------------------------------- graphs

def test_deep_sequential():
    rng = _rng(19)
    model = fw.Sequential([fw.Input((5,)), Dense(7, activation="tanh"), Dense(6, activation="elu"),
                           Dense(4, activation="softplus"), Dense(3, activation="softmax")])
    _check(model, [rng.standard_normal((6, 5))], [_labels(rng, 6, 3)], loss="sparse_categorical_crossentropy")


@needs_merging
def test_shared_layer():
    rng = _rng(20)
    a, b = fw.Input((4,)), fw.Input((4,))
    shared = Dense(3, activation="tanh", name="shared")
    merged = Concatenate()([shared(a), shared(b)])
    model = fw.Model([a, b], Dense(2)(merged))
    _check(model, [rng.standard_normal((5, 4)), rng.standard_normal((5, 4))], [rng.standard_normal((5, 2))])


def test_shared_layer_applied_in_sequence():
    """The same Dense applied twice in a row: its gradient is the sum of both uses."""
    rng = _rng(21)
    inputs = fw.Input((3,))
    twice = Dense(3, activation="tanh", name="twice")
    model = fw.Model(inputs, Dense(2)(twice(twice(inputs))))
    _check(model, [rng.standard_normal((5, 3))], [rng.standard_normal((5, 2))])


@needs_merging
def test_fan_out_into_add():
    rng = _rng(22)
    inputs = fw.Input((4,))
    hidden = Dense(5, activation="tanh")(inputs)
    left = Dense(3, activation="sigmoid")(hidden)
    right = Dense(3, activation="relu")(hidden)
    model = fw.Model(inputs, Dense(2)(Add()([left, right])))
    _check(model, [rng.standard_normal((6, 4))], [rng.standard_normal((6, 2))])


@needs_merging
def test_residual_with_operator():
    rng = _rng(23)
    inputs = fw.Input((4,))
    x = Dense(4, activation="tanh")(inputs)
    residual = x
    x = Dense(4, activation="gelu")(x)
    x += residual
    x = x * Dense(4, activation="sigmoid")(residual)
    model = fw.Model(inputs, Dense(2)(x - residual))
    _check(model, [rng.standard_normal((6, 4))], [rng.standard_normal((6, 2))])


def test_input_fan_out_to_two_outputs():
    rng = _rng(24)
    inputs = fw.Input((4,))
    model = fw.Model(inputs, [Dense(2, name="o1")(inputs), Dense(3, activation="tanh", name="o2")(inputs)])
    _check(model, [rng.standard_normal((6, 4))], [rng.standard_normal((6, 2)), rng.standard_normal((6, 3))])


def test_nested_model():
    rng = _rng(25)
    inner_in = fw.Input((4,))
    inner = fw.Model(inner_in, Dense(3, activation="tanh")(Dense(5, activation="relu")(inner_in)))
    a = fw.Input((4,))
    model = fw.Model(a, Dense(2)(inner(a)))
    _check(model, [rng.standard_normal((6, 4))], [rng.standard_normal((6, 2))])


def _with_loss_weights(model, loss_weights):
    """check_gradients compiles the model itself; make that compile carry loss_weights."""
    compile_ = model.compile

    def compile_with_weights(*args, **kwargs):
        kwargs.setdefault("loss_weights", loss_weights)
        return compile_(*args, **kwargs)
    model.compile = compile_with_weights
    return model


def test_multi_output_with_loss_weights():
    rng = _rng(26)
    inputs = fw.Input((4,))
    hidden = Dense(6, activation="tanh")(inputs)
    reg = Dense(2, name="reg")(hidden)
    cls = Dense(3, activation="softmax", name="cls")(hidden)
    model = _with_loss_weights(fw.Model(inputs, [reg, cls]), [0.3, 2.5])
    xs, ys = [rng.standard_normal((6, 4))], [rng.standard_normal((6, 2)), _labels(rng, 6, 3)]
    _check(model, xs, ys, loss=["mse", "sparse_categorical_crossentropy"])
    assert model.plan("eval", 6).loss_weights == [0.3, 2.5]
    # the weights really enter the objective: the total is their weighted sum
    logs = model.evaluate(xs[0], ys, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(0.3 * logs["reg_loss"] + 2.5 * logs["cls_loss"], rel=1e-12)


def test_loss_weights_scale_the_gradient():
    rng = _rng(27)
    x, y1, y2 = rng.standard_normal((6, 4)), rng.standard_normal((6, 2)), rng.standard_normal((6, 2))

    def gradient(loss_weights):
        fw.utils.set_random_seed(3)
        inputs = fw.Input((4,))
        model = _with_loss_weights(fw.Model(inputs, [Dense(2)(inputs), Dense(2)(inputs)]), loss_weights)
        check_gradients(model, [x], [y1, y2], loss="mse")
        return model.parameter_arena().grads.copy(), len(model.layers[1].get_weights()[0].ravel()) + 2

    base, n_first = gradient([1.0, 1.0])
    scaled, _ = gradient([3.0, 0.5])
    np.testing.assert_allclose(scaled[:n_first], 3.0 * base[:n_first], rtol=1e-12)
    np.testing.assert_allclose(scaled[n_first:], 0.5 * base[n_first:], rtol=1e-12)


# ----------------------------------------------------------------------------- regularizers and dropout

@pytest.mark.parametrize("kernel_reg,bias_reg", [
    ("l1", None),
    ("l2", "l2"),
    (fw.regularizers.L1L2(l1=0.02, l2=0.03), "l1"),
    ("l1_l2", fw.regularizers.L2(0.5)),
])
def test_regularizers_in_the_loss(kernel_reg, bias_reg):
    rng = _rng(28)
    model = fw.Sequential([fw.Input((4,)),
                           Dense(3, activation="tanh", kernel_regularizer=kernel_reg, bias_regularizer=bias_reg,
                                 bias_initializer="random_normal"),
                           Dense(2, kernel_regularizer="l2")])
    _check(model, [rng.standard_normal((5, 4))], [rng.standard_normal((5, 2))])
    assert model._penalty() > 0


def test_regularizer_penalty_is_part_of_the_reported_loss():
    rng = _rng(29)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    model = fw.Sequential([fw.Input((4,)), Dense(2, kernel_regularizer=fw.regularizers.L2(0.1))])
    model.compile(optimizer=fw.optimizers.SGD(0.0), loss="mse")
    k, b = model.get_weights()
    data_loss = np.mean((x @ k + b - y) ** 2)
    expected = data_loss + 0.1 * np.sum(k ** 2)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-12)
    model.reset_metrics()
    assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-12)


def test_l2_regularizer_gradient_shrinks_weights():
    """With zero data gradient, SGD on an L2 penalty multiplies the kernel by (1 - 2 lr l2)."""
    model = fw.Sequential([fw.Input((3,)), Dense(2, use_bias=False, kernel_regularizer=fw.regularizers.L2(0.25))])
    model.compile(optimizer=fw.optimizers.SGD(0.1), loss="mse")
    k = model.get_weights()[0]
    x = np.zeros((4, 3))
    model.train_on_batch(x, np.zeros((4, 2)))
    np.testing.assert_allclose(model.get_weights()[0], k * (1 - 2 * 0.1 * 0.25), rtol=1e-12)


def test_dropout_rate_zero_in_training_mode():
    rng = _rng(30)
    model = fw.Sequential([fw.Input((4,)), Dense(5, activation="tanh"), Dropout(0.0), Dense(2)])
    _check(model, [rng.standard_normal((6, 4))], [rng.standard_normal((6, 2))])


def test_dropout_backward_uses_the_forward_mask():
    """With rate > 0 the gradient flows only through kept units, scaled by 1/(1-rate)."""
    rng = _rng(31)
    fw.utils.set_random_seed(5)
    inputs = fw.Input((50,))
    model = fw.Model(inputs, Dropout(0.4)(inputs))
    model.compile(optimizer=fw.optimizers.SGD(0.0), loss="mse")
    from gradcheck import _plans
    x, y = rng.standard_normal((4, 50)), np.zeros((4, 50))
    train, _, _ = _plans(model, [x], [y], "mse")
    train.train_step()
    out = train.outputs[0]
    kept = out != 0
    assert 0.3 < 1 - kept.mean() < 0.5
    np.testing.assert_allclose(out[kept], x[kept] / 0.6, rtol=1e-12)
    dy = 2 * out / out.size
    np.testing.assert_allclose(train.input_grads[0], np.where(kept, dy / 0.6, 0.0), rtol=1e-12, atol=1e-15)
