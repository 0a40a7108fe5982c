"""Masks in plans: started by one node, passed on by layers that support masking,
read by consumers, and applied to losses and metrics per step as Keras does."""
import numpy as np
import pytest

import framework as fw
from framework import layers
from tests.gradcheck import check_gradients, float64_mode
from tests.helpers import StartMask


class ReadMask(layers.Layer):
    """Test layer: multiplies each step by the incoming mask (a consumer)."""

    def forward(self, ctx):
        x, y, mask = ctx.x, ctx.y, ctx.input_masks[0]
        assert mask is not None

        def step():
            np.multiply(x, mask[:, :, None], out=y)
        return [step]

    def backward(self, ctx):
        mask = ctx.input_masks[0]
        dy, dx = ctx.dy, ctx.dx
        return [] if dx is None else [lambda: np.multiply(dy, mask[:, :, None], out=dx)]


def _data(rng, batch=4, steps=5, features=3):
    x = rng.normal(size=(batch, steps, features))
    x[0, 3:, 0] = 0.0
    x[2, 1:, 0] = 0.0
    return x


def test_mask_travels_through_layers_that_support_it():
    inputs = fw.Input((5, 3))
    started = StartMask()(inputs)
    dense = layers.Dense(2)(started)
    flat = layers.Flatten()(dense)
    assert started.mask is not None and dense.mask is started.mask
    assert flat.mask is None


def test_masked_loss_is_the_mean_over_real_steps():
    rng = np.random.default_rng(0)
    x = _data(rng)
    y = rng.normal(size=(4, 5, 2))
    inputs = fw.Input((5, 3))
    outputs = layers.Dense(2)(StartMask()(inputs))
    model = fw.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    loss = model.evaluate(x, y, batch_size=4, verbose=0)
    pred = model.predict(x, batch_size=4, verbose=0)
    mask = x[:, :, 0] != 0
    per_step = ((pred - y) ** 2).mean(axis=-1)
    assert loss == pytest.approx(per_step[mask].mean(), rel=1e-5)


def test_masked_loss_with_sample_weights_and_accuracy_over_real_steps():
    rng = np.random.default_rng(1)
    x = _data(rng)
    labels = rng.integers(0, 3, size=(4, 5))
    inputs = fw.Input((5, 3))
    outputs = layers.Dense(3, activation="softmax")(StartMask()(inputs))
    model = fw.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    sw = np.array([1.0, 2.0, 0.5, 1.0])
    result = model.evaluate(x, labels, sample_weight=sw, batch_size=4, verbose=0, return_dict=True)
    prob = model.predict(x, batch_size=4, verbose=0)
    mask = (x[:, :, 0] != 0).astype(float)
    nll = -np.log(np.take_along_axis(prob, labels[..., None], axis=-1)[..., 0])
    expected = (nll * mask * sw[:, None]).sum() / mask.sum()
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    hits = (prob.argmax(-1) == labels) * mask
    assert result["accuracy"] == pytest.approx(hits.sum() / mask.sum(), rel=1e-6)


def test_consumer_reads_the_mask_and_gradients_match():
    rng = np.random.default_rng(2)
    with float64_mode():
        x = _data(rng)
        y = rng.normal(size=(4, 5, 2))
        inputs = fw.Input((5, 3))
        hidden = layers.Dense(4, activation="tanh")(StartMask()(inputs))
        outputs = layers.Dense(2)(ReadMask()(hidden))
        model = fw.Model(inputs, outputs)
        check_gradients(model, [x], [y], "mse", check_inputs=False)  # the mask is a step function of x


def test_masked_output_of_the_wrong_rank_is_reported():
    class StartMask2D(StartMask):
        def compute_output_shape(self, input_shape):
            return input_shape[:2]

        def forward(self, ctx):
            return []

    inputs = fw.Input((5, 3))
    outputs = StartMask2D()(inputs)
    model = fw.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="masked model output"):
        model.evaluate(np.ones((2, 5, 3)), np.ones((2, 5)), verbose=0)
