"""Pooling layers: max/average pooling in 1D/2D and their global forms (channels_last).

Output size per spatial axis of length n, pool k, stride s:
'valid' gives (n - k) // s + 1 (k <= n required); 'same' gives ceil(n / s), with
max(0, (out - 1) * s + k - n) padding split as Keras/TF do (the smaller half
before). Padding never enters a result: max ignores it, average divides by the
real elements in the window. 1-D layers run the 2-D kernels on one row.
"""
import numpy as np

from framework.graph.shapes import format_shape
from framework.kernels.pooling import (avg_pool_backward, avg_pool_forward, global_avg_backward,
                                       global_avg_forward, global_max_backward, global_max_forward,
                                       masked_avg_backward, masked_avg_forward, max_pool_backward,
                                       max_pool_forward)
from framework.layers.layer import Layer

_PADDINGS = ("valid", "same")
_AXES = {1: ("batch", "steps", "channels"), 2: ("batch", "rows", "cols", "channels")}


# ----- argument and shape checks shared with reshaping and regularization ---------------------------

def channels_last(layer, data_format):
    """'channels_last' (the default); 'channels_first' is refused with a clear error."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): data_format='channels_first' is not "
                         f"supported; only 'channels_last' (channels on the last axis). Move the channel axis "
                         f"last first, e.g. with Permute.")
    raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): data_format must be 'channels_last' "
                     f"(or None), received {data_format!r}")


def int_tuple(layer, what, value, n, allow_zero=False):
    """``value`` (an int or n ints) as a tuple of n ints, each positive (or >= 0 with allow_zero)."""
    values = (value,) * n if _is_int(value) else tuple(value) if isinstance(value, (list, tuple)) else None
    low = 0 if allow_zero else 1
    if values is None or len(values) != n or not all(_is_int(v) and v >= low for v in values):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {what} must be a {kind} integer or "
                         f"a tuple of {n} {kind} integers, received {value!r}")
    return tuple(int(v) for v in values)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_rank(layer, input_shape, spatial_rank):
    """Raise unless input_shape is (batch, <spatial_rank axes>, channels)."""
    axes = _AXES[spatial_rank]
    if len(input_shape) != len(axes):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) expects a {len(axes)}-D input "
                         f"({', '.join(axes)}), expected input shape "
                         f"{format_shape((None,) * len(axes))}, received {format_shape(input_shape)}")


def as_grid(array):
    """(batch, rows, cols, channels) view: 1-D data (batch, steps, channels) is one row."""
    if array.ndim == 4:
        return array
    return array.reshape(array.shape[0], 1, array.shape[1], array.shape[2])


def as_rows(array):
    """(batch, positions, channels) view: every axis between batch and channels flattened."""
    return array.reshape(array.shape[0], -1, array.shape[-1])


# ----- windowed pooling ----------------------------------------------------------------------------

class _Pooling(Layer):
    """Max or average pooling over 1 or 2 spatial axes; see the module docstring for sizes."""

    spatial_rank = 2
    mode = "max"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        n = self.spatial_rank
        self.pool_size = int_tuple(self, "pool_size", pool_size, n)
        self.strides = self.pool_size if strides is None else int_tuple(self, "strides", strides, n)
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in _PADDINGS:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): padding must be one of "
                             f"{', '.join(_PADDINGS)}, received {padding!r}")
        self.padding = padding
        self.data_format = channels_last(self, data_format)

    def check_input_shape(self, input_shape):
        """No weights: any call is checked afresh in compute_output_shape."""

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.spatial_rank)
        spatial = input_shape[1:-1]
        if self.padding == "valid" and any(n is not None and n < k for n, k in zip(spatial, self.pool_size)):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) with padding='valid' needs every "
                             f"spatial axis at least pool_size {self.pool_size}, received input shape "
                             f"{format_shape(input_shape)}; use padding='same' or a smaller pool")
        out = tuple(None if n is None else _pooled_size(n, k, s, self.padding)
                    for n, k, s in zip(spatial, self.pool_size, self.strides))
        return (input_shape[0],) + out + (input_shape[-1],)

    def _geometry(self, input_shape):
        """(kh, kw, sh, sw, top, left) of the 2-D kernels; 1-D data is one row."""
        spatial = input_shape[1:-1]
        before = [_padding_before(n, k, s, self.padding) for n, k, s in zip(spatial, self.pool_size, self.strides)]
        if self.spatial_rank == 1:
            return (1, self.pool_size[0], 1, self.strides[0], 0, before[0])
        return self.pool_size + self.strides + tuple(before)

    def flops(self, input_shape, output_shape):
        return int(np.prod(output_shape[1:])) * int(np.prod(self.pool_size))

    def forward(self, ctx):
        x, y = as_grid(ctx.x), as_grid(ctx.y)
        geometry = self._geometry(ctx.x.shape)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", y.shape, dtype=np.int32)
            return [lambda: max_pool_forward(x, *geometry, y, argmax)]
        return [lambda: avg_pool_forward(x, *geometry, y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dx, dy = as_grid(ctx.dx), as_grid(ctx.dy)
        geometry = self._geometry(ctx.x.shape)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", dy.shape, dtype=np.int32)
            return [lambda: max_pool_backward(dy, argmax, *geometry, dx)]
        return [lambda: avg_pool_backward(dy, *geometry, dx)]

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size), "strides": list(self.strides),
                       "padding": self.padding, "data_format": self.data_format})
        return config


def _pooled_size(n, k, s, padding):
    return (n - k) // s + 1 if padding == "valid" else -(-n // s)


def _padding_before(n, k, s, padding):
    if padding == "valid":
        return 0
    total = max(0, (_pooled_size(n, k, s, "same") - 1) * s + k - n)
    return total // 2


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps of (batch, steps, channels) inputs.

    Args:
        pool_size: window length (int). strides: step between windows (default pool_size).
        padding: 'valid' (windows inside the input) or 'same' (output ceil(steps / strides),
            padding ignored). data_format: 'channels_last' only.
    """

    spatial_rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of (batch, rows, cols, channels) inputs.

    Args:
        pool_size: int or (rows, cols). strides: int or pair (default pool_size).
        padding: 'valid' or 'same' (padding ignored). data_format: 'channels_last' only.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps; with 'same' padding, over the real steps only.

    Args: as MaxPooling1D. Keras 3 requires pool_size; the default 2 here is tf.keras's.
    """

    spatial_rank = 1
    mode = "average"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows; with 'same' padding, over the real elements only.

    Args: as MaxPooling2D. Keras 3 requires pool_size; the default (2, 2) here is tf.keras's.
    """

    mode = "average"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


# ----- global pooling ------------------------------------------------------------------------------

class _GlobalPooling(Layer):
    """Reduces every spatial axis: (batch, ..., channels) -> (batch, channels).

    Args:
        data_format: 'channels_last' only.
        keepdims: keep the spatial axes with length 1: (batch, 1, [1,] channels).
    """

    spatial_rank = 2
    mode = "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = channels_last(self, data_format)
        self.keepdims = bool(keepdims)

    def check_input_shape(self, input_shape):
        """No weights: any call is checked afresh in compute_output_shape."""

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.spatial_rank)
        ones = (1,) * self.spatial_rank if self.keepdims else ()
        return (input_shape[0],) + ones + (input_shape[-1],)

    def flops(self, input_shape, output_shape):
        return int(np.prod(input_shape[1:]))

    @staticmethod
    def _views(x, y):
        """(batch, positions, channels) view of x and (batch, channels) view of y."""
        return as_rows(x), y.reshape(y.shape[0], y.shape[-1])

    def forward(self, ctx):
        x, y = self._views(ctx.x, ctx.y)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", y.shape, dtype=np.int32)
            return [lambda: global_max_forward(x, y, argmax)]
        return [lambda: global_avg_forward(x, y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dx, dy = self._views(ctx.dx, ctx.dy)
        if self.mode == "max":
            argmax = ctx.scratch("argmax", dy.shape, dtype=np.int32)
            return [lambda: global_max_backward(dy, argmax, dx)]
        return [lambda: global_avg_backward(dy, dx)]

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps of (batch, steps, channels) inputs."""

    spatial_rank = 1


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over rows and cols of (batch, rows, cols, channels) inputs."""


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps of (batch, steps, channels) inputs.

    With a mask (e.g. from ``Embedding(mask_zero=True)``) the mean runs over the unmasked
    steps only, as Keras; a sample with every step masked gives nan (0 / 0), as Keras.
    The mask stops here (the output has no steps axis).
    """

    spatial_rank = 1
    mode = "average"
    supports_masking = True

    def compute_output_masks(self, input_masks):
        return None

    def _mask(self, ctx):
        mask = ctx.input_masks[0] if ctx.input_masks else None
        if mask is not None and mask.shape != ctx.x.shape[:2]:
            raise ValueError(f"Layer '{self.name}' (GlobalAveragePooling1D) received a mask of shape "
                             f"{format_shape(mask.shape)} for input shape {format_shape(ctx.x.shape)}; "
                             f"expected (batch, steps) = {format_shape(ctx.x.shape[:2])}")
        return mask

    def forward(self, ctx):
        mask = self._mask(ctx)
        if mask is None:
            return super().forward(ctx)
        x, y = self._views(ctx.x, ctx.y)
        return [lambda: masked_avg_forward(x, mask, y)]

    def backward(self, ctx):
        mask = self._mask(ctx)
        if mask is None or ctx.dx is None:
            return super().backward(ctx)
        dx, dy = self._views(ctx.dx, ctx.dy)
        return [lambda: masked_avg_backward(dy, mask, dx)]


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over rows and cols of (batch, rows, cols, channels) inputs."""

    mode = "average"


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D, GlobalMaxPooling1D,
          GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D)
