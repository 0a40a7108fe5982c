"""Same seed, same bits (Dropout and shuffling included); a steady-state training step
allocates nothing; float64 end to end."""
import numpy as np
import pytest

import framework as fw
from framework import backend
from framework.layers import Dense, Dropout
from helpers import allocation_growth

# Any array of a whole batch is at least 128 rows * 8 features * 4 bytes = 4 KB; a
# steady-state step may create a few small Python objects, never an array.
ALLOWED_GROWTH = 2048


def _data(n=96, features=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return x, y


def _train_once(seed, optimizer="adam"):
    fw.utils.set_random_seed(seed)
    model = fw.Sequential([fw.Input((8,)), Dense(32, activation="relu"), Dropout(0.3),
                           Dense(16, activation="tanh"), Dropout(0.2), Dense(4, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data()
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=True, verbose=0, validation_split=0.25)
    return model.get_weights(), history.history, model.predict(x, verbose=0), model(x, training=True)


# ----------------------------------------------------------------------------- determinism

def test_same_seed_gives_bit_identical_training():
    w1, h1, p1, d1 = _train_once(7)
    w2, h2, p2, d2 = _train_once(7)
    assert len(w1) == len(w2) == 6
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert h1 == h2
    assert np.array_equal(p1, p2)
    assert np.array_equal(d1, d2)  # Dropout masks in model(x, training=True) repeat too


def test_different_seed_gives_different_training():
    w1, h1, _, _ = _train_once(7)
    w2, h2, _, _ = _train_once(8)
    assert not np.array_equal(w1[0], w2[0])
    assert h1["loss"] != h2["loss"]


def test_dropout_and_shuffle_draws_follow_the_seed():
    """Same initial weights, different seed for the training randomness: results differ,
    so Dropout masks and the shuffle really come from the seeded generators."""
    fw.utils.set_random_seed(1)
    base = fw.Sequential([fw.Input((8,)), Dense(16, activation="relu"), Dropout(0.5), Dense(4)])
    start = base.get_weights()
    x, y = _data(32)
    results = []
    for seed in (3, 3, 4):
        fw.utils.set_random_seed(seed)
        model = fw.Sequential([fw.Input((8,)), Dense(16, activation="relu"), Dropout(0.5), Dense(4)])
        model.set_weights(start)
        model.compile(optimizer="sgd", loss=fw.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        results.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(results[0], results[1]))
    assert not np.array_equal(results[0][0], results[2][0])


def test_seeded_dropout_layer_is_reproducible_on_its_own():
    x = np.ones((4, 100), dtype=np.float32)
    a = fw.Sequential([fw.Input((100,)), Dropout(0.5, seed=42)])(x, training=True)
    b = fw.Sequential([fw.Input((100,)), Dropout(0.5, seed=42)])(x, training=True)
    c = fw.Sequential([fw.Input((100,)), Dropout(0.5, seed=43)])(x, training=True)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# ----------------------------------------------------------------------------- allocation

def _allocation_model(optimizer="adam"):
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((8,)), Dense(64, activation="relu"), Dropout(0.25),
                           Dense(32, activation="tanh"), Dense(4, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_plan_train_step_allocates_nothing(optimizer):
    model = _allocation_model(optimizer)
    x, y = _data(128)
    for _ in range(3):
        model.train_on_batch(x, y)  # warm up: plans, arena, optimizer slots, kernels compiled
    plan = model.plan("train", 128)
    assert plan is model.plan("train", 128)  # cached, not rebuilt
    plan.train_step()
    kept, peak = allocation_growth(plan.train_step, warmup=0, calls=5)
    assert peak < ALLOWED_GROWTH, f"a training step allocated {peak} bytes at peak"
    assert kept < ALLOWED_GROWTH


def test_plan_train_step_changes_weights_without_allocating():
    """The step measured above is a real step: it moves the weights."""
    model = _allocation_model()
    x, y = _data(128)
    model.train_on_batch(x, y)
    plan = model.plan("train", 128)
    before = model.get_weights()[0]
    plan.train_step()
    assert not np.array_equal(before, model.get_weights()[0])


def test_train_on_batch_steady_state_allocates_no_arrays():
    model = _allocation_model()
    x, y = _data(128)
    for _ in range(3):
        model.train_on_batch(x, y)
    kept, peak = allocation_growth(lambda: model.train_on_batch(x, y), warmup=0, calls=5)
    assert peak < ALLOWED_GROWTH, f"train_on_batch allocated {peak} bytes at peak"
    assert kept < ALLOWED_GROWTH


def test_eval_and_predict_plans_allocate_nothing():
    model = _allocation_model()
    x, y = _data(128)
    model.train_on_batch(x, y)
    model.evaluate(x, y, batch_size=128, verbose=0)
    model.predict(x, batch_size=128, verbose=0)
    evaluate = model.plan("eval", 128)
    predict = model.plan("predict", 128)
    _, peak = allocation_growth(evaluate.eval_step, warmup=0, calls=5)
    assert peak < ALLOWED_GROWTH
    _, peak = allocation_growth(predict.run_forward, warmup=0, calls=5)
    assert peak < ALLOWED_GROWTH


def test_float64_train_step_allocates_nothing():
    saved = backend.floatx()
    backend.set_floatx("float64")
    try:
        model = _allocation_model()
        x, y = _data(128)
        model.train_on_batch(x.astype(np.float64), y)
        plan = model.plan("train", 128)
        assert plan.dtype == np.float64
        plan.train_step()
        _, peak = allocation_growth(plan.train_step, warmup=0, calls=5)
        assert peak < ALLOWED_GROWTH
    finally:
        backend.set_floatx(saved)


# ----------------------------------------------------------------------------- float64

def test_float64_end_to_end():
    saved = backend.floatx()
    backend.set_floatx("float64")
    try:
        fw.utils.set_random_seed(0)
        model = fw.Sequential([fw.Input((8,)), Dense(16, activation="relu"), Dropout(0.1),
                               Dense(4, activation="softmax")])
        assert model.inputs[0].dtype == "float64"
        assert all(w.dtype == np.float64 for w in model.get_weights())
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = _data(64)
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]
        assert all(w.dtype == np.float64 for w in model.get_weights())
        plan = model.plan("train", 16)
        buffers = plan.inputs + plan.outputs + plan.targets
        assert all(b.dtype == np.float64 for b in buffers)
        assert all(s.dtype == np.float64 for s in model.optimizer.slots.values())
        out = model.predict(x, verbose=0)
        assert out.dtype == np.float64 and model(x).dtype == np.float64
        # float64 keeps more precision than float32 would: rows sum to one to ~1e-15
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-13)
    finally:
        backend.set_floatx(saved)
    assert backend.floatx() == saved
    # models built afterwards are float32 again
    assert fw.Sequential([fw.Input((2,)), Dense(1)]).get_weights()[0].dtype == np.float32
