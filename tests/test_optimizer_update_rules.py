"""Every optimizer against Keras 3's update rules written out by hand in NumPy (float64,
several steps): the rules themselves, the common Keras 3 options (weight decay, clipping, EMA,
gradient accumulation), learning-rate schedules and callables as the optimizer uses them, config
round trips of every case, and allocation-free bound steps.

The problem is one linear Dense layer trained with MSE, whose gradient is known in closed form
(``dense_mse_problem`` and ``dense_mse_gradients`` in helpers.py).

Two paths are checked: ``opt.bind(params, grads, segments)`` driven directly on a
hand-made arena (kernel then bias, back to back), and a real model through
``train_on_batch``.

The reference ``KerasReference.apply`` follows ``BaseOptimizer._backend_apply_gradients``
(keras/src/optimizers/base_optimizer.py): accumulate (mean every N steps), clip, decoupled
weight decay ``w -= w * wd * lr``, the update rule with ``t = iterations + 1``, the EMA of
the weights (momentum 0 at iteration 0), then ``iterations += 1``.

Elsewhere: the schedules' own values and configs in tests/test_schedules.py; Keras defaults,
names, errors and ``bind``'s checks in tests/test_optimizers.py.
"""
import math
import warnings

import numpy as np
import pytest

import framework as fw
from framework import optimizers
from framework.layers import Dense
from framework.optimizers import schedules
from gradcheck import float64_mode
from helpers import (allocation_growth, assert_same_history, assert_weights_moved, dense_mse_gradients,
                     dense_mse_problem)

STEPS = 6


# ============================================================================= Keras rules in NumPy

def sgd_rule(momentum=0.0, nesterov=False):
    def rule(p, g, s, lr, t, shared):
        if not momentum:
            return p - lr * g
        m = momentum * s.get("m", np.zeros_like(p)) - lr * g
        s["m"] = m
        return p + momentum * m - lr * g if nesterov else p + m
    return rule


def adam_rule(beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    def rule(p, g, s, lr, t, shared):
        m = s.get("m", np.zeros_like(p))
        v = s.get("v", np.zeros_like(p))
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        s["m"], s["v"] = m, v
        alpha = lr * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        if amsgrad:
            v = s["vhat"] = np.maximum(s.get("vhat", np.zeros_like(p)), v)
        return p - m * alpha / (np.sqrt(v) + epsilon)
    return rule


def rmsprop_rule(rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    def rule(p, g, s, lr, t, shared):
        ms = s["ms"] = rho * s.get("ms", np.zeros_like(p)) + (1 - rho) * g * g
        denominator = ms
        if centered:
            mg = s["mg"] = rho * s.get("mg", np.zeros_like(p)) + (1 - rho) * g
            denominator = ms - mg * mg
        increment = lr * g / np.sqrt(denominator + epsilon)
        if momentum > 0:
            mom = s["mom"] = momentum * s.get("mom", np.zeros_like(p)) + increment
            return p - mom
        return p - increment
    return rule


def adagrad_rule(initial_accumulator_value=0.1, epsilon=1e-7):
    def rule(p, g, s, lr, t, shared):
        acc = s["acc"] = s.get("acc", np.full_like(p, initial_accumulator_value)) + g * g
        return p - lr * g / np.sqrt(acc + epsilon)
    return rule


def adadelta_rule(rho=0.95, epsilon=1e-7):
    def rule(p, g, s, lr, t, shared):
        ag = s["ag"] = rho * s.get("ag", np.zeros_like(p)) + (1 - rho) * g * g
        ad = s.get("ad", np.zeros_like(p))
        delta = -np.sqrt(ad + epsilon) * g / np.sqrt(ag + epsilon)
        s["ad"] = rho * ad + (1 - rho) * delta * delta
        return p + lr * delta
    return rule


def adamax_rule(beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def rule(p, g, s, lr, t, shared):
        m = s["m"] = s.get("m", np.zeros_like(p)) + (g - s.get("m", np.zeros_like(p))) * (1 - beta_1)
        u = s["u"] = np.maximum(beta_2 * s.get("u", np.zeros_like(p)), np.abs(g))
        return p - lr * m / ((1 - beta_1 ** t) * (u + epsilon))
    return rule


def nadam_rule(beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def rule(p, g, s, lr, t, shared):
        if shared.get("t") != t:  # Nadam._backend_update_step: once per step, before the variables
            shared["u_product"] = shared.get("u_product", 1.0) * beta_1 * (1.0 - 0.5 * 0.96 ** t)
            shared["t"] = t
        u_t = beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_t_1 = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product_t = shared["u_product"]
        u_product_t_1 = u_product_t * u_t_1
        m = s.get("m", np.zeros_like(p))
        v = s.get("v", np.zeros_like(p))
        m = s["m"] = m + (g - m) * (1 - beta_1)
        v = s["v"] = v + (g * g - v) * (1 - beta_2)
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product_t)
        v_hat = v / (1 - beta_2 ** t)
        return p - m_hat * lr / (np.sqrt(v_hat) + epsilon)
    return rule


def lion_rule(beta_1=0.9, beta_2=0.99):
    def rule(p, g, s, lr, t, shared):
        m = s.get("m", np.zeros_like(p))
        p = p - lr * np.sign(m * beta_1 + g * (1 - beta_1))
        s["m"] = m * beta_2 + g * (1 - beta_2)
        return p
    return rule


RULES = {"SGD": sgd_rule, "Adam": adam_rule, "AdamW": adam_rule, "RMSprop": rmsprop_rule,
         "Adagrad": adagrad_rule, "Adadelta": adadelta_rule, "Adamax": adamax_rule, "Nadam": nadam_rule,
         "Lion": lion_rule}
COMMON = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
          "ema_overwrite_frequency", "gradient_accumulation_steps")
DEFAULT_LR = {"SGD": 0.01}


class KerasReference:
    """Keras 3's BaseOptimizer.apply over a list of weights, in NumPy."""

    def __init__(self, rule, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 gradient_accumulation_steps=None):
        self.rule, self.lr = rule, learning_rate
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm, self.use_ema, self.ema_momentum = global_clipnorm, use_ema, ema_momentum
        self.frequency, self.accumulate = ema_overwrite_frequency, gradient_accumulation_steps
        self.raw = 0
        self.states, self.shared, self.acc, self.average = None, {}, None, None

    @classmethod
    def for_optimizer(cls, name, kwargs):
        common = {k: v for k, v in kwargs.items() if k in COMMON}
        own = {k: v for k, v in kwargs.items() if k not in COMMON}
        if name == "AdamW":
            common.setdefault("weight_decay", 0.004)
        common.setdefault("learning_rate", DEFAULT_LR.get(name, 0.001))
        return cls(RULES[name](**own), **common)

    @property
    def iterations(self):
        return self.raw // self.accumulate if self.accumulate else self.raw

    def learning_rate(self):
        return self.lr(self.raw) if callable(self.lr) else self.lr

    def clip(self, grads):
        if self.clipnorm:
            return [g * self.clipnorm / max(np.sqrt(np.sum(g * g)), self.clipnorm) for g in grads]
        if self.global_clipnorm:
            norm = math.sqrt(sum(np.sum(g * g) for g in grads))
            scale = self.global_clipnorm * min(1.0 / norm, 1.0 / self.global_clipnorm)
            return [g * scale for g in grads]
        if self.clipvalue:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def update(self, params, grads):
        grads = self.clip(grads)
        lr = self.learning_rate()
        if self.weight_decay is not None:
            params = [p - p * self.weight_decay * lr for p in params]
        t = self.iterations + 1
        return [self.rule(p, g, s, lr, t, self.shared) for p, g, s in zip(params, grads, self.states)]

    def apply(self, params, grads):
        if self.states is None:
            self.states = [dict() for _ in params]
        if self.accumulate:
            if self.acc is None:
                self.acc = [np.zeros_like(p) for p in params]
            if (self.raw + 1) % self.accumulate == 0:
                params = self.update(params, [(g + a) / self.accumulate for g, a in zip(grads, self.acc)])
                self.acc = [np.zeros_like(p) for p in params]
            else:
                self.acc = [a + g for a, g in zip(self.acc, grads)]
        else:
            params = self.update(params, grads)
        if self.use_ema:
            if self.average is None:
                self.average = [np.zeros_like(p) for p in params]
            momentum = self.ema_momentum * (self.iterations != 0)
            self.average = [momentum * a + (1 - momentum) * p for a, p in zip(self.average, params)]
            if self.frequency and (self.iterations + 1) % self.frequency == 0:
                params = [a.copy() for a in self.average]
        self.raw += 1
        return params


def _reference_run(name, kwargs, x, y, kernel, bias, steps=STEPS):
    ref = KerasReference.for_optimizer(name, kwargs)
    params = [kernel.copy(), bias.copy()]
    history = []
    for _ in range(steps):
        params = ref.apply(params, dense_mse_gradients(x, y, *params))
        history.append([p.copy() for p in params])
    return history, ref


# ============================================================================= the two paths

def _arena_run(opt, x, y, kernel, bias, steps=STEPS, dtype=np.float64, segments=True, after_step=None):
    """Drive ``opt.bind`` directly: params/grads are one flat arena, kernel then bias."""
    params = np.concatenate([kernel.ravel(), bias]).astype(dtype)
    grads = np.zeros_like(params)
    k_view, b_view = params[:kernel.size].reshape(kernel.shape), params[kernel.size:]
    gk, gb = grads[:kernel.size].reshape(kernel.shape), grads[kernel.size:]
    step = opt.bind(params, grads, [(0, kernel.size), (kernel.size, params.size)] if segments else None)
    history = []
    for i in range(steps):
        dk, db = dense_mse_gradients(x, y, k_view.astype(np.float64), b_view.astype(np.float64))
        gk[...], gb[...] = dk, db
        step()
        history.append([k_view.copy(), b_view.copy()])
        if after_step is not None:
            after_step(i)
    return history, params


def _model_run(opt, x, y, kernel, bias, steps=STEPS):
    model = fw.Sequential([fw.Input((x.shape[1],)), Dense(y.shape[1])])
    model.set_weights([kernel, bias])
    model.compile(optimizer=opt, loss="mse")
    history = []
    for _ in range(steps):
        model.train_on_batch(x, y)
        history.append([w.copy() for w in model.get_weights()])
    return model, history


# ============================================================================= every optimizer

CASES = [
    ("SGD", dict(learning_rate=0.1)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict()),
    ("Adam", dict(learning_rate=0.3, beta_1=0.5, beta_2=0.6, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(learning_rate=0.1, weight_decay=0.5, beta_1=0.5, beta_2=0.6, amsgrad=True)),
    ("RMSprop", dict(learning_rate=0.02, rho=0.7, momentum=0.3, centered=True, epsilon=1e-4)),
    ("Adagrad", dict()),
    ("Adagrad", dict(learning_rate=0.5, initial_accumulator_value=0.0, epsilon=1e-3)),
    ("Adadelta", dict()),
    ("Adadelta", dict(learning_rate=1.0, rho=0.8, epsilon=1e-4)),
    ("Adamax", dict()),
    ("Adamax", dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=1e-3)),
    ("Nadam", dict()),
    ("Nadam", dict(learning_rate=0.05, beta_1=0.7, beta_2=0.9)),
    ("Lion", dict()),
    ("Lion", dict(learning_rate=0.01, beta_1=0.5, beta_2=0.9)),
]
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def _make(name, kwargs):
    return getattr(optimizers, name)(**kwargs)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_optimizer_matches_keras_rule_on_the_arena(name, kwargs):
    x, y, k, b = dense_mse_problem(1)
    history, _ = _arena_run(_make(name, kwargs), x, y, k, b)
    assert_same_history(history, _reference_run(name, kwargs, x, y, k, b)[0])
    assert_weights_moved(history, k)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_optimizer_matches_keras_rule_through_a_model(name, kwargs):
    x, y, k, b = dense_mse_problem(2)
    with float64_mode():
        model, history = _model_run(_make(name, kwargs), x, y, k, b)
    assert model.get_weights()[0].dtype == np.float64
    assert_same_history(history, _reference_run(name, kwargs, x, y, k, b)[0])
    assert model.optimizer.iterations == STEPS


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_optimizer_in_float32(name, kwargs):
    x, y, k, b = dense_mse_problem(3)
    opt = _make(name, kwargs)
    history, params = _arena_run(opt, x, y, k, b, dtype=np.float32)
    assert params.dtype == np.float32
    assert all(s.dtype == np.float32 for s in opt.variables)
    assert_same_history(history, _reference_run(name, kwargs, x, y, k, b)[0], rtol=2e-4, atol=2e-5)


def test_float32_model_matches_the_float64_rule():
    x, y, k, b = dense_mse_problem(4)
    kwargs = dict(learning_rate=0.05, weight_decay=0.1, global_clipnorm=0.5, use_ema=True)
    model, history = _model_run(optimizers.Nadam(**kwargs), x, y, k, b)
    assert model.get_weights()[0].dtype == np.float32
    assert_same_history(history, _reference_run("Nadam", kwargs, x, y, k, b)[0], rtol=2e-4, atol=2e-5)


# ============================================================================= the common options

OPTION_CASES = [
    ("SGD", dict(learning_rate=0.1, weight_decay=0.3)),
    ("Adam", dict(learning_rate=0.05, weight_decay=0.2)),
    ("Lion", dict(learning_rate=0.01, weight_decay=1.0)),
    ("SGD", dict(learning_rate=0.1, momentum=0.5, clipnorm=0.3)),
    ("Adam", dict(learning_rate=0.05, clipnorm=0.4)),
    ("SGD", dict(learning_rate=0.1, clipvalue=0.05)),
    ("Adagrad", dict(learning_rate=0.1, clipvalue=0.1)),
    ("SGD", dict(learning_rate=0.1, global_clipnorm=0.3)),
    ("Nadam", dict(learning_rate=0.05, global_clipnorm=0.2)),
    ("SGD", dict(learning_rate=0.2, use_ema=True)),
    ("Adam", dict(learning_rate=0.1, use_ema=True, ema_momentum=0.8)),
    ("SGD", dict(learning_rate=0.2, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)),
    ("Adamax", dict(learning_rate=0.1, use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=3)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9, gradient_accumulation_steps=2)),
    ("Adam", dict(learning_rate=0.1, gradient_accumulation_steps=3)),
    ("Nadam", dict(learning_rate=0.1, gradient_accumulation_steps=2)),
    ("Adam", dict(learning_rate=0.1, amsgrad=True, gradient_accumulation_steps=2, use_ema=True,
                  ema_momentum=0.6, ema_overwrite_frequency=2, weight_decay=0.1, clipvalue=0.08)),
    ("AdamW", dict(learning_rate=0.1, amsgrad=True, gradient_accumulation_steps=2, global_clipnorm=0.1,
                   use_ema=True)),
    ("RMSprop", dict(learning_rate=0.01, weight_decay=0.1, clipnorm=0.2, use_ema=True,
                     ema_overwrite_frequency=4)),
    ("Adadelta", dict(learning_rate=1.0, weight_decay=0.05, global_clipnorm=0.1, gradient_accumulation_steps=2)),
]
OPTION_IDS = [f"{name}-" + "-".join(k for k in kwargs if k in COMMON and k != "learning_rate")
              for name, kwargs in OPTION_CASES]


@pytest.mark.parametrize("name,kwargs", OPTION_CASES, ids=OPTION_IDS)
def test_common_options_match_keras_on_the_arena(name, kwargs):
    x, y, k, b = dense_mse_problem(5)
    history, _ = _arena_run(_make(name, kwargs), x, y, k, b, steps=8)
    assert_same_history(history, _reference_run(name, kwargs, x, y, k, b, steps=8)[0])
    assert_weights_moved(history, k)


@pytest.mark.parametrize("name,kwargs", [c for c in OPTION_CASES if "clipnorm" not in c[1]],
                         ids=[i for i, c in zip(OPTION_IDS, OPTION_CASES) if "clipnorm" not in c[1]])
def test_common_options_match_keras_through_a_model(name, kwargs):
    x, y, k, b = dense_mse_problem(6)
    with float64_mode():
        model, history = _model_run(_make(name, kwargs), x, y, k, b, steps=8)
    assert_same_history(history, _reference_run(name, kwargs, x, y, k, b, steps=8)[0])


def test_clipnorm_through_a_model_clips_each_weight():
    """Needs the trainer to pass each weight's (start, stop) to ``bind(..., segments=...)``."""
    x, y, k, b = dense_mse_problem(6)
    opt = optimizers.Adam(learning_rate=0.05, clipnorm=0.4)
    seen = []
    bind = opt.bind

    def recording_bind(params, grads, segments=None):
        seen.append(segments)
        return bind(params, grads, segments)

    opt.bind = recording_bind
    with float64_mode():
        model, history = _model_run(opt, x, y, k, b, steps=8)
    if seen and seen[0] is None:
        pytest.skip("the trainer does not pass bind(..., segments=...) yet, so clipnorm sees one segment")
    assert [tuple(map(int, s)) for s in seen[0]] == [(0, k.size), (k.size, k.size + b.size)]
    assert_same_history(history, _reference_run("Adam", dict(learning_rate=0.05, clipnorm=0.4), x, y, k, b, steps=8)[0])


def test_clipping_is_active_in_these_cases():
    """Guard: the clipping thresholds above are below the gradients' norms and values."""
    x, y, k, b = dense_mse_problem(5)
    gk, gb = dense_mse_gradients(x, y, k, b)
    assert np.sqrt(np.sum(gk ** 2)) > 0.4 and np.sqrt(np.sum(gb ** 2)) > 0.4
    assert np.abs(gk).max() > 0.1
    clipped_by_segment = [g * 0.3 / max(np.linalg.norm(g), 0.3) for g in (gk, gb)]
    whole = np.concatenate([gk.ravel(), gb])
    clipped_whole = whole * 0.3 / max(np.linalg.norm(whole), 0.3)
    assert not np.allclose(np.concatenate([c.ravel() for c in clipped_by_segment]), clipped_whole)


def test_clipnorm_without_segments_is_one_segment():
    x, y, k, b = dense_mse_problem(5)
    history, _ = _arena_run(optimizers.SGD(0.1, clipnorm=0.3), x, y, k, b, steps=4, segments=False)
    reference, _ = _reference_run("SGD", dict(learning_rate=0.1, global_clipnorm=0.3), x, y, k, b, steps=4)
    assert_same_history(history, reference)


def test_clipping_leaves_the_gradients_alone():
    params = np.ones(4)
    grads = np.array([3.0, -4.0, 0.5, 10.0])
    before = grads.copy()
    for opt in (optimizers.SGD(0.1, clipvalue=0.1), optimizers.SGD(0.1, clipnorm=0.1),
                optimizers.SGD(0.1, global_clipnorm=0.1), optimizers.SGD(0.1, gradient_accumulation_steps=2)):
        step = opt.bind(params, grads)
        step()
        step()
        np.testing.assert_array_equal(grads, before)


def test_global_clipnorm_of_non_finite_gradients_gives_nan():
    params = np.ones(3)
    step = optimizers.SGD(0.1, global_clipnorm=1.0).bind(params, np.array([np.inf, 1.0, 0.0]))
    step()
    assert np.isnan(params).all()
    params = np.ones(3)
    step = optimizers.SGD(0.1, clipnorm=1.0).bind(params, np.array([np.nan, 1.0, 0.0]))
    step()
    assert np.isnan(params).all()


def test_zero_gradient_is_not_clipped_to_nan():
    for opt in (optimizers.SGD(0.1, clipnorm=1.0), optimizers.SGD(0.1, global_clipnorm=1.0)):
        params = np.ones(3)
        opt.bind(params, np.zeros(3))()
        np.testing.assert_array_equal(params, np.ones(3))


# ----------------------------------------------------------------------------- EMA

def test_ema_slot_holds_the_average_and_finalize_copies_it():
    x, y, k, b = dense_mse_problem(7)
    kwargs = dict(learning_rate=0.1, use_ema=True, ema_momentum=0.9)
    opt = optimizers.Adam(**kwargs)
    history, params = _arena_run(opt, x, y, k, b)
    reference, ref = _reference_run("Adam", kwargs, x, y, k, b)
    assert_same_history(history, reference)  # no overwrite frequency: the weights follow plain Adam
    average = np.concatenate([a.ravel() for a in ref.average])
    np.testing.assert_allclose(opt.slots["average"], average, rtol=1e-12)
    assert not np.allclose(params, average)
    opt.finalize_variable_values()
    np.testing.assert_allclose(params, average, rtol=1e-12)


def test_finalize_accepts_a_list_of_weights_or_an_array():
    x, y, k, b = dense_mse_problem(7)
    opt = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    _, params = _arena_run(opt, x, y, k, b, steps=3)
    average = opt.slots["average"].copy()
    weights = [np.zeros_like(k), np.zeros_like(b)]
    opt.finalize_variable_values(weights)
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in weights]), average)
    target = np.zeros_like(params)
    opt.finalize_variable_values(target)
    np.testing.assert_array_equal(target, average)
    with pytest.raises(ValueError, match="finalize_variable_values"):
        opt.finalize_variable_values([np.zeros(3)])
    with pytest.raises(ValueError, match="finalize_variable_values"):
        opt.finalize_variable_values(np.zeros(5))


def test_finalize_without_ema_or_before_a_step_changes_nothing():
    params = np.arange(4.0)
    opt = optimizers.SGD(0.1)
    opt.bind(params, np.ones(4))()
    after = params.copy()
    opt.finalize_variable_values()
    np.testing.assert_array_equal(params, after)
    opt = optimizers.SGD(0.1, use_ema=True)
    opt.bind(params, np.ones(4))
    opt.finalize_variable_values()  # no step yet: the average is not a value yet
    np.testing.assert_array_equal(params, after)


def test_ema_through_fit_is_finalized_when_the_trainer_calls_finalize():
    x, y, k, b = dense_mse_problem(8)
    kwargs = dict(learning_rate=0.1, use_ema=True, ema_momentum=0.7)
    opt = optimizers.SGD(**kwargs)
    calls = []
    finalize = opt.finalize_variable_values
    opt.finalize_variable_values = lambda *a: (calls.append(a), finalize(*a))[1]
    with float64_mode():
        model = fw.Sequential([fw.Input((3,)), Dense(2)])
        model.set_weights([k, b])
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=len(x), epochs=5, shuffle=False, verbose=0)
    if not calls:
        pytest.skip("the trainer does not call optimizer.finalize_variable_values at the end of fit yet")
    _, ref = _reference_run("SGD", kwargs, x, y, k, b, steps=5)
    for got, want in zip(model.get_weights(), ref.average):
        np.testing.assert_allclose(got, want, rtol=1e-12)


# ----------------------------------------------------------------------------- gradient accumulation

def test_gradient_accumulation_updates_every_n_steps_with_the_mean():
    params = np.zeros(2)
    grads = np.zeros(2)
    opt = optimizers.SGD(1.0, gradient_accumulation_steps=3)
    step = opt.bind(params, grads)
    seen = []
    for g in ([1.0, 2.0], [3.0, 4.0], [5.0, 0.0], [1.0, 1.0]):
        grads[:] = g
        step()
        seen.append(params.copy())
    np.testing.assert_array_equal(seen[0], [0, 0])
    np.testing.assert_array_equal(seen[1], [0, 0])
    np.testing.assert_allclose(seen[2], [-3.0, -2.0])  # mean of the three gradients
    np.testing.assert_allclose(seen[3], [-3.0, -2.0])
    np.testing.assert_array_equal(opt.slots["gradient_accumulator"], [1.0, 1.0])
    assert opt.iterations == 1  # Keras: raw steps // gradient_accumulation_steps
    assert opt._iterations == 4


def test_iterations_with_accumulation_through_fit():
    x, y, k, b = dense_mse_problem(9, n=8)
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    model.compile(optimizer=optimizers.Adam(gradient_accumulation_steps=2), loss="mse")
    model.fit(x, y, batch_size=2, epochs=2, verbose=0)
    assert model.optimizer.iterations == 4


# ============================================================================= learning rates

def test_schedule_is_called_with_iterations_before_the_update():
    x, y, k, b = dense_mse_problem(10)
    schedule = schedules.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.5)
    kwargs = dict(learning_rate=schedule, momentum=0.5)
    opt = optimizers.SGD(**kwargs)
    assert opt.learning_rate == pytest.approx(0.2)
    history, _ = _arena_run(opt, x, y, k, b)
    assert_same_history(history, _reference_run("SGD", kwargs, x, y, k, b)[0])
    assert opt.learning_rate == pytest.approx(schedule(STEPS))


def test_callable_learning_rates():
    steps_seen = []

    def by_step(step):
        steps_seen.append(step)
        return 0.1 / (1 + step)

    x, y, k, b = dense_mse_problem(11)
    history, _ = _arena_run(optimizers.Adam(by_step), x, y, k, b)
    assert steps_seen == list(range(STEPS))
    assert_same_history(history, _reference_run("Adam", dict(learning_rate=lambda s: 0.1 / (1 + s)), x, y, k, b)[0])
    history, _ = _arena_run(optimizers.SGD(lambda: 0.05), x, y, k, b)  # Keras: no-argument callables
    assert_same_history(history, _reference_run("SGD", dict(learning_rate=0.05), x, y, k, b)[0])


def test_schedules_see_raw_iterations_with_accumulation():
    """Keras: schedules look at the real step count, the update rule at iterations // N."""
    steps_seen = []
    opt = optimizers.SGD(lambda step: steps_seen.append(step) or 0.1, gradient_accumulation_steps=2)
    step = opt.bind(np.zeros(2), np.ones(2))
    for _ in range(6):
        step()
    assert steps_seen == [1, 3, 5]


def test_schedule_through_a_model():
    x, y, k, b = dense_mse_problem(12)
    kwargs = dict(learning_rate=schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01]))
    with float64_mode():
        _, history = _model_run(optimizers.Adagrad(**kwargs), x, y, k, b)
    assert_same_history(history, _reference_run("Adagrad", kwargs, x, y, k, b)[0])


# ============================================================================= configs

CONFIG_CASES = CASES + OPTION_CASES + [
    ("Adam", dict(learning_rate=schedules.PolynomialDecay(0.1, 100, cycle=True), use_ema=True)),
    ("Lion", dict(learning_rate=schedules.CosineDecayRestarts(0.01, 10, t_mul=1.0), clipvalue=0.5)),
]


@pytest.mark.parametrize("name,kwargs", CONFIG_CASES)
def test_optimizer_config_round_trip(name, kwargs):
    opt = _make(name, kwargs)
    config = opt.get_config()
    again = type(opt).from_config(config)
    assert again.get_config() == config
    serialized = optimizers.serialize(opt)
    assert serialized["class_name"] == name
    assert optimizers.deserialize(serialized).get_config() == config
    for key, value in kwargs.items():
        if isinstance(value, schedules.LearningRateSchedule):
            assert config[key] == schedules.serialize(value)
        else:
            assert config[key] == value, key


# ============================================================================= no allocation per step

ALLOWED_GROWTH = 2048


ALLOCATION_CASES = [(name, kwargs) for name, kwargs in CASES] + [
    ("Adam", dict(weight_decay=0.1, clipnorm=1.0, use_ema=True, ema_overwrite_frequency=3,
                  gradient_accumulation_steps=2, learning_rate=schedules.CosineDecay(0.1, 50))),
    ("Nadam", dict(global_clipnorm=1.0, use_ema=True, learning_rate=lambda step: 0.01)),
    ("Lion", dict(clipvalue=0.1, weight_decay=0.5, gradient_accumulation_steps=3)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", ALLOCATION_CASES)
def test_a_bound_step_allocates_nothing(name, kwargs, dtype):
    rng = np.random.default_rng(0)
    params = rng.standard_normal(10_000).astype(dtype)
    grads = rng.standard_normal(10_000).astype(dtype)
    step = _make(name, kwargs).bind(params, grads, [(0, 4_000), (4_000, 9_000), (9_000, 10_000)])
    for _ in range(3):
        step()  # warm up: kernels compiled for this dtype
    kept, peak = allocation_growth(step, warmup=0, calls=20)
    assert peak < ALLOWED_GROWTH, f"{name} step allocated {peak} bytes at peak"
    assert kept < ALLOWED_GROWTH


def test_nadam_rebuilds_its_momentum_product_when_iterations_change():
    x, y, k, b = dense_mse_problem(13)
    kwargs = dict(learning_rate=0.05)
    full, _ = _arena_run(optimizers.Nadam(**kwargs), x, y, k, b)
    opt = optimizers.Nadam(**kwargs)
    first, params = _arena_run(opt, x, y, k, b, steps=3)
    state = {name: slot.copy() for name, slot in opt.slots.items()}
    resumed = optimizers.Nadam(**kwargs)  # as if restored: slots and iterations, not the product
    resumed.iterations = 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history, _ = _arena_run(_restore(resumed, state, params.size), x, y, *_split(params, k), steps=3)
    assert_same_history(first + history, full)


def _split(params, k):
    return params[:k.size].reshape(k.shape).copy(), params[k.size:].copy()


def _restore(opt, state, size):
    opt.build(size, np.float64)
    for name, value in state.items():
        opt.slots[name][...] = value
    return opt
