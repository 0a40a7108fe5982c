"""Learning-rate schedules (framework/schedules.py, also reachable as framework.optimizers.schedules):
values against closed forms, config round trips, errors, and user schedules joining the registry.
How an optimizer calls a schedule is checked in tests/test_optimizer_update_rules.py."""
import math

import numpy as np
import pytest

import framework as fw
from framework import optimizers
from framework.optimizers import schedules


def _cosine(step, initial, decay_steps, alpha):
    step = min(step, decay_steps)
    return initial * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * step / decay_steps)) + alpha)


def _sgdr(step, initial, first, t_mul, m_mul, alpha):
    """Walk the restart periods one by one (independent of the closed form in the code)."""
    start, length, restart = 0.0, float(first), 0
    while step >= start + length:
        start += length
        length *= t_mul
        restart += 1
    fraction = (step - start) / length
    cosine = 0.5 * m_mul ** restart * (1 + math.cos(math.pi * fraction))
    return initial * ((1 - alpha) * cosine + alpha)


SCHEDULE_CASES = [
    (schedules.ExponentialDecay(0.1, 10, 0.5), lambda s: 0.1 * 0.5 ** (s / 10)),
    (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), lambda s: 0.1 * 0.5 ** (s // 10)),
    (schedules.InverseTimeDecay(0.1, 5, 0.5), lambda s: 0.1 / (1 + 0.5 * s / 5)),
    (schedules.InverseTimeDecay(0.1, 5, 0.5, staircase=True), lambda s: 0.1 / (1 + 0.5 * (s // 5))),
    (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]),
     lambda s: 1.0 if s <= 10 else 0.5 if s <= 20 else 0.1),
    (schedules.PolynomialDecay(0.1, 20), lambda s: (0.1 - 0.0001) * (1 - min(s, 20) / 20) + 0.0001),
    (schedules.PolynomialDecay(0.1, 20, end_learning_rate=0.01, power=0.5),
     lambda s: (0.1 - 0.01) * (1 - min(s, 20) / 20) ** 0.5 + 0.01),
    (schedules.PolynomialDecay(0.1, 20, end_learning_rate=0.01, power=2.0, cycle=True),
     lambda s: (0.1 - 0.01) * (1 - s / (20 * max(1, math.ceil(s / 20)))) ** 2 + 0.01),
    (schedules.CosineDecay(0.1, 20), lambda s: _cosine(s, 0.1, 20, 0.0)),
    (schedules.CosineDecay(0.1, 20, alpha=0.1), lambda s: _cosine(s, 0.1, 20, 0.1)),
    (schedules.CosineDecay(0.0, 20, warmup_target=0.2, warmup_steps=10),
     lambda s: 0.2 * s / 10 if s < 10 else _cosine(s - 10, 0.2, 20, 0.0)),
    (schedules.CosineDecay(0.05, 20, alpha=0.2, warmup_target=0.2, warmup_steps=4),
     lambda s: 0.05 + (0.2 - 0.05) * s / 4 if s < 4 else _cosine(s - 4, 0.2, 20, 0.2)),
    (schedules.CosineDecayRestarts(0.1, 10), lambda s: _sgdr(s, 0.1, 10, 2.0, 1.0, 0.0)),
    (schedules.CosineDecayRestarts(0.1, 10, t_mul=1.0, m_mul=0.5, alpha=0.1),
     lambda s: _sgdr(s, 0.1, 10, 1.0, 0.5, 0.1)),
    (schedules.CosineDecayRestarts(0.1, 8, t_mul=1.5, m_mul=0.8, alpha=0.05),
     lambda s: _sgdr(s, 0.1, 8, 1.5, 0.8, 0.05)),
]
SCHEDULE_STEPS = [0, 1, 3, 4, 5, 7, 9, 10, 11, 15, 19, 20, 21, 25, 29, 30, 31, 33, 40, 55, 69, 71, 100]


@pytest.mark.parametrize("schedule,closed_form", SCHEDULE_CASES,
                         ids=[f"{type(s).__name__}-{i}" for i, (s, _) in enumerate(SCHEDULE_CASES)])
def test_schedule_values(schedule, closed_form):
    for step in SCHEDULE_STEPS:
        assert schedule(step) == pytest.approx(closed_form(step), rel=1e-12, abs=1e-15), f"step {step}"
        assert isinstance(schedule(step), float)
    assert schedule(np.int64(7)) == pytest.approx(closed_form(7), rel=1e-12)


@pytest.mark.parametrize("schedule", [s for s, _ in SCHEDULE_CASES],
                         ids=[f"{type(s).__name__}-{i}" for i, (s, _) in enumerate(SCHEDULE_CASES)])
def test_schedule_config_round_trip(schedule):
    config = schedules.serialize(schedule)
    assert config["class_name"] == type(schedule).__name__
    again = schedules.deserialize(config)
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    assert [again(s) for s in SCHEDULE_STEPS] == [schedule(s) for s in SCHEDULE_STEPS]
    assert type(schedule).from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_schedules_module_is_reachable_as_in_keras():
    import importlib

    from framework import schedules as direct
    assert fw.optimizers.schedules is direct
    assert importlib.import_module("framework.optimizers.schedules") is direct
    from framework.optimizers.schedules import ExponentialDecay
    assert ExponentialDecay is direct.ExponentialDecay


def test_schedule_errors():
    for make in (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), lambda: schedules.InverseTimeDecay(0.1, -1, 0.5),
                 lambda: schedules.PolynomialDecay(0.1, 0), lambda: schedules.CosineDecay(0.1, 0),
                 lambda: schedules.CosineDecayRestarts(0.1, 0)):
        with pytest.raises(ValueError, match="decay_steps"):
            make()
    with pytest.raises(ValueError, match="length of boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="increasing"):
        schedules.PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="Unknown learning rate schedule"):
        schedules.deserialize({"class_name": "NoSuchDecay", "config": {}})
    with pytest.raises(NotImplementedError):
        schedules.LearningRateSchedule()(0)

    class Unregistered(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1

        def get_config(self):
            return {}

    with pytest.raises(ValueError, match="register"):
        schedules.serialize(Unregistered())


def test_user_schedule_joins_the_registry():
    @schedules.register("HalvingForTest")
    class Halving(schedules.LearningRateSchedule):
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate / 2 ** step

        def get_config(self):
            return {"rate": self.rate}

    opt = optimizers.SGD(Halving(0.4))
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert isinstance(again._learning_rate, Halving) and again.learning_rate == 0.4
