"""RMSprop: steps scaled by a moving root mean square of the gradients."""
from framework.kernels import optimizers as kernels
from framework.optimizers.optimizer import Optimizer, register


@register("RMSprop", "rmsprop")
class RMSprop(Optimizer):
    """RMSprop as in Keras 3 (rho 0.9, epsilon inside the square root). Compile's default.

    Args:
        learning_rate: default 0.001.
        rho: decay of the mean square (0.9).
        momentum: momentum of the step (0.0).
        epsilon: 1e-7.
        centered: subtract the squared moving mean gradient.
        name, **kwargs: the common options (see ``Optimizer``).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self.slot_names = ("mean_square", "mean_grad", "momentum")

    def _update(self, params, grads, learning_rate, cast):
        s = self.slots
        kernels.rmsprop_update(params, grads, s["mean_square"], s["mean_grad"], s["momentum"],
                               cast(learning_rate), cast(self.rho), cast(1 - self.rho), cast(self.momentum),
                               cast(self.epsilon), self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
