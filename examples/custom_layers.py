"""Custom layers written with framework.ops, trained on the 8x8 digits (offline, a few seconds).

A residual MLP block and a learned per-feature scale, both written as Keras users write layers:
weights from ``add_weight``, ``call()`` made of ``framework.ops`` and built-in layers. The plan
compiler traces each ``call()`` into the graph and derives the backward pass.

    python examples/custom_layers.py
"""
import numpy as np

import framework as fw
from framework import layers, ops


class FeatureScale(layers.Layer):
    """Multiplies each feature by a learned factor (starting at 1)."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


class ResidualBlock(layers.Layer):
    """x + W2 gelu(W1 x), with a layer norm written with ops."""

    def __init__(self, hidden, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden

    def build(self, input_shape):
        self.inner = layers.Dense(self.hidden)
        self.outer = layers.Dense(input_shape[-1])

    def call(self, inputs):
        centred = inputs - ops.mean(inputs, axis=-1, keepdims=True)
        normed = centred * ops.rsqrt(ops.var(inputs, axis=-1, keepdims=True) + 1e-5)
        return inputs + self.outer(ops.gelu(self.inner(normed)))


def main():
    fw.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = fw.datasets.digits.load_data()
    x_train, x_test = x_train.reshape(len(x_train), -1) / 16.0, x_test.reshape(len(x_test), -1) / 16.0
    inputs = fw.Input((64,))
    h = layers.Dense(64)(FeatureScale()(inputs))
    h = ResidualBlock(128)(h)
    h = ResidualBlock(128)(h)
    model = fw.Model(inputs, layers.Dense(10, activation="softmax")(h))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    model.fit(x_train, y_train, epochs=10, batch_size=32, validation_split=0.1, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
