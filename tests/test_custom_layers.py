"""Layers written as Keras users write them: weights from add_weight, call() made of framework.ops
and other layers, traced into the graph; the plan derives their backward pass."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation


class Linear(layers.Layer):
    """The Keras guide's first layer: weights made in __init__."""

    def __init__(self, units=32, input_dim=32, **kwargs):
        super().__init__(**kwargs)
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class LazyLinear(layers.Layer):
    """Weights made in build(input_shape), as the guide's second version."""

    def __init__(self, units=32, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, activation

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        y = ops.matmul(inputs, self.w) + self.b
        return ops.tanh(y) if self.activation == "tanh" else y


class MLPBlock(layers.Layer):
    """Layers inside a layer: their weights are the block's (the guide: 6 weights)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear_1 = Linear(32, 64)
        self.linear_2 = Linear(32, 32)
        self.linear_3 = Linear(1, 32)

    def call(self, inputs):
        x = ops.relu(self.linear_1(inputs))
        x = ops.relu(self.linear_2(x))
        return self.linear_3(x)


def test_the_keras_guide_linear_layer_runs_on_arrays():
    x = ops.ones((2, 2))
    layer = Linear(4, 2)
    y = layer(x)
    np.testing.assert_allclose(y, x @ layer.w.numpy() + layer.b.numpy(), rtol=1e-6)
    assert layer.weights == [layer.w, layer.b] and layer.trainable_weights == [layer.w, layer.b]


def test_weights_made_in_build_and_output_shape_from_the_trace():
    inp = fw.Input((3, 5))
    out = LazyLinear(4)(inp)
    assert out.shape == (None, 3, 4)
    assert [w.shape for w in out.node.layer.weights] == [(5, 4), (4,)]


def test_nested_layers_are_tracked_and_train():
    mlp = MLPBlock()
    y = mlp(ops.ones((3, 64)))
    assert y.shape == (3, 1)
    assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6
    fw.utils.set_random_seed(0)
    inp = fw.Input((64,))
    model = fw.Model(inp, MLPBlock()(inp))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.random((128, 64)).astype("float32")
    history = model.fit(x, x[:, :1], epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    # NumPy 2's ufuncs take a 32 KB iteration buffer when an operand is broadcast (the bias add):
    # bounded, never batch-sized; a batch-sized temporary here would be 256 * 64 * 4 = 64 KB
    plan = model.plan("train", 256)
    for buffer in plan.inputs + plan.targets + plan.sample_weights:
        buffer.fill(0.5)  # a fresh plan's buffers hold whatever memory held
    assert_no_allocation(plan.train_step, calls=20, held=1024, peak=48 * 1024)
    assert model.layers[1].name.startswith("mlp_block")


def test_custom_layer_gradients_match_finite_differences():
    with float64_mode():
        fw.utils.set_random_seed(4)
        inp = fw.Input((3, 5))
        h = LazyLinear(4, activation="tanh")(inp)
        out = layers.Dense(2)(ops.mean(h, axis=1) * ops.max(h, axis=1))
        model = fw.Model(inp, out)
        rng = np.random.default_rng(5)
        check_gradients(model, [rng.standard_normal((4, 3, 5))], [rng.standard_normal((4, 2))])


class OpsDense(layers.Layer):
    """Dense written by a user: kernel, bias, activation."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, fw.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        y = ops.matmul(inputs, self.kernel) + self.bias
        return {"relu": ops.relu, "tanh": ops.tanh, "linear": lambda v: v}[self.activation.name](y)


def test_a_dense_written_with_ops_trains_exactly_like_the_built_in_dense():
    with float64_mode():
        rng = np.random.default_rng(6)
        x, y = rng.standard_normal((64, 6)), rng.standard_normal((64, 1))
        trajectories = []
        for dense in (layers.Dense, OpsDense):
            fw.utils.set_random_seed(9)
            inp = fw.Input((6,))
            h = dense(8, activation="tanh")(inp)
            h = dense(8, activation="relu")(h)
            model = fw.Model(inp, dense(1)(h))
            model.compile(optimizer=fw.optimizers.SGD(0.05), loss="mse")
            if trajectories:
                model.set_weights(trajectories[0][1])
            start = [w.copy() for w in model.get_weights()]
            losses = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]
            trajectories.append((losses, start, model.get_weights()))
        (built_in, start, end_a), (custom, _, end_b) = trajectories
        np.testing.assert_allclose(custom, built_in, rtol=1e-12)
        for a, b in zip(end_a, end_b):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


class UsesOuterTensor(layers.Layer):
    def __init__(self, other, **kwargs):
        super().__init__(**kwargs)
        self._other = other

    def call(self, inputs):
        return inputs + self._other


class Branches(layers.Layer):
    def call(self, inputs):
        if ops.sum(inputs, axis=-1) > 0:
            return inputs
        return -inputs


def test_trace_errors_name_the_layer_and_what_to_do():
    a, b = fw.Input((3,)), fw.Input((3,))
    with pytest.raises(ValueError, match=r"Layer 'uses_outer_tensor.*' \(UsesOuterTensor\): call\(\) used tensor "
                                         r"'input_layer.*' \(None, 3\), which is not among the inputs"):
        UsesOuterTensor(b)(a)
    with pytest.raises(TypeError, match="Python control flow .* use framework.ops.where"):
        Branches()(a)


@fw.utils.register_serializable(package="tests")
class Scaled(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_a_registered_custom_layer_saves_and_loads(tmp_path):
    fw.utils.set_random_seed(1)
    inp = fw.Input((4,))
    model = fw.Model(inp, layers.Dense(2)(Scaled(3.0)(inp)))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(2).standard_normal((5, 4)).astype("float32")
    model.fit(x, x[:, :2], epochs=2, verbose=0)
    model.save(tmp_path / "scaled.fw")
    loaded = fw.models.load_model(tmp_path / "scaled.fw")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.layers[1].factor == 3.0


def test_the_custom_layers_example_learns_the_digits():
    pytest.importorskip("sklearn", reason="the digits ship with scikit-learn (the datasets extra)")
    import runpy
    from pathlib import Path
    example = runpy.run_path(str(Path(__file__).resolve().parent.parent / "examples" / "custom_layers.py"))
    assert example["main"]() > 0.95


def test_freezing_a_custom_layer_freezes_its_inner_layers():
    block = MLPBlock()
    block(ops.ones((2, 64)))
    assert len(block.trainable_weights) == 6
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 6
    inp = fw.Input((64,))
    model = fw.Model(inp, layers.Dense(1)(block(inp)))
    model.compile(optimizer="sgd", loss="mse")
    before = block.get_weights()
    model.fit(np.ones((4, 64), "float32"), np.zeros((4, 1), "float32"), epochs=1, verbose=0)
    for old, new in zip(before, block.get_weights()):
        np.testing.assert_array_equal(old, new)


class Classifier(fw.Model):
    """A model written as a class (Keras's subclassing style): layers in __init__, call() with ops."""

    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(16, activation="tanh")
        self.block = Scaled(0.5)  # registered, so the model saves
        self.head = layers.Dense(classes, activation="softmax")

    def call(self, inputs):
        h = self.hidden(inputs)
        return self.head(h + ops.relu(self.block(h)))


def test_a_subclassed_model_traces_call_on_the_first_data_and_trains(tmp_path):
    fw.utils.set_random_seed(3)
    model = Classifier()
    assert model.name.startswith("classifier") and not model.built
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 6)).astype("float32")
    y = np.argmax(x[:, :3], axis=1)
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.85
    assert model.built and model.output_shape == (None, 3) and len(model.trainable_weights) == 5
    model.save(tmp_path / "classifier.fw")  # reloads as the functional graph the trace made
    np.testing.assert_allclose(fw.models.load_model(tmp_path / "classifier.fw").predict(x[:5], verbose=0),
                               model.predict(x[:5], verbose=0), rtol=1e-6)


def test_a_subclassed_model_builds_from_a_shape_and_nests_in_a_functional_model():
    inner = Classifier(classes=2)
    inner.build((None, 4))
    assert inner.output_shape == (None, 2)
    inp = fw.Input((4,))
    outer = fw.Model(inp, layers.Dense(1)(inner(inp)))
    assert outer.predict(np.ones((3, 4), "float32"), verbose=0).shape == (3, 1)
    with pytest.raises(TypeError, match="Model needs inputs and outputs.*or a subclass that defines call"):
        fw.Model()


class CustomDropout(layers.Layer):
    """The Keras guide's layer whose call() branches on training."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = fw.random.SeedGenerator(1337)

    def call(self, inputs, training=None):
        if training:
            return fw.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
        return inputs


def _dropout_model():
    fw.utils.set_random_seed(8)
    inp = fw.Input((50,))
    model = fw.Model(inp, layers.Dense(1)(CustomDropout(0.5)(layers.Dense(50, activation="relu")(inp))))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_a_call_that_branches_on_training_is_traced_per_mode():
    model = _dropout_model()
    x = np.random.default_rng(9).random((40, 50)).astype("float32")
    predicted = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), predicted)  # inference: no dropout
    dropout = CustomDropout(0.5)
    hidden = np.random.default_rng(10).random((200, 50)).astype("float32") + 0.5
    dropped = dropout(hidden, training=True)
    assert 0.4 < np.mean(dropped == 0) < 0.6 and np.allclose(dropped[dropped != 0], 2 * hidden[dropped != 0])
    np.testing.assert_array_equal(dropout(hidden), hidden)
    history = model.fit(x, x[:, :1], epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    again = _dropout_model()  # the same seeds give the same masks: bit-identical training
    again_history = again.fit(x, x[:, :1], epochs=5, batch_size=8, verbose=0)
    assert again_history.history["loss"] == history.history["loss"]


def test_random_functions_follow_their_seeds():
    assert np.array_equal(fw.random.normal((3,), seed=4), fw.random.normal((3,), seed=4))
    stream = fw.random.SeedGenerator(4)
    assert not np.array_equal(fw.random.uniform((3,), seed=stream), fw.random.uniform((3,), seed=stream))
    values = fw.random.truncated_normal((1000,), stddev=2.0, seed=1)
    assert np.abs(values).max() <= 4.0 and values.dtype == np.float32
    ints = fw.random.randint((100,), 2, 5, seed=0)
    assert ints.min() >= 2 and ints.max() < 5 and ints.dtype == np.int32
    assert sorted(fw.random.shuffle(np.arange(10), seed=3).tolist()) == list(range(10))


class OpsAttention(layers.Layer):
    """Multi-head self-attention written with ops.einsum and ops.softmax, weights shaped as Keras's."""

    def __init__(self, num_heads, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim

    def build(self, input_shape):
        d, h, k = input_shape[-1], self.num_heads, self.key_dim
        for name in ("query", "key", "value"):
            setattr(self, f"{name}_kernel", self.add_weight(shape=(d, h, k), name=f"{name}_kernel"))
            setattr(self, f"{name}_bias", self.add_weight(shape=(h, k), initializer="zeros", name=f"{name}_bias"))
        self.output_kernel = self.add_weight(shape=(h, k, d), name="output_kernel")
        self.output_bias = self.add_weight(shape=(d,), initializer="zeros", name="output_bias")

    def call(self, x):
        q = ops.einsum("btd,dhk->bthk", x, self.query_kernel) + self.query_bias
        k = ops.einsum("btd,dhk->bthk", x, self.key_kernel) + self.key_bias
        v = ops.einsum("btd,dhk->bthk", x, self.value_kernel) + self.value_bias
        scores = ops.einsum("bqhk,bshk->bhqs", q * (1.0 / np.sqrt(self.key_dim)), k)
        context = ops.einsum("bhqs,bshk->bqhk", ops.softmax(scores, axis=-1), v)
        return ops.einsum("bqhk,hkd->bqd", context, self.output_kernel) + self.output_bias


class OpsLayerNorm(layers.Layer):
    """Layer normalization from ops.mean and ops.var (epsilon 1e-3, as Keras's default)."""

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="beta")

    def call(self, x):
        mean, variance = ops.mean(x, axis=-1, keepdims=True), ops.var(x, axis=-1, keepdims=True)
        return (x - mean) * ops.rsqrt(variance + 1e-3) * self.gamma + self.beta


def _transformer_block(custom):
    x = fw.Input((5, 8))
    if custom:
        attention, norm = OpsAttention(2, 4), OpsLayerNorm()
        attended = attention(x)
    else:
        attention, norm = layers.MultiHeadAttention(num_heads=2, key_dim=4), layers.LayerNormalization()
        attended = attention(x, x)
    hidden = norm(x + attended)
    return fw.Model(x, layers.Dense(3)(hidden)), attention, norm


def test_a_transformer_block_written_with_ops_matches_the_built_in_layers():
    with float64_mode():
        fw.utils.set_random_seed(4)
        builtin, attention, norm = _transformer_block(False)
        custom, ops_attention, ops_norm = _transformer_block(True)
        ops_attention.set_weights(attention.get_weights())
        ops_norm.set_weights(norm.get_weights())
        custom.layers[-1].set_weights(builtin.layers[-1].get_weights())
        data = np.random.default_rng(5)
        x, y = data.standard_normal((6, 5, 8)), data.standard_normal((6, 5, 3))
        np.testing.assert_allclose(custom.predict(x, verbose=0), builtin.predict(x, verbose=0), rtol=1e-10, atol=1e-12)
        trajectories = []
        for model in (builtin, custom):
            model.compile(fw.optimizers.Adam(1e-2), "mse")
            trajectories.append(model.fit(x, y, batch_size=3, epochs=3, shuffle=False, verbose=0).history["loss"])
        np.testing.assert_allclose(trajectories[1], trajectories[0], rtol=1e-9)
        for got, want in zip(custom.get_weights(), builtin.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
        check_gradients(custom, [x[:2]], [y[:2]])


def test_variables_kept_as_attributes_are_weights_as_in_keras_backend_agnostic_demo():
    class MyDense(layers.Layer):
        def __init__(self, units, name=None):
            super().__init__(name=name)
            self.units = units

        def build(self, input_shape):
            self.w = fw.backend.Variable(fw.initializers.GlorotUniform()((input_shape[-1], self.units)), name="kernel")
            self.b = fw.backend.Variable(fw.initializers.Zeros(), shape=(self.units,), name="bias")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    layer = MyDense(3, name="mine")
    out = layer(np.ones((2, 4)))
    assert out.shape == (2, 3) and [w.path for w in layer.weights] == ["mine/kernel", "mine/bias"]
    assert layer.b.dtype == "float32" and fw.backend.Variable(2.0).dtype == "float32"
    with float64_mode():
        x = fw.Input((4,))
        check_gradients(fw.Model(x, MyDense(3)(x)), [np.random.default_rng(0).standard_normal((3, 4))],
                        [np.zeros((3, 3))])


def test_compute_sum_assigns_on_arrays_and_its_variable_is_no_output_inside_a_graph():
    class ComputeSum(layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    my_sum = ComputeSum(2)
    x = ops.ones((2, 2))
    assert my_sum(x).numpy().tolist() == [2.0, 2.0]
    assert my_sum(x).numpy().tolist() == [4.0, 4.0]
    assert my_sum.weights == [my_sum.total] and my_sum.non_trainable_weights == [my_sum.total]
    # in a graph the update is a node of the plan (tests/test_variable_updates.py); the variable itself is
    # a batch statistic, not an output with the batch axis
    with pytest.raises(TypeError, match="call\\(\\) returned Variable, not a tensor computed from its inputs"):
        ComputeSum(2)(fw.Input((2,)))
