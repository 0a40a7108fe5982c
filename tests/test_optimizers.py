"""Optimizers against Keras 3's update rules written out in NumPy, in float64.

The model is one linear Dense layer trained with MSE, whose gradient is known in
closed form: for ``pred = x @ K + b`` and ``L = mean((pred - y)**2)``,
``dL/dK = x.T @ r`` and ``dL/db = sum(r, axis=0)`` with ``r = 2 (pred - y) / pred.size``.
"""
import math

import numpy as np
import pytest

import framework as fw
from framework import optimizers
from framework.layers import Dense
from gradcheck import float64_mode

STEPS = 5


@pytest.fixture(autouse=True)
def _float64():
    with float64_mode():
        yield


def _problem(seed=0, n=6, features=3, units=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    y = rng.standard_normal((n, units))
    kernel = rng.standard_normal((features, units))
    bias = rng.standard_normal(units)
    return x, y, kernel, bias


def _gradients(x, y, kernel, bias):
    pred = x @ kernel + bias
    r = 2.0 * (pred - y) / pred.size
    return [x.T @ r, r.sum(axis=0)]


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
        grads = _gradients(x, y, *params)
        params = [update(p, g, s, t) for p, g, s in zip(params, grads, state)]
        history.append([p.copy() for p in params])
    return history


def _assert_same(history, reference):
    assert len(history) == len(reference)
    for step, (got, want) in enumerate(zip(history, reference)):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")


def _moved(history, kernel):
    assert not np.allclose(history[-1][0], kernel), "the optimizer did not move the weights"


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
    x, y, k, b = _problem()
    _, history = _train(optimizers.SGD(learning_rate=lr, momentum=momentum, nesterov=nesterov), x, y, k, b)
    _assert_same(history, _reference(_sgd_rule(lr, momentum, nesterov), x, y, k, b))
    _moved(history, k)


def test_nesterov_differs_from_plain_momentum():
    x, y, k, b = _problem()
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
    x, y, k, b = _problem(1)
    _, history = _train("adam", x, y, k, b)
    _assert_same(history, _reference(_adam_rule(), x, y, k, b))
    _moved(history, k)


@pytest.mark.parametrize("kwargs", [
    dict(learning_rate=0.05, beta_1=0.8, beta_2=0.9, epsilon=1e-3),
    dict(learning_rate=0.3, beta_1=0.5, beta_2=0.6, amsgrad=True),
])
def test_adam_options_match_keras_rule(kwargs):
    x, y, k, b = _problem(2)
    _, history = _train(optimizers.Adam(**kwargs), x, y, k, b, steps=8)
    _assert_same(history, _reference(_adam_rule(**kwargs), x, y, k, b, steps=8))


def test_amsgrad_changes_the_trajectory():
    """With a short beta_2 memory and shrinking gradients, v decreases, so vhat matters."""
    x, y, k, b = _problem(2)
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
    x, y, k, b = _problem(3)
    _, history = _train(optimizers.RMSprop(**kwargs), x, y, k, b)
    _assert_same(history, _reference(_rmsprop_rule(**kwargs), x, y, k, b))
    _moved(history, k)


# ----------------------------------------------------------------------------- learning rate and state

@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_zero_learning_rate_stops_updates(name):
    x, y, k, b = _problem(4)

    def freeze(model, step):
        if step == 1:
            model.optimizer.learning_rate = 0.0

    _, history = _train(name, x, y, k, b, steps=4, after_step=freeze)
    assert not np.allclose(history[1][0], k)
    for later in history[2:]:
        for w_later, w_frozen in zip(later, history[1]):
            np.testing.assert_array_equal(w_later, w_frozen)


def test_learning_rate_change_is_used_by_the_next_step():
    x, y, k, b = _problem(5)
    rates = [0.1, 0.1, 0.02, 0.3]

    def schedule(model, step):
        if step + 1 < len(rates):
            model.optimizer.learning_rate = rates[step + 1]

    _, history = _train(optimizers.SGD(rates[0], momentum=0.5), x, y, k, b, steps=4, after_step=schedule)
    params, m = [k.copy(), b.copy()], [np.zeros_like(k), np.zeros_like(b)]
    for step, lr in enumerate(rates):
        grads = _gradients(x, y, *params)
        for i in range(2):
            m[i] = 0.5 * m[i] - lr * grads[i]
            params[i] = params[i] + m[i]
        for got, want in zip(history[step], params):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_learning_rate_change_during_fit_with_adam():
    x, y, k, b = _problem(6, n=8)
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


def test_iterations_count_steps():
    x, y, k, b = _problem(7, n=10)
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert model.optimizer.iterations == 2 * 3
    model.train_on_batch(x, y)
    assert model.optimizer.iterations == 7


def test_adam_state_continues_across_fit_calls():
    """Two fits of one epoch equal one fit of two epochs (moments and step count carry over)."""
    x, y, k, b = _problem(8, n=8)
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
