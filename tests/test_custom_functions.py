"""What else Keras users write themselves: activation functions and Lambda layers made of ops,
metrics with state from add_variable, and the small Keras surface their scripts touch
(layer.input / output, pad_sequences, regularizer aliases, backend and config settings)."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from gradcheck import check_gradients, float64_mode

rng = np.random.default_rng(3)


def scaled_tanh(x):
    return ops.tanh(x) * 1.0


fw.utils.register_serializable(package="tests")(scaled_tanh)


def _fit(activation, seed=0):
    with float64_mode():
        fw.utils.set_random_seed(seed)
        model = fw.Sequential([fw.Input((4,)), layers.Dense(6, activation=activation), layers.Dense(2)])
        model.compile(fw.optimizers.SGD(0.1), "mse")
        data = np.random.default_rng(9)
        x, y = data.standard_normal((24, 4)), data.standard_normal((24, 2))
        losses = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        return losses, model.get_weights()


def test_an_activation_function_of_ops_trains_as_the_builtin_it_restates():
    losses, weights = _fit(scaled_tanh)
    expected_losses, expected_weights = _fit("tanh")
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-12)
    for got, want in zip(weights, expected_weights):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_activation_functions_have_checked_gradients_in_dense_conv_and_activation_layers():
    with float64_mode():
        x = fw.Input((5, 3))
        y = layers.Conv1D(4, 2, activation=lambda t: t * ops.sigmoid(2.0 * t))(x)
        y = layers.Activation(lambda t: ops.softplus(t) - 0.5)(y)
        y = layers.Dense(2, activation=lambda t: ops.square(t) * 0.3)(y)
        check_gradients(fw.Model(x, y), [rng.standard_normal((3, 5, 3))], [rng.standard_normal((3, 4, 2))])


def test_a_registered_activation_function_saves_by_name_and_an_unregistered_one_is_refused(tmp_path):
    model = fw.Sequential([fw.Input((3,)), layers.Dense(2, activation=scaled_tanh)])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = fw.saving.load_model(path)
    x = rng.standard_normal((4, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.layers[-1].activation.function is scaled_tanh
    unregistered = fw.Sequential([fw.Input((3,)), layers.Dense(2, activation=lambda t: t * 2.0)])
    with pytest.raises(ValueError, match="register it with @framework.utils.register_serializable"):
        unregistered.save(tmp_path / "n.keras")


def test_recurrent_layers_refuse_activation_functions_clearly():
    with pytest.raises(ValueError, match="must be a built-in elementwise activation .* the function 'scaled_tanh'"):
        layers.LSTM(3, activation=scaled_tanh)


def add_one(x, amount=1.0):
    return x + amount


fw.utils.register_serializable(package="tests")(add_one)


def test_lambda_layers_trace_their_function_train_and_save_by_registered_name(tmp_path):
    with float64_mode():
        x = fw.Input((4,))
        y = layers.Dense(3)(layers.Lambda(lambda t: ops.concatenate([t, ops.square(t)], axis=-1))(x))
        check_gradients(fw.Model(x, y), [rng.standard_normal((3, 4))], [rng.standard_normal((3, 3))])
    model = fw.Sequential([fw.Input((3,)), layers.Lambda(add_one, arguments={"amount": 2.0}), layers.Dense(2)])
    x = rng.standard_normal((4, 3)).astype("float32")
    model.save(tmp_path / "l.keras")
    np.testing.assert_allclose(fw.saving.load_model(tmp_path / "l.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(layers.Lambda(add_one)(x), x + 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="function '<lambda>' is not registered"):
        fw.Sequential([fw.Input((3,)), layers.Lambda(lambda t: t)]).save(tmp_path / "x.keras")
    with pytest.raises(ValueError, match=r"output_shape=\(5,\) was given but the function computes \(None, 3\)"):
        layers.Lambda(add_one, output_shape=(5,))(fw.Input((3,)))


class TruePositives(fw.metrics.Metric):
    """The Keras guide's metric: state from add_variable, updated with ops on arrays."""

    def __init__(self, name="true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="tp")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = ops.cast(ops.logical_and(ops.greater(y_true, 0.5), ops.greater(y_pred, 0.5)), "float32")
        if sample_weight is not None:
            hits = ops.multiply(hits, ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1)))
        self.true_positives.assign_add(ops.sum(hits))

    def result(self):
        return self.true_positives


def test_a_metric_with_add_variable_state_counts_and_resets_each_epoch():
    metric = TruePositives()
    metric.update_state(np.array([[1.0], [0.0], [1.0]]), np.array([[0.9], [0.8], [0.2]]))
    assert float(metric.result()) == 1.0
    metric.reset_state()
    assert float(metric.result()) == 0.0 and [v.name for v in metric.variables] == ["tp"]
    model = fw.Sequential([fw.Input((2,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[TruePositives()])
    x = rng.standard_normal((40, 2)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    predictions = model.predict(x, verbose=0)
    expected = float(np.sum((y > 0.5) & (predictions > 0.5)))
    assert model.evaluate(x, y, verbose=0, return_dict=True)["true_positives"] == expected
    assert all(0 <= value <= 40 for value in history["true_positives"])


def test_layer_input_and_output_make_feature_extractors():
    x = fw.Input((4,))
    hidden = layers.Dense(3, name="hidden")
    model = fw.Model(x, layers.Dense(2)(hidden(x)))
    extractor = fw.Model(model.inputs, model.get_layer("hidden").output)
    assert model.get_layer("hidden").input is x and extractor.output_shape == (None, 3)
    assert model.input is x and model.output is model.outputs[0]
    with pytest.raises(AttributeError, match="has never been called"):
        layers.Dense(2).output
    hidden(fw.Input((4,)))
    with pytest.raises(AttributeError, match="been called 2 times"):
        hidden.output


def test_pad_sequences_as_keras():
    raw = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]
    np.testing.assert_array_equal(fw.utils.pad_sequences(raw, padding="post")[0], [711, 632, 71, 0, 0, 0])
    np.testing.assert_array_equal(fw.utils.pad_sequences(raw)[0], [0, 0, 0, 711, 632, 71])
    np.testing.assert_array_equal(fw.utils.pad_sequences(raw, maxlen=2), [[632, 71], [55, 927], [1253, 927]])
    np.testing.assert_array_equal(fw.utils.pad_sequences(raw, maxlen=2, truncating="post")[1], [73, 8])
    assert fw.utils.pad_sequences(raw).dtype == np.int32
    assert fw.utils.pad_sequences([[0.5]], maxlen=2, dtype="float32", value=-1.0).tolist() == [[-1.0, 0.5]]
    with pytest.raises(ValueError, match="padding='middle' is not understood; valid choices: pre, post"):
        fw.utils.pad_sequences(raw, padding="middle")


def test_keras_lower_case_regularizers_and_settings():
    assert fw.regularizers.l2(0.01).l2 == pytest.approx(0.01)
    assert fw.regularizers.l1_l2(l1=0.01, l2=0.02).l1 == pytest.approx(0.01)
    assert fw.config.image_data_format() == fw.backend.image_data_format() == "channels_last"
    fw.config.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="Unsupported image data format 'channels_first'"):
        fw.backend.set_image_data_format("channels_first")
    assert fw.backend.backend() == "numpy" and fw.config.floatx() == "float32"
    assert fw.saving.register_keras_serializable is fw.utils.register_serializable
