"""Data inputs (generators, PyDataset, memory-mapped arrays, steps) and layer freezing."""
import tracemalloc

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.utils import PyDataset
from helpers import linear_regression_data, linear_regression_model


class Batches(PyDataset):
    """Batches of 16 rows; records calls so tests can check what fit asked for."""

    def __init__(self, x, y, weights=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.weights = x, y, weights
        self.requested, self.epochs_ended = [], 0

    def __len__(self):
        return len(self.x) // 16

    def __getitem__(self, index):
        self.requested.append(index)
        part = slice(index * 16, (index + 1) * 16)
        if self.weights is None:
            return self.x[part], self.y[part]
        return self.x[part], self.y[part], self.weights[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_pydataset_matches_arrays_without_shuffle():
    x, y = linear_regression_data(64, seed=1)
    by_arrays = linear_regression_model()
    by_arrays.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    by_dataset = linear_regression_model()
    dataset = Batches(x, y)
    history = by_dataset.fit(dataset, epochs=3, shuffle=False, verbose=0)
    assert dataset.requested == [0, 1, 2, 3] * 3
    assert dataset.epochs_ended == 3
    assert len(history.history["loss"]) == 3
    for a, b in zip(by_arrays.get_weights(), by_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pydataset_shuffle_visits_every_batch_in_a_new_order():
    x, y = linear_regression_data(160, seed=1)
    dataset = Batches(x, y)
    linear_regression_model().fit(dataset, epochs=2, verbose=0)
    first, second = dataset.requested[:10], dataset.requested[10:]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != list(range(10)) or second != list(range(10))


def test_pydataset_sample_weights_and_steps_per_epoch():
    x, y = linear_regression_data(64, seed=1)
    weights = np.zeros(len(x), dtype="float32")
    model = linear_regression_model()
    before = model.get_weights()
    dataset = Batches(x, y, weights)
    model.fit(dataset, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)
    assert dataset.requested == [0, 1]
    for a, b in zip(before, model.get_weights()):  # zero weights: zero gradient
        np.testing.assert_array_equal(a, b)


def test_generator_with_steps_per_epoch_continues_across_epochs():
    x, y = linear_regression_data(64, seed=1)
    drawn = []

    def batches():
        i = 0
        while True:
            drawn.append(i)
            part = slice((i % 4) * 16, (i % 4 + 1) * 16)
            yield x[part], y[part]
            i += 1

    history = linear_regression_model().fit(batches(), steps_per_epoch=3, epochs=2, verbose=0)
    assert drawn == [0, 1, 2, 3, 4, 5]
    assert len(history.history["loss"]) == 2


def test_generator_without_steps_runs_until_exhausted_then_warns():
    x, y = linear_regression_data(64, seed=1)
    model = linear_regression_model()
    with pytest.warns(RuntimeWarning, match="ran out"):
        history = model.fit(((x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


def test_generator_validation_evaluate_and_predict():
    x, y = linear_regression_data(64, seed=1)
    model = linear_regression_model()
    val = Batches(x[:32], y[:32])
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=val, validation_freq=2, verbose=0)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    direct = model.evaluate(x, y, batch_size=16, verbose=0)
    streamed = model.evaluate(((x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)), verbose=0)
    assert streamed == pytest.approx(direct, rel=1e-6)
    assert model.evaluate(Batches(x, y), steps=2, verbose=0) == pytest.approx(
        model.evaluate(x[:32], y[:32], batch_size=16, verbose=0), rel=1e-6)
    predicted = model.predict((x[i:i + 16] for i in range(0, 64, 16)), verbose=0)
    np.testing.assert_allclose(predicted, model.predict(x, verbose=0), rtol=1e-6)


def test_stream_errors_are_clear():
    x, y = linear_regression_data(64, seed=1)
    model = linear_regression_model()
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(Batches(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="do not pass y"):
        model.fit(Batches(x, y), y, verbose=0)
    with pytest.raises(ValueError, match="no targets"):
        model.fit((x[i:i + 16] for i in range(0, 64, 16)), verbose=0)
    with pytest.raises(ValueError, match="expects samples of shape"):
        model.fit(((x[:, :3], y) for _ in range(2)), verbose=0)


def test_memory_mapped_arrays_train_without_being_loaded(tmp_path):
    rows = 40_000
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype="float32", shape=(rows, 64))
    x[:] = np.random.default_rng(0).standard_normal((rows, 64), dtype=np.float32)
    y = np.lib.format.open_memmap(tmp_path / "y.npy", mode="w+", dtype="float32", shape=(rows, 1))
    y[:] = x[:, :1] * 2
    del x, y
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((64,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x[:256], y[:256], batch_size=128, verbose=0)  # plans built, kernels loaded
    tracemalloc.start()
    model.fit(x, y, batch_size=128, epochs=1, validation_split=0.1, verbose=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # the epoch permutation and new plans cost well under 2 MB; loading the data would cost 10 MB
    assert peak < x.nbytes / 4, f"fit allocated {peak} bytes for a {x.nbytes}-byte memory-mapped input"


def test_trainable_false_before_compile_freezes_and_after_compile_waits_for_recompile():
    x, y = linear_regression_data(64, seed=1)
    fw.utils.set_random_seed(0)
    first, second = layers.Dense(3), layers.Dense(1)
    model = fw.Sequential([fw.Input((4,)), first, second])
    first.trainable = False
    model.compile(fw.optimizers.SGD(0.1), "mse")
    frozen = first.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, first.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.count_params() == 15 + 4 and len(model.trainable_weights) == 2
    first.trainable = True  # takes effect at the next compile, as in Keras
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(frozen[0], first.get_weights()[0])
    model.compile(fw.optimizers.SGD(0.1), "mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(frozen[0], first.get_weights()[0])


def test_gan_recipe_with_frozen_discriminator():
    """The classic Keras recipe: compile D, freeze it, compile G+D, alternate train_on_batch."""
    fw.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    generator = fw.Sequential([fw.Input((2,)), layers.Dense(8, activation="relu"), layers.Dense(4)], name="g")
    discriminator = fw.Sequential([fw.Input((4,)), layers.Dense(8, activation="relu"),
                                   layers.Dense(1, activation="sigmoid")], name="d")
    discriminator.compile(fw.optimizers.Adam(0.01), "binary_crossentropy")
    discriminator.trainable = False
    z = fw.Input((2,))
    combined = fw.Model(z, discriminator(generator(z)))
    combined.compile(fw.optimizers.Adam(0.01), "binary_crossentropy")
    assert {id(w) for w in combined.trainable_weights} == {id(w) for w in generator.weights}

    real = rng.normal(2.0, 0.5, (32, 4)).astype("float32")
    for _ in range(3):
        noise = rng.standard_normal((32, 2)).astype("float32")
        fake = generator.predict(noise, verbose=0)
        g_before, d_before = generator.get_weights(), discriminator.get_weights()
        discriminator.train_on_batch(np.concatenate([real, fake]), np.r_[np.ones(32), np.zeros(32)])
        assert all(np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))
        assert not all(np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights()))
        d_before = discriminator.get_weights()
        combined.train_on_batch(noise, np.ones(32))
        assert all(np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights()))
        assert not all(np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))


def test_constraints_hold_after_every_update():
    # y = x @ w with |w| = 3.8: the kernel wants a norm the constraint forbids
    x, y = linear_regression_data(64, seed=1)
    fw.utils.set_random_seed(0)
    dense = layers.Dense(1, kernel_constraint="max_norm", bias_constraint=fw.constraints.NonNeg())
    model = fw.Sequential([fw.Input((4,)), dense])
    model.compile(fw.optimizers.SGD(0.05), "mse")

    class Check(fw.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            kernel, bias = dense.get_weights()
            assert np.sqrt((kernel ** 2).sum()) <= 2.0 + 1e-5
            assert np.all(bias >= 0)

    model.fit(x, y - 1.0, epochs=5, batch_size=16, callbacks=[Check()], verbose=0)
    kernel, bias = dense.get_weights()
    assert np.sqrt((kernel ** 2).sum()) == pytest.approx(2.0, abs=1e-3)  # the bound was reached
    assert bias[0] == 0.0  # the target's offset pulls the bias below zero; NonNeg holds it at 0


def test_model_trainable_reaches_every_inner_layer_as_keras():
    inner = fw.Sequential([fw.Input((3,)), layers.Dense(4), layers.Dense(2)])
    outer = fw.Sequential([fw.Input((3,)), inner, layers.Dense(1)])
    inner.trainable = False
    assert all(not layer.trainable for layer in inner.layers)
    assert len(outer.trainable_weights) == 2
    outer.trainable = True
    assert all(layer.trainable for layer in inner.layers) and len(outer.trainable_weights) == 6
    frozen = fw.Model(inner.inputs, inner.outputs, trainable=False)
    assert all(not layer.trainable for layer in frozen.layers)
