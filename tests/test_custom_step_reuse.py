"""A custom step's batches and a tape's records: what the step lets go of is freed or used again at once,
and what it keeps stays intact."""
import gc
import weakref

import numpy as np

import framework as fw
from framework import layers


class KeepingModel(fw.Model):
    """A custom step that notes each batch's address, and keeps the batches when told to."""

    def __init__(self, *args, keep=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep, self.kept, self.copies, self.addresses = keep, [], [], []

    def train_step(self, data):
        x, y = data
        self.addresses.append(x.__array_interface__["data"][0])
        if self.keep:
            self.kept.append((x, y))
            self.copies.append((x.copy(), y.copy()))
        with fw.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        return {"loss": loss}


def _model(keep):
    fw.utils.set_random_seed(0)
    inputs = fw.Input((6,))
    model = KeepingModel(inputs, layers.Dense(3)(inputs), keep=keep)
    model.compile(fw.optimizers.SGD(0.1), fw.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((80, 6)).astype("float32"), rng.integers(0, 3, 80).astype("float32")


def test_shuffled_batches_a_step_lets_go_of_are_gathered_into_the_same_arrays_again():
    gc.disable()  # what is freed must be freed by reference counts alone
    try:
        model = _model(keep=False)
        x, y = _data()
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    finally:
        gc.enable()
    assert len(model.addresses) == 20 and len(set(model.addresses)) <= 2  # two in turn: the loop holds the last


def test_batches_a_step_keeps_stay_what_they_were_and_train_the_same_weights():
    x, y = _data()
    kept = _model(keep=True)
    kept.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(set(kept.addresses)) == 20  # every batch kept: each in its own array
    dropped = _model(keep=False)
    dropped.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(kept.weights, dropped.weights):  # the same seeded shuffles: the same training
        np.testing.assert_array_equal(a.value, b.value)
    for (bx, by), (cx, cy) in zip(kept.kept, kept.copies):  # no later batch was gathered into a kept one
        np.testing.assert_array_equal(bx, cx)
        np.testing.assert_array_equal(by, cy)


def test_a_tape_lets_go_of_its_records_once_its_gradient_is_taken():
    gc.disable()
    try:
        inputs = fw.Input((6,))
        model = fw.Model(inputs, layers.Dense(3)(inputs))
        model.compile("sgd", "mse")
        x = np.ones((4, 6), "float32")
        seen = weakref.ref(x)
        with fw.GradientTape() as tape:
            prediction = model(x, training=True)
            loss = model.compute_loss(y=np.zeros((4, 3), "float32"), y_pred=prediction)
        tape.gradient(loss, model.trainable_variables)
        del x
        assert seen() is None  # the model call's record held the batch: freed without a collection
        assert prediction._record is None and loss._record is None  # plain values now
        assert float(loss) >= 0
    finally:
        gc.enable()
