"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector; ZeroPadding, Cropping and
UpSampling in 1D/2D (channels_last).

Flatten and Reshape produce views of their input (no forward step); Permute
and RepeatVector copy through transposed or broadcast views bound once.
Padding, cropping and upsampling run kernels from framework/kernels/spatial.py.
"""
import math

import numpy as np

from framework.graph.shapes import format_shape
from framework.kernels.spatial import crop_rows, pad_rows, upsample_nearest, upsample_nearest_backward
from framework.plan.steps import copy_step
from framework.layers.layer import Layer
from framework.layers.pooling import channels_last, check_rank, int_tuple

__all__ = ["Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D",
           "Cropping2D", "UpSampling1D", "UpSampling2D"]

_DATA_FORMATS = ("channels_last", "channels_first")


def _positive_int(layer, what, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {what} must be a positive "
                         f"integer, received {value!r}")
    return int(value)


def _size(dims):
    return None if None in dims else math.prod(dims)


class _Stateless(Layer):
    """A layer without weights: any call is checked afresh in compute_output_shape."""

    def check_input_shape(self, input_shape):
        pass


class Flatten(_Stateless):
    """Flattens each sample to one axis: (batch, d1, ..., dk) -> (batch, d1 * ... * dk).

    Args:
        data_format: 'channels_last' (default) or 'channels_first'; with 'channels_first'
            the channel axis 1 is moved last before flattening, as in Keras.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        data_format = data_format or "channels_last"
        if data_format not in _DATA_FORMATS:
            raise ValueError(f"Layer '{self.name}' (Flatten): data_format must be one of "
                             f"{', '.join(_DATA_FORMATS)}, received {data_format!r}")
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _size(input_shape[1:]))

    def _channels_first(self, ndim):
        return self.data_format == "channels_first" and ndim > 2

    def output_views(self, ctx):
        if self._channels_first(ctx.x.ndim):
            return None
        return [ctx.x.reshape(ctx.x.shape[0], -1)]

    @staticmethod
    def _channels_last_views(x, y):
        """(x with axis 1 moved last, y shaped like it): both views, bound once."""
        moved = np.moveaxis(x, 1, -1)
        return moved, y.reshape(moved.shape)

    def forward(self, ctx):
        moved, y = self._channels_last_views(ctx.x, ctx.y)
        return [copy_step(moved, y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        if self._channels_first(ctx.x.ndim):
            dx, dy = self._channels_last_views(ctx.dx, ctx.dy)
            return [copy_step(dy, dx)]
        return [copy_step(ctx.dy.reshape(ctx.dx.shape), ctx.dx)]

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(_Stateless):
    """Reshapes each sample to ``target_shape`` (batch axis excluded; one -1 may be inferred).

    Args:
        target_shape: tuple of ints, the new shape of one sample.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = (target_shape,) if isinstance(target_shape, (int, np.integer)) else tuple(target_shape)
        for d in target:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or (d <= 0 and d != -1):
                raise ValueError(f"Layer '{self.name}' (Reshape): target_shape must hold positive "
                                 f"integers and at most one -1, received {target_shape!r}")
        if target.count(-1) > 1:
            raise ValueError(f"Layer '{self.name}' (Reshape): target_shape may hold at most one -1, "
                             f"received {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def compute_output_shape(self, input_shape):
        size, target = _size(input_shape[1:]), self.target_shape
        if size is None:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in target)
        known = math.prod(d for d in target if d != -1)
        resolved = tuple(size // known if d == -1 else d for d in target) if size % known == 0 else target
        if math.prod(resolved) != size:
            raise ValueError(f"Layer '{self.name}' (Reshape) cannot reshape input shape "
                             f"{format_shape(input_shape)} ({size} values per sample) to target shape "
                             f"{format_shape(target)}")
        return (input_shape[0],) + resolved

    def output_views(self, ctx):
        return [ctx.x.reshape((ctx.x.shape[0],) + self.target_shape)]

    def backward(self, ctx):
        return [] if ctx.dx is None else [copy_step(ctx.dy.reshape(ctx.dx.shape), ctx.dx)]

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Permute(_Stateless):
    """Permutes the sample axes: ``dims`` is a permutation of 1..rank-1 (1-based, batch excluded).

    Args:
        dims: tuple of ints, e.g. (2, 1) swaps the two sample axes of a 3-D input.
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Layer '{self.name}' (Permute): dims must be a permutation of "
                             f"1..{len(dims)} (1-based, batch axis excluded), received {dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Layer '{self.name}' (Permute) with dims {self.dims} expects inputs of rank "
                             f"{len(self.dims) + 1} (batch axis included), received input shape "
                             f"{format_shape(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, ctx):
        return [copy_step(ctx.x.transpose((0,) + self.dims), ctx.y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        inverse = tuple(int(i) for i in np.argsort((0,) + self.dims))
        return [copy_step(ctx.dy.transpose(inverse), ctx.dx)]

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config


class RepeatVector(_Stateless):
    """Repeats a (batch, features) input ``n`` times: output (batch, n, features).

    Args:
        n: number of repetitions.
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_int(self, "n", n)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"Layer '{self.name}' (RepeatVector) expects a 2-D input (batch, features), "
                             f"received input shape {format_shape(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, ctx):
        x = ctx.x.reshape(ctx.x.shape[0], 1, ctx.x.shape[1])
        return [copy_step(x, ctx.y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dy, dx, total = ctx.dy, ctx.dx, np.add.reduce

        def step():
            total(dy, axis=1, out=dx)
        return [step]

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


# ----- spatial padding, cropping, upsampling (channels_last) -------------------------------------

class _Spatial(_Stateless):
    """Base of the padding, cropping and upsampling layers: rank check and row views."""

    spatial_rank = 2

    def _check_rank(self, input_shape):
        check_rank(self, input_shape, self.spatial_rank)

    def _rows(self, array):
        """(batch, rows, row_length) view: 2-D data gives rows of cols * channels; 1-D data rows of channels."""
        return array.reshape(array.shape[0], array.shape[1], -1)

    def _offset(self, edges, channels):
        """(top rows, left elements) of the inner block in (batch, rows, row_length) views."""
        if self.spatial_rank == 1:
            return edges[0][0], 0
        return edges[0][0], edges[1][0] * channels


def _pairs(layer, what, value, spatial_rank):
    """Keras's padding/cropping forms as ((before, after),) * spatial_rank."""
    if spatial_rank == 1:
        return (int_tuple(layer, what, value, 2, allow_zero=True),)
    if _is_int(value):
        pair = int_tuple(layer, what, value, 2, allow_zero=True)
        return (pair, pair)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {what} must be an int, a pair of ints "
                         f"(rows, cols) or a pair of pairs ((top, bottom), (left, right)), received {value!r}")
    return tuple(int_tuple(layer, f"{what} entry", v, 2, allow_zero=True) for v in value)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _nested_lists(pairs):
    return [list(p) for p in pairs]


class _ZeroPadding(_Spatial):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(self, "padding", padding, self.spatial_rank)
        self.data_format = channels_last(self, data_format)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        spatial = tuple(None if n is None else n + a + b for n, (a, b) in zip(input_shape[1:-1], self.padding))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def forward(self, ctx):
        x, y = self._rows(ctx.x), self._rows(ctx.y)
        top, left = self._offset(self.padding, ctx.x.shape[-1])
        return [lambda: pad_rows(x, top, left, y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dy, dx = self._rows(ctx.dy), self._rows(ctx.dx)
        top, left = self._offset(self.padding, ctx.x.shape[-1])
        return [lambda: crop_rows(dy, top, left, dx)]

    def get_config(self):
        config = super().get_config()
        padding = list(self.padding[0]) if self.spatial_rank == 1 else _nested_lists(self.padding)
        config.update({"padding": padding, "data_format": self.data_format})
        return config


class ZeroPadding1D(_ZeroPadding):
    """Adds zero steps at the start and end of (batch, steps, channels) inputs.

    Args:
        padding: int (both ends) or (before, after). data_format: 'channels_last' only.
    """

    spatial_rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Adds rows and columns of zeros around (batch, rows, cols, channels) inputs.

    Args:
        padding: int (all sides), (rows, cols) symmetric, or ((top, bottom), (left, right)).
        data_format: 'channels_last' only.
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(self, "cropping", cropping, self.spatial_rank)
        self.data_format = channels_last(self, data_format)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        spatial = input_shape[1:-1]
        if any(n is not None and a + b >= n for n, (a, b) in zip(spatial, self.cropping)):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): cropping "
                             f"{_nested_lists(self.cropping)} must leave at least one element on every spatial "
                             f"axis, received input shape {format_shape(input_shape)}")
        cropped = tuple(None if n is None else n - a - b for n, (a, b) in zip(spatial, self.cropping))
        return (input_shape[0],) + cropped + (input_shape[-1],)

    def forward(self, ctx):
        x, y = self._rows(ctx.x), self._rows(ctx.y)
        top, left = self._offset(self.cropping, ctx.x.shape[-1])
        return [lambda: crop_rows(x, top, left, y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dy, dx = self._rows(ctx.dy), self._rows(ctx.dx)
        top, left = self._offset(self.cropping, ctx.x.shape[-1])
        return [lambda: pad_rows(dy, top, left, dx)]


class Cropping1D(_Cropping):
    """Removes steps from the start and end of (batch, steps, channels) inputs.

    Args:
        cropping: int (both ends) or (before, after).
    """

    spatial_rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, None, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["cropping"] = list(self.cropping[0])
        return config


class Cropping2D(_Cropping):
    """Removes rows and columns at the edges of (batch, rows, cols, channels) inputs.

    Args:
        cropping: int (all sides), (rows, cols) symmetric, or ((top, bottom), (left, right)).
        data_format: 'channels_last' only.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": _nested_lists(self.cropping), "data_format": self.data_format})
        return config


_INTERPOLATIONS = ("nearest",)


class _UpSampling(_Spatial):
    def _factors(self):
        """(row factor, col factor) of the 4-D kernels; 1-D data repeats steps as rows."""
        return self.size if self.spatial_rank == 2 else (self.size[0], 1)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        spatial = tuple(None if n is None else n * k for n, k in zip(input_shape[1:-1], self.size))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def _grid(self, array):
        """(batch, rows, cols, channels) view: 1-D data has one column."""
        return array if array.ndim == 4 else array.reshape(array.shape[0], array.shape[1], 1, array.shape[2])

    def forward(self, ctx):
        x, y = self._grid(ctx.x), self._grid(ctx.y)
        sh, sw = self._factors()
        return [lambda: upsample_nearest(x, sh, sw, y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dy, dx = self._grid(ctx.dy), self._grid(ctx.dx)
        sh, sw = self._factors()
        return [lambda: upsample_nearest_backward(dy, sh, sw, dx)]


class UpSampling1D(_UpSampling):
    """Repeats each step ``size`` times: (batch, steps, channels) -> (batch, steps * size, channels).

    Args:
        size: positive int.
    """

    spatial_rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = (_positive_int(self, "size", size),)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size[0]
        return config


class UpSampling2D(_UpSampling):
    """Repeats rows and columns: (batch, rows, cols, channels) -> (batch, rows * sr, cols * sc, channels).

    Args:
        size: int or (row factor, col factor). data_format: 'channels_last' only.
        interpolation: 'nearest' (the only mode supported).
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = int_tuple(self, "size", size, 2)
        self.data_format = channels_last(self, data_format)
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if mode not in _INTERPOLATIONS:
            raise ValueError(f"Layer '{self.name}' (UpSampling2D): interpolation must be one of "
                             f"{', '.join(repr(m) for m in _INTERPOLATIONS)}, received {interpolation!r} "
                             f"(Keras's resizing modes such as 'bilinear' are not supported)")
        self.interpolation = mode

    def get_config(self):
        config = super().get_config()
        config.update({"size": list(self.size), "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return config


LAYERS = (Flatten, Reshape, Permute, RepeatVector, ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D,
          UpSampling1D, UpSampling2D)
