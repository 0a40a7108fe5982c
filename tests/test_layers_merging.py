"""Merging layers: forward vs NumPy, gradients through the compiled plan (two inputs,
fan-out into one merge, residual blocks), shapes, config, errors, allocation."""

import numpy as np
import pytest

import framework as fw
from framework.layers import Add, Average, Concatenate, Dense, Maximum, Minimum, Multiply, Subtract
from framework.layers import merging
from gradcheck import _plans, check_gradients, float64_mode
from helpers import assert_no_allocation

REFERENCES = {
    Add: lambda xs: np.sum(xs, axis=0),
    Subtract: lambda xs: xs[0] - xs[1],
    Multiply: lambda xs: np.prod(xs, axis=0),
    Average: lambda xs: np.mean(xs, axis=0),
    Maximum: lambda xs: np.max(xs, axis=0),
    Minimum: lambda xs: np.min(xs, axis=0),
}
HELPERS = {Add: merging.add, Subtract: merging.subtract, Multiply: merging.multiply,
           Average: merging.average, Maximum: merging.maximum, Minimum: merging.minimum}
ELEMENTWISE = list(REFERENCES)
# (layer class, number of inputs): every class with 2 inputs, and 3 where allowed
CASES = [(cls, 2) for cls in ELEMENTWISE] + [(cls, 3) for cls in ELEMENTWISE if cls is not Subtract]


def _ids(case):
    return f"{case[0].__name__}-{case[1]}"


def _data(count, shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(count)]


# ----------------------------------------------------------------------------- forward

@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_matches_numpy(case):
    cls, count = case
    xs = [x.astype(np.float32) for x in _data(count, (4, 3, 5))]
    out = cls()(xs)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (4, 3, 5)
    np.testing.assert_allclose(out, REFERENCES[cls](xs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_functional_helper_builds_the_layer(case):
    cls, count = case
    inputs = [fw.Input((6,)) for _ in range(count)]
    out = HELPERS[cls](inputs, name=f"helper_{cls.__name__.lower()}_{count}")
    assert isinstance(out.node.layer, cls) and out.shape == (None, 6)
    model = fw.Model(inputs, out)
    xs = [x.astype(np.float32) for x in _data(count, (2, 6), seed=1)]
    np.testing.assert_allclose(model(xs), REFERENCES[cls](xs), rtol=1e-6, atol=1e-6)


def test_maximum_minimum_ties_and_nan():
    a = np.array([[1.0, 2.0, np.nan, 0.0]], dtype=np.float32)
    b = np.array([[1.0, np.nan, 3.0, 5.0]], dtype=np.float32)
    np.testing.assert_array_equal(Maximum()([a, b]), np.maximum(a, b))
    np.testing.assert_array_equal(Minimum()([a, b]), np.minimum(a, b))


@pytest.mark.parametrize("cls", [Maximum, Minimum])
def test_maximum_minimum_route_gradient_to_first_winner(cls):
    """On ties, the whole gradient goes to the first input holding the extreme value."""
    with float64_mode():
        a, b = fw.Input((4,)), fw.Input((4,))
        model = fw.Model([a, b], cls()([a, b]))
        model.compile(optimizer="sgd", loss="mse")
        xa = np.array([[1.0, 2.0, 3.0, -1.0]])
        xb = np.array([[1.0, 5.0, 0.0, -1.0]])
        train, _, _ = _plans(model, [xa, xb], [np.zeros((1, 4))], "mse")
        train.train_step()
        y = REFERENCES[cls]([xa, xb])
        dy = 2 * y / 4  # d mse / d y
        first_wins = (xa >= xb) if cls is Maximum else (xa <= xb)
        np.testing.assert_allclose(train.input_grads[0], np.where(first_wins, dy, 0))
        np.testing.assert_allclose(train.input_grads[1], np.where(first_wins, 0, dy))


@pytest.mark.parametrize("axis,shapes", [
    (-1, [(3, 2), (3, 4)]),
    (1, [(2, 5), (3, 5), (1, 5)]),
    (2, [(2, 3, 4), (2, 1, 4)]),
    (-2, [(2, 3, 4), (2, 2, 4)]),
])
def test_concatenate_forward(axis, shapes):
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((4,) + s).astype(np.float32) for s in shapes]
    inputs = [fw.Input(s) for s in shapes]
    out = merging.concatenate(inputs, axis=axis)
    expected = np.concatenate(xs, axis=axis)
    assert out.shape == (None,) + expected.shape[1:]
    np.testing.assert_array_equal(fw.Model(inputs, out)(xs), expected)
    np.testing.assert_array_equal(Concatenate(axis=axis)(xs), expected)


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_gradients_inside_a_model(case):
    """Input_i -> Dense_i -> merge -> Dense: weight and input gradients."""
    cls, count = case
    with float64_mode():
        fw.utils.set_random_seed(0)
        inputs = [fw.Input((4,)) for _ in range(count)]
        hidden = [Dense(3, activation="tanh")(x) for x in inputs]
        out = Dense(2)(cls()(hidden))
        model = fw.Model(inputs, out)
        xs = _data(count, (5, 4), seed=2)
        ys = [np.random.default_rng(4).standard_normal((5, 2))]
        assert check_gradients(model, xs, ys) > 0


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_input_gradients_direct(case):
    cls, count = case
    with float64_mode():
        inputs = [fw.Input((2, 3)) for _ in range(count)]
        model = fw.Model(inputs, cls()(inputs))
        xs = _data(count, (4, 2, 3), seed=5)
        check_gradients(model, xs, [np.random.default_rng(6).standard_normal((4, 2, 3))])


@pytest.mark.parametrize("cls", ELEMENTWISE + [Concatenate])
def test_fan_out_into_one_merge(cls):
    """x fed twice into one merge: the compiler accumulates both input gradients."""
    with float64_mode():
        fw.utils.set_random_seed(1)
        inp = fw.Input((3,))
        h = Dense(4, activation="tanh")(inp)
        merged = cls()([h, h])
        out = Dense(2)(merged)
        model = fw.Model(inp, out)
        x, y = _data(2, (5, 3), seed=7)[0], np.random.default_rng(8).standard_normal((5, 2))
        check_gradients(model, [x], [y])
        direct = fw.Model(inp, cls()([inp, inp]))
        width = 6 if cls is Concatenate else 3
        check_gradients(direct, [x], [np.random.default_rng(9).standard_normal((5, width))])


@pytest.mark.parametrize("cls", [Add, Multiply, Maximum, Average])
def test_fan_out_three_ways(cls):
    """One tensor as two of three inputs, plus a transformed copy of itself."""
    with float64_mode():
        fw.utils.set_random_seed(2)
        inp = fw.Input((3,))
        h = Dense(3)(inp)
        model = fw.Model(inp, cls()([inp, h, inp]))
        x = _data(1, (4, 3), seed=10)[0]
        check_gradients(model, [x], [np.random.default_rng(11).standard_normal((4, 3))])


@pytest.mark.parametrize("axis,shapes", [(-1, [(2, 3), (2, 1)]), (1, [(1, 3), (2, 3), (2, 3)])])
def test_concatenate_gradients(axis, shapes):
    with float64_mode():
        fw.utils.set_random_seed(3)
        inputs = [fw.Input(s) for s in shapes]
        hidden = [Dense(s[-1], activation="tanh")(x) for x, s in zip(inputs, shapes)]
        out = Dense(2)(Concatenate(axis=axis)(hidden))
        model = fw.Model(inputs, out)
        rng = np.random.default_rng(12)
        xs = [rng.standard_normal((3,) + s) for s in shapes]
        y = rng.standard_normal((3,) + out.shape[1:])
        check_gradients(model, xs, [y])


@pytest.mark.parametrize("frozen", [0, 1])
def test_gradient_only_to_the_branch_that_needs_it(frozen):
    """One branch frozen, so the merge's gradient for it is not needed (d_inputs entry None):
    the training plan's weight gradients equal those of the fully checked plan."""
    with float64_mode():
        fw.utils.set_random_seed(4)
        a, b = fw.Input((3,)), fw.Input((3,))
        branches = [Dense(3), Dense(3)]
        branches[frozen].trainable = False
        out = Dense(1)(Subtract()([branches[0](a), branches[1](b)]))
        model = fw.Model([a, b], out)
        xs, ys = _data(2, (4, 3), seed=13), [np.linspace(-1, 1, 4).reshape(4, 1)]
        check_gradients(model, xs, ys, check_inputs=False)
        train, _, state = _plans(model, xs, ys, "mse")
        train.train_step()
        expected = [state.grad_views[id(v)].copy() for v in model.trainable_weights]
        model.compile(optimizer=fw.optimizers.SGD(learning_rate=1.0), loss="mse")
        before = [v.numpy() for v in model.trainable_weights]
        model.train_on_batch(xs, ys)
        for old, var, grad in zip(before, model.trainable_weights, expected):
            np.testing.assert_allclose(old - var.numpy(), grad, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- operators, residuals

def test_operators_build_merge_layers():
    a, b = fw.Input((3,)), fw.Input((3,))
    assert isinstance((a + b).node.layer, Add)
    assert isinstance((a - b).node.layer, Subtract)
    assert isinstance((a * b).node.layer, Multiply)
    model = fw.Model([a, b], (a - b) * b + a)
    xa, xb = [x.astype(np.float32) for x in _data(2, (2, 3), seed=14)]
    np.testing.assert_allclose(model([xa, xb]), (xa - xb) * xb + xa, rtol=1e-6)


def test_operator_fan_out_gradients():
    """``x + x``, ``x * x``, ``x - x`` and ``x * y + x``: one tensor feeding one merge twice."""
    with float64_mode():
        fw.utils.set_random_seed(7)
        inp = fw.Input((3,))
        h = Dense(3, activation="tanh")(inp)
        out = Dense(2)(Concatenate()([h + h, h * h, h - h, h * inp + h]))
        model = fw.Model(inp, out)
        rng = np.random.default_rng(18)
        check_gradients(model, [rng.standard_normal((4, 3))], [rng.standard_normal((4, 2))])


def _residual_model():
    inp = fw.Input((6,))
    x = Dense(8, activation="relu")(inp)
    residual = x
    x = Dense(8, activation="tanh")(x)
    x = Dense(8)(x)
    x += residual
    out = Dense(1)(x)
    return fw.Model(inp, out)


def test_residual_block_gradients():
    with float64_mode():
        fw.utils.set_random_seed(5)
        model = _residual_model()
        assert isinstance(model.layers[-2], Add)
        rng = np.random.default_rng(15)
        check_gradients(model, [rng.standard_normal((6, 6))], [rng.standard_normal((6, 1))])


def test_residual_block_trains():
    fw.utils.set_random_seed(6)
    model = _residual_model()
    rng = np.random.default_rng(16)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert after < 0.5 * before


# ----------------------------------------------------------------------------- shapes, config, errors

@pytest.mark.parametrize("cls", ELEMENTWISE + [Concatenate])
def test_output_shapes(cls):
    a, b = fw.Input((2, 3)), fw.Input((2, 3))
    expected = (None, 2, 6) if cls is Concatenate else (None, 2, 3)
    assert cls()([a, b]).shape == expected
    assert cls().compute_output_shape([(None, 2, 3), (None, 2, 3)]) == expected


def test_batch_size_is_kept():
    a, b = fw.Input((3,), batch_size=4), fw.Input((3,))
    assert Add()([a, b]).shape == (4, 3)
    assert Concatenate()([b, a]).shape == (4, 6)


@pytest.mark.parametrize("cls", ELEMENTWISE + [Concatenate])
def test_config_round_trip(cls):
    layer = cls(axis=1, name="merge_x") if cls is Concatenate else cls(name="merge_x")
    config = layer.get_config()
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config
    assert config["name"] == "merge_x"
    if cls is Concatenate:
        assert config["axis"] == 1


@pytest.mark.parametrize("cls", ELEMENTWISE)
def test_mismatched_shapes_name_layer_and_shapes(cls):
    a, b = fw.Input((3,)), fw.Input((4,))
    with pytest.raises(ValueError) as info:
        cls(name="bad_merge")([a, b])
    message = str(info.value)
    assert "bad_merge" in message and "(None, 3)" in message and "(None, 4)" in message


def test_no_broadcasting():
    a, b = fw.Input((3, 4)), fw.Input((1, 4))
    with pytest.raises(ValueError, match="same shape"):
        Add(name="no_broadcast")([a, b])


def test_mismatched_batch_sizes():
    a, b = fw.Input((3,), batch_size=2), fw.Input((3,), batch_size=5)
    with pytest.raises(ValueError, match="batch size"):
        Add()([a, b])


def test_concatenate_errors():
    a, b = fw.Input((2, 3)), fw.Input((4, 5))
    with pytest.raises(ValueError) as info:
        Concatenate(name="cat_bad")([a, b])
    assert "cat_bad" in str(info.value) and "(None, 2, 3)" in str(info.value) and "(None, 4, 5)" in str(info.value)
    with pytest.raises(ValueError, match="cat_rank"):
        Concatenate(name="cat_rank")([fw.Input((2, 3)), fw.Input((6,))])
    with pytest.raises(ValueError, match="batch axis"):
        Concatenate(axis=0, name="cat_batch")([fw.Input((2,)), fw.Input((2,))])
    with pytest.raises(ValueError, match="out of range"):
        Concatenate(axis=3)([fw.Input((2,)), fw.Input((2,))])
    with pytest.raises(TypeError, match="axis"):
        Concatenate(axis="last")


def test_subtract_needs_exactly_two_inputs():
    a, b, c = fw.Input((3,)), fw.Input((3,)), fw.Input((3,))
    with pytest.raises(ValueError) as info:
        Subtract(name="sub3")([a, b, c])
    assert "sub3" in str(info.value) and "2 inputs" in str(info.value)


@pytest.mark.parametrize("cls", ELEMENTWISE + [Concatenate])
def test_single_input_is_an_error(cls):
    a = fw.Input((3,))
    with pytest.raises(ValueError, match="merge_one"):
        cls(name="merge_one")(a)
    with pytest.raises(ValueError, match="merge_two"):
        cls(name="merge_two")([a])


def test_layer_reused_on_other_shapes():
    """Merges have no weights: one instance can merge tensors of different shapes."""
    layer = Concatenate()
    assert layer([fw.Input((2,)), fw.Input((3,))]).shape == (None, 5)
    assert layer([fw.Input((4,)), fw.Input((1,))]).shape == (None, 5)
    add = Add()
    assert add([fw.Input((2,)), fw.Input((2,))]).shape == (None, 2)
    assert add([fw.Input((7,)), fw.Input((7,))]).shape == (None, 7)


# ----------------------------------------------------------------------------- allocation

def _assert_train_step_allocates_nothing(model, xs, ys):
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(xs, ys)
    plan = model.plan("train", len(xs[0]))
    assert_no_allocation(plan.train_step, calls=50, held=1024, peak=4096)


@pytest.mark.parametrize("cls", ELEMENTWISE + [Concatenate])
def test_train_step_allocates_nothing(cls):
    inputs = [fw.Input((64,)) for _ in range(2)]
    hidden = [Dense(64)(x) for x in inputs]
    model = fw.Model(inputs, Dense(8)(cls()(hidden + ([] if cls is Subtract else [hidden[0]]))))
    xs = [x.astype(np.float32) for x in _data(2, (32, 64), seed=17)]
    _assert_train_step_allocates_nothing(model, xs, [np.zeros((32, 8), np.float32)])
