"""Layers and an activation the application architectures need beyond ``framework.layers``, under
Keras's names, registered like built-in layers so configs and Keras files can name them.

- ``LayerScale`` (ConvNeXt): multiplies its input by a learned per-channel scale ``gamma``.
- ``StochasticDepth`` (ConvNeXt): in training, drops a residual branch per sample with probability
  ``drop_path_rate`` and scales the kept ones by ``1 / (1 - rate)``; identity in inference.
- the ``"hard_swish"`` activation (MobileNetV3): ``x * relu6(x + 3) / 6``, Keras's ``hard_silu``.
"""
from framework import activations, ops
from framework.initializers import Constant
from framework.layers import Dropout, Layer
from framework.layers.serialization import REGISTRY
from framework.utils.serialization import register_serializable


class LayerScale(Layer):
    """Scales each channel by a learned factor (ConvNeXt's layer scale).

    Args:
        init_values: the initial value of every factor.
        projection_dim: the number of channels (the last axis).
    """

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = float(init_values)
        self.projection_dim = int(projection_dim)

    def build(self, input_shape):
        if input_shape[-1] != self.projection_dim:
            raise ValueError(f"Layer '{self.name}' (LayerScale): projection_dim is {self.projection_dim} but "
                             f"the input has {input_shape[-1]} channels (shape {tuple(input_shape)})")
        self.gamma = self.add_weight(name="gamma", shape=(self.projection_dim,),
                                     initializer=Constant(self.init_values), trainable=True)

    def call(self, inputs):
        return inputs * self.gamma

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


class StochasticDepth(Layer):
    """Drops whole samples of a residual branch in training (stochastic depth, "drop path").

    Args:
        drop_path_rate: the probability of dropping a sample's branch, in [0, 1).
    """

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= float(drop_path_rate) < 1:
            raise ValueError(f"Layer '{self.name}' (StochasticDepth): drop_path_rate must be in [0, 1), "
                             f"received {drop_path_rate!r}")
        self.drop_path_rate = float(drop_path_rate)

    def build(self, input_shape):
        self.dropout = Dropout(self.drop_path_rate, noise_shape=(None,) + (1,) * (len(input_shape) - 1),
                               name=f"{self.name}_dropout")

    def call(self, inputs, training=None):
        if training and self.drop_path_rate > 0:
            return self.dropout(inputs, training=True)
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update({"drop_path_rate": self.drop_path_rate})
        return config


def hard_swish(x):
    """``x * relu6(x + 3) / 6`` (Keras's ``hard_silu``, also named ``hard_swish``)."""
    return x * ops.clip(x + 3.0, 0.0, 6.0) * (1.0 / 6.0)


for _cls in (LayerScale, StochasticDepth):
    REGISTRY.register(_cls.__name__)(_cls)
del _cls
register_serializable(package=None, name="hard_swish")(hard_swish)
activations.REGISTRY.add("hard_swish", activations.FunctionActivation(hard_swish))
