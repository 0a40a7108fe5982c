"""Regularization layers: SpatialDropout1D/2D.

Spatial dropout drops whole channels: one keep/drop draw per (sample, channel),
shared by every step or pixel of that channel, the kept ones scaled by
1 / (1 - rate). Each layer draws from its own generator, seeded from ``seed`` or
from the global seed as ``Dropout`` is, so training repeats bit for bit under
``set_random_seed``. Outside training (or with rate 0) the output is a view of
the input and no step runs.
"""
import numpy as np

from framework.kernels.spatial import channel_keep_factors, scale_channels
from framework.plan.global_batch import uniform_rows
from framework.plan.steps import copy_step
from framework.layers.layer import Layer
from framework.layers.pooling import as_rows, channels_last, check_rank
from framework.utils.random import draw_seed


class _SpatialDropout(Layer):
    spatial_rank = 2
    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= float(rate) < 1:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): rate must be in [0, 1), "
                             f"received {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.generator = np.random.default_rng(draw_seed() if seed is None else seed)

    def check_input_shape(self, input_shape):
        """No weights: any call is checked afresh in compute_output_shape."""

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.spatial_rank)
        return input_shape

    def _active(self, ctx):
        return ctx.training and self.rate > 0

    def output_views(self, ctx):
        return None if self._active(ctx) else [ctx.x]

    def _factors(self, ctx):
        """(batch, channels) buffer: the draws, turned in place into 0 or 1 / (1 - rate)."""
        return ctx.scratch("keep", (ctx.x.shape[0], ctx.x.shape[-1]))

    def forward(self, ctx):
        factors = self._factors(ctx)
        draws = factors.reshape(-1)
        x, y = as_rows(ctx.x), as_rows(ctx.y)
        rate, generator = ctx.dtype.type(self.rate), self.generator

        def step():
            uniform_rows(generator, factors)
            channel_keep_factors(draws, rate)
            scale_channels(x, factors, y)
        return [step]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        if not self._active(ctx):
            return [copy_step(ctx.dy, ctx.dx)]
        factors = self._factors(ctx)
        dy, dx = as_rows(ctx.dy), as_rows(ctx.dx)
        return [lambda: scale_channels(dy, factors, dx)]

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of (batch, steps, channels) inputs, during training only.

    Args:
        rate: fraction of channels to drop, in [0, 1). seed: int for this layer's own
            generator (default: drawn from the global seed).
    """

    spatial_rank = 1


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps of (batch, rows, cols, channels) inputs, during training only.

    Args:
        rate: fraction of channels to drop, in [0, 1). seed: int for this layer's own
            generator (default: drawn from the global seed). data_format: 'channels_last' only.
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = channels_last(self, data_format)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (SpatialDropout1D, SpatialDropout2D)
