"""A built-in loss in a tape runs its kernel bound once per shapes (framework/training/bound_losses.py)."""
import threading

import numpy as np
import pytest

import framework as fw
from framework.training import bound_losses


def test_value_and_gradient_equal_the_loss_on_plain_arrays_and_finite_differences():
    rng = np.random.default_rng(0)
    loss = fw.losses.CategoricalCrossentropy(from_logits=True)
    y_true = np.eye(4)[rng.integers(0, 4, 6)]
    logits = rng.standard_normal((6, 4))
    weights = rng.random(6)
    value, d_pred = bound_losses.evaluate(loss, y_true, logits, weights)
    assert float(value) == pytest.approx(loss(y_true, logits, weights), rel=1e-12)
    eps = 1e-6
    for index in [(0, 0), (3, 2), (5, 3)]:
        bumped = logits.copy()
        bumped[index] += eps
        numeric = (loss(y_true, bumped, weights) - loss(y_true, logits, weights)) / eps
        assert d_pred[index] == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_units_are_kept_per_shapes_and_at_most_eight_per_loss():
    loss = fw.losses.MeanSquaredError()
    for rows in range(1, 12):
        value, _ = bound_losses.evaluate(loss, np.zeros((rows, 2)), np.ones((rows, 2)))
        assert float(value) == 1.0
    assert len(bound_losses._units[loss]) == bound_losses.MAX_BOUND_PER_LOSS


def test_threads_sharing_a_loss_get_their_own_results():
    loss = fw.losses.MeanAbsoluteError()
    results, errors = {}, []

    def work(k):
        try:
            for _ in range(200):
                value, d_pred = bound_losses.evaluate(loss, np.zeros((8, 3)), np.full((8, 3), float(k)))
                if float(value) != float(k) or not np.all(d_pred == 1 / 24):
                    errors.append((k, float(value)))
            results[k] = True
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3


def test_a_loss_called_twice_in_one_tape_keeps_each_calls_gradient():
    loss = fw.losses.MeanSquaredError()
    a, b = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    with fw.GradientTape() as tape:
        wa, wb = tape.watch(a), tape.watch(b)
        total = fw.ops.add(loss(np.zeros((1, 2)), wa), loss(np.zeros((1, 2)), wb))  # same shapes: one unit
    da, db = tape.gradient(total, [wa, wb])
    np.testing.assert_allclose(da, a)  # d mean(x^2) / dx = 2x / 2
    np.testing.assert_allclose(db, b)
