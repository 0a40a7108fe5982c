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
