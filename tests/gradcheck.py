"""Finite-difference gradient checks through the real compiled plan, in float64.

``check_gradients(model, xs, ys, loss)`` compares the plan's weight and input
gradients with central differences of the plan's own loss. ``float64_mode()`` and
``floatx(name)`` set the dtype models are built in, for a ``with`` block or a test.
"""
import contextlib

import numpy as np

from framework import backend, optimizers
from framework.plan.compiler import compile_plan


@contextlib.contextmanager
def floatx(name):
    """Context manager (or decorator): build and run models in ``name`` ("float32", "float64")."""
    saved = backend.floatx()
    backend.set_floatx(name)
    try:
        yield
    finally:
        backend.set_floatx(saved)


def float64_mode():
    """Context manager: build and run models in float64."""
    return floatx("float64")


def _plans(model, xs, ys, loss):
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss=loss)
    if not model.built:
        model.build_from_data(xs)
    state = model.parameter_arena()
    specs = model._training_setup()
    n = len(xs[0])
    train = compile_plan(model, "train", n, np.float64, specs, state.grad_views,
                         model.optimizer.bind(state.params, state.grads), input_gradients=True)
    evaluate = compile_plan(model, "eval", n, np.float64, specs, training=True)
    for plan in (train, evaluate):
        for buf, x in zip(plan.inputs, xs):
            buf[...] = x
        for buf, y in zip(plan.targets, ys):
            buf[...] = np.asarray(y).reshape(buf.shape)
    return train, evaluate, state


def _loss(model, plan):
    plan.run_forward()
    return plan.run_losses() + model._penalty()


def _points(size, limit, rng):
    return np.arange(size) if size <= limit else rng.choice(size, limit, replace=False)


def _check_points(model, evaluate, analytic, flat, name, eps, rtol, atol, limit, rng):
    """Compare ``analytic`` with central differences of the loss at up to ``limit`` entries of ``flat``."""
    points = _points(flat.size, limit, rng)
    for i in points:
        keep = flat[i]
        flat[i] = keep + eps
        up = _loss(model, evaluate)
        flat[i] = keep - eps
        down = _loss(model, evaluate)
        flat[i] = keep
        numeric = (up - down) / (2 * eps)
        assert np.isclose(analytic[i], numeric, rtol=rtol, atol=atol), \
            f"{name}[{i}]: analytic {analytic[i]:.8g} vs numeric {numeric:.8g}"
    return len(points)


def check_gradients(model, xs, ys, loss="mse", eps=1e-6, rtol=1e-4, atol=1e-6, limit=40, seed=0,
                    check_inputs=True):
    """Assert analytic == numeric gradients for every trainable weight (and every float input)."""
    assert backend.floatx() == "float64", "gradient checks run in float64 (use float64_mode)"
    xs = [np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else np.asarray(x) for x in xs]
    train, evaluate, state = _plans(model, xs, ys, loss)
    train.train_step()
    rng = np.random.default_rng(seed)
    checked = 0
    trainable = model.trainable_weights
    for var in trainable:
        analytic = state.grad_views[id(var)].reshape(-1).copy()
        checked += _check_points(model, evaluate, analytic, var.value.reshape(-1), var.path,
                                 eps, rtol, atol, limit, rng)
    if check_inputs:
        for k, (x, grad) in enumerate(zip(evaluate.inputs, train.input_grads)):
            if x.dtype.kind != "f":
                continue
            analytic = grad.reshape(-1).copy()
            checked += _check_points(model, evaluate, analytic, x.reshape(-1), f"input {k}",
                                     eps, rtol, atol, limit, rng)
    assert checked > 0, "nothing was checked"
    return checked
