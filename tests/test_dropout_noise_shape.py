"""Dropout(noise_shape=...): one mask value per broadcast slice, the same mask in the backward pass."""
import numpy as np

import framework as fw
from framework import layers


def test_noise_shape_drops_whole_slices_and_the_gradient_uses_the_same_mask():
    fw.utils.set_random_seed(0)
    layer = layers.Dropout(0.5, noise_shape=(None, 1, 6))
    x = np.random.default_rng(1).random((4, 5, 6)) + 1.0
    y = np.asarray(layer(x, training=True))
    ratio = y / x
    assert set(np.unique(np.round(ratio, 5))) <= {0.0, 2.0} and 0 < np.count_nonzero(ratio) < ratio.size
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1, :], ratio.shape), rtol=1e-6)  # constant along axis 1
    inputs = fw.Input((5, 6))
    model = fw.Model(inputs, layers.Dropout(0.5, noise_shape=(None, 1, 6))(inputs))
    with fw.GradientTape() as tape:
        watched = tape.watch(x)
        out = model(watched, training=True)
        total = fw.ops.sum(out)
    grad = tape.gradient(total, watched)
    np.testing.assert_allclose(grad, np.asarray(out) / x, rtol=1e-6)  # d sum(mask * x / (1 - rate)) / dx
    np.testing.assert_array_equal(grad == 0, np.broadcast_to(grad[:, :1, :] == 0, grad.shape))
