"""Learning-rate schedules, as ``keras.optimizers.schedules``.

A schedule is a callable ``step -> learning rate``. Passed as an optimizer's
``learning_rate``, it is called once per update with the optimizer's
iteration count *before* that update (0 for the first step), exactly as Keras
3 calls ``schedule(optimizer._iterations)``. Values are plain Python floats,
computed in float64 (Keras computes them in the dtype of
``initial_learning_rate``, float32 for a Python float); the optimizer casts
the value to the arena's dtype.

Every built-in schedule is registered under its Keras class name and round
trips through ``serialize`` / ``deserialize`` (``{'class_name', 'config'}``).
A user schedule joins the registry with ``@schedules.register("MySchedule")``.

Also reachable as ``framework.optimizers.schedules``.
"""
import bisect
import math

from framework.config.registry import Registry


def _positive(value, what, cls):
    if not value > 0:
        raise ValueError(f"{cls}: argument `{what}` must be > 0. Received: {what}={value!r}")


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step)`` and ``get_config()``.

    ``step`` is the optimizer's iteration count (an int, 0 for the first update).
    ``from_config(config)`` calls ``cls(**config)``.
    """

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


REGISTRY = Registry("learning rate schedule", base=LearningRateSchedule, optional=False, from_name=None,
                    classes=False, bad_identifier="Could not interpret {kind} {identifier!r}; pass a "
                                                  "LearningRateSchedule or a config dict naming one of: {names}")
register = REGISTRY.register


class _StepDecay(LearningRateSchedule):
    """Shared by the decays driven by ``step / decay_steps`` (floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        _positive(decay_steps, "decay_steps", type(self).__name__)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = bool(staircase)
        self.name = name or type(self).__name__

    def _progress(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


@register("ExponentialDecay")
class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: a positive number of steps per decay by ``decay_rate``.
        decay_rate: the decay factor.
        staircase: if True, ``step / decay_steps`` is floored (the rate drops in steps).
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return float(self.initial_learning_rate) * float(self.decay_rate) ** self._progress(step)


@register("InverseTimeDecay")
class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: a positive number of steps (the time unit of the decay).
        decay_rate: the decay rate.
        staircase: if True, ``step / decay_steps`` is floored.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) * self._progress(step))


@register("PiecewiseConstantDecay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after ``boundaries[-1]``.

    Args:
        boundaries: increasing step numbers.
        values: one more value than boundaries.
        name: the schedule's name.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError("The length of boundaries should be 1 less than the length of values. "
                             f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                             f"values={values} of length {len(values)}.")
        if any(b > c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be increasing, received {boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        return float(self.values[bisect.bisect_left(self.boundaries, step)])

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


@register("PolynomialDecay")
class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, with ``step`` capped at
    ``decay_steps``; with ``cycle=True`` ``decay_steps`` is instead multiplied by
    ``ceil(step / decay_steps)`` (1 at step 0), restarting the decay.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: a positive number of steps to reach ``end_learning_rate``.
        end_learning_rate: the final rate (default 0.0001).
        power: the polynomial's power (default 1.0, linear).
        cycle: whether to restart after ``decay_steps``.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        _positive(decay_steps, "decay_steps", type(self).__name__)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step = float(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            multiplier = 1.0 if step == 0 else math.ceil(step / decay_steps)
            decay_steps *= multiplier
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        end = float(self.end_learning_rate)
        return (float(self.initial_learning_rate) - end) * (1.0 - p) ** float(self.power) + end

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


@register("CosineDecay")
class CosineDecay(LearningRateSchedule):
    """Optional linear warmup, then cosine decay.

    Without ``warmup_target``: ``initial * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps)
    / decay_steps)) + alpha)``. With it: from ``initial_learning_rate`` linearly to ``warmup_target``
    over ``warmup_steps``, then the cosine decay from ``warmup_target`` over ``decay_steps``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: a positive number of decay steps.
        alpha: the final rate as a fraction of the decay's starting rate.
        name: the schedule's name.
        warmup_target: the rate reached at the end of warmup, or None for no warmup.
        warmup_steps: the number of warmup steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _positive(decay_steps, "decay_steps", type(self).__name__)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, start_rate):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / float(self.decay_steps)))
        alpha = float(self.alpha)
        return start_rate * ((1.0 - alpha) * cosine + alpha)

    def __call__(self, step):
        step = float(step)
        initial = float(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decay(min(step, float(self.decay_steps)), initial)
        warmup_steps = float(self.warmup_steps)
        target = float(self.warmup_target)
        step = min(step, float(self.decay_steps) + warmup_steps)
        if step < warmup_steps:
            return (target - initial) * (step / warmup_steps) + initial
        return self._decay(step - warmup_steps, target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


@register("CosineDecayRestarts")
class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the first period lasts ``first_decay_steps``, each
    next one ``t_mul`` times longer and starting from ``m_mul`` times the previous peak.

    Args:
        initial_learning_rate: the rate at step 0.
        first_decay_steps: a positive length of the first period.
        t_mul: the growth factor of the period lengths.
        m_mul: the factor applied to the peak rate at each restart.
        alpha: the minimum rate as a fraction of ``initial_learning_rate``.
        name: the schedule's name.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        _positive(first_decay_steps, "first_decay_steps", type(self).__name__)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        fraction = float(step) / float(self.first_decay_steps)
        t_mul, m_mul, alpha = float(self.t_mul), float(self.m_mul), float(self.alpha)
        if t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
            done = (1.0 - t_mul ** restart) / (1.0 - t_mul)
            fraction = (fraction - done) / t_mul ** restart
        cosine = 0.5 * m_mul ** restart * (1.0 + math.cos(math.pi * fraction))
        return float(self.initial_learning_rate) * ((1.0 - alpha) * cosine + alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


def serialize(learning_rate_schedule):
    """``{'class_name': name, 'config': {...}}`` for a registered schedule."""
    return REGISTRY.serialize(learning_rate_schedule)


def deserialize(config):
    """A schedule from ``serialize``'s output, found by registry name only."""
    return REGISTRY.deserialize(config)


def get(identifier):
    """A schedule from an instance or a ``{'class_name', 'config'}`` dict."""
    return REGISTRY.get(identifier)
