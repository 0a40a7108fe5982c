"""Losses written by users: plain functions and Loss subclasses made of framework.ops (their gradient
derived), add_loss terms from layers and models (batch statistics), compile without a loss."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from gradcheck import check_gradients, float64_mode

rng = np.random.default_rng(0)


def my_mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


class MyHuber(fw.losses.Loss):
    def __init__(self, delta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.delta = delta

    def call(self, y_true, y_pred):
        error = ops.abs(y_pred - y_true)
        quadratic = ops.minimum(error, self.delta)
        return ops.mean(0.5 * ops.square(quadratic) + self.delta * (error - quadratic), axis=-1)


class ActivityRegularization(layers.Layer):
    """The Keras guide's layer: its input passes through, rate * sum(inputs) joins the loss."""

    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.sum(inputs))
        return inputs


def _mlp(seed=0):
    fw.utils.set_random_seed(seed)
    return fw.Sequential([fw.Input((4,)), layers.Dense(5, activation="tanh"), layers.Dense(3)])


def _trajectory(loss, sample_weight=None):
    with float64_mode():
        model = _mlp()
        model.compile(fw.optimizers.SGD(0.1), loss)
        x, y = rng.standard_normal((32, 4)), rng.standard_normal((32, 3))
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=sample_weight)
        return history.history["loss"], model.get_weights()


@pytest.mark.parametrize("custom, builtin, weighted", [
    (my_mse, "mse", False), (my_mse, "mse", True), (MyHuber(), fw.losses.Huber(), False),
    (MyHuber(reduction="sum"), fw.losses.Huber(reduction="sum"), True)])
def test_a_custom_loss_trains_as_the_builtin_it_restates(custom, builtin, weighted):
    weights = rng.uniform(0.5, 1.5, 32) if weighted else None
    state = rng.bit_generator.state
    losses, params = _trajectory(custom, weights)
    rng.bit_generator.state = state
    expected_losses, expected_params = _trajectory(builtin, weights)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-12)
    for got, want in zip(params, expected_params):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_custom_loss_gradients_match_finite_differences():
    with float64_mode():
        def cosh_loss(y_true, y_pred):
            return ops.sum(ops.log(ops.exp(y_pred - y_true) + ops.exp(y_true - y_pred)), axis=-1)
        check_gradients(_mlp(), [rng.standard_normal((6, 4))], [rng.standard_normal((6, 3))], loss=cosh_loss)


def test_a_custom_loss_is_usable_on_arrays_and_names_itself():
    y_true, y_pred = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    assert fw.losses.get(my_mse)(y_true, y_pred) == pytest.approx(np.mean((y_pred - y_true) ** 2))
    model = _mlp()
    model.compile("sgd", my_mse)
    assert list(model.evaluate(y_true[:, :1].repeat(4, 1), y_pred, verbose=0, return_dict=True)) == ["loss"]


def test_add_loss_terms_join_the_loss_with_their_gradient():
    with float64_mode():
        x = fw.Input((4,))
        hidden = layers.Dense(5, activation="tanh")(x)
        model = fw.Model(x, layers.Dense(3)(ActivityRegularization(0.05)(hidden)))
        xs, ys = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
        check_gradients(model, [xs], [ys])
        model.compile("sgd", "mse")
        activations = fw.Model(x, hidden).predict(xs, verbose=0)
        expected = np.mean((model.predict(xs, verbose=0) - ys) ** 2) + 0.05 * activations.sum()
        assert model.evaluate(xs, ys, batch_size=6, verbose=0) == pytest.approx(expected, rel=1e-10)


def test_layer_losses_on_arrays_are_reset_at_each_call_as_in_the_keras_guide():
    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularization(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    layer = Outer()
    assert len(layer.losses) == 0
    layer(np.ones((1, 1)))
    assert len(layer.losses) == 1 and float(layer.losses[0]) == pytest.approx(1e-2)
    layer(np.ones((1, 1)))
    assert len(layer.losses) == 1

    class WithRegularizer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3, kernel_regularizer=fw.regularizers.L2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    outer = WithRegularizer()
    outer(np.zeros((1, 2)))
    (penalty,) = outer.losses
    assert float(penalty) == pytest.approx(1e-3 * np.sum(outer.dense.kernel.numpy() ** 2), rel=1e-5)


class LogisticEndpoint(layers.Layer):
    """The Keras guide's endpoint: called on (targets, logits), it adds the loss and returns probabilities."""

    def call(self, targets, logits, sample_weights=None):
        self.add_loss(ops.mean(ops.softplus(logits) - targets * logits))
        return ops.sigmoid(logits)


def test_a_layer_called_on_several_tensors_and_compile_without_a_loss():
    inputs, targets = fw.Input((3,), name="inputs"), fw.Input((1,), name="targets")
    logits = layers.Dense(1)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    model = fw.Model([inputs, targets], predictions)
    model.compile(optimizer=fw.optimizers.Adam(0.05))
    x = rng.standard_normal((64, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    history = model.fit([x, y], epochs=15, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    assert model.predict([x, y], verbose=0).shape == (64, 1)


def test_compile_without_a_loss_and_no_loss_terms_is_refused():
    with pytest.raises(ValueError, match="compiled without a loss and none of its layers adds one"):
        _mlp().compile("sgd")


def test_a_model_level_add_loss_on_a_functional_graph():
    with float64_mode():
        x = fw.Input((4,))
        hidden = layers.Dense(5, activation="tanh")(x)
        model = fw.Model(x, layers.Dense(3)(hidden))
        model.add_loss(0.1 * ops.mean(ops.square(hidden)))
        xs, ys = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
        check_gradients(model, [xs], [ys])


def test_random_draws_in_a_traced_call_are_fresh_each_step_and_seeded():
    class Noise(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = fw.random.SeedGenerator(7)

        def call(self, inputs):
            return inputs + fw.random.normal(shape=(ops.shape(inputs)[0], 3), seed=self.seed_generator)

    def run():
        x = fw.Input((3,))
        model = fw.Model(x, Noise()(x))
        return model.predict(np.zeros((4, 3)), verbose=0), model.predict(np.zeros((4, 3)), verbose=0)

    first, second = run()
    assert not np.allclose(first, second) and abs(first.std() - 1) < 0.6
    np.testing.assert_array_equal(run()[0], first)


@pytest.mark.parametrize("loss, target_shape, integer", [
    (fw.losses.BinaryCrossentropy(from_logits=True), (3,), False),
    (fw.losses.SparseCategoricalCrossentropy(from_logits=True), (1,), True),
    (fw.losses.MeanSquaredError(reduction="sum"), (3,), False)])
def test_a_builtin_loss_called_on_tensors_is_a_node_with_its_kernels_gradient(loss, target_shape, integer):
    class Endpoint(layers.Layer):
        def __init__(self, loss_fn, **kwargs):
            super().__init__(**kwargs)
            self.loss_fn = loss_fn

        def call(self, targets, logits):
            self.add_loss(self.loss_fn(targets, logits))
            return ops.softmax(logits)

    with float64_mode():
        inputs, targets = fw.Input((4,)), fw.Input(target_shape, dtype="int64" if integer else None)
        logits = layers.Dense(3)(inputs)
        model = fw.Model([inputs, targets], Endpoint(loss)(targets, logits))
        x = rng.standard_normal((6, 4))
        t = rng.integers(0, 3, (6, 1)) if integer else rng.uniform(0, 1, (6, 3))
        check_gradients(model, [x, t], [np.zeros((6, 3))], loss=None, check_inputs=False)
        model.compile("sgd")
        logit_values = fw.Model(inputs, logits).predict(x, verbose=0)
        assert model.evaluate([x, t], verbose=0, batch_size=6) == pytest.approx(loss(t, logit_values), rel=1e-10)


def test_the_keras_guide_vae_example_trains_with_fit_reproducibly():
    import runpy
    from pathlib import Path
    examples = Path(__file__).resolve().parent.parent / "examples"
    mnist = runpy.run_path(str(examples / "_mnist.py"))
    if not mnist["available"]():
        pytest.skip(f"MNIST sample not found in {mnist['MNIST_DIR']}")
    example = runpy.run_path(str(examples / "vae.py"))
    _, history, _ = example["train"](epochs=3, samples=2000, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] and losses[-1] < 0.08  # the guide reports 0.0676 (60,000 digits, 2 epochs)
    _, again, _ = example["train"](epochs=3, samples=2000, verbose=0)
    assert again.history["loss"] == losses  # bit for bit under the seed, noise draws included


def test_loss_terms_and_positional_calls_survive_save_and_load(tmp_path):
    @fw.utils.register_serializable(package="tests")
    class Endpoint(layers.Layer):
        def call(self, targets, logits):
            self.add_loss(ops.mean(ops.square(targets - logits)))
            return logits * 1.0

    x, t = fw.Input((4,)), fw.Input((2,))
    hidden = layers.Dense(2)(x)
    model = fw.Model([x, t], Endpoint()(t, hidden))
    model.add_loss(0.5 * ops.mean(ops.abs(hidden)))
    model.compile("sgd")
    data = [rng.standard_normal((8, 4)).astype("float32"), rng.standard_normal((8, 2)).astype("float32")]
    expected = model.evaluate(data, verbose=0)
    model.save(tmp_path / "terms.keras")
    loaded = fw.saving.load_model(tmp_path / "terms.keras")
    loaded.compile("sgd")
    assert loaded.evaluate(data, verbose=0) == pytest.approx(expected, rel=1e-6)
    assert len(loaded.loss_tensors) == 1
