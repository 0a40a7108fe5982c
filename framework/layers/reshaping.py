"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector.

Flatten and Reshape produce views of their input (no forward step); Permute
and RepeatVector copy through transposed or broadcast views bound once.
"""
import math

import numpy as np

from framework.layers.core import copy_step
from framework.layers.layer import Layer, format_shape

__all__ = ["Flatten", "Reshape", "Permute", "RepeatVector"]

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


#: layers registered beyond Flatten, Reshape, Permute, RepeatVector (framework/layers/__init__.py)
LAYERS = ()
