"""Preprocessing layers: Rescaling, Normalization, CategoryEncoding, Resizing, CenterCrop.

They have no trainable weights and run in training and inference alike, so data preprocessing is part
of the model and is saved with it. ``Normalization`` learns its statistics with ``adapt()`` and keeps
them as non-trainable weights (``mean``, ``variance``, ``count``, Keras's names and shapes).
Rescaling and Normalization pass gradients to their input; CategoryEncoding's input is token ids,
whose gradient is zero; Resizing and CenterCrop pass the adjoint of their resampling.
"""
import itertools

import numpy as np

from framework import backend
from framework.graph.shapes import format_shape
from framework.kernels.preprocessing import encode_categories, one_hot_ids, resize, resize_backward, resize_tables
from framework.layers.layer import Layer
from framework.layers.pooling import channels_last, check_rank
from framework.plan.steps import copy_step

OUTPUT_MODES = ("multi_hot", "one_hot", "count")
RESIZE_INTERPOLATIONS = ("bilinear", "nearest")


def _error(layer, message):
    return ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {message}")


class _Preprocessing(Layer):
    """A weightless layer: any call is checked afresh in compute_output_shape."""

    def check_input_shape(self, input_shape):
        pass


class Rescaling(_Preprocessing):
    """``inputs * scale + offset``, in training and inference (e.g. ``scale=1/255`` for pixels).

    Args:
        scale: a number, or one number per channel (the last axis).
        offset: a number, or one per channel (default 0).
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for what, value in (("scale", scale), ("offset", offset)):
            array = np.asarray(value)
            if array.dtype.kind not in "iuf" or array.ndim > 1 or array.size == 0:
                raise _error(self, f"{what} must be a number or a list of numbers (one per channel), "
                                   f"received {value!r}")
        self.scale = scale
        self.offset = offset

    def compute_output_shape(self, input_shape):
        for what, value in (("scale", self.scale), ("offset", self.offset)):
            size = np.asarray(value).size
            if np.ndim(value) == 1 and size != 1 and input_shape[-1] not in (None, size):
                raise _error(self, f"{what} has {size} values, one per channel, but the input shape "
                                   f"{format_shape(input_shape)} has {input_shape[-1]} channels")
        return input_shape

    def forward(self, ctx):
        x, y = ctx.x, ctx.y
        scale = np.asarray(self.scale, dtype=ctx.dtype)
        offset = np.asarray(self.offset, dtype=ctx.dtype)
        if not np.any(offset):
            return [lambda: np.multiply(x, scale, out=y, casting="unsafe")]

        def step():
            np.multiply(x, scale, out=y, casting="unsafe")
            np.add(y, offset, out=y)
        return [step]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dy, dx, scale = ctx.dy, ctx.dx, np.asarray(self.scale, dtype=ctx.dtype)
        return [lambda: np.multiply(dy, scale, out=dx)]

    def get_config(self):
        plain = lambda v: np.asarray(v, dtype=np.float64).tolist()  # noqa: E731
        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


class Normalization(Layer):
    """``(inputs - mean) / sqrt(variance)`` per index of ``axis``, with statistics given or learned by
    ``adapt()`` (the square root is kept from falling below ``backend.epsilon()``, as Keras does).

    Without ``mean``/``variance`` the layer has three non-trainable weights, saved with the model:
    ``mean`` and ``variance`` of the kept axes' shape and ``count`` (the number of values ``adapt()``
    saw per statistic; a float here, an int in Keras), zeros / ones / zero until ``adapt()``.

    Args:
        axis: the axis or axes (an int, a list, or None for one scalar mean and variance) that keep a
            separate mean and variance per index; never the batch axis (default -1: per feature).
        mean, variance: the statistics to use instead of ``adapt()`` (both or neither), broadcast to the
            kept axes' shape; they are part of the config, not weights.
        invert: apply the inverse, ``mean + inputs * sqrt(variance)`` (turn normalized values back).
    """

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axes = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axes = (int(axis),)
        elif isinstance(axis, (list, tuple)) and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                                     for a in axis):
            axes = tuple(int(a) for a in axis)
        else:
            raise _error(self, f"axis must be an integer, a list of integers or None, received {axis!r}")
        if len(set(axes)) != len(axes):
            raise _error(self, f"axis lists an axis twice: {axis!r}")
        self.axis = axes
        if (mean is None) != (variance is None):
            raise _error(self, f"give both mean and variance, or neither (then call adapt()); received "
                               f"mean={_short(mean)} and variance={_short(variance)}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise _error(self, f"mean and variance must have the same shape, received {np.shape(mean)} and "
                                   f"{np.shape(variance)}")
            if np.ndim(mean) > len(axes):
                raise _error(self, f"mean has rank {np.ndim(mean)}, more than the {len(axes)} kept axes of "
                                   f"axis={axis!r}")
            if np.any(np.asarray(variance, dtype=np.float64) < 0):
                raise _error(self, "variance must not be negative")
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self._keep_axes = None

    # ----- shapes --------------------------------------------------------------------------------
    def _resolve_axes(self, input_shape):
        ndim = len(input_shape)
        keep = []
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise _error(self, f"axis {a} is out of range for input shape {format_shape(input_shape)} "
                                   f"(valid axes: 1 to {ndim - 1}, or -1 to {-(ndim - 1)})")
            a = a % ndim
            if a == 0:
                raise _error(self, f"axis {self.axis if len(self.axis) > 1 else self.axis[0]} is the batch axis "
                                   f"of input shape {format_shape(input_shape)}; statistics are kept per feature "
                                   "axis (use axis=None for one mean and variance)")
            if input_shape[a] is None:
                raise _error(self, f"axis {a} of input shape {format_shape(input_shape)} has no known size; "
                                   "a kept axis needs one")
            keep.append(a)
        return tuple(sorted(keep))

    def _stat_shape(self):
        return tuple(self._build_shape[a] for a in self._keep_axes)

    def _broadcast_shape(self, ndim):
        return tuple(self._build_shape[a] if a in self._keep_axes else 1 for a in range(ndim))

    def build(self, input_shape):
        self._keep_axes = self._resolve_axes(input_shape)
        self._build_shape = tuple(input_shape)
        shape = self._stat_shape()
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False)
        else:
            try:
                for value in (self.input_mean, self.input_variance):
                    np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
            except ValueError:
                raise _error(self, f"mean of shape {np.shape(self.input_mean)} does not broadcast to the kept "
                                   f"axes' shape {shape} of input shape {format_shape(input_shape)}") from None
        self.built = True

    def check_input_shape(self, input_shape):
        if len(input_shape) != len(self._build_shape) or any(
                input_shape[a] != self._build_shape[a] for a in self._keep_axes):
            raise ValueError(self.shape_error(self._build_shape, input_shape))

    def compute_output_shape(self, input_shape):
        return input_shape

    # ----- statistics ------------------------------------------------------------------------------
    def _statistics(self, ndim, dtype):
        """(mean, variance) arrays in broadcast shape: views of the weights, or the given values."""
        shape = self._broadcast_shape(ndim)
        if self.input_mean is None:
            return None
        stat = self._stat_shape()
        mean = np.broadcast_to(np.asarray(self.input_mean, dtype=np.float64), stat).reshape(shape)
        variance = np.broadcast_to(np.asarray(self.input_variance, dtype=np.float64), stat).reshape(shape)
        return mean.astype(dtype), variance.astype(dtype)

    def adapt(self, data, batch_size=None, steps=None):
        """Set ``mean`` and ``variance`` to those of ``data`` over every axis but the kept ones (the
        same values as ``np.mean`` / ``np.var``, accumulated in float64).

        Args:
            data: an array (batch first), or an iterable of batches (arrays, or ``(x, y, ...)`` tuples
                whose first item is used), such as a ``tf.data.Dataset`` or a list of arrays.
            batch_size: for an array, the number of samples read at a time (bounded memory);
                default: all at once.
            steps: for an iterable, the number of batches to read (default: all of them).
        """
        if self.input_mean is not None:
            raise _error(self, "was given mean and variance; adapt() would replace them. Create the layer "
                               "without them to learn the statistics from data")
        for what, value in (("batch_size", batch_size), ("steps", steps)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < 1):
                raise _error(self, f"adapt(): {what} must be a positive integer or None, received {value!r}")
        batches = self._adapt_batches(data, batch_size, steps)
        total_mean = total_var = None
        total = 0
        for batch in batches:
            counted = int(np.prod([batch.shape[a] for a in self._reduce_axes(batch.ndim)], dtype=np.int64))
            if counted == 0:
                continue
            reduce = self._reduce_axes(batch.ndim)
            values = batch.astype(np.float64, copy=False)
            mean = values.mean(axis=reduce).reshape(self._stat_shape())
            var = values.var(axis=reduce).reshape(self._stat_shape())
            if total_mean is None:
                total_mean, total_var, total = mean, var, counted
                continue
            # Chan et al.'s merge of two (count, mean, variance) summaries
            new_total = total + counted
            delta = mean - total_mean
            total_mean = total_mean + delta * (counted / new_total)
            total_var = ((total_var * total + var * counted) / new_total
                         + delta ** 2 * (total * counted) / new_total ** 2)
            total = new_total
        if total_mean is None:
            raise _error(self, "adapt() received no samples")
        self.adapt_mean.assign(total_mean)
        self.adapt_variance.assign(total_var)
        self.count.assign(np.asarray(float(total)))

    def _reduce_axes(self, ndim):
        return tuple(a for a in range(ndim) if a not in self._keep_axes)

    def _adapt_batches(self, data, batch_size, steps):
        """Batches of ``data`` as float arrays, the layer built from (and checked against) the first."""
        if isinstance(data, (list, tuple)) and data and all(np.isscalar(v) for v in data):
            data = np.asarray(data)
        if isinstance(data, np.ndarray) or hasattr(data, "__array__") and not hasattr(data, "__iter__"):
            array = np.asarray(data)
            self._check_adapt_batch(array)
            if batch_size is None:
                return [array]
            return (array[i:i + batch_size] for i in range(0, len(array), batch_size))
        if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
            raise TypeError(f"Layer '{self.name}' (Normalization): adapt() takes an array or an iterable of "
                            f"batches, received {type(data).__name__}")
        iterator = iter(data)
        if steps is not None:
            iterator = itertools.islice(iterator, steps)

        def batches():
            for item in iterator:
                batch = np.asarray(item[0] if isinstance(item, tuple) else item)
                self._check_adapt_batch(batch)
                yield batch
        return batches()

    def _check_adapt_batch(self, batch):
        if batch.dtype.kind not in "biuf":
            raise _error(self, f"adapt() needs numbers, received an array of dtype {batch.dtype}")
        if batch.ndim == 0:
            raise _error(self, "adapt() needs a batch of samples (an array with a batch axis), received a scalar")
        shape = (None,) + tuple(batch.shape[1:])
        if not self.built:
            self._maybe_build(shape)
            return
        if len(shape) != len(self._build_shape) or any(shape[a] != self._build_shape[a] for a in self._keep_axes):
            raise _error(self, f"was built for input shape {format_shape(self._build_shape)}, but adapt() received "
                               f"data of shape {format_shape(batch.shape)}")

    # ----- steps ----------------------------------------------------------------------------------------
    def _denominator_step(self, ctx):
        """(step, mean, spread): a step that writes max(sqrt(variance), epsilon) into ``spread``."""
        given = self._statistics(ctx.x.ndim, ctx.dtype)
        shape = self._broadcast_shape(ctx.x.ndim)
        epsilon = ctx.dtype.type(backend.epsilon())
        if given is not None:
            mean, variance = given
            spread = np.maximum(np.sqrt(variance), epsilon)
            return None, mean, spread
        mean, variance = ctx.weights[0].reshape(shape), ctx.weights[1].reshape(shape)
        spread = ctx.scratch("spread", shape)

        def step():
            np.sqrt(variance, out=spread)
            np.maximum(spread, epsilon, out=spread)
        return step, mean, spread

    def forward(self, ctx):
        prepare, mean, spread = self._denominator_step(ctx)
        x, y = ctx.x, ctx.y
        if self.invert:
            def step():
                np.multiply(x, spread, out=y, casting="unsafe")
                np.add(y, mean, out=y)
        else:
            def step():
                np.subtract(x, mean, out=y, casting="unsafe")
                np.divide(y, spread, out=y)
        return [s for s in (prepare, step) if s is not None]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        _, _, spread = self._denominator_step(ctx)  # the same scratch buffer forward fills
        dy, dx = ctx.dy, ctx.dx
        if self.invert:
            return [lambda: np.multiply(dy, spread, out=dx)]
        return [lambda: np.divide(dy, spread, out=dx)]

    def get_config(self):
        config = super().get_config()
        config.update({"axis": list(self.axis), "invert": self.invert,
                       "mean": None if self.input_mean is None else np.asarray(self.input_mean).tolist(),
                       "variance": None if self.input_variance is None else np.asarray(self.input_variance).tolist()})
        return config


def _id_text(value):
    """An id as written: 7 for 7.0, 1.5 as is."""
    value = value.item()
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


class CategoryEncoding(_Preprocessing):
    """Token ids (integers in ``[0, num_tokens)``) to dense vectors of length ``num_tokens``.

    ``multi_hot``: (batch, ..., k) ids to 1.0 at each token present in the last axis; ``count``: how
    often each occurs; ``one_hot``: one vector per id, (batch, ..., k, num_tokens), the last axis
    dropped when it has size 1. A (batch,) input is one id per sample. An id outside the range
    is an error naming it. The output is ``floatx`` and the input gets no gradient (ids are not
    differentiable).

    Args:
        num_tokens: the number of tokens (the output's last axis).
        output_mode: 'multi_hot' (default; 'binary' is its old name), 'one_hot' or 'count'.
        sparse: False only (dense outputs).
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in OUTPUT_MODES:
            raise _error(self, f"unknown output_mode {output_mode!r}; valid choices: "
                               + ", ".join(repr(m) for m in OUTPUT_MODES))
        if num_tokens is None or isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) \
                or num_tokens < 1:
            raise _error(self, f"num_tokens must be a positive integer (the number of tokens), received "
                               f"{num_tokens!r}")
        if sparse:
            raise NotImplementedError(f"Layer '{self.name}' (CategoryEncoding): sparse=True is not supported; "
                                      "outputs are dense")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False

    def compute_output_shape(self, input_shape):
        n = self.num_tokens
        if len(input_shape) == 1:
            return tuple(input_shape) + (n,)
        if self.output_mode == "one_hot":
            if input_shape[-1] == 1:
                return tuple(input_shape[:-1]) + (n,)
            return tuple(input_shape) + (n,)
        if input_shape[-1] is None:
            raise _error(self, f"needs a known last axis (the ids of a sample) for output_mode="
                               f"{self.output_mode!r}, received input shape {format_shape(input_shape)}")
        return tuple(input_shape[:-1]) + (n,)

    def forward(self, ctx):
        n, x, y = self.num_tokens, ctx.x, ctx.y
        if self.output_mode == "one_hot":
            ids, out = x.reshape(-1), y.reshape(-1, n)
            encode = lambda: one_hot_ids(ids, n, out)  # noqa: E731
        else:
            ids = x.reshape(-1, 1) if x.ndim == 1 else x.reshape(-1, x.shape[-1])
            out, mode = y.reshape(-1, n), 0 if self.output_mode == "multi_hot" else 1
            encode = lambda: encode_categories(ids, n, mode, out)  # noqa: E731
        flat_ids = x.reshape(-1)

        def step():
            bad = encode()
            if bad >= 0:
                raise _error(self, f"received id {_id_text(flat_ids[bad])}; ids must be whole numbers in "
                                   f"[0, {n}) (num_tokens={n})")
        return [step]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dx = ctx.dx
        return [lambda: dx.fill(0)]

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": self.sparse}


def _window(layer, rows, cols, height, width, crop_to_aspect_ratio):
    """(top, left, crop rows, crop cols): the largest centred window of the target aspect ratio, or the
    whole image (Keras's crop_to_aspect_ratio arithmetic)."""
    if not crop_to_aspect_ratio:
        return 0, 0, rows, cols
    crop_rows = max(min(rows, int(float(cols * height) / width)), 1)
    crop_cols = max(min(cols, int(float(rows * width) / height)), 1)
    return int(float(rows - crop_rows) / 2), int(float(cols - crop_cols) / 2), crop_rows, crop_cols


class _ImageResampling(_Preprocessing):
    """Shared by Resizing and CenterCrop: a window of each image resampled to (height, width)."""

    def _init_size(self, height, width, data_format):
        for what, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise _error(self, f"{what} must be a positive integer, received {value!r}")
        self.height, self.width = int(height), int(width)
        self.data_format = channels_last(self, data_format)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 2)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def _plan(self, rows, cols):
        """(top, left, window rows, window cols, nearest) for an input of rows x cols."""
        raise NotImplementedError

    def output_views(self, ctx):
        rows, cols = ctx.x.shape[1:3]
        top, left, h, w, _ = self._plan(rows, cols)
        if (h, w) == (self.height, self.width) and (top, left) == (0, 0) and (rows, cols) == (h, w):
            return [ctx.x]
        return None

    def forward(self, ctx):
        x, y = ctx.x, ctx.y
        top, left, h, w, nearest = self._plan(*x.shape[1:3])
        if (h, w) == (self.height, self.width):
            window = x[:, top:top + h, left:left + w, :]
            return [lambda: np.copyto(y, window, casting="unsafe")]
        tables = resize_tables(self.height, self.width, h, w, nearest)
        return [lambda: resize(x, top, left, h, w, *tables, y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        dy, dx = ctx.dy, ctx.dx
        if ctx.x is ctx.y or self.output_views(ctx) is not None:
            return [copy_step(dy, dx)]
        top, left, h, w, nearest = self._plan(*dx.shape[1:3])
        if (h, w) == (self.height, self.width):
            window = dx[:, top:top + h, left:left + w, :]

            def crop_gradient():
                dx.fill(0)
                np.copyto(window, dy)
            return [crop_gradient]
        tables = resize_tables(self.height, self.width, h, w, nearest)
        return [lambda: resize_backward(dy, top, left, h, w, *tables, dx)]


class Resizing(_ImageResampling):
    """Resizes images (batch, rows, cols, channels) to (height, width), in training and inference.

    Sampling is at half-pixel centres without antialiasing, as Keras 3's JAX backend. The gradient
    reaches the input (the adjoint of the interpolation).

    Args:
        height, width: the output size.
        interpolation: 'bilinear' (default) or 'nearest'.
        crop_to_aspect_ratio: first crop the largest centred window with the output's aspect ratio,
            so the image is not distorted.
        pad_to_aspect_ratio, fill_mode, fill_value, antialias: Keras's arguments, only at their defaults
            (False, 'constant', 0.0, False).
        data_format: 'channels_last' only.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._init_size(height, width, data_format)
        if interpolation not in RESIZE_INTERPOLATIONS:
            raise _error(self, f"unknown interpolation {interpolation!r}; valid choices: "
                               + ", ".join(repr(m) for m in RESIZE_INTERPOLATIONS)
                               + " (Keras's 'bicubic', 'lanczos3', 'lanczos5' and 'area' are not supported)")
        for what, value, default in (("pad_to_aspect_ratio", pad_to_aspect_ratio, False),
                                     ("fill_mode", fill_mode, "constant"), ("fill_value", fill_value, 0.0),
                                     ("antialias", antialias, False)):
            if value != default:
                raise NotImplementedError(f"Layer '{self.name}' (Resizing): {what}={value!r} is not supported; "
                                          f"only {default!r}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)

    def _plan(self, rows, cols):
        top, left, h, w = _window(self, rows, cols, self.height, self.width, self.crop_to_aspect_ratio)
        return top, left, h, w, self.interpolation == "nearest"

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": False, "fill_mode": "constant", "fill_value": 0.0, "antialias": False,
                "data_format": self.data_format}


class CenterCrop(_ImageResampling):
    """The centre (height, width) window of images (batch, rows, cols, channels).

    An image smaller than the window on either side is instead cropped to the window's aspect
    ratio and resized to it (bilinear), as Keras does. The gradient reaches the input.

    Args:
        height, width: the output size.
        data_format: 'channels_last' only.
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._init_size(height, width, data_format)

    def _plan(self, rows, cols):
        if rows >= self.height and cols >= self.width:
            return (rows - self.height) // 2, (cols - self.width) // 2, self.height, self.width, False
        top, left, h, w = _window(self, rows, cols, self.height, self.width, True)
        return top, left, h, w, False

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (Rescaling, Normalization, CategoryEncoding, Resizing, CenterCrop)
