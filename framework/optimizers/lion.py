"""Lion: the sign of an interpolated momentum as the step."""
from framework.kernels import optimizers as kernels
from framework.optimizers.optimizer import Optimizer, register


@register("Lion", "lion")
class Lion(Optimizer):
    """Lion (Chen et al., 2023): the sign of an interpolated momentum as the step.

    Args:
        learning_rate: default 0.001 (typically 3-10x smaller than AdamW's).
        beta_1: interpolation between momentum and gradient for the step (0.9), in (0, 1].
        beta_2: decay of the momentum (0.99).
        name, **kwargs: the common options (see ``Optimizer``).
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Lion: argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                             f"degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def _update(self, params, grads, learning_rate, cast):
        kernels.lion_update(params, grads, self.slots["momentum"], cast(learning_rate), cast(self.beta_1),
                            cast(1 - self.beta_1), cast(self.beta_2), cast(1 - self.beta_2))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
