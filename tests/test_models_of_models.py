"""A model of models (a Model subclass with no call() that keeps other models in its attributes, as
Keras's VAE and GAN examples): its weights are its models' weights, as in Keras 3. And losses written as
functions inside a GradientTape are recorded."""
import numpy as np
import pytest

import framework as keras
from framework import layers, ops


class AutoEncoder(keras.Model):
    """Keras's VAE pattern: the step takes the gradient for ``self.trainable_weights``."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def train_step(self, data):
        with keras.GradientTape() as tape:
            loss = ops.mean(ops.square(self.decoder(self.encoder(data, training=True), training=True) - data))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def _autoencoder():
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((6,)), layers.Dense(3, activation="tanh")], name="encoder")
    decoder = keras.Sequential([keras.Input((3,)), layers.Dense(6)], name="decoder")
    return AutoEncoder(encoder, decoder), encoder, decoder


def test_a_model_of_models_has_the_weights_of_the_models_it_keeps():
    model, encoder, decoder = _autoencoder()
    assert model.layers == [encoder, decoder]
    expected = encoder.trainable_weights + decoder.trainable_weights
    assert [id(w) for w in model.trainable_weights] == [id(w) for w in expected]
    assert len(model.weights) == 4 and len(model.get_weights()) == 4
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(0).standard_normal((64, 6)).astype("float32")
    history = model.fit(x, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # both models trained


def test_freezing_a_model_of_models_freezes_the_models_it_keeps():
    model, encoder, decoder = _autoencoder()
    model.trainable = False
    assert not encoder.trainable and not decoder.trainable and model.trainable_weights == []


def test_ops_and_loss_classes_inside_a_tape_are_recorded():
    x, t = np.random.default_rng(1).random((2, 4, 3)).astype("float32")
    for loss in (lambda p: ops.mean(ops.binary_crossentropy(t, p)), lambda p: keras.losses.BinaryCrossentropy()(t, p)):
        with keras.GradientTape() as tape:
            value = loss(ops.sigmoid(tape.watch(x)))
        assert tape.gradient(value, x) is not None


class OpsLoss(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return ops.mean(ops.square(y_pred - y_true), axis=-1)


@pytest.mark.parametrize("loss", [
    lambda t, p: ops.mean(keras.losses.binary_crossentropy(t, p)),
    lambda t, p: ops.mean(keras.losses.mean_squared_error(t, p)),
    lambda t, p: OpsLoss()(t, p),
], ids=["binary_crossentropy", "mean_squared_error", "Loss-subclass-with-ops"])
def test_loss_functions_inside_a_tape_are_recorded(loss):
    x, t = np.random.default_rng(2).random((2, 4, 3)).astype("float32")
    with keras.GradientTape() as tape:
        value = loss(t, ops.sigmoid(tape.watch(x)))
    assert tape.gradient(value, x) is not None


def test_a_model_of_models_refuses_save_clearly_and_its_weights_round_trip(tmp_path):
    model, _, _ = _autoencoder()
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(np.random.default_rng(0).standard_normal((32, 6)).astype("float32"), batch_size=16, verbose=0)
    with pytest.raises(NotImplementedError, match=r"'auto_encoder\w*' \(AutoEncoder\) has no graph.*self\.encoder, "
                                                  r"self\.decoder.*save_weights"):
        model.save(tmp_path / "model.fw")
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    with pytest.raises(NotImplementedError, match="defines no call"):
        model.get_config()
    model.save_weights(tmp_path / "ae.weights.fw")
    again, _, _ = _autoencoder()
    again.load_weights(tmp_path / "ae.weights.fw")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights()))


def test_the_summary_of_a_model_of_models_lists_the_models_it_keeps():
    model, encoder, decoder = _autoencoder()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "encoder (Sequential)" in text and "(None, 3)" in text and "decoder (Sequential)" in text
    assert f"Total params: {encoder.count_params() + decoder.count_params():,}" in text


class FrozenCriticGenerator(keras.Model):
    """The GAN pattern: the generator's step runs through a frozen critic."""

    def __init__(self, generator, critic):
        super().__init__()
        self.generator, self.critic = generator, critic

    def train_step(self, data):
        with keras.GradientTape() as tape:
            loss = ops.mean(self.critic(self.generator(data, training=True), training=True))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": loss}


def test_a_frozen_model_inside_a_tape_passes_gradients_but_is_not_trained():
    keras.utils.set_random_seed(3)
    generator = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh")])
    critic = keras.Sequential([keras.Input((5,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                               layers.Dense(1)])
    x = np.random.default_rng(4).standard_normal((16, 4))
    with keras.GradientTape() as tape:
        trainable_loss = ops.mean(critic(generator(x), training=False))
    expected = tape.gradient(trainable_loss, generator.trainable_weights)
    critic.trainable = False
    with keras.GradientTape() as tape:
        loss = ops.mean(critic(generator(x), training=True))  # frozen: BatchNormalization runs as in inference
    assert float(loss) == pytest.approx(float(trainable_loss), rel=1e-6)
    assert critic.trainable_weights == []
    got = tape.gradient(loss, generator.trainable_weights + critic.weights)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)
    assert all(g is None for g in got[len(expected):])  # weights not trainable now are not watched (as TF)
    model = FrozenCriticGenerator(generator, critic)
    assert [id(w) for w in model.trainable_weights] == [id(w) for w in generator.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    critic_before = [w.copy() for w in critic.get_weights()]
    generator_before = [w.copy() for w in generator.get_weights()]
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(critic_before, critic.get_weights()))  # statistics too
    assert not any(np.array_equal(a, b) for a, b in zip(generator_before, generator.get_weights()))
    critic.trainable = True  # unfrozen after its frozen plans ran: its weights get gradients again
    with keras.GradientTape() as tape:
        loss = ops.mean(critic(generator(x), training=False))
    assert all(g is not None and np.any(g) for g in tape.gradient(loss, critic.trainable_weights))
