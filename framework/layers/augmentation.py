"""Image augmentation layers: RandomFlip, RandomRotation, RandomTranslation, RandomZoom.

Training only: in a model, ``fit`` applies a fresh random transform to each image of each batch;
``evaluate``, ``predict`` and ``model(x)`` pass images through unchanged (the output is a view of
the input, no step runs). Called alone on arrays, ``layer(images)`` augments, as Keras's
``training=True`` default does; ``layer(images, training=False)`` does not.

Each layer draws from its own generator, seeded from ``seed`` or from the global seed (as
``Dropout``), so runs repeat exactly under ``framework.utils.set_random_seed`` and a resumed run
continues the same stream (the generator's state is saved in checkpoints). The draws are not
Keras's (another generator); the transforms they give are Keras's: the same affine matrices,
interpolation and fill modes as ``keras.ops.image.affine_transform`` on the JAX backend.

Gradients: the input gets the exact adjoint of the transform applied in that step (a flip, or the
bilinear / nearest resampling), so an augmentation layer may sit anywhere in a model.
"""
import numpy as np

from framework.kernels.preprocessing import (FILL_MODES, affine_transform, affine_transform_backward, flip_images,
                                             rotation_transforms, translation_transforms, zoom_transforms)
from framework.layers import eager
from framework.layers.layer import Layer
from framework.layers.pooling import channels_last, check_rank
from framework.plan.global_batch import uniform_rows
from framework.plan.steps import copy_step
from framework.utils.random import draw_seed

INTERPOLATIONS = ("bilinear", "nearest")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _error(layer, message):
    return ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {message}")


class _RandomImageLayer(Layer):
    """Images (batch, rows, cols, channels) changed at random in training, passed through otherwise."""

    supports_masking = False

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise _error(self, f"seed must be an integer or None, received {seed!r}")
        self.seed = seed
        self.data_format = channels_last(self, data_format)
        self.generator = np.random.default_rng(draw_seed() if seed is None else seed)

    def check_input_shape(self, input_shape):
        """No weights: any call is checked afresh in compute_output_shape."""

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 2)
        return input_shape

    def _call_eager(self, inputs, training=True):
        """Alone on arrays the layer augments unless told ``training=False`` (Keras's default)."""
        return eager.call_on_arrays(self, [inputs], lambda tensors: self(tensors[0]),
                                    training=True if training is None else training)

    def output_views(self, ctx):
        return None if ctx.training else [ctx.x]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        if not ctx.training:
            return [copy_step(ctx.dy, ctx.dx)]
        return self._backward(ctx)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(_RandomImageLayer):
    """Flips each image, with probability 1/2, in training.

    With 'horizontal_and_vertical' one draw per image decides both flips, as in Keras 3 (an
    image is left as is or turned by 180 degrees).

    Args:
        mode: 'horizontal' (left-right), 'vertical' (up-down) or 'horizontal_and_vertical' (default).
        seed: int for this layer's own generator (default: drawn from the global seed).
        data_format: 'channels_last' only.
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in FLIP_MODES:
            raise _error(self, f"unknown mode {mode!r}; valid choices: " + ", ".join(repr(m) for m in FLIP_MODES))
        self.mode = mode

    def _axes(self):
        return self.mode != "vertical", self.mode != "horizontal"

    def forward(self, ctx):
        draws = ctx.scratch("draws", (ctx.x.shape[0],), np.float64)
        x, y, generator = ctx.x, ctx.y, self.generator
        horizontal, vertical = self._axes()

        def step():
            uniform_rows(generator, draws)
            flip_images(x, draws, horizontal, vertical, y)
        return [step]

    def _backward(self, ctx):
        draws = ctx.scratch("draws", (ctx.x.shape[0],), np.float64)
        dy, dx = ctx.dy, ctx.dx
        horizontal, vertical = self._axes()
        return [lambda: flip_images(dy, draws, horizontal, vertical, dx)]

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _factor_range(layer, what, factor):
    """(lower, upper) from a number f (giving [-|f|, |f|]) or a pair, each within [-1, 1]."""
    pair = isinstance(factor, (list, tuple))
    values = tuple(factor) if pair else (factor,)
    if (pair and len(values) != 2) or not values or any(
            isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not -1 <= v <= 1
            for v in values):
        raise _error(layer, f"{what} must be a number or a pair (lower, upper) of numbers in [-1, 1], "
                            f"received {factor!r}")
    if not pair:
        values = (-abs(factor), abs(factor))
    lower, upper = sorted(float(v) for v in values)
    return lower, upper


class _RandomAffine(_RandomImageLayer):
    """An affine transform per image, drawn per batch; its (batch, 6) matrices kept for backward."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in FILL_MODES:
            raise _error(self, f"unknown fill_mode {fill_mode!r}; valid choices: "
                               + ", ".join(repr(m) for m in FILL_MODES))
        if interpolation not in INTERPOLATIONS:
            raise _error(self, f"unknown interpolation {interpolation!r}; valid choices: "
                               + ", ".join(repr(m) for m in INTERPOLATIONS))
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float, np.integer, np.floating)):
            raise _error(self, f"fill_value must be a number, received {fill_value!r}")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)

    def _draw_transforms(self, ctx, transforms):
        """A step that fills ``transforms`` (batch, 6) with this batch's random transforms."""
        raise NotImplementedError

    def _transforms(self, ctx):
        return ctx.scratch("transforms", (ctx.x.shape[0], 6), np.float64)

    def forward(self, ctx):
        transforms = self._transforms(ctx)
        draw = self._draw_transforms(ctx, transforms)
        x, y = ctx.x, ctx.y
        nearest, mode = self.interpolation == "nearest", FILL_MODES.index(self.fill_mode)
        fill = ctx.dtype.type(self.fill_value)

        def step():
            draw()
            affine_transform(x, transforms, nearest, mode, fill, y)
        return [step]

    def _backward(self, ctx):
        transforms = self._transforms(ctx)
        dy, dx = ctx.dy, ctx.dx
        nearest, mode = self.interpolation == "nearest", FILL_MODES.index(self.fill_mode)
        return [lambda: affine_transform_backward(dy, transforms, nearest, mode, dx)]

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomRotation(_RandomAffine):
    """Rotates each image about its centre by a random angle, in training.

    Args:
        factor: a fraction of a full turn: f rotates by an angle in [-f * 360, f * 360] degrees, a pair
            (lower, upper) in [lower * 360, upper * 360]; positive is counter-clockwise. Within [-1, 1].
        fill_mode: how points outside the image are filled: 'reflect' (default), 'wrap', 'constant'
            (``fill_value``) or 'nearest'.
        interpolation: 'bilinear' (default) or 'nearest'.
        seed: int for this layer's own generator (default: drawn from the global seed).
        fill_value: the value of 'constant' fill (default 0).
        data_format: 'channels_last' only.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor
        self.lower, self.upper = _factor_range(self, "factor", factor)

    def _draw_transforms(self, ctx, transforms):
        draws = ctx.scratch("draws", (ctx.x.shape[0],), np.float64)
        generator, lower, upper = self.generator, self.lower, self.upper
        rows, cols = ctx.x.shape[1:3]

        def draw():
            uniform_rows(generator, draws)
            rotation_transforms(draws, lower, upper, rows, cols, transforms)
        return draw

    def get_config(self):
        return {**super().get_config(), "factor": _plain(self.factor)}


class RandomTranslation(_RandomAffine):
    """Shifts each image by a random fraction of its height and width, in training.

    Args:
        height_factor: f shifts by a fraction in [-f, f] of the height (positive: down), a pair
            (lower, upper) in [lower, upper]. Within [-1, 1].
        width_factor: the same for the width (positive: right).
        fill_mode, interpolation, seed, fill_value, data_format: as for ``RandomRotation``.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = np.array(_factor_range(self, "height_factor", height_factor))
        self.width_range = np.array(_factor_range(self, "width_factor", width_factor))

    def _draw_transforms(self, ctx, transforms):
        batch = ctx.x.shape[0]
        heights = ctx.scratch("height_draws", (batch,), np.float64)
        widths = ctx.scratch("width_draws", (batch,), np.float64)
        generator, height_range, width_range = self.generator, self.height_range, self.width_range
        rows, cols = ctx.x.shape[1:3]

        def draw():
            uniform_rows(generator, heights)
            uniform_rows(generator, widths)
            translation_transforms(heights, widths, height_range, width_range, rows, cols, transforms)
        return draw

    def get_config(self):
        return {**super().get_config(), "height_factor": _plain(self.height_factor),
                "width_factor": _plain(self.width_factor)}


class RandomZoom(_RandomAffine):
    """Zooms each image about its centre by a random factor, in training.

    Args:
        height_factor: f zooms the height by 1 + a value in [-f, f] (positive zooms out, negative in), a
            pair (lower, upper) by 1 + [lower, upper]. Within (-1, 1].
        width_factor: the same for the width; None (default) keeps the aspect ratio (the height's zoom).
        fill_mode, interpolation, seed, fill_value, data_format: as for ``RandomRotation``.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = np.array(_zoom_range(self, "height_factor", height_factor))
        self.width_range = np.array([np.nan, np.nan]) if width_factor is None else \
            np.array(_zoom_range(self, "width_factor", width_factor))

    def _draw_transforms(self, ctx, transforms):
        batch = ctx.x.shape[0]
        heights = ctx.scratch("height_draws", (batch,), np.float64)
        widths = ctx.scratch("width_draws", (batch,), np.float64)
        generator, height_range, width_range = self.generator, self.height_range, self.width_range
        own_width = self.width_factor is not None
        rows, cols = ctx.x.shape[1:3]

        def draw():
            uniform_rows(generator, heights)
            if own_width:
                uniform_rows(generator, widths)
            zoom_transforms(heights, widths, height_range, width_range, rows, cols, transforms)
        return draw

    def get_config(self):
        return {**super().get_config(), "height_factor": _plain(self.height_factor),
                "width_factor": _plain(self.width_factor)}


def _plain(factor):
    """A factor as YAML writes it: a pair as a list of floats, a number as a float."""
    if isinstance(factor, (list, tuple)):
        return [float(v) for v in factor]
    return None if factor is None else float(factor)


def _zoom_range(layer, what, factor):
    """A zoom factor's range: as ``_factor_range``, each value in (-1, 1] (a zoom of 0 is refused)."""
    lower, upper = _factor_range(layer, what, factor)
    if lower <= -1:
        raise _error(layer, f"{what} must be a number or a pair (lower, upper) of numbers in (-1, 1], "
                            f"received {factor!r}")
    return lower, upper


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (RandomFlip, RandomRotation, RandomTranslation, RandomZoom)
