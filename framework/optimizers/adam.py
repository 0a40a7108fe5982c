"""Adam and its variants: AdamW (decoupled weight decay), Adamax (infinity norm) and Nadam
(Nesterov momentum)."""
import math

from framework.kernels import optimizers as kernels
from framework.optimizers.optimizer import Optimizer, register


@register("Adam", "adam")
class Adam(Optimizer):
    """Adam with Keras 3 defaults (epsilon 1e-7) and optional AMSGrad.

    Args:
        learning_rate: default 0.001.
        beta_1, beta_2: decay rates of the first and second moments (0.9, 0.999).
        epsilon: added to sqrt(v) (1e-7).
        amsgrad: divide by the running maximum of v.
        name, **kwargs: the common options (see ``Optimizer``).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name="adam", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _update(self, params, grads, learning_rate, cast):
        t = self.iterations + 1
        alpha = learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        s = self.slots
        kernels.adam_update(params, grads, s["m"], s["v"], s.get("vhat", s["v"]), cast(alpha),
                            cast(1 - self.beta_1), cast(1 - self.beta_2), cast(self.epsilon), self.amsgrad)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


@register("AdamW", "adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): Keras's AdamW is Adam whose
    ``weight_decay`` defaults to 0.004 and may not be None.

    Args:
        learning_rate: default 0.001.
        weight_decay: default 0.004; ``w -= w * weight_decay * lr`` before each Adam update.
        beta_1, beta_2, epsilon, amsgrad: as ``Adam``.
        name, **kwargs: the common options (see ``Optimizer``).
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         name=name, weight_decay=weight_decay, **kwargs)
        if self.weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a float. Received: weight_decay=None")


@register("Adamax", "adamax")
class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm in place of the second moment.

    Args:
        learning_rate: default 0.001.
        beta_1: decay of the first moment (0.9).
        beta_2: decay of the infinity norm (0.999).
        epsilon: added to the norm (1e-7).
        name, **kwargs: the common options (see ``Optimizer``).
    """

    slot_names = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adamax", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, params, grads, learning_rate, cast):
        t = self.iterations + 1
        alpha = learning_rate / (1 - self.beta_1 ** t)
        s = self.slots
        kernels.adamax_update(params, grads, s["m"], s["u"], cast(alpha), cast(1 - self.beta_1),
                              cast(self.beta_2), cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@register("Nadam", "nadam")
class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum and Keras's momentum schedule
    ``u_t = beta_1 * (1 - 0.5 * 0.96 ** t)``.

    Args:
        learning_rate: default 0.001.
        beta_1, beta_2: decay rates of the moments (0.9, 0.999).
        epsilon: added to sqrt(v_hat) (1e-7).
        name, **kwargs: the common options (see ``Optimizer``).
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="nadam", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._u_product, self._u_product_step = 1.0, 0
        self.state_scalars = Optimizer.state_scalars + ("_u_product", "_u_product_step")

    def _u(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _update(self, params, grads, learning_rate, cast):
        t = self.iterations + 1
        if self._u_product_step != t - 1:  # a fresh start or iterations changed: rebuild the product
            product = 1.0
            for k in range(1, t):
                product *= self._u(k)
            self._u_product = product
        u_t, u_next = self._u(t), self._u(t + 1)
        product_t = self._u_product * u_t
        product_next = product_t * u_next
        self._u_product, self._u_product_step = product_t, t
        s = self.slots
        kernels.nadam_update(params, grads, s["m"], s["v"], cast(learning_rate * u_next / (1 - product_next)),
                             cast(learning_rate * (1 - u_t) / (1 - product_t)), cast(1 / (1 - self.beta_2 ** t)),
                             cast(1 - self.beta_1), cast(1 - self.beta_2), cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
