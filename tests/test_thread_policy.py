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
    assert later.count(2) <= 4  # probes of two threads back off to one every LONGEST_INTERVAL seconds


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


def test_a_seed_keeps_the_threads_fixed_unless_measuring_is_asked_for(two_threads, monkeypatch):
    monkeypatch.setattr(thread_policy, "reproducibility_requested", lambda: True)
    monkeypatch.setenv(thread_policy.SWITCH, "auto")
    assert not thread_policy.ThreadPolicy().enabled  # bitwise reproducible: one setting throughout
    monkeypatch.setattr(thread_policy, "reproducibility_requested", lambda: False)
    assert thread_policy.ThreadPolicy().enabled
    monkeypatch.setenv(thread_policy.SWITCH, "measure")
    monkeypatch.setattr(thread_policy, "reproducibility_requested", lambda: True)
    assert thread_policy.ThreadPolicy().enabled
    monkeypatch.setenv(thread_policy.SWITCH, "sometimes")
    with pytest.raises(ValueError, match="FRAMEWORK_BLAS_POLICY='sometimes': expected one of auto, measure, fixed"):
        thread_policy.ThreadPolicy()


def test_set_threads_changes_what_blas_uses():
    most = blas_threads.most_threads()
    try:
        blas_threads.set_threads(1)
        assert blas_threads.current_threads() == 1
        from threadpoolctl import threadpool_info
        assert all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")
    finally:
        blas_threads.set_threads(most)
    assert blas_threads.current_threads() == most
