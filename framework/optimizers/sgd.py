"""Stochastic gradient descent, with optional (Nesterov) momentum."""
from framework.kernels import optimizers as kernels
from framework.optimizers.optimizer import Optimizer, register


@register("SGD", "sgd")
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras's update rule.

    Args:
        learning_rate: default 0.01.
        momentum: in [0, 1]; 0 is plain gradient descent.
        nesterov: use Nesterov momentum.
        name, **kwargs: the common options (see ``Optimizer``).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be in [0, 1], received {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _update(self, params, grads, learning_rate, cast):
        if self.momentum:
            kernels.sgd_momentum_update(params, grads, self.slots["momentum"], cast(learning_rate),
                                        cast(self.momentum), self.nesterov)
        else:
            kernels.sgd_update(params, grads, cast(learning_rate))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
