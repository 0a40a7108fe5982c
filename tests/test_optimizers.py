"""Optimizers: SGD, Adam and RMSprop against Keras 3's update rules written out in NumPy
(through a model, in float64); the learning rate and the state across steps and fits; Keras
defaults, registry names, errors, ``bind``'s checks and YAML-safe configs of every optimizer.

The model is one linear Dense layer trained with MSE, whose gradient is known in closed form
(``dense_mse_problem`` and ``dense_mse_gradients`` in helpers.py).

Every optimizer and the common options (weight decay, clipping, EMA, gradient accumulation)
against Keras's rules: tests/test_optimizer_update_rules.py; the schedules: tests/test_schedules.py.
"""
import math

import numpy as np
import pytest

import framework as fw
from framework import optimizers
from framework.layers import Dense
from framework.optimizers import schedules
from gradcheck import float64_mode
from helpers import assert_same_history, assert_weights_moved, dense_mse_gradients, dense_mse_problem

STEPS = 5


@pytest.fixture(autouse=True)
def _float64():
    with float64_mode():
        yield


def _train(optimizer, x, y, kernel, bias, steps=STEPS, after_step=None):
    model = fw.Sequential([fw.Input((x.shape[1],)), Dense(y.shape[1])])
    model.set_weights([kernel, bias])
    model.compile(optimizer=optimizer, loss="mse")
    history = []
    for step in range(steps):
        model.train_on_batch(x, y)
        history.append([w.copy() for w in model.get_weights()])
        if after_step is not None:
            after_step(model, step)
    assert model.get_weights()[0].dtype == np.float64
    return model, history


def _reference(update, x, y, kernel, bias, steps=STEPS):
    """Apply ``update(params, grads, state, t)`` (t counted from 1) to [kernel, bias]."""
    params = [kernel.copy(), bias.copy()]
    state = [dict() for _ in params]
    history = []
    for t in range(1, steps + 1):
        grads = dense_mse_gradients(x, y, *params)
        params = [update(p, g, s, t) for p, g, s in zip(params, grads, state)]
        history.append([p.copy() for p in params])
    return history


# ----------------------------------------------------------------------------- SGD

def _sgd_rule(lr, momentum=0.0, nesterov=False):
    def update(p, g, s, t):
        if not momentum:
            return p - lr * g
        m = s.get("m", np.zeros_like(p))
        m = momentum * m - lr * g
        s["m"] = m
        return p + momentum * m - lr * g if nesterov else p + m
    return update


@pytest.mark.parametrize("lr,momentum,nesterov", [(0.1, 0.0, False), (0.05, 0.9, False), (0.05, 0.9, True),
                                                  (0.2, 0.5, True)])
def test_sgd_matches_keras_rule(lr, momentum, nesterov):
    x, y, k, b = dense_mse_problem()
    _, history = _train(optimizers.SGD(learning_rate=lr, momentum=momentum, nesterov=nesterov), x, y, k, b)
    assert_same_history(history, _reference(_sgd_rule(lr, momentum, nesterov), x, y, k, b))
    assert_weights_moved(history, k)


def test_nesterov_differs_from_plain_momentum():
    x, y, k, b = dense_mse_problem()
    _, plain = _train(optimizers.SGD(0.05, momentum=0.9), x, y, k, b)
    _, nesterov = _train(optimizers.SGD(0.05, momentum=0.9, nesterov=True), x, y, k, b)
    assert not np.allclose(plain[-1][0], nesterov[-1][0])


# ----------------------------------------------------------------------------- Adam

def _adam_rule(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    def update(p, g, s, t):
        m = s.get("m", np.zeros_like(p))
        v = s.get("v", np.zeros_like(p))
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        s["m"], s["v"] = m, v
        alpha = learning_rate * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        if amsgrad:
            vhat = np.maximum(s.get("vhat", np.zeros_like(p)), v)
            s["vhat"] = vhat
            v = vhat
        return p - m * alpha / (np.sqrt(v) + epsilon)
    return update


def test_adam_keras_defaults():
    opt = optimizers.Adam()
    assert opt.learning_rate == pytest.approx(0.001)
    assert (opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == (0.9, 0.999, 1e-7, False)
    assert isinstance(optimizers.get("adam"), optimizers.Adam)


def test_adam_default_matches_keras_rule():
    x, y, k, b = dense_mse_problem(1)
    _, history = _train("adam", x, y, k, b)
    assert_same_history(history, _reference(_adam_rule(), x, y, k, b))
    assert_weights_moved(history, k)


@pytest.mark.parametrize("kwargs", [
    dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=1e-3),
    dict(learning_rate=0.3, beta_1=0.5, beta_2=0.6, amsgrad=True),
])
def test_adam_options_match_keras_rule(kwargs):
    x, y, k, b = dense_mse_problem(2)
    _, history = _train(optimizers.Adam(**kwargs), x, y, k, b, steps=8)
    assert_same_history(history, _reference(_adam_rule(**kwargs), x, y, k, b, steps=8))


def test_amsgrad_changes_the_trajectory():
    """With a short beta_2 memory and shrinking gradients, v decreases, so vhat matters."""
    x, y, k, b = dense_mse_problem(2)
    kwargs = dict(learning_rate=0.3, beta_1=0.5, beta_2=0.6)
    _, plain = _train(optimizers.Adam(**kwargs), x, y, k, b, steps=8)
    _, ams = _train(optimizers.Adam(amsgrad=True, **kwargs), x, y, k, b, steps=8)
    assert not np.allclose(plain[-1][0], ams[-1][0])


# ----------------------------------------------------------------------------- RMSprop

def _rmsprop_rule(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    def update(p, g, s, t):
        ms = rho * s.get("ms", np.zeros_like(p)) + (1 - rho) * g * g
        s["ms"] = ms
        denominator = ms
        if centered:
            mg = rho * s.get("mg", np.zeros_like(p)) + (1 - rho) * g
            s["mg"] = mg
            denominator = ms - mg * mg
        increment = learning_rate * g / np.sqrt(denominator + epsilon)
        if momentum > 0:
            mom = momentum * s.get("mom", np.zeros_like(p)) + increment
            s["mom"] = mom
            return p - mom
        return p - increment
    return update


def test_rmsprop_keras_defaults():
    opt = optimizers.RMSprop()
    assert opt.learning_rate == pytest.approx(0.001)
    assert (opt.rho, opt.momentum, opt.epsilon, opt.centered) == (0.9, 0.0, 1e-7, False)
    sgd = optimizers.SGD()
    assert sgd.learning_rate == pytest.approx(0.01) and sgd.momentum == 0.0 and sgd.nesterov is False


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(learning_rate=0.01, rho=0.8, momentum=0.5),
    dict(learning_rate=0.01, centered=True),
    dict(learning_rate=0.02, rho=0.7, momentum=0.3, centered=True, epsilon=1e-4),
])
def test_rmsprop_matches_keras_rule(kwargs):
    x, y, k, b = dense_mse_problem(3)
    _, history = _train(optimizers.RMSprop(**kwargs), x, y, k, b)
    assert_same_history(history, _reference(_rmsprop_rule(**kwargs), x, y, k, b))
    assert_weights_moved(history, k)


# ----------------------------------------------------------------------------- learning rate and state

@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_zero_learning_rate_stops_updates(name):
    x, y, k, b = dense_mse_problem(4)

    def freeze(model, step):
        if step == 1:
            model.optimizer.learning_rate = 0.0

    _, history = _train(name, x, y, k, b, steps=4, after_step=freeze)
    assert not np.allclose(history[1][0], k)
    for later in history[2:]:
        for w_later, w_frozen in zip(later, history[1]):
            np.testing.assert_array_equal(w_later, w_frozen)


def test_learning_rate_change_is_used_by_the_next_step():
    x, y, k, b = dense_mse_problem(5)
    rates = [0.1, 0.1, 0.02, 0.3]

    def schedule(model, step):
        if step + 1 < len(rates):
            model.optimizer.learning_rate = rates[step + 1]

    _, history = _train(optimizers.SGD(rates[0], momentum=0.5), x, y, k, b, steps=4, after_step=schedule)
    params, m = [k.copy(), b.copy()], [np.zeros_like(k), np.zeros_like(b)]
    for step, lr in enumerate(rates):
        grads = dense_mse_gradients(x, y, *params)
        for i in range(2):
            m[i] = 0.5 * m[i] - lr * grads[i]
            params[i] = params[i] + m[i]
        for got, want in zip(history[step], params):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_learning_rate_change_during_fit_with_adam():
    x, y, k, b = dense_mse_problem(6, n=8)
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    model.set_weights([k, b])
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    moved = model.get_weights()
    assert not np.allclose(moved[0], k)
    model.optimizer.learning_rate = 0.0
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, c in zip(moved, model.get_weights()):
        np.testing.assert_array_equal(a, c)


def test_invalid_learning_rate():
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate=-1.0)
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = float("nan")


def test_learning_rate_cannot_be_set_over_a_schedule():
    opt = optimizers.Adam(schedules.CosineDecay(0.1, 10))
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.01
    opt.learning_rate = schedules.ExponentialDecay(0.5, 10, 0.9)  # a new schedule is fine
    assert opt.learning_rate == pytest.approx(0.5)
    opt = optimizers.Adam(lambda step: 0.1)
    with pytest.raises(TypeError):
        opt.learning_rate = 0.01
    opt = optimizers.Adam(0.1)
    opt.learning_rate = schedules.ExponentialDecay(0.5, 10, 0.9)
    assert opt.learning_rate == pytest.approx(0.5)


def test_iterations_count_steps():
    x, y, k, b = dense_mse_problem(7, n=10)
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert model.optimizer.iterations == 2 * 3
    model.train_on_batch(x, y)
    assert model.optimizer.iterations == 7


def test_adam_state_continues_across_fit_calls():
    """Two fits of one epoch equal one fit of two epochs (moments and step count carry over)."""
    x, y, k, b = dense_mse_problem(8, n=8)
    results = []
    for epochs in ([2], [1, 1]):
        model = fw.Sequential([fw.Input((3,)), Dense(2)])
        model.set_weights([k, b])
        model.compile(optimizer=optimizers.Adam(0.05), loss="mse")
        for e in epochs:
            model.fit(x, y, batch_size=8, epochs=e, verbose=0)
        results.append(model.get_weights())
    for a, c in zip(*results):
        np.testing.assert_allclose(a, c, rtol=1e-12)
    np.testing.assert_allclose(results[0][0], _reference(_adam_rule(0.05), x, y, k, b, steps=2)[-1][0],
                               rtol=1e-12)


# ----------------------------------------------------------------------------- names, defaults and configs

def test_unknown_optimizer_name_lists_choices():
    with pytest.raises(ValueError) as info:
        optimizers.get("adagradd")
    msg = str(info.value)
    assert "adagradd" in msg and "adam" in msg and "sgd" in msg and "rmsprop" in msg


def test_unsupported_or_conflicting_options_are_errors():
    with pytest.raises(NotImplementedError, match="loss_scale_factor"):
        optimizers.Adam(loss_scale_factor=2.0)
    with pytest.raises(ValueError):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)


def test_optimizer_get_forms():
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    assert isinstance(optimizers.get(optimizers.RMSprop), optimizers.RMSprop)
    opt = optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.5}})
    assert isinstance(opt, optimizers.Adam) and opt.learning_rate == 0.5
    config = optimizers.SGD(0.3, momentum=0.2, nesterov=True).get_config()
    again = optimizers.SGD.from_config(config)
    assert (again.learning_rate, again.momentum, again.nesterov) == (0.3, 0.2, True)


def test_keras_defaults():
    expected = {
        "AdamW": dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
        "Adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
        "Adadelta": dict(learning_rate=0.001, rho=0.95, epsilon=1e-7),
        "Adamax": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        "Nadam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        "Lion": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.99),
    }
    for name, values in expected.items():
        opt = getattr(optimizers, name)()
        for key, value in values.items():
            assert getattr(opt, key) == pytest.approx(value), (name, key)
        assert opt.name == name.lower()
        config = opt.get_config()
        assert config["use_ema"] is False and config["ema_momentum"] == 0.99
        assert config["clipnorm"] is None and config["gradient_accumulation_steps"] is None


@pytest.mark.parametrize("name", ["adamw", "AdamW", "adagrad", "Adagrad", "adadelta", "Adadelta", "adamax",
                                  "Adamax", "nadam", "Nadam", "lion", "Lion", "sgd", "adam", "rmsprop", "ADAMW"])
def test_registry_names(name):
    opt = optimizers.get(name)
    assert type(opt).__name__.lower() == name.lower()
    fw_model = fw.Sequential([fw.Input((3,)), Dense(2)])
    fw_model.compile(optimizer=name, loss="mse")
    assert type(fw_model.optimizer) is type(opt)


def test_config_is_yaml_safe():
    yaml = pytest.importorskip("yaml")
    opt = optimizers.AdamW(schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=3), clipnorm=1.0,
                           use_ema=True, ema_overwrite_frequency=5, gradient_accumulation_steps=4)
    text = yaml.safe_dump(optimizers.serialize(opt))
    again = optimizers.deserialize(yaml.safe_load(text))
    assert again.get_config() == opt.get_config()


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make,error,match", [
    (lambda: optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0), ValueError, "Only one of|only one of"),
    (lambda: optimizers.SGD(clipnorm=1.0, clipvalue=1.0), ValueError, "only one of"),
    (lambda: optimizers.SGD(clipvalue=1.0, global_clipnorm=1.0), ValueError, "only one of"),
    (lambda: optimizers.Adam(gradient_accumulation_steps=1), ValueError, "gradient_accumulation_steps"),
    (lambda: optimizers.Adam(gradient_accumulation_steps=2.5), ValueError, "gradient_accumulation_steps"),
    (lambda: optimizers.Adam(use_ema=True, ema_momentum=1.5), ValueError, "ema_momentum"),
    (lambda: optimizers.Adam(use_ema=True, ema_overwrite_frequency=0), ValueError, "ema_overwrite_frequency"),
    (lambda: optimizers.AdamW(weight_decay=None), ValueError, "weight_decay"),
    (lambda: optimizers.Lion(beta_1=0.0), ValueError, "beta_1"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=-1.0), ValueError, "initial_accumulator_value"),
    (lambda: optimizers.Adam(clipnorm=-1.0), ValueError, "clipnorm"),
    (lambda: optimizers.Adam(weight_decay=float("nan")), ValueError, "weight_decay"),
    (lambda: optimizers.Adam(no_such_option=1), ValueError, "not recognized"),
    (lambda: optimizers.Adam(loss_scale_factor=128.0), NotImplementedError, "loss_scale_factor"),
    (lambda: optimizers.Adam(learning_rate="fast"), ValueError, "learning_rate"),
    (lambda: optimizers.SGD(lambda step: 0.1).get_config(), ValueError, "callable"),
    (lambda: optimizers.get("adamx"), ValueError, "adamax"),
])
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_legacy_decay_argument_warns_and_is_ignored():
    with pytest.warns(UserWarning, match="decay"):
        opt = optimizers.Adam(decay=0.1)
    assert "decay" not in opt.get_config()


def test_bind_checks_its_arrays_and_segments():
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="float32 or float64"):
        opt.bind(np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="must match"):
        opt.bind(np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match="must match"):
        opt.bind(np.zeros(4), np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="1-D"):
        opt.bind(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="segments"):
        opt.bind(np.zeros(4), np.zeros(4), [(0, 2), (3, 4)])
    with pytest.raises(ValueError, match="segments"):
        opt.bind(np.zeros(4), np.zeros(4), [(0, 2)])
    with pytest.raises(ValueError, match="segments"):
        opt.bind(np.zeros(4), np.zeros(4), [(0, 5)])
    opt.bind(np.zeros(4), np.zeros(4), [(0, 0), (0, 3), (3, 4)])  # empty weights are fine
    opt.bind(np.zeros(4), np.zeros(4), np.array([[0, 1], [1, 4]]))
    opt.bind(np.zeros(0), np.zeros(0), [])()


def test_slots_are_kept_across_rebinds_of_the_same_layout():
    opt = optimizers.Adagrad(use_ema=True, gradient_accumulation_steps=2)
    params, grads = np.ones(5), np.full(5, 0.5)
    opt.bind(params, grads)()
    slots = dict(opt.slots)
    assert set(slots) == {"average", "gradient_accumulator", "accumulator"}
    np.testing.assert_array_equal(slots["accumulator"], np.full(5, 0.1))
    opt.bind(params, grads)
    assert all(opt.slots[k] is v for k, v in slots.items())
    opt.bind(np.ones(6), np.ones(6))
    assert opt.slots["accumulator"].size == 6
