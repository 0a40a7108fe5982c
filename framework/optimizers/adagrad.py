"""Adagrad and Adadelta: per-parameter rates from accumulated squared gradients."""
from framework.kernels import optimizers as kernels
from framework.optimizers.optimizer import Optimizer, register


@register("Adagrad", "adagrad")
class Adagrad(Optimizer):
    """Adagrad: per-parameter rates shrinking with the sum of squared gradients.

    Args:
        learning_rate: default 0.001.
        initial_accumulator_value: the accumulators' starting value (0.1), >= 0.
        epsilon: added inside the square root (1e-7).
        name, **kwargs: the common options (see ``Optimizer``).
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name="adagrad",
                 **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not initial_accumulator_value >= 0:
            raise ValueError("Adagrad: initial_accumulator_value must be >= 0, received "
                             f"{initial_accumulator_value!r}")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _slot_initial_value(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _update(self, params, grads, learning_rate, cast):
        kernels.adagrad_update(params, grads, self.slots["accumulator"], cast(learning_rate), cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


@register("Adadelta", "adadelta")
class Adadelta(Optimizer):
    """Adadelta (Zeiler) with Keras's learning rate factor.

    Args:
        learning_rate: default 0.001 (1.0 matches the paper).
        rho: decay rate (0.95).
        epsilon: added inside both square roots (1e-7).
        name, **kwargs: the common options (see ``Optimizer``).
    """

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, params, grads, learning_rate, cast):
        s = self.slots
        kernels.adadelta_update(params, grads, s["accumulated_grad"], s["accumulated_delta_var"],
                                cast(learning_rate), cast(self.rho), cast(1 - self.rho), cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
