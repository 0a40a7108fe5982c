"""The base class of optimizers, and the registry of optimizer classes.

An optimizer is a small class around one fused Numba kernel.

``bind(params, grads, segments=None)`` is called by the trainer with the
trainable slice of the parameter arena, the matching gradient array and the
(start, stop) offsets of each weight in it; it returns the step callable,
run once per training step after backward. Slots (momentum, Adam's m and v,
the EMA of the weights, the gradient accumulator) are arrays of the same
layout.

Every optimizer takes Keras 3's common options (keyword arguments):
``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``,
``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency`` and
``gradient_accumulation_steps``. A step runs, as Keras's
``BaseOptimizer.apply``: gradient accumulation, clipping, weight decay, the
update kernel, the EMA of the weights, then ``iterations += 1``. Each stage is
one small kernel; nothing allocates once bound.

``learning_rate`` is a float, a ``schedules.LearningRateSchedule`` or a
callable; schedules are called with the iteration count before the update.
"""
import inspect
import math
import warnings

import numpy as np

from framework import schedules
from framework.config.registry import Registry
from framework.kernels import optimizers as kernels
from framework.optimizers import applying

_FLOAT, _SCHEDULE, _STEP_CALLABLE, _CALLABLE = range(4)


class Optimizer:
    """Base class. Subclasses name their slots and implement ``_update``.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` (called with the iteration count
            before each update) or a callable (``f(step)`` or ``f()``) returning the rate.
        weight_decay: if set, decoupled weight decay ``w -= w * weight_decay * lr`` before
            each update.
        clipnorm: if set, the gradient of each weight is scaled so its L2 norm is at most this.
        clipvalue: if set, every gradient element is clipped to ``[-clipvalue, clipvalue]``.
        global_clipnorm: if set, all gradients are scaled so their joint L2 norm is at most this.
            At most one of ``clipnorm``, ``clipvalue`` and ``global_clipnorm`` may be set.
        use_ema: keep an exponential moving average of the weights (``finalize_variable_values``
            copies it into the weights; ``fit`` does so at its end).
        ema_momentum: the EMA's momentum (default 0.99).
        ema_overwrite_frequency: if set, overwrite the weights with their EMA every this many
            iterations.
        loss_scale_factor: not supported (must be None).
        gradient_accumulation_steps: if set (an int >= 2), accumulate gradients and update
            with their mean every this many steps.
        name: the optimizer's name.
    """

    slot_names = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        cls = type(self).__name__
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=3)
        if kwargs:
            raise ValueError(f"{cls}: argument(s) not recognized: {kwargs}")
        if loss_scale_factor is not None:
            raise NotImplementedError(f"{cls}: loss_scale_factor is not supported (the trainer does not scale the "
                                      f"loss); received loss_scale_factor={loss_scale_factor!r}")
        self.name = name or cls.lower()
        self.weight_decay = _option(weight_decay, "weight_decay", cls)
        self.clipnorm = _option(clipnorm, "clipnorm", cls)
        self.clipvalue = _option(clipvalue, "clipvalue", cls)
        self.global_clipnorm = _option(global_clipnorm, "global_clipnorm", cls)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{cls}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.use_ema = bool(use_ema)
        if self.use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError(f"{cls}: `ema_momentum` must be in the range [0, 1]. "
                                 f"Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency is not None and (not _is_int(ema_overwrite_frequency)
                                                        or ema_overwrite_frequency < 1):
                raise ValueError(f"{cls}: `ema_overwrite_frequency` must be an integer >= 1 or None. "
                                 f"Received: ema_overwrite_frequency={ema_overwrite_frequency}")
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = None if ema_overwrite_frequency is None else int(ema_overwrite_frequency)
        if gradient_accumulation_steps is not None and (not _is_int(gradient_accumulation_steps)
                                                        or gradient_accumulation_steps < 2):
            raise ValueError(f"{cls}: `gradient_accumulation_steps` must be an integer >= 2. "
                             f"Received: gradient_accumulation_steps={gradient_accumulation_steps}")
        self.gradient_accumulation_steps = (None if gradient_accumulation_steps is None
                                            else int(gradient_accumulation_steps))
        self._learning_rate, self._lr_kind = None, _FLOAT
        self.learning_rate = learning_rate
        self._iterations = 0
        self._ema_ready = False
        self._bound = None
        self._work = None
        self.slots = {}

    # ----- learning rate and iterations ---------------------------------------------------------
    @property
    def learning_rate(self):
        """The current rate as a float (a schedule's value at the current iteration)."""
        return self._current_learning_rate(self._iterations)

    @learning_rate.setter
    def learning_rate(self, value):
        cls = type(self).__name__
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate, self._lr_kind = value, _SCHEDULE
            return
        if callable(value):
            self._learning_rate, self._lr_kind = value, _STEP_CALLABLE if _takes_step(value) else _CALLABLE
            return
        if self._lr_kind == _SCHEDULE:
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its "
                            "`learning_rate` constructor argument, hence its learning rate is not settable. If you "
                            "need the learning rate to be settable, you should instantiate the optimizer with a "
                            "float `learning_rate` argument.")
        if self._lr_kind != _FLOAT:
            raise TypeError(f"{cls}: the learning rate is a callable, so it cannot be set to a number; assign "
                            "a new callable or create the optimizer with a float `learning_rate`.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{cls}: learning_rate must be a finite number >= 0, a LearningRateSchedule or a "
                             f"callable, received {value!r}")
        self._learning_rate = number

    def _current_learning_rate(self, step):
        kind = self._lr_kind
        if kind == _FLOAT:
            return self._learning_rate
        if kind == _CALLABLE:
            return float(self._learning_rate())
        return float(self._learning_rate(step))

    @property
    def iterations(self):
        """Update steps taken, as Keras counts them: with gradient accumulation, the number of
        completed accumulation windows (raw steps // gradient_accumulation_steps)."""
        steps = self.gradient_accumulation_steps
        return self._iterations // steps if steps else self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value) * (self.gradient_accumulation_steps or 1)

    # ----- slots and binding ----------------------------------------------------------------------
    def _all_slot_names(self):
        names = ["average"] if self.use_ema else []
        if self.gradient_accumulation_steps:
            names.append("gradient_accumulator")
        return names + list(self.slot_names)

    def _slot_initial_value(self, name):
        return 0.0

    def build(self, size, dtype):
        """Allocate slots for ``size`` parameters (kept when the layout is unchanged)."""
        dtype = np.dtype(dtype)
        names = self._all_slot_names()
        if (set(self.slots) == set(names)
                and all(s.size == size and s.dtype == dtype for s in self.slots.values())):
            return
        self.slots = {name: np.full(size, self._slot_initial_value(name), dtype=dtype) for name in names}
        self._ema_ready = False

    def bind(self, params, grads, segments=None):
        """The step callable updating ``params`` from ``grads``.

        Args:
            params: the 1-D arena slice of all trainable weights (float32 or float64).
            grads: the 1-D gradient array of the same layout; it is only read.
            segments: the ``(start, stop)`` offsets of each weight in ``params``, back to back
                from 0 to ``params.size`` (needed by ``clipnorm``, which clips each weight's
                gradient separately); default: one segment.

        ``step(gradients)`` reads ``gradients``, another array like ``grads``, instead (``apply``).
        """
        cls = type(self).__name__
        _check_arrays(params, grads, cls)
        starts, stops = _segments(segments, params.size, cls)
        self.build(params.size, params.dtype)
        self._bound = (params, starts, stops)
        if self._clipping():
            self._work = np.empty_like(grads)
        cast = params.dtype.type

        def step(gradients=grads):
            self._apply(params, gradients, starts, stops, cast)
        return step

    # ----- custom training steps -----------------------------------------------------------------
    def apply(self, grads, trainable_variables=None):
        """Update ``trainable_variables`` from ``grads`` (one array per variable), as Keras's
        ``optimizer.apply``: one fused kernel over the variables (framework.optimizers.applying)."""
        if trainable_variables is None:
            raise ValueError(f"{type(self).__name__}.apply needs the variables the gradients belong to: "
                             "optimizer.apply(grads, model.trainable_variables)")
        applying.apply(self, grads, trainable_variables)

    def apply_gradients(self, grads_and_vars):
        """``apply`` for pairs (gradient, variable), as ``zip(grads, model.trainable_variables)``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    # ----- one step -----------------------------------------------------------------------------
    def _apply(self, params, grads, starts, stops, cast):
        raw = self._iterations
        steps = self.gradient_accumulation_steps
        g = grads
        if steps:
            acc = self.slots["gradient_accumulator"]
            if (raw + 1) % steps:
                kernels.accumulate(acc, grads)
                self._apply_ema(params, cast)
                self._iterations = raw + 1
                return
            kernels.accumulate_mean(acc, grads, cast(steps))
            g = acc
        g = self._clip_gradients(g, starts, stops, cast)
        lr = self._current_learning_rate(raw)
        if self.weight_decay:
            kernels.decay_weights(params, cast(self.weight_decay), cast(lr))
        self._update(params, g, lr, cast)
        if steps:
            acc.fill(0)
        self._apply_ema(params, cast)
        self._iterations = raw + 1

    def _clipping(self):
        return bool(self.clipnorm or self.global_clipnorm or self.clipvalue)

    def _clip_gradients(self, g, starts, stops, cast):
        if not self._clipping():
            return g
        work = self._work
        if work is None or work.size != g.size or work.dtype != g.dtype:
            work = self._work = np.empty_like(g)
        if self.clipnorm and self.clipnorm > 0:
            kernels.clip_by_norm_segments(g, work, starts, stops, cast(self.clipnorm))
        elif self.global_clipnorm and self.global_clipnorm > 0:
            kernels.clip_by_global_norm(g, work, cast(self.global_clipnorm))
        elif self.clipvalue and self.clipvalue > 0:
            kernels.clip_by_value(g, work, cast(self.clipvalue))
        else:
            return g
        return work

    def _apply_ema(self, params, cast):
        if not self.use_ema:
            return
        k = self.iterations
        momentum = cast(self.ema_momentum if k != 0 and self._ema_ready else 0.0)
        average = self.slots["average"]
        kernels.ema_update(average, params, momentum, cast(1) - momentum)
        self._ema_ready = True
        frequency = self.ema_overwrite_frequency
        if frequency and (k + 1) % frequency == 0:
            np.copyto(params, average)

    def _update(self, params, grads, learning_rate, cast):
        """Apply the update rule; ``self.iterations + 1`` is the step number t (from 1)."""
        raise NotImplementedError

    def finalize_variable_values(self, var_list=None):
        """With ``use_ema``, copy the moving average into the weights (``fit`` calls this at its end).

        Args:
            var_list: the bound arena slice (the default), an array of its size, or the list of
                trainable weights (Variables or arrays) in arena order, one per segment.
        """
        if not self.use_ema or not self._ema_ready:
            return
        average = self.slots["average"]
        if var_list is None:
            if self._bound is None:
                return
            var_list = self._bound[0]
        if isinstance(var_list, np.ndarray):
            if var_list.size != average.size:
                raise ValueError(f"{type(self).__name__}.finalize_variable_values: expected {average.size} "
                                 f"values, received an array of {var_list.size}")
            np.copyto(var_list, average.reshape(var_list.shape))
            return
        var_list = list(var_list)
        starts, stops = self._bound[1:] if self._bound is not None else ([0], [average.size])
        sizes = [int(np.prod(np.shape(v))) for v in var_list]
        if len(var_list) != len(starts) or any(n != b - a for n, a, b in zip(sizes, starts, stops)):
            raise ValueError(f"{type(self).__name__}.finalize_variable_values: the {len(var_list)} variables "
                             f"(sizes {sizes}) do not match the {len(starts)} weights the optimizer was bound to "
                             f"(sizes {[int(b - a) for a, b in zip(starts, stops)]})")
        for var, a, b in zip(var_list, starts, stops):
            value = average[a:b].reshape(np.shape(var))
            if hasattr(var, "assign"):
                var.assign(value)
            else:
                np.copyto(var, value)

    # ----- config -------------------------------------------------------------------------------
    def get_config(self):
        kind = self._lr_kind
        if kind == _FLOAT:
            learning_rate = self._learning_rate
        elif kind == _SCHEDULE:
            learning_rate = schedules.serialize(self._learning_rate)
        else:
            raise ValueError(f"{type(self).__name__}: a plain callable learning_rate cannot be serialized; use a "
                             "registered LearningRateSchedule (see framework.optimizers.schedules)")
        return {"name": self.name, "learning_rate": learning_rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": None,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    @property
    def variables(self):
        return list(self.slots.values())

    #: attributes besides the slots that make up the optimizer's state (saved with a model)
    state_scalars = ("_iterations",)

    def get_state(self):
        """(scalars, slots): everything needed to continue training exactly where it stopped."""
        return {name: getattr(self, name) for name in self.state_scalars}, dict(self.slots)

    def set_state(self, scalars, slots, size, dtype):
        """Restore ``get_state`` output for an arena of ``size`` parameters of ``dtype``."""
        self.build(size, dtype)
        unknown = set(slots) - set(self.slots)
        if unknown:
            raise ValueError(f"{type(self).__name__}: saved state has slots {sorted(unknown)} this optimizer "
                             f"does not use (it has {sorted(self.slots)})")
        for name, value in slots.items():
            if value.shape != self.slots[name].shape:
                raise ValueError(f"{type(self).__name__}: saved slot '{name}' has shape {value.shape}, "
                                 f"the model needs {self.slots[name].shape}")
            np.copyto(self.slots[name], value, casting="unsafe")
        for name in self.state_scalars:
            if name in scalars:
                setattr(self, name, type(getattr(self, name))(scalars[name]))


REGISTRY = Registry("optimizer", base=Optimizer)
register = REGISTRY.register


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _option(value, what, cls):
    """None, or a finite float >= 0."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{cls}: `{what}` must be None or a finite number >= 0, received {value!r}")
    return number


def _takes_step(fn):
    """True when ``fn`` can be called with one positional argument (the step)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(0)
    except TypeError:
        return False
    return True


def _check_arrays(params, grads, cls):
    for what, array in (("params", params), ("grads", grads)):
        if not isinstance(array, np.ndarray) or array.ndim != 1 or not array.flags.c_contiguous:
            raise ValueError(f"{cls}.bind: {what} must be a contiguous 1-D NumPy array (an arena slice), "
                             f"received {type(array).__name__} {getattr(array, 'shape', '')}")
        if array.dtype not in (np.float32, np.float64):
            raise ValueError(f"{cls}.bind: {what} must be float32 or float64, received {array.dtype}")
    if not params.flags.writeable:
        raise ValueError(f"{cls}.bind: params must be writeable")
    if grads.shape != params.shape or grads.dtype != params.dtype:
        raise ValueError(f"{cls}.bind: grads must match params: params {params.shape} {params.dtype}, "
                         f"grads {grads.shape} {grads.dtype}")


def _segments(segments, size, cls):
    """(starts, stops) int64 arrays of segments that tile [0, size) back to back."""
    if segments is None:
        pairs = [(0, size)]
    else:
        try:
            pairs = [(int(a), int(b)) for a, b in segments]
        except (TypeError, ValueError):
            raise ValueError(f"{cls}.bind: segments must be (start, stop) pairs, received {segments!r}") from None
        end = 0
        for a, b in pairs:
            if a != end or b < a:
                break
            end = b
        else:
            if end == size:
                end = None
        if end is not None:
            raise ValueError(f"{cls}.bind: segments must be the (start, stop) offsets of each weight, back to back "
                             f"from 0 to {size}; received {pairs}")
        if not pairs:
            pairs = [(0, 0)]
    starts = np.array([a for a, _ in pairs], dtype=np.int64)
    stops = np.array([b for _, b in pairs], dtype=np.int64)
    return starts, stops
