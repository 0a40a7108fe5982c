"""GradientTape: gradients of recorded model calls and ops, against the built-in training step and
finite differences; optimizer.apply; custom training loops equal to fit."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from framework.training.batches import fill_batch, source_views
from gradcheck import float64_mode


def _mlp(seed=0, regularized=False):
    fw.utils.set_random_seed(seed)
    inp = fw.Input((4,))
    reg = fw.regularizers.l2(0.01) if regularized else None
    h = layers.Dense(5, activation="tanh", kernel_regularizer=reg)(inp)
    return fw.Model(inp, layers.Dense(3)(h))


def _data(n=8):
    rng = np.random.default_rng(1)
    return rng.standard_normal((n, 4)), rng.standard_normal((n, 3))


def _builtin_gradients(model, x, y):
    plan = model.plan("train", len(x))
    fill_batch(plan, *source_views([x], [y], [None]), None, 0)
    plan.run_forward()
    plan.run_losses()
    for step in plan.backward:
        step()
    for penalty in plan.penalties:
        penalty()
    arena = model.parameter_arena()
    return [arena.grad_views[id(v)].copy() for v in model.trainable_weights]


def test_tape_gradients_equal_the_built_in_training_step():
    with float64_mode():
        x, y = _data()
        model = _mlp(regularized=True)
        model.compile("sgd", "mse")
        with fw.GradientTape() as tape:
            pred = model(x, training=True)
            loss = model.compute_loss(y=y, y_pred=pred)
        grads = tape.gradient(loss, model.trainable_weights)
        assert isinstance(pred, np.ndarray) and pred.shape == (8, 3)
        for got, expected in zip(grads, _builtin_gradients(model, x, y)):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_tape_gradients_match_finite_differences_for_weights_and_inputs():
    with float64_mode():
        x, y = _data(5)
        model = _mlp(3)

        def loss_of(inputs):
            return float(np.mean(np.square(model.predict(inputs, verbose=0) - y)) + np.sum(np.sin(inputs)) * 0.1)

        with fw.GradientTape() as tape:
            tape.watch(x)
            pred = model(x)
            loss = ops.mean(ops.square(pred - y)) + ops.sum(ops.sin(x)) * 0.1
        d_x, d_kernel = tape.gradient(loss, [x, model.layers[1].kernel])
        numeric = np.zeros_like(x)
        for index in np.ndindex(*x.shape):
            bumped = x.copy()
            bumped[index] += 1e-6
            lowered = x.copy()
            lowered[index] -= 1e-6
            numeric[index] = (loss_of(bumped) - loss_of(lowered)) / 2e-6
        np.testing.assert_allclose(d_x, numeric, rtol=1e-6, atol=1e-8)
        kernel = model.layers[1].kernel
        original = kernel.numpy()
        numeric = np.zeros_like(original)
        for index in np.ndindex(*original.shape):
            for sign in (1, -1):
                value = original.copy()
                value[index] += sign * 1e-6
                kernel.assign(value)
                numeric[index] += sign * loss_of(x) / 2e-6
        kernel.assign(original)
        np.testing.assert_allclose(d_kernel, numeric, rtol=1e-6, atol=1e-8)


def test_a_model_called_twice_accumulates_and_a_generator_gets_gradients_through_a_critic():
    with float64_mode():
        fw.utils.set_random_seed(2)
        generator = fw.Sequential([fw.Input((3,)), layers.Dense(4, activation="tanh")])
        critic = fw.Sequential([fw.Input((4,)), layers.Dense(1)])
        z = np.random.default_rng(0).standard_normal((6, 3))
        real = np.random.default_rng(1).standard_normal((6, 4))
        with fw.GradientTape(persistent=True) as tape:
            fake = generator(z)
            score = ops.mean(critic(fake)) - ops.mean(critic(real))
        d_critic = tape.gradient(score, critic.trainable_weights)
        d_generator = tape.gradient(score, generator.trainable_weights)
        fake_values = np.tanh(z @ generator.layers[0].kernel.numpy() + generator.layers[0].bias.numpy())
        np.testing.assert_allclose(d_critic[0][:, 0], fake_values.mean(axis=0) - real.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(d_critic[1], [0.0], atol=1e-14)  # the bias cancels
        w = critic.layers[0].kernel.numpy()[:, 0]
        expected = z.T @ ((1 - fake_values ** 2) * w) / 6
        np.testing.assert_allclose(d_generator[0], expected, rtol=1e-12)


def test_gradient_rules_of_the_tape():
    x = np.ones((2, 3))
    other = np.ones((2, 3))
    with fw.GradientTape() as tape:
        watched = tape.watch(x)  # NumPy operators of the returned view are recorded; ops take x itself
        y = ops.sum(watched * 3.0) + ops.sum(ops.multiply(x, 2.0))
    d_x, d_view, d_other = tape.gradient(y, [x, watched, other])
    np.testing.assert_array_equal(d_x, 5.0)  # the view is x: one gradient for both
    np.testing.assert_array_equal(d_view, 5.0)
    assert d_other is None
    with pytest.raises(RuntimeError, match="non-persistent GradientTape gives gradients once"):
        tape.gradient(y, x)
    with fw.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(x)
    np.testing.assert_array_equal(tape.gradient(y, {"a": other}, unconnected_gradients="zero")["a"], 0)
    with fw.GradientTape() as outer:
        outer.watch(x)
        with fw.GradientTape() as inner:
            inner.watch(x)
            y = ops.sum(ops.square(x))
        with pytest.raises(NotImplementedError, match="second derivative"):
            inner.gradient(y, x)
    with fw.GradientTape() as tape:
        watched = tape.watch(x)
        with pytest.raises(TypeError, match="np.arctan on a value a GradientTape records has no gradient rule"):
            np.arctan(watched)


def test_a_custom_loop_with_optimizer_apply_equals_fit_bit_for_bit():
    x, y = _data(64)
    x, y = x.astype("float32"), y.astype("float32")

    def make():
        model = _mlp(5, regularized=True)
        model.compile(fw.optimizers.Adam(0.01), "mse")
        return model

    fitted, looped = make(), make()
    fitted.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    optimizer = looped.optimizer
    for _ in range(3):
        for start in range(0, 64, 16):
            xb, yb = x[start:start + 16], y[start:start + 16]
            with fw.GradientTape() as tape:
                loss = looped.compute_loss(y=yb, y_pred=looped(xb, training=True))
            grads = tape.gradient(loss, looped.trainable_variables)
            optimizer.apply_gradients(zip(grads, looped.trainable_variables))
    for a, b in zip(fitted.get_weights(), looped.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_optimizer_apply_checks_what_it_is_given():
    model = _mlp()
    optimizer = fw.optimizers.SGD(0.1)
    weights = model.trainable_weights
    with pytest.raises(ValueError, match="2 gradients for 4 variables"):
        optimizer.apply([np.zeros((4, 5))] * 2, weights)
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\) for variable '.*' of shape \(4, 5\)"):
        optimizer.apply([np.zeros(2)] + [None] * 3, weights)
    before = weights[0].numpy()
    optimizer.apply([np.ones((4, 5))] + [None] * 3, weights)
    np.testing.assert_allclose(weights[0].numpy(), before - 0.1, rtol=1e-6)
    with pytest.raises(ValueError, match="already updates another set of 1 variables; use one optimizer per set"):
        optimizer.apply([np.ones((5,))], [weights[1]])


class _SquaredError(fw.losses.Loss):
    def call(self, y_true, y_pred):
        return ops.mean(ops.square(y_pred - y_true), axis=-1)


@pytest.mark.parametrize("form, reference", [
    (lambda t, p: ops.mean(fw.losses.binary_crossentropy(t, p)), fw.losses.BinaryCrossentropy()),
    (lambda t, p: ops.mean(fw.losses.mean_squared_error(t, p)), fw.losses.MeanSquaredError()),
    (lambda t, p: _SquaredError()(t, p), fw.losses.MeanSquaredError()),
    (lambda t, p: _SquaredError()(t, p, sample_weight=np.array([1.0, 0.5, 2.0, 0.0])),
     lambda t, p: fw.losses.MeanSquaredError()(t, p, sample_weight=np.array([1.0, 0.5, 2.0, 0.0]))),
], ids=["bce-function", "mse-function", "Loss-subclass-with-ops", "Loss-subclass-weighted"])
def test_loss_functions_and_loss_classes_written_with_ops_are_recorded(form, reference):
    with float64_mode():
        rng = np.random.default_rng(2)
        x, t = rng.standard_normal((4, 3)), rng.random((4, 3))
        grads = []
        for loss in (form, reference):
            with fw.GradientTape() as tape:
                value = loss(t, ops.sigmoid(tape.watch(x)))
            grads.append((float(value), tape.gradient(value, x)))
        assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-7)
        np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-6, atol=1e-12)


def test_a_tape_dropped_without_a_gradient_lets_go_of_its_plan_at_once(monkeypatch):
    """A tape and its records refer to each other; held strongly both ways, a tape that took no gradient
    kept its model call's plan checked out until a garbage collection, so the next call compiled another."""
    from framework.training import tape as tape_module
    model = _mlp()
    x, _ = _data()
    compiled = []
    original = tape_module._tape_plan
    monkeypatch.setattr(tape_module, "_tape_plan", lambda *a: compiled.append(1) or original(*a))
    import gc
    gc.disable()
    try:
        for _ in range(20):
            with fw.GradientTape() as tape:
                prediction = model(x, training=True)
            assert prediction.shape == (8, 3)
    finally:
        gc.enable()
    assert len(compiled) == 1
    assert len([p for p in model.plan_cache.plans() if p.mode == "train"]) == 1


def _gan_pair(seed=4):
    fw.utils.set_random_seed(seed)
    generator = fw.Sequential([fw.Input((3,)), layers.Dense(24), layers.LeakyReLU(0.2), layers.Reshape((4, 6, 1)),
                               layers.Conv2D(2, 3, padding="same", activation="tanh")])
    critic = fw.Sequential([fw.Input((4, 6, 2)), layers.Conv2D(5, 3, strides=2, padding="same"),
                            layers.LeakyReLU(0.2), layers.Flatten(), layers.Dense(1)])
    return generator, critic


def test_a_generator_step_leaves_out_the_critics_weight_gradients_and_gets_the_same_gradients():
    """Asked for the generator's weights only, the critic's model call runs its input-only backward: the
    critic's weight gradients are never written, and the generator's gradients are those of the full one."""
    z = np.random.default_rng(3).standard_normal((8, 3)).astype("float32")
    results = []
    for asked in ("generator", "both"):
        generator, critic = _gan_pair()
        arena = critic.parameter_arena()
        with fw.GradientTape() as tape:
            score = ops.mean(critic(generator(z)))
        plan = next(p for p in critic.plan_cache.plans() if p.input_backward is not None)
        arena.grads.fill(np.nan)
        plan.own_grads.fill(np.nan)
        sources = generator.trainable_weights + (critic.trainable_weights if asked == "both" else [])
        grads = tape.gradient(score, sources)
        results.append([np.array(g) for g in grads[:len(generator.trainable_weights)]])
        untouched = np.isnan(arena.grads).all() and np.isnan(plan.own_grads).all()
        assert untouched == (asked == "generator")
        if asked == "both":
            assert all(g is not None and np.isfinite(g).all() for g in grads)
    for only, full in zip(*results):
        np.testing.assert_array_equal(only, full)


def test_a_saliency_map_runs_no_weight_gradient_and_equals_the_full_backwards():
    _, critic = _gan_pair()
    x = np.random.default_rng(5).standard_normal((6, 4, 6, 2)).astype("float32")
    maps, arena = [], critic.parameter_arena()
    for extra in ([], critic.trainable_weights):
        with fw.GradientTape() as tape:
            watched = tape.watch(x)
            score = ops.sum(critic(watched))
        plan = next(p for p in critic.plan_cache.plans() if p.input_backward is not None)
        arena.grads.fill(np.nan)
        plan.own_grads.fill(np.nan)
        maps.append(np.array(tape.gradient(score, [watched] + extra)[0]))
        untouched = np.isnan(arena.grads).all() and np.isnan(plan.own_grads).all()
        assert untouched == (not extra)  # no weight gradient is computed unless one is asked for
    np.testing.assert_array_equal(maps[0], maps[1])
    with float64_mode():
        _, critic = _gan_pair()
        x64 = x.astype("float64")
        with fw.GradientTape() as tape:
            watched = tape.watch(x64)
            score = ops.sum(critic(watched))
        analytic = np.array(tape.gradient(score, watched))
        eps, flat = 1e-6, x64.reshape(-1)
        for index in (0, 17, 101, 250):
            saved = flat[index]
            flat[index] = saved + eps
            up = float(np.sum(critic(x64)))
            flat[index] = saved - eps
            down = float(np.sum(critic(x64)))
            flat[index] = saved
            assert abs((up - down) / (2 * eps) - analytic.reshape(-1)[index]) < 1e-6
