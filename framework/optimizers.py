"""Optimizers: each is a small class around one fused Numba kernel.

``bind(params, grads)`` is called by the compiler with the trainable slice of
the parameter arena and the matching gradient array; it returns the step
callable. Slots (momentum, Adam's m and v) are arrays of the same layout.
``learning_rate`` may be changed at any time, as in Keras.
"""
import math

import numpy as np

from framework.config.registry import Registry
from framework.kernels import optimizers as kernels

REGISTRY = Registry("optimizer")


class Optimizer:
    """Base class. Subclasses name their slots and implement ``_update``.

    Args:
        learning_rate: a float.
        name: the optimizer's name.
    """

    slot_names = ()

    def __init__(self, learning_rate=0.001, name=None, **kwargs):
        unsupported = {k: v for k, v in kwargs.items() if v not in (None, False)}
        if unsupported:
            raise NotImplementedError(f"{type(self).__name__}: option(s) {', '.join(sorted(unsupported))} "
                                      "are not supported yet")
        self.learning_rate = learning_rate
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.slots = {}

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a finite number >= 0, "
                             f"received {value!r}")
        self._learning_rate = value

    def build(self, size, dtype):
        """Allocate zeroed slots for ``size`` parameters (kept when the layout is unchanged)."""
        dtype = np.dtype(dtype)
        current = next(iter(self.slots.values()), None)
        if current is not None and current.size == size and current.dtype == dtype:
            return
        self.slots = {name: np.zeros(size, dtype=dtype) for name in self.slot_names}

    def bind(self, params, grads):
        """The step callable updating ``params`` from ``grads`` (1-D arena slices)."""
        self.build(params.size, params.dtype)
        cast = params.dtype.type

        def step():
            self.iterations += 1
            self._update(params, grads, cast)
        return step

    def _update(self, params, grads, cast):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def variables(self):
        return list(self.slots.values())


@REGISTRY.register("SGD", "sgd")
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras's update rule."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], received {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _update(self, params, grads, cast):
        if self.momentum:
            kernels.sgd_momentum_update(params, grads, self.slots["momentum"], cast(self.learning_rate),
                                        cast(self.momentum), self.nesterov)
        else:
            kernels.sgd_update(params, grads, cast(self.learning_rate))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


@REGISTRY.register("Adam", "adam")
class Adam(Optimizer):
    """Adam with Keras 3 defaults (epsilon 1e-7) and optional AMSGrad."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name="adam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _update(self, params, grads, cast):
        t = self.iterations
        alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        s = self.slots
        kernels.adam_update(params, grads, s["m"], s["v"], s.get("vhat", s["v"]), cast(alpha),
                            cast(1 - self.beta_1), cast(1 - self.beta_2), cast(self.epsilon), self.amsgrad)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


@REGISTRY.register("RMSprop", "rmsprop")
class RMSprop(Optimizer):
    """RMSprop as in Keras 3 (rho 0.9, optional momentum and centering). Compile's default."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self.slot_names = ("mean_square", "mean_grad", "momentum")

    def _update(self, params, grads, cast):
        s = self.slots
        kernels.rmsprop_update(params, grads, s["mean_square"], s["mean_grad"], s["momentum"],
                               cast(self.learning_rate), cast(self.rho), cast(1 - self.rho), cast(self.momentum),
                               cast(self.epsilon), self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


def get(identifier):
    """An optimizer from a name ('adam'), a class, a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        return REGISTRY.lookup(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return REGISTRY.lookup(identifier)()
    raise ValueError(f"Could not interpret optimizer {identifier!r}; valid names: {', '.join(REGISTRY.names())}")


def serialize(optimizer):
    return {"class_name": optimizer.registered_name, "config": optimizer.get_config()}


def deserialize(config):
    return get(config)
