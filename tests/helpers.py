"""Shared by the test files: allocation checks of bound steps, numeric gradients, NumPy references
(softmax, sigmoid, Keras's ReLU), bound losses and metrics, the optimizer tests' Dense + MSE problem,
a small regression model and its data, a mask-starting layer, and one training step of a model.

Gradient checks through compiled plans and the float64 context managers are in gradcheck.py; the
shared fixtures in conftest.py."""
import tracemalloc

import numpy as np
import pytest

import framework as fw
from framework import optimizers
from framework.graph.tensor import Mask
from framework.plan.compiler import compile_plan
from framework.plan.steps import copy_step
from framework.layers.layer import Layer


def allocation_growth(step, warmup=3, calls=200):
    """(bytes still held, peak bytes) that ``calls`` calls of ``step`` allocate after warm-up."""
    for _ in range(warmup):
        step()
    tracemalloc.start()
    try:
        step()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(calls):
            step()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - base, peak - base


def assert_no_allocation(step, warmup=3, calls=200, held=512, peak=2048):
    """Repeated calls allocate no array: a batch-sized temporary would exceed ``peak`` bytes."""
    held_bytes, peak_bytes = allocation_growth(step, warmup, calls)
    assert held_bytes < held and peak_bytes < peak, (held_bytes, peak_bytes)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar ``f()`` with respect to every element of ``x`` (changed in place)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g


class StartMask(Layer):
    """Test layer: passes x through and masks the steps whose first feature is 0."""

    def compute_output_masks(self, input_masks):
        return Mask((None, self.input_spec_shape[1]))

    def forward(self, ctx):
        x, y, mask = ctx.x, ctx.y, ctx.output_masks[0]

        def write_mask():
            np.not_equal(x[:, :, 0], 0, out=mask, casting="unsafe")
        return [copy_step(x, y), write_mask]

    def backward(self, ctx):
        return [] if ctx.dx is None else [copy_step(ctx.dy, ctx.dx)]


# ----------------------------------------------------------------------------- NumPy references

def softmax(z):
    """Softmax over the last axis."""
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's ReLU.static_call, transcribed to NumPy."""
    neg = np.maximum(threshold - x, 0) if negative_slope != 0 else 0
    x = x * (x > threshold) if threshold != 0 else np.maximum(x, 0)
    if max_value is not None:
        x = np.clip(x, 0, max_value)
    return x - negative_slope * neg


# ----------------------------------------------------------------------------- losses

def bind_loss(loss, t, p, w=None, logits=None):
    """(the loss bound to y_pred ``p``, y_true ``t``, weights ``w``; the d_pred buffer it writes)."""
    d = np.zeros_like(p)
    return loss.bind(p, t, w, d, logits=logits), d


def reduce_loss_ref(per_sample, w=None, reduction="sum_over_batch_size"):
    """Keras 3: weighted sum of per-sample loss elements / their number (or the plain sum)."""
    per = per_sample.reshape(per_sample.shape[0], -1)
    w = np.ones(per.shape[0]) if w is None else np.asarray(w, float)
    total = (per * w[:, None]).sum()
    return total if reduction == "sum" else total / per.size


# ----------------------------------------------------------------------------- metrics

def bound_result(metric, y_true, y_pred, sample_weight=None, dtype=np.float64):
    """Update ``metric`` through its plan binding (buffers of ``dtype``) and return the result."""
    y_true = np.ascontiguousarray(y_true, dtype=dtype)
    y_pred = np.ascontiguousarray(y_pred, dtype=dtype)
    w = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=dtype)
    metric.bind(y_true, y_pred, w)()
    return metric.result()


def eager_and_bound(factory, y_true, y_pred, sample_weight=None):
    """(eager result, bound result) of two fresh metrics on the same batch."""
    return (factory()(y_true, y_pred, sample_weight=sample_weight),
            bound_result(factory(), y_true, y_pred, sample_weight))


def check_metric(factory, y_true, y_pred, expected, sample_weight=None, **tol):
    """Eager and bound results both equal ``expected``."""
    tol = tol or dict(rel=1e-6, abs=1e-6)
    for got in eager_and_bound(factory, y_true, y_pred, sample_weight):
        assert np.asarray(got) == pytest.approx(np.asarray(expected, dtype=np.float64), **tol), (got, expected)


# ----------------------------------------------------------------------------- optimizers: one Dense layer, MSE
# For ``pred = x @ K + b`` and ``L = mean((pred - y)**2)``: ``dL/dK = x.T @ r`` and
# ``dL/db = sum(r, axis=0)`` with ``r = 2 (pred - y) / pred.size``.

def dense_mse_problem(seed=0, n=6, features=3, units=2):
    """(x, y, kernel, bias) in float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    y = rng.standard_normal((n, units))
    kernel = rng.standard_normal((features, units))
    bias = rng.standard_normal(units)
    return x, y, kernel, bias


def dense_mse_gradients(x, y, kernel, bias):
    """[dL/dkernel, dL/dbias] in closed form."""
    pred = x @ kernel + bias
    r = 2.0 * (pred - y) / pred.size
    return [x.T @ r, r.sum(axis=0)]


def assert_same_history(history, reference, rtol=1e-12, atol=1e-14):
    """Per step, the weights of ``history`` equal those of ``reference``."""
    assert len(history) == len(reference)
    for step, (got, want) in enumerate(zip(history, reference)):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"step {step + 1}")


def assert_weights_moved(history, kernel):
    assert not np.allclose(history[-1][0], kernel), "the optimizer did not move the weights"


# ----------------------------------------------------------------------------- a small regression

LINEAR_WEIGHTS = np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")


def linear_regression_data(n, seed=0):
    """(x, y): ``n`` rows of 4 standard normal float32 features, ``y = x @ [1, -2, 0.5, 3]``."""
    x = np.random.default_rng(seed).standard_normal((n, 4)).astype("float32")
    return x, x @ LINEAR_WEIGHTS


def linear_regression_model(lr=0.05, metrics=None):
    """Input((4,)) -> Dense(1), compiled with SGD(lr) and MSE; weights from seed 0."""
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((4,)), fw.layers.Dense(1)])
    model.compile(fw.optimizers.SGD(lr), "mse", metrics=metrics)
    return model


def one_training_step(model, x, y):
    """(plan, outputs, weight gradients, input gradient) of one training step of ``model`` on one batch: mean
    squared error, SGD with a zero rate (the weights stay), the input's gradient computed too."""
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    state = model.parameter_arena()
    plan = compile_plan(model, "train", len(x), model.arena_dtype(), model._training_setup(), state.grad_views,
                        model.optimizer.bind(state.params, state.grads), input_gradients=True)
    plan.inputs[0][...] = x
    plan.targets[0][...] = y
    plan.train_step()
    grads = [state.grad_views[id(v)].copy() for v in model.trainable_weights]
    return plan, plan.outputs[0].copy(), grads, plan.input_grads[0].copy()
