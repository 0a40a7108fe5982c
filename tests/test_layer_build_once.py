"""A layer built by a direct ``build()`` call keeps its weights when it is then called (as Keras)."""
import numpy as np
import pytest

import framework as fw
from framework import layers


@pytest.mark.parametrize("layer, shape", [
    (lambda: layers.Dense(3), (None, 4)),
    (lambda: layers.Conv2D(2, 3), (None, 5, 5, 1)),
    (lambda: layers.BatchNormalization(), (None, 4)),
    (lambda: layers.LSTM(3), (None, 6, 4)),
    (lambda: layers.Conv2DTranspose(2, 4, strides=2, padding="same"), (None, 5, 5, 1)),
])
def test_a_built_layer_called_on_arrays_and_tensors_makes_no_second_set_of_weights(layer, shape):
    made = layer()
    made.build(shape)
    assert made.built
    weights = [id(w) for w in made.weights]
    kept = [w.numpy().copy() for w in made.weights]
    made(np.ones((2,) + shape[1:], np.float32))
    made(fw.Input(shape[1:]))
    assert [id(w) for w in made.weights] == weights
    for w, value in zip(made.weights, kept):
        np.testing.assert_array_equal(w.numpy(), value)


def test_a_custom_layer_whose_build_does_not_call_super_is_built_once():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.scale

    made = Scale()
    made.build((None, 3))
    assert made.built
    np.testing.assert_allclose(made(np.full((2, 3), 2.0, np.float32)), 2.0)
    assert len(made.weights) == 1
