"""Variables inside a traced ``call()``: updates (``assign``, ``assign_add``, ``assign_sub``) become plan
steps, and arithmetic on a variable (``0.9 * self.mean``) reads it when the step runs."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from helpers import assert_no_allocation


class RunningMean(layers.Layer):
    """Centres its input by a running mean of the training batches, and counts them."""

    def __init__(self, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, inputs, training=None):
        if training:
            self.mean.assign(self.momentum * self.mean + (1 - self.momentum) * ops.mean(inputs, axis=0))
            self.count.assign_add(1.0)
        return inputs - self.mean


class SumOfInputs(layers.Layer):
    """The guide's ComputeSum in a graph: the total grows in every step, inference included."""

    def build(self, input_shape):
        self.total = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return inputs


def test_updates_run_in_each_training_step_in_order():
    fw.utils.set_random_seed(0)
    inp = fw.Input((3,))
    running = RunningMean()
    model = fw.Model(inp, layers.Dense(1)(running(inp)))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32") + 5
    model.fit(x, np.zeros((64, 1), "float32"), batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert float(running.count.numpy()) == 8.0
    expected = np.zeros(3)
    for _ in range(2):
        for start in range(0, 64, 16):
            expected = 0.9 * expected + 0.1 * x[start:start + 16].mean(axis=0)
    np.testing.assert_allclose(running.mean.numpy(), expected, rtol=1e-5)
    # inference takes the branch without updates, and reads the variable's current value
    before = running.mean.numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               (x - before) @ model.layers[-1].kernel.numpy() + model.layers[-1].bias.numpy(),
                               rtol=1e-4, atol=1e-5)
    assert float(running.count.numpy()) == 8.0 and np.array_equal(running.mean.numpy(), before)


def test_an_update_outside_a_training_branch_runs_in_inference_too():
    inp = fw.Input((2,))
    summed = SumOfInputs()
    model = fw.Model(inp, summed(inp))
    x = np.arange(12, dtype="float32").reshape(6, 2)
    model.predict(x, batch_size=6, verbose=0)
    np.testing.assert_allclose(summed.total.numpy(), x.sum(axis=0))
    model.predict(x, batch_size=6, verbose=0)
    np.testing.assert_allclose(summed.total.numpy(), 2 * x.sum(axis=0))


def test_arithmetic_on_a_variable_reads_its_current_value():
    class Offset(layers.Layer):
        def build(self, input_shape):
            self.offset = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)

        def call(self, inputs):
            return inputs + 2 * self.offset - (-self.offset)

    inp = fw.Input((2,))
    layer = Offset()
    model = fw.Model(inp, layer(inp))
    x = np.ones((3, 2), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), x)
    layer.offset.assign(np.array([1.0, -1.0]))  # the traced graph reads the new value: no retrace
    np.testing.assert_allclose(model.predict(x, verbose=0), x + 3 * np.array([1.0, -1.0]))


def test_batch_statistics_add_as_ops_not_as_merge_layers():
    inp = fw.Input((3,))
    total = ops.mean(inp, axis=0) + ops.mean(inp, axis=0)
    assert not total.batched and total.shape == (3,)


def test_a_training_step_with_updates_allocates_nothing():
    fw.utils.set_random_seed(1)
    inp = fw.Input((16,))
    model = fw.Model(inp, layers.Dense(1)(RunningMean()(layers.Dense(16)(inp))))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).standard_normal((64, 16)).astype("float32")
    model.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)
    plan = model.plan("train", 32)
    for buffer in plan.inputs + plan.targets + plan.sample_weights:
        buffer.fill(0.5)
    assert_no_allocation(plan.train_step, calls=20, held=1024, peak=48 * 1024)


def test_update_errors_say_what_to_do():
    class UpdatesTrainable(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="zeros")

        def call(self, inputs):
            self.w.assign(ops.mean(inputs, axis=0))
            return inputs

    class PerSample(layers.Layer):
        def build(self, input_shape):
            self.last = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)

        def call(self, inputs):
            self.last.assign(inputs)
            return inputs

    inp = fw.Input((3,))
    with pytest.raises(TypeError, match=r"Variable 'updates_trainable.*' is trainable: inside a model training "
                                        r"updates it; a call\(\) may update only non-trainable variables"):
        UpdatesTrainable()(inp)
    with pytest.raises(ValueError, match=r"a value of shape \(None, 3\) cannot update variable '.*' of shape \(3,\); "
                                         r"reduce over the batch first"):
        PerSample()(inp)
    variable = fw.backend.Variable(np.zeros(3, "float32"))
    with pytest.raises(TypeError, match=r"assign\(\) of a symbolic tensor happens only inside a layer's call\(\)"):
        variable.assign(ops.mean(inp, axis=0))
