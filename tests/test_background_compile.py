"""The first training plan of a process whose kernel cache is cold forks a child that compiles the plan's
kernels from the other end (framework/plan/background_compile.py)."""
import os

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.plan import background_compile

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available on this platform")


def _train(seed=0):
    fw.utils.set_random_seed(seed)
    model = fw.Sequential([fw.Input((6, 6, 1)), layers.Conv2D(3, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Flatten(), layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(1)
    history = model.fit(rng.random((32, 6, 6, 1)), rng.integers(0, 4, 32), batch_size=8, epochs=2, verbose=0)
    return model, history


def test_a_cold_process_forks_a_child_that_runs_every_step_and_changes_nothing(monkeypatch, tmp_path):
    expected_model, expected_history = _train()
    monkeypatch.setattr(background_compile, "_started", [False])
    monkeypatch.setattr(background_compile, "kernel_cache_is_warm", lambda: False)
    monkeypatch.delenv(background_compile.SWITCH, raising=False)
    started = []
    original = background_compile.maybe_start
    monkeypatch.setattr(background_compile, "maybe_start", lambda plan: started.append(original(plan)))
    model, history = _train()
    pid = next(p for p in started if p)
    assert background_compile.wait(pid, timeout=120) == 0  # the child ran every step, reversed, and exited
    assert started.count(None) == len(started) - 1  # one child per process
    assert history.history == expected_history.history  # the parent trained as if alone
    for a, b in zip(model.get_weights(), expected_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_no_child_when_switched_off_warm_or_under_mpi(monkeypatch):
    monkeypatch.setattr(background_compile, "kernel_cache_is_warm", lambda: False)
    for variable, value in ((background_compile.SWITCH, "0"), ("OMPI_COMM_WORLD_SIZE", "2")):
        monkeypatch.setattr(background_compile, "_started", [False])
        monkeypatch.setenv(variable, value)
        assert background_compile.maybe_start(object()) is None
        monkeypatch.delenv(variable)
    monkeypatch.setattr(background_compile, "_started", [False])
    monkeypatch.setattr(background_compile, "kernel_cache_is_warm", lambda: True)
    assert background_compile.maybe_start(object()) is None
