"""BLAS threads chosen by measuring training steps (framework/plan/thread_policy.py)."""
import pytest

from framework.kernels import blas_threads
from framework.plan import thread_policy


class FakeMachine:
    """A clock and a step whose duration depends on the thread count in force (a loaded machine:
    two threads slow)."""

    def __init__(self, seconds_by_threads):
        self.now, self.seconds, self.threads_seen = 0.0, seconds_by_threads, []

    def clock(self):
        return self.now

    def step(self):
        threads = blas_threads.current_threads()
        self.threads_seen.append(threads)
        self.now += self.seconds[threads]
        return threads


@pytest.fixture
def two_threads(monkeypatch):
    state = {"current": 2}
    monkeypatch.setattr(blas_threads, "most_threads", lambda: 2)
    monkeypatch.setattr(blas_threads, "current_threads", lambda: state["current"])
    monkeypatch.setattr(blas_threads, "set_threads", lambda n: state.update(current=n))
    monkeypatch.setenv(thread_policy.SWITCH, "measure")
    return state


def test_a_loaded_machine_switches_to_one_thread_and_probes_less_and_less(two_threads):
    machine = FakeMachine({1: 0.004, 2: 0.060})
    policy = thread_policy.ThreadPolicy(clock=machine.clock)
    for _ in range(400):
        policy.run(machine.step)
    assert policy.threads == 1
    later = machine.threads_seen[100:]
    # probes of two threads (PROBE_STEPS steps each) back off to one every LONGEST_INTERVAL seconds
    assert later.count(2) <= 4 * thread_policy.PROBE_STEPS


def test_one_stalled_probe_step_does_not_veto_a_switch(two_threads):
    """A loaded machine can stall any one step (96 ms among 5-8 ms ones was seen): a probe is judged by the
    median of its steps, so the first probe of one thread switches although its first step stalled."""
    machine = FakeMachine({1: 0.005, 2: 0.008})
    policy = thread_policy.ThreadPolicy(clock=machine.clock)
    stalled = [False]

    def step():
        threads = machine.step()
        if threads == 1 and not stalled[0]:
            stalled[0] = True
            machine.now += 0.096
    while not stalled[0]:
        policy.run(step)
    assert policy.threads == 2  # the probe is still under way
    for _ in range(thread_policy.PROBE_STEPS - 1):
        policy.run(step)
    assert policy.threads == 1


def test_a_quiet_machine_keeps_two_threads_and_comes_back_when_the_load_goes(two_threads):
    machine = FakeMachine({1: 0.006, 2: 0.004})
    policy = thread_policy.ThreadPolicy(clock=machine.clock)
    for _ in range(300):
        policy.run(machine.step)
    assert policy.threads == 2
    machine.seconds = {1: 0.006, 2: 0.080}  # other programs start
    for _ in range(300):
        policy.run(machine.step)
    assert policy.threads == 1
    machine.seconds = {1: 0.006, 2: 0.004}  # and stop
    for _ in range(3000):
        policy.run(machine.step)
    assert policy.threads == 2


def test_fixed_keeps_blas_alone(two_threads, monkeypatch):
    monkeypatch.setenv(thread_policy.SWITCH, "fixed")
    machine = FakeMachine({1: 0.004, 2: 0.060})
    policy = thread_policy.ThreadPolicy(clock=machine.clock)
    for _ in range(200):
        policy.run(machine.step)
    assert set(machine.threads_seen) == {2}


def test_the_policy_measures_unless_told_fixed_and_refuses_unknown_modes(two_threads, monkeypatch):
    for mode in ("auto", "measure"):
        monkeypatch.setenv(thread_policy.SWITCH, mode)
        assert thread_policy.ThreadPolicy().enabled
    monkeypatch.setenv(thread_policy.SWITCH, "fixed")
    assert not thread_policy.ThreadPolicy().enabled
    monkeypatch.setenv(thread_policy.SWITCH, "sometimes")
    with pytest.raises(ValueError, match="FRAMEWORK_BLAS_POLICY='sometimes': expected one of auto, measure, fixed"):
        thread_policy.ThreadPolicy()


def _models():
    """Models whose training steps cover the product kinds: dense, convolution, recurrent, attention,
    ops in a traced call, einsum."""
    import framework as fw
    from framework import layers, ops

    class Traced(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 48), initializer="glorot_uniform")

        def call(self, x):
            return ops.tanh(ops.matmul(x, self.w)) + ops.einsum("bi,ij->bj", x, self.w)

    yield "mlp", fw.Sequential([fw.Input((784,)), layers.Dense(512, activation="relu"),
                                layers.Dense(256, activation="relu"), layers.Dense(10)]), (784,)
    yield "convnet", fw.Sequential([fw.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                                    layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
                                    layers.Flatten(), layers.Dense(10)]), (28, 28, 1)
    yield "lstm", fw.Sequential([fw.Input((28, 28)), layers.LSTM(128), layers.Dense(10)]), (28, 28)
    inputs = fw.Input((12, 32))
    hidden = layers.MultiHeadAttention(4, 16)(inputs, inputs)
    yield "attention", fw.Model(inputs, layers.Dense(10)(layers.GlobalAveragePooling1D()(hidden))), (12, 32)
    yield "traced ops", fw.Sequential([fw.Input((300,)), Traced(), layers.Dense(10)]), (300,)


@pytest.mark.skipif(blas_threads.most_threads() < 2, reason="BLAS has one thread on this machine")
@pytest.mark.parametrize("batch", [32, 128])
def test_a_training_step_gives_the_same_bits_whatever_thread_count_the_policy_chose(batch):
    """What makes measuring safe under a seed: the products whose rounding depends on the count are pinned
    (kernels.blas_threads.bound_product), so the gradients of a step are the same with 1 and 2 threads."""
    import numpy as np
    rng = np.random.default_rng(0)
    most = blas_threads.most_threads()
    try:
        for name, model, shape in _models():
            model.compile("sgd", fw_loss())
            x = rng.random((batch,) + shape, dtype=np.float32)
            y = rng.integers(0, 10, batch)
            model.train_on_batch(x, y)
            plan, arena = model.plan("train", batch), model.plan_cache.current_arena()
            grads = []
            for threads in (1, most, 1):
                blas_threads.set_threads(threads)
                plan.run_forward()
                plan.run_losses()
                for step in plan.backward:
                    step()
                grads.append(arena.grads.copy())
            assert np.array_equal(grads[0], grads[2]), name
            assert np.array_equal(grads[0], grads[1]), f"{name}: 1 and {most} BLAS threads give other gradients"
    finally:
        blas_threads.set_threads(most)


def fw_loss():
    import framework as fw
    return fw.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_small_products_run_with_one_thread_and_count_dependent_ones_with_all(monkeypatch):
    import numpy as np
    seen = []
    monkeypatch.setattr(blas_threads, "most_threads", lambda: 2)
    monkeypatch.setattr(blas_threads, "set_threads", lambda n: seen.append(n))
    monkeypatch.setattr(blas_threads, "_state", dict(blas_threads._state, current=2))
    a, b = np.ones((9, 6760), np.float32), np.ones((6760, 32), np.float32)
    out = np.empty((9, 32), np.float32)
    blas_threads.bound_product(lambda: seen.append("product"), a, b, out)()
    assert seen == [1, "product", 2]  # one thread for it, the plan's count back after
    seen.clear()
    monkeypatch.setattr(blas_threads, "thread_invariant", lambda a, b, dtype: False)
    big = np.empty((128, 512), np.float32)
    blas_threads._state["current"] = 1  # the plan chose one thread
    blas_threads.bound_product(lambda: seen.append("product"), np.ones((128, 784), np.float32),
                               np.ones((784, 512), np.float32), big)()
    assert seen == [2, "product", 1]
    monkeypatch.setattr(blas_threads, "thread_invariant", lambda a, b, dtype: True)
    step = lambda: None  # noqa: E731
    assert blas_threads.bound_product(step, np.ones((128, 784), np.float32), np.ones((784, 512), np.float32),
                                      big) is step  # free to follow the plan's choice


def test_a_count_dependent_product_is_summed_over_inner_ranges_whose_bits_do_not_depend_on_it(monkeypatch):
    """OpenBLAS blocks a long inner dimension one way on one thread and another on two; shorter ranges of it
    give the same bits either way, so the product is summed over them and follows the plan's count
    instead of waiting for a second thread that a loaded machine deschedules."""
    import numpy as np
    seen = []
    monkeypatch.setattr(blas_threads, "most_threads", lambda: 2)
    monkeypatch.setattr(blas_threads, "set_threads", lambda n: seen.append(n))
    monkeypatch.setattr(blas_threads, "thread_invariant", lambda a, b, dtype: a.shape[-1] <= 400)
    rng = np.random.default_rng(0)
    a, b = rng.random((128, 784), dtype=np.float32), rng.random((784, 512), dtype=np.float32)
    out = np.empty((128, 512), np.float32)
    step = blas_threads.bound_product(lambda: seen.append("whole product"), a, b, out)
    step()
    assert seen == [] and step.parts == 2  # two ranges of 392, no thread count set, not the whole product
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5)
    monkeypatch.setattr(blas_threads, "thread_invariant", lambda a, b, dtype: a.shape[-1] <= 200)
    assert blas_threads.bound_product(lambda: None, a, b, out).parts == 4  # 196 each: the fewest that work
    monkeypatch.setattr(blas_threads, "thread_invariant", lambda a, b, dtype: False)
    assert blas_threads.inner_chunks(a, b, out) is None
    assert blas_threads.bound_product(lambda: None, a, b, out).threads == 2  # no split works: all threads


@pytest.mark.skipif(blas_threads.most_threads() < 2, reason="BLAS has one thread on this machine")
def test_no_product_of_the_mlp_or_convnet_step_waits_for_a_second_thread():
    """The MNIST MLP's 784-long and the convnet's weight-gradient products are count dependent in this
    OpenBLAS; summed over inner ranges, none of the step's products is pinned to all threads (the busy
    machine's figures: docs/architecture.md)."""
    import numpy as np
    for name, model, shape in list(_models())[:2]:
        model.compile("sgd", fw_loss())
        model.train_on_batch(np.zeros((128,) + shape, np.float32), np.zeros(128, np.int64))
        plan = model.plan("train", 128)
        calls = [call for step in plan.forward + plan.backward for call in getattr(step, "calls", None) or (step,)]
        assert not [call for call in calls if getattr(call, "threads", 1) > 1], name


def test_set_threads_changes_what_blas_uses():
    most = blas_threads.most_threads()
    try:
        blas_threads.set_threads(1)
        assert blas_threads.current_threads() == 1
        from threadpoolctl import threadpool_info
        numpy_blas = [info for info in threadpool_info() if info["user_api"] == "blas" and "numpy" in info["filepath"]]
        assert numpy_blas and all(info["num_threads"] == 1 for info in numpy_blas)  # the BLAS behind np.matmul
    finally:
        blas_threads.set_threads(most)
    assert blas_threads.current_threads() == most


def test_a_gradient_tape_runs_the_forward_and_the_backward_each_under_its_own_measured_policy(monkeypatch):
    import numpy as np

    import framework as fw
    from framework import layers
    calls = []
    real_run = thread_policy.ThreadPolicy.run

    def counted(self, step, *arguments):
        calls.append((id(self), step.__name__))
        return real_run(self, step, *arguments)

    monkeypatch.setattr(thread_policy.ThreadPolicy, "run", counted)
    inputs = fw.Input((4,))
    model = fw.Model(inputs, layers.Dense(2)(inputs))
    model.compile("sgd", "mse")
    x, y = np.ones((3, 4), "float32"), np.zeros((3, 2), "float32")
    for _ in range(2):
        with fw.GradientTape() as tape:
            loss = model.compute_loss(y=y, y_pred=model(x, training=True))
        tape.gradient(loss, model.trainable_variables)
    assert [name for _, name in calls] == ["run_forward", "run_steps"] * 2
    forward_policy, backward_policy = calls[0][0], calls[1][0]
    assert forward_policy != backward_policy and calls[2][0] == forward_policy and calls[3][0] == backward_policy
