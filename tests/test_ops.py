"""framework.ops: values on arrays against NumPy, the same ops inside a model's plan, gradients of
every op against finite differences (float64), broadcasting, axes and keepdims, and the errors
raised when a graph is built."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from framework.ops import OpError
from gradcheck import check_gradients, float64_mode
from op_cases import assert_op_gradients, assert_op_matches
from helpers import assert_no_allocation

rng = np.random.default_rng(0)


def positive(shape):
    return rng.uniform(0.5, 2.0, shape)


def normal(shape):
    return rng.standard_normal(shape)


def apart(shape):
    """Values at least 0.1 from zero and from each other's sign changes (abs, relu, max ties)."""
    values = rng.uniform(0.2, 2.0, shape)
    return values * rng.choice([-1.0, 1.0], shape)


C34 = rng.standard_normal((3, 4))

#: name -> (function of the inputs, sample shapes, input makers, NumPy reference of the arrays)
CASES = {
    "negative": (lambda x: ops.negative(x), [(3, 4)], [normal], lambda x: -x),
    "neg operator": (lambda x: -x, [(3, 4)], [normal], lambda x: -x),
    "square": (ops.square, [(3, 4)], [normal], np.square),
    "sqrt": (ops.sqrt, [(3, 4)], [positive], np.sqrt),
    "rsqrt": (ops.rsqrt, [(3, 4)], [positive], lambda x: 1 / np.sqrt(x)),
    "exp": (ops.exp, [(3, 4)], [normal], np.exp),
    "log": (ops.log, [(3, 4)], [positive], np.log),
    "log1p": (ops.log1p, [(3, 4)], [positive], np.log1p),
    "abs": (ops.abs, [(3, 4)], [apart], np.abs),
    "sin": (ops.sin, [(3, 4)], [normal], np.sin),
    "cos": (ops.cos, [(3, 4)], [normal], np.cos),
    "tanh": (ops.tanh, [(3, 4)], [normal], np.tanh),
    "sigmoid": (ops.sigmoid, [(3, 4)], [normal], lambda x: 1 / (1 + np.exp(-x))),
    "softplus": (ops.softplus, [(3, 4)], [normal], lambda x: np.log1p(np.exp(x))),
    "relu": (ops.relu, [(3, 4)], [apart], lambda x: np.maximum(x, 0)),
    "silu": (ops.silu, [(3, 4)], [normal], lambda x: x / (1 + np.exp(-x))),
    "gelu": (ops.gelu, [(3, 4)], [normal],
             lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    "add broadcast": (ops.add, [(3, 4), (1, 4)], [normal, normal], np.add),
    "add operator, same shape": (lambda a, b: a + b, [(3, 4), (3, 4)], [normal, normal], np.add),
    "add constant": (lambda x: x + 1.5, [(3, 4)], [normal], lambda x: x + 1.5),
    "radd constant row": (lambda x: C34[0] + x, [(3, 4)], [normal], lambda x: C34[0] + x),
    "subtract broadcast": (lambda a, b: a - b, [(3, 4), (3, 1)], [normal, normal], np.subtract),
    "rsub constant": (lambda x: 2.0 - x, [(3, 4)], [normal], lambda x: 2.0 - x),
    "multiply broadcast": (lambda a, b: a * b, [(3, 4), (1, 4)], [normal, normal], np.multiply),
    "multiply constant matrix": (lambda x: x * C34, [(3, 4)], [normal], lambda x: x * C34),
    "divide": (lambda a, b: a / b, [(3, 4), (3, 4)], [normal, positive], np.divide),
    "divide broadcast": (ops.divide, [(3, 4), (1, 1)], [normal, positive], np.divide),
    "rdivide constant": (lambda x: 1.0 / x, [(3, 4)], [positive], lambda x: 1.0 / x),
    "power": (ops.power, [(3, 4), (3, 4)], [positive, normal], np.power),
    "power constant": (lambda x: x ** 3.0, [(3, 4)], [normal], lambda x: x ** 3.0),
    "maximum": (ops.maximum, [(3, 4), (3, 4)], [apart, apart], np.maximum),
    "minimum broadcast": (ops.minimum, [(3, 4), (3, 1)], [apart, apart], np.minimum),
    "where": (lambda a, b: ops.where(a > 0, a, b), [(3, 4), (3, 4)], [apart, normal],
              lambda a, b: np.where(a > 0, a, b)),
    "where broadcast": (lambda a, b: ops.where(a > 0, a * 2.0, b), [(3, 4), (1, 4)], [apart, normal],
                        lambda a, b: np.where(a > 0, a * 2.0, b)),
    "clip": (lambda x: ops.clip(x, -0.5, 0.5), [(3, 4)], [apart], lambda x: np.clip(x, -0.5, 0.5)),
    "stop_gradient": (lambda x: ops.stop_gradient(x) * x, [(3, 4)], [normal], lambda x: x * x),
    "cast": (lambda x: ops.cast(x, "float64") * 2.0, [(3, 4)], [normal], lambda x: x * 2.0),
    "sum last": (lambda x: ops.sum(x, axis=-1), [(3, 4)], [normal], lambda x: np.sum(x, axis=-1)),
    "sum all, keepdims": (lambda x: ops.sum(x, axis=(1, 2), keepdims=True), [(3, 4)], [normal],
                          lambda x: np.sum(x, axis=(1, 2), keepdims=True)),
    "mean": (lambda x: ops.mean(x, axis=1), [(3, 4)], [normal], lambda x: np.mean(x, axis=1)),
    "max": (lambda x: ops.max(x, axis=-1, keepdims=True), [(3, 4)], [normal],
            lambda x: np.max(x, axis=-1, keepdims=True)),
    "min": (lambda x: ops.min(x, axis=1), [(3, 4)], [normal], lambda x: np.min(x, axis=1)),
    "prod": (lambda x: ops.prod(x, axis=-1), [(3, 4)], [apart], lambda x: np.prod(x, axis=-1)),
    "var": (lambda x: ops.var(x, axis=-1), [(3, 4)], [normal], lambda x: np.var(x, axis=-1)),
    "std": (lambda x: ops.std(x, axis=(1, 2)), [(3, 4)], [normal], lambda x: np.std(x, axis=(1, 2))),
    "logsumexp": (lambda x: ops.logsumexp(x, axis=-1), [(3, 4)], [normal],
                  lambda x: np.log(np.sum(np.exp(x), axis=-1))),
    "softmax": (ops.softmax, [(3, 4)], [normal], lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    "softmax axis 1": (lambda x: ops.softmax(x, axis=1), [(3, 4)], [normal],
                       lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    "log_softmax": (ops.log_softmax, [(3, 4)], [normal],
                    lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
    "matmul by constant": (lambda x: x @ C34.T, [(3, 4)], [normal], lambda x: x @ C34.T),
    "matmul 2-D by constant": (lambda x: ops.matmul(x, C34), [(3,)], [normal], lambda x: x @ C34),
    "matmul batched": (ops.matmul, [(3, 4), (4, 2)], [normal, normal], np.matmul),
    "reshape": (lambda x: ops.reshape(x, (-1, 12)), [(3, 4)], [normal], lambda x: x.reshape(len(x), 12)),
    "reshape inferred": (lambda x: ops.reshape(x, (None, 2, -1)) * 1.0, [(3, 4)], [normal],
                         lambda x: x.reshape(len(x), 2, 6)),
    "transpose": (lambda x: ops.transpose(x, (0, 2, 1)), [(3, 4)], [normal], lambda x: x.transpose(0, 2, 1)),
    "expand_dims": (lambda x: ops.expand_dims(x, -1), [(3, 4)], [normal], lambda x: x[..., None]),
    "squeeze": (lambda x: ops.squeeze(x, 2), [(3, 1)], [normal], lambda x: x[:, :, 0]),
    "concatenate": (lambda a, b: ops.concatenate([a, b], axis=-1), [(3, 4), (3, 2)], [normal, normal],
                    lambda a, b: np.concatenate([a, b], axis=-1)),
    "getitem": (lambda x: x[:, 1:, ::2], [(3, 4)], [normal], lambda x: x[:, 1:, ::2]),
    "getitem integer": (lambda x: x[:, 0] * x[:, 2], [(3, 4)], [normal], lambda x: x[:, 0] * x[:, 2]),
    "var beside a live buffer": (lambda x: (x * 1.5) * ops.var(x, axis=-1, keepdims=True) + ops.logsumexp(x, axis=-1,
                                 keepdims=True), [(3, 4)], [normal],
                                 lambda x: x * 1.5 * np.var(x, -1, keepdims=True) + np.log(np.exp(x).sum(-1, keepdims=True))),
    "chain": (lambda a, b: ops.tanh(a @ C34.T) * ops.sigmoid(b) + ops.mean(a, axis=-1, keepdims=True),
              [(2, 4), (2, 3)], [normal, normal],
              lambda a, b: np.tanh(a @ C34.T) / (1 + np.exp(-b)) + np.mean(a, axis=-1, keepdims=True)),
}


def _model(case):
    fn, shapes = case[0], case[1]
    inputs = [fw.Input(shape) for shape in shapes]
    return fw.Model(inputs if len(inputs) > 1 else inputs[0], fn(*inputs))


def _data(case, batch=3):
    return [make((batch,) + shape) for make, shape in zip(case[2], case[1])]


@pytest.mark.parametrize("name", CASES)
def test_op_on_arrays_matches_numpy_and_the_plan(name):
    case = CASES[name]
    assert_op_matches(case[0], case[3], _model(case), [x.astype("float32") for x in _data(case)])


#: ops whose gradient is not the derivative of their value (finite differences cannot check them)
NOT_DERIVATIVES = {"stop_gradient"}


@pytest.mark.parametrize("name", [name for name in CASES if name not in NOT_DERIVATIVES])
def test_op_gradients_match_finite_differences(name):
    case = CASES[name]
    assert_op_gradients(lambda: _model(case), lambda: _data(case))


def test_gradients_reach_weights_through_ops():
    with float64_mode():
        fw.utils.set_random_seed(3)
        inp = fw.Input((5,))
        h = layers.Dense(4)(inp)
        out = layers.Dense(2)(ops.tanh(h) * ops.sigmoid(h) + ops.softmax(h) @ (C34.T @ C34))
        model = fw.Model(inp, out)
        check_gradients(model, [normal((6, 5))], [normal((6, 2))])


def test_a_model_with_ops_trains_without_allocating():
    fw.utils.set_random_seed(0)
    inp = fw.Input((8,))
    h = layers.Dense(16)(inp)
    h = ops.gelu(h) + ops.mean(h, axis=-1, keepdims=True) * 0.5
    out = layers.Dense(1)(ops.concatenate([h, ops.square(h)], axis=-1))
    model = fw.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((64, 8)).astype("float32")
    y = (x[:, :1] ** 2).astype("float32")
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    # bounded NumPy iteration buffers only (see test_custom_layers): a batch-sized temporary is 64 KB
    plan = model.plan("train", 1024)
    for buffer in plan.inputs + plan.targets + plan.sample_weights:
        buffer.fill(0.5)  # a fresh plan's buffers hold whatever memory held
    assert_no_allocation(plan.train_step, calls=20, held=1024, peak=48 * 1024)


# ----- errors when the graph is built ---------------------------------------------------------------------
def test_ops_keep_the_batch_axis_and_say_so():
    x = fw.Input((3, 4))
    with pytest.raises(OpError, match=r"Op 'softmax.*' \(Softmax\) over axis 0 of a rank-3 tensor would reduce or "
                                      r"move the batch axis"):
        ops.softmax(x, axis=0)
    with pytest.raises(OpError, match=r"keeps the batch axis \(0\) first"):
        ops.transpose(x, (1, 0, 2))
    with pytest.raises(OpError, match=r"cannot be broadcast together"):
        ops.add(x, np.ones((3, 5)))
    with pytest.raises(OpError, match=r"would broadcast a known size against the batch axis"):
        ops.add(x, np.ones((2, 3, 4)))
    with pytest.raises(OpError, match=r"cannot multiply \(None, 3, 4\) by \(5, 2\)"):
        ops.matmul(x, np.ones((5, 2)))
    with pytest.raises(OpError, match=r"cannot reshape \(None, 3, 4\) to \(None, 5\)"):
        ops.reshape(x, (-1, 5))
    with pytest.raises(OpError, match=r"must keep the batch axis whole"):
        x[0]


def test_stop_gradient_passes_values_and_stops_gradients():
    with float64_mode():
        x = fw.Input((3,))
        model = fw.Model(x, ops.stop_gradient(x) * x)
        from gradcheck import _plans
        data = normal((2, 3))
        train, _, _ = _plans(model, [data], [np.zeros((2, 3))], "mse")
        train.train_step()
        # loss = mean((s * x)^2) with s = x held fixed: d/dx = 2 (s x) s / n
        np.testing.assert_allclose(train.input_grads[0], 2 * data ** 3 / data.size, rtol=1e-10)


def test_reductions_over_the_batch_give_batch_statistics_that_cannot_be_outputs():
    x = fw.Input((3, 4))
    total, columns = ops.mean(x), ops.sum(x, axis=0)
    assert (total.shape, total.batched) == ((), False)
    assert (columns.shape, columns.batched) == ((3, 4), False)
    assert (ops.exp(total) * 2.0).batched is False and (x - total).batched is True
    with pytest.raises(ValueError, match=r"Model output .* \(\) is a statistic over the batch; .* add_loss"):
        fw.Model(x, total * 2.0)
    assert ops.mean(np.ones((2, 3))).shape == ()  # on arrays: every axis, as NumPy and Keras


def test_python_control_flow_and_numpy_on_symbolic_tensors_are_refused_clearly():
    x = fw.Input((3,))
    with pytest.raises(TypeError, match="Python control flow .* use framework.ops.where"):
        if x > 0:
            pass
    with pytest.raises(TypeError, match="NumPy function was called on symbolic tensor .* use the framework.ops"):
        np.exp(x)


def test_eager_ops_follow_keras_dtype_rules():
    x = np.ones((2, 3), dtype="float32")
    assert ops.add(x, 1.0).dtype == np.float32 and ops.multiply(x, 2).dtype == np.float32
    assert ops.mean(np.arange(4)).dtype.kind == "f"
    assert ops.greater(x, 0.5).dtype == np.bool_
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == np.float32
    assert ops.argmax(np.array([[1, 5, 2]]), axis=-1).tolist() == [1]
    assert ops.shape(fw.Input((3, 4))) == (None, 3, 4) and ops.ndim(x) == 2 and ops.size(x) == 6


def test_operators_between_tensors_of_one_shape_stay_merge_layers():
    a, b = fw.Input((3,)), fw.Input((3,))
    assert isinstance((a + b).node.layer, layers.Add)
    assert not isinstance((a + 1.0).node.layer, layers.Layer)
    assert isinstance((a / b).node.layer, ops.Operation)


def test_models_with_ops_round_trip_through_configs_and_files(tmp_path):
    fw.utils.set_random_seed(2)
    inp = fw.Input((3, 4))
    h = layers.Dense(5)(inp)
    h = ops.softmax(h * 2.0 - C34[:, :1], axis=1) + ops.mean(h, axis=-1, keepdims=True)
    out = layers.Dense(2)(ops.concatenate([h[:, 0], ops.max(h, axis=1)], axis=-1))
    model = fw.Model(inp, out)
    x = rng.standard_normal((4, 3, 4)).astype("float32")
    expected = model.predict(x, verbose=0)
    rebuilt = fw.models.model_from_yaml(model.to_yaml())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), expected, rtol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "ops.fw")
    np.testing.assert_allclose(fw.models.load_model(tmp_path / "ops.fw").predict(x, verbose=0), expected, rtol=1e-6)


def test_an_unknown_op_name_in_a_config_is_refused_with_the_choices():
    inp = fw.Input((3,))
    config = fw.Model(inp, ops.exp(inp)).get_config()
    config["ops"][0]["class_name"] = "Eval"
    with pytest.raises(ValueError, match="Unknown op 'Eval'.* Valid choices: Abs, Add"):
        fw.Model.from_config(config)


def test_the_ops_reference_page_is_generated_from_the_ops():
    from pathlib import Path
    from framework.ops import reference
    page = Path(__file__).resolve().parent.parent / "docs" / "ops.md"
    assert page.read_text() == reference.render(), \
        "docs/ops.md is out of date: python -m framework.ops.reference > docs/ops.md"
    assert all(doc.strip(" |") for doc in (line.split("|")[2] for line in reference.render().splitlines()
                                           if line.startswith("| `ops.")))


@pytest.mark.parametrize("op, reference", [(ops.sign, np.sign), (ops.floor, np.floor), (ops.round, np.round)])
def test_zero_gradient_ops_give_values_and_zero_gradients(op, reference):
    with float64_mode():
        x = fw.Input((4,))
        model = fw.Model(x, op(x * 3.0) * x)
        from gradcheck import _plans
        data = np.array([[-1.3, 0.2, 0.7, 1.6]])
        np.testing.assert_allclose(model.predict(data, verbose=0), reference(data * 3.0) * data)
        train, _, _ = _plans(model, [data], [np.zeros((1, 4))], "mse")
        train.train_step()
        # loss = mean((f(3x) x)^2): only the outer x carries a gradient, 2 f^2 x / n
        np.testing.assert_allclose(train.input_grads[0], 2 * reference(data * 3.0) ** 2 * data / 4, rtol=1e-12)


def test_logical_ops_on_arrays_and_in_a_model():
    a, b = np.array([[1.0, -1.0, 2.0]]), np.array([[0.5, 0.5, -3.0]])
    expected = np.logical_or(np.logical_and(a > 0, b > 0), np.logical_not(a > b))
    x, y = fw.Input((3,)), fw.Input((3,))
    mask = ops.logical_or(ops.logical_and(x > 0, y > 0), ops.logical_not(ops.greater(x, y)))
    model = fw.Model([x, y], ops.where(mask, x, y))
    np.testing.assert_array_equal(ops.logical_or(ops.logical_and(a > 0, b > 0), ops.logical_not(a > b)), expected)
    np.testing.assert_allclose(model.predict([a, b], verbose=0), np.where(expected, a, b))


def test_cond_picks_a_branch_per_sample_with_its_gradient():
    assert ops.cond(True, lambda: 1, lambda: 2) == 1 and ops.cond(np.array(0), lambda: 1, lambda: 2) == 2
    with float64_mode():
        fw.utils.set_random_seed(3)
        x = fw.Input((3,))
        h = layers.Dense(3, activation="tanh")(x)
        out = layers.Dense(2)(ops.cond(ops.sum(h, axis=1) > 0, lambda: h * h, lambda: -h))
        model = fw.Model(x, out)
        data = np.random.default_rng(4).standard_normal((5, 3))
        hidden = np.asarray(model.layers[1](data))
        picked = np.where(hidden.sum(axis=1, keepdims=True) > 0, hidden * hidden, -hidden)
        dense = model.layers[-1]
        np.testing.assert_allclose(model.predict(data, verbose=0),
                                   picked @ dense.kernel.numpy() + dense.bias.numpy(), rtol=1e-10)
        check_gradients(model, [data], [np.zeros((5, 2))])
    with pytest.raises(ValueError, match=r"ops.cond: true_fn gives shape \(None, 3\), false_fn \(None, 1\)"):
        ops.cond(ops.sum(x, axis=1) > 0, lambda: x, lambda: x[:, :1])
