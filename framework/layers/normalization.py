"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization.

Each layer views its input so that the normalized structure sits where its kernel
expects it (framework/kernels/normalization.py) and binds one fused kernel per
direction. Weights, names, order and defaults are Keras 3's, so Keras weights load
with ``set_weights``.
"""
import math
import warnings

import numpy as np

from framework import constraints, initializers, regularizers
from framework.graph.shapes import format_shape
from framework.kernels.normalization import (batch_norm_backward_inference, batch_norm_backward_train,
                                             batch_norm_dx_inference, batch_norm_forward_inference,
                                             batch_norm_forward_train, batch_norm_train_dx,
                                             batch_norm_train_grad_sums, batch_norm_train_normalize,
                                             batch_norm_train_sums, group_norm_backward, group_norm_forward,
                                             layer_norm_backward, layer_norm_forward)
from framework.layers.layer import Layer
from framework.layers.synchronized_statistics import sum_batch_statistics, sum_gradient_sums
from framework.plan import global_batch


class _Normalization(Layer):
    """What the three layers share: the affine weights gamma/beta, their options and config."""

    supports_masking = True

    def __init__(self, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                 gamma_regularizer, beta_constraint, gamma_constraint, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    # ----- weights ---------------------------------------------------------------------------
    @property
    def uses_gamma(self):
        return self.scale

    @property
    def uses_beta(self):
        return self.center

    def _add_affine_weights(self, shape):
        if self.uses_gamma:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.uses_beta:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                        constraint=self.beta_constraint)

    def _gamma_beta(self, ctx, size):
        """Flat gamma and beta for the kernels; ones / zeros where the layer has none."""
        gamma = ctx.weights[0].reshape(-1) if self.uses_gamma else None
        beta = ctx.weights[int(self.uses_gamma)].reshape(-1) if self.uses_beta else None
        # private constants, not plan scratch: a predict plan reuses scratch memory across layers
        gamma = np.ones(size, ctx.dtype) if gamma is None else gamma
        beta = np.zeros(size, ctx.dtype) if beta is None else beta
        return gamma, beta

    def _gamma_beta_grads(self, ctx, size):
        """(d_gamma, d_beta, wanted): flat gradient buffers, scratch where nothing is trained."""
        grads = ctx.d_weights
        dgamma = grads[0] if self.uses_gamma else None
        dbeta = grads[int(self.uses_gamma)] if self.uses_beta else None
        wanted = dgamma is not None or dbeta is not None
        dgamma = dgamma.reshape(-1) if dgamma is not None else ctx.scratch("unused_dgamma", (size,))
        dbeta = dbeta.reshape(-1) if dbeta is not None else ctx.scratch("unused_dbeta", (size,))
        return dgamma, dbeta, wanted

    # ----- axes ------------------------------------------------------------------------------
    def _positive_axes(self, axes, input_shape):
        """Axes as sorted positive ints; an error naming the layer when one is out of range."""
        rank = len(input_shape)
        result = []
        for axis in axes:
            if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
                raise TypeError(f"Layer '{self.name}' ({type(self).__name__}): axis must be an int or a list of "
                                f"ints, received {self.axis!r}")
            positive = int(axis) + rank if axis < 0 else int(axis)
            if not 1 <= positive < rank:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): axis {axis} is out of range for "
                                 f"input shape {format_shape(input_shape)}; valid axes are 1..{rank - 1} or "
                                 f"-{rank - 1}..-1 (the batch axis 0 cannot be normalized over)")
            if input_shape[positive] is None:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs a known size on axis {axis}, "
                                 f"received input shape {format_shape(input_shape)}")
            result.append(positive)
        if len(set(result)) != len(result):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): axis {self.axis!r} repeats an axis")
        return sorted(result)

    def check_input_shape(self, input_shape):
        """Same rank and the same sizes on the weights' axes (as Keras's input spec)."""
        expected = self.input_spec_shape
        axes = self._weight_axes()
        if len(input_shape) != len(expected) or any(input_shape[a] != expected[a] for a in axes):
            spec = tuple(expected[i] if i in axes else None for i in range(len(expected)))
            raise ValueError(self.shape_error(spec, input_shape))

    def compute_output_shape(self, input_shape):
        self._positive_axes(self._axis_list(), input_shape)
        return input_shape

    def _axis_list(self):
        return list(self.axis) if isinstance(self.axis, (list, tuple)) else [self.axis]

    def _weight_axes(self):
        return self._positive_axes(self._axis_list(), self.input_spec_shape)

    def flops(self, input_shape, output_shape):
        return 4 * math.prod(input_shape[1:])

    # ----- config ----------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({
            "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(initializers.get(self.beta_initializer)),
            "gamma_initializer": initializers.serialize(initializers.get(self.gamma_initializer)),
            "beta_regularizer": regularizers.serialize(regularizers.get(self.beta_regularizer)),
            "gamma_regularizer": regularizers.serialize(regularizers.get(self.gamma_regularizer)),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        })
        return config


def _three_axes(shape, first, last):
    """(outer, middle, inner) sizes: the axes before ``first``, first..last, and after ``last``."""
    return math.prod(shape[:first]), math.prod(shape[first:last + 1]), math.prod(shape[last + 1:])


class BatchNormalization(_Normalization):
    """Normalizes each channel (feature along ``axis``) with batch statistics in training and
    moving statistics in inference, then scales by ``gamma`` and shifts by ``beta``.

    Training mode (``fit``, ``train_on_batch``, ``model(x, training=True)``) uses the batch's
    mean and biased variance and updates, in the forward step,
    ``moving = moving * momentum + batch_statistic * (1 - momentum)``; the optimizer never
    touches the moving statistics. Inference mode (``evaluate``, ``predict``, ``model(x)``)
    uses the moving statistics. A layer with ``trainable=False`` always runs in inference
    mode and its weights stay frozen, as in Keras 3. With a sequence mask, batch statistics
    count only the unmasked steps (as Keras).

    Args:
        axis: the channel axis (default -1). momentum: of the moving averages (0.99).
        epsilon: added to the variance (1e-3). center / scale: use beta / gamma (True).
        beta_initializer='zeros', gamma_initializer='ones', moving_mean_initializer='zeros',
        moving_variance_initializer='ones', beta/gamma regularizers and constraints: as in Keras.
        synchronized: in a data-parallel fit (framework.distribute), the batch statistics of the global
            batch, summed over the processes, instead of each process's shard's (default False, as Keras).
            Alone, it changes nothing.

    Weights, in Keras 3's order: gamma (if scale), beta (if center), moving_mean, moving_variance,
    each of shape (channels,); the moving ones are non-trainable.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, renorm=False, renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        if renorm:
            raise NotImplementedError(f"Layer '{self.name}' (BatchNormalization): renorm=True is not supported")
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"Layer '{self.name}' (BatchNormalization): axis must be an int, received {axis!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.synchronized = bool(synchronized)
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer

    def build(self, input_shape):
        (axis,) = self._positive_axes([self.axis], input_shape)
        shape = (input_shape[axis],)
        self._add_affine_weights(shape)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)

    def _batch_statistics(self, ctx):
        """Training mode, as Keras: ``training and self.trainable``."""
        return bool(ctx.training) and self.trainable

    def _views(self, ctx, *arrays):
        (axis,) = self._positive_axes([self.axis], (None,) + ctx.x.shape[1:])
        shape = _three_axes(ctx.x.shape, axis, axis)
        return axis, [None if a is None else a.reshape(shape) for a in arrays]

    def _mask_weights(self, ctx, axis):
        """(flat mask, layout) for masked batch statistics (see kernels' _mask_weight); an empty
        array without a mask. The (batch, steps) mask covers input axes 0 and 1, as in Keras."""
        mask = ctx.input_masks[0] if ctx.input_masks else None
        if mask is None:
            return np.empty(0, ctx.dtype), np.zeros(3, np.int64)
        if ctx.x.ndim < 3 or ctx.x.shape[:2] != mask.shape:
            raise ValueError(f"Layer '{self.name}' (BatchNormalization): a mask of shape {mask.shape} needs "
                             f"inputs (batch, steps, ...) with the same batch and steps; received {ctx.x.shape}")
        if axis == 1:  # the channels are the steps
            layout = (1, mask.shape[1], 1)
        else:
            layout = (math.prod(ctx.x.shape[2:axis]), 1, 0)
        return mask.reshape(-1), np.array(layout, np.int64)

    def forward(self, ctx):
        axis, (x3, y3) = self._views(ctx, ctx.x, ctx.y)
        channels = x3.shape[1]
        gamma, beta = self._gamma_beta(ctx, channels)
        moving_mean, moving_var = ctx.weights[-2], ctx.weights[-1]
        coeffs = ctx.scratch("coeffs", (4, channels))
        epsilon = self.epsilon
        if not self._batch_statistics(ctx):
            return [lambda: batch_norm_forward_inference(x3, gamma, beta, moving_mean, moving_var, epsilon,
                                                         coeffs, y3)]
        stats = ctx.scratch("stats", (7, channels), np.float64)
        mask, layout = self._mask_weights(ctx, axis)
        momentum = self.momentum
        if self.synchronized:
            return [self._synchronized_forward(x3, mask, layout, gamma, beta, moving_mean, moving_var, stats,
                                               coeffs, y3, ctx.scratch("work", (4, channels), np.float64))]

        def step():
            batch_norm_forward_train(x3, mask, layout, gamma, beta, epsilon, momentum, moving_mean,
                                     moving_var, stats, coeffs, y3)
        return [step]

    def _synchronized_forward(self, x3, mask, layout, gamma, beta, moving_mean, moving_var, stats, coeffs, y3,
                              work):
        """The training step of ``synchronized=True``: in a data-parallel fit, the statistics of the
        global batch (layers.synchronized_statistics); alone, the fused kernel."""
        epsilon, momentum = self.epsilon, self.momentum

        def step():
            batch = global_batch.current
            if batch is None:
                batch_norm_forward_train(x3, mask, layout, gamma, beta, epsilon, momentum, moving_mean,
                                         moving_var, stats, coeffs, y3)
                return
            batch_norm_train_sums(x3, mask, layout, stats, coeffs)
            sum_batch_statistics(stats, moving_mean, batch, work)
            batch_norm_train_normalize(x3, mask, gamma, beta, epsilon, momentum, moving_mean, moving_var, stats,
                                       coeffs, y3)
        return step

    def backward(self, ctx):
        axis, (x3, dy3, dx3) = self._views(ctx, ctx.x, ctx.dy, ctx.dx)
        channels = x3.shape[1]
        dgamma, dbeta, wanted = self._gamma_beta_grads(ctx, channels)
        write_dx = dx3 is not None
        if not (wanted or write_dx):
            return []
        dx3 = dx3 if write_dx else dy3  # not written when write_dx is False
        gamma, _ = self._gamma_beta(ctx, channels)
        moving_mean, moving_var = ctx.weights[-2], ctx.weights[-1]
        coeffs = ctx.scratch("coeffs", (4, channels))
        sums = ctx.scratch("sums", (2, channels), np.float64)
        epsilon = self.epsilon
        if not self._batch_statistics(ctx):
            if not wanted:
                return [lambda: batch_norm_dx_inference(dy3, gamma, moving_var, epsilon, coeffs, dx3)]
            return [lambda: batch_norm_backward_inference(x3, dy3, gamma, moving_mean, moving_var, epsilon,
                                                          write_dx, sums, coeffs, dgamma, dbeta, dx3)]
        stats = ctx.scratch("stats", (7, channels), np.float64)
        mask, layout = self._mask_weights(ctx, axis)
        synchronized = self.synchronized

        def step():
            batch = global_batch.current if synchronized else None
            if batch is None:
                batch_norm_backward_train(x3, dy3, mask, layout, gamma, stats, write_dx, sums, coeffs,
                                          dgamma, dbeta, dx3)
                return
            batch_norm_train_grad_sums(x3, dy3, stats, sums, coeffs, dgamma, dbeta)
            if write_dx:
                sum_gradient_sums(sums, batch)
                batch_norm_train_dx(x3, dy3, mask, layout, gamma, stats, sums, coeffs, dx3)
        return [step]

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis, "momentum": self.momentum, "synchronized": self.synchronized,
            "moving_mean_initializer": initializers.serialize(initializers.get(self.moving_mean_initializer)),
            "moving_variance_initializer": initializers.serialize(
                initializers.get(self.moving_variance_initializer)),
        })
        return config


class LayerNormalization(_Normalization):
    """Normalizes each sample over ``axis`` (one axis or several), then scales by ``gamma`` and
    shifts by ``beta``; the same computation in training and inference.

    ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` with mean and (biased) variance
    over the ``axis`` axes of each sample. gamma and beta have the shape of those axes, in
    increasing axis order (e.g. ``axis=[1, 2]`` on (batch, h, w, c) gives (h, w)).

    Args:
        axis: int or list of ints (default -1). epsilon: 1e-3. center / scale: use beta / gamma.
        rms_scaling: Keras 3's deprecated option: ``y = x / sqrt(var + epsilon) * gamma`` (scaled
            by the variance, not the root mean square, exactly as Keras), no beta.
        beta/gamma initializers ('zeros'/'ones'), regularizers and constraints: as in Keras.
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = [int(a) for a in axis]
            if not self.axis:
                raise ValueError(f"Layer '{self.name}' (LayerNormalization): axis is an empty list")
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise TypeError(f"Layer '{self.name}' (LayerNormalization): axis must be an int or a list of ints, "
                            f"received {axis!r}")
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn(f"Layer '{self.name}': rms_scaling=True scales by the variance, not the root mean "
                          "square (Keras 3 computes it so and deprecates it)", UserWarning, stacklevel=2)

    @property
    def uses_gamma(self):
        return self.scale or self.rms_scaling

    @property
    def uses_beta(self):
        return self.center and not self.rms_scaling

    def build(self, input_shape):
        axes = self._positive_axes(self._axis_list(), input_shape)
        self._add_affine_weights(tuple(input_shape[a] for a in axes))

    def _layout(self, shape):
        """(transpose, (outer, features, inner)): transpose is None when the axes are one contiguous block,
        else the permutation that moves them last."""
        axes = self._positive_axes(self._axis_list(), (None,) + tuple(shape[1:]))
        if axes == list(range(axes[0], axes[-1] + 1)):
            return None, _three_axes(shape, axes[0], axes[-1])
        perm = [a for a in range(len(shape)) if a not in axes] + axes
        features = math.prod(shape[a] for a in axes)
        return perm, (math.prod(shape) // features, features, 1)

    def forward(self, ctx):
        perm, shape3 = self._layout(ctx.x.shape)
        gamma, beta = self._gamma_beta(ctx, shape3[1])
        stats = ctx.scratch("stats", (2, shape3[0], shape3[2]))
        epsilon, rms = self.epsilon, self.rms_scaling
        if perm is None:
            x3, y3 = ctx.x.reshape(shape3), ctx.y.reshape(shape3)
            return [lambda: layer_norm_forward(x3, gamma, beta, epsilon, rms, stats, y3)]
        x_moved, y_moved = ctx.x.transpose(perm), ctx.y.transpose(perm)
        xt = ctx.scratch("x_moved", x_moved.shape)
        yt = ctx.scratch("y_moved", x_moved.shape)
        x3, y3, copy = xt.reshape(shape3), yt.reshape(shape3), np.copyto

        def step():
            copy(xt, x_moved)
            layer_norm_forward(x3, gamma, beta, epsilon, rms, stats, y3)
            copy(y_moved, yt)
        return [step]

    def backward(self, ctx):
        perm, shape3 = self._layout(ctx.x.shape)
        features = shape3[1]
        dgamma, dbeta, wanted = self._gamma_beta_grads(ctx, features)
        write_dx = ctx.dx is not None
        if not (wanted or write_dx):
            return []
        gamma, _ = self._gamma_beta(ctx, features)
        stats = ctx.scratch("stats", (2, shape3[0], shape3[2]))
        acc = ctx.scratch("acc", (2, features), np.float64)
        work = ctx.scratch("work", (2, features if shape3[2] == 1 else shape3[2]))
        rms = self.rms_scaling
        if perm is None:
            x3, dy3 = ctx.x.reshape(shape3), ctx.dy.reshape(shape3)
            dx3 = ctx.dx.reshape(shape3) if write_dx else dy3  # not written when write_dx is False
            return [lambda: layer_norm_backward(x3, dy3, gamma, stats, rms, write_dx, acc, work, dgamma, dbeta, dx3)]
        moved = tuple(ctx.x.shape[a] for a in perm)
        x3 = ctx.scratch("x_moved", moved).reshape(shape3)
        dyt, dy_moved = ctx.scratch("dy_moved", moved), ctx.dy.transpose(perm)
        dxt = ctx.scratch("dx_moved", moved)
        dx_moved = ctx.dx.transpose(perm) if write_dx else None
        dy3, dx3, copy = dyt.reshape(shape3), dxt.reshape(shape3), np.copyto

        def step():
            copy(dyt, dy_moved)
            layer_norm_backward(x3, dy3, gamma, stats, rms, write_dx, acc, work, dgamma, dbeta, dx3)
            if write_dx:
                copy(dx_moved, dxt)
        return [step]

    def get_config(self):
        config = super().get_config()
        config.update({"axis": list(self.axis) if isinstance(self.axis, list) else self.axis,
                       "rms_scaling": self.rms_scaling})
        return config


class GroupNormalization(_Normalization):
    """Normalizes each sample over groups of channels: the channels along ``axis`` are split into
    ``groups`` groups and each (sample, group) is normalized over its channels and all other
    non-batch axes; then per-channel ``gamma`` and ``beta``. The same in training and inference.

    Args:
        groups: number of groups (default 32); must divide the channels. -1: one group per
            channel (instance normalization).
        axis: the channel axis (default -1). epsilon: 1e-3. center / scale: use beta / gamma.
        beta/gamma initializers ('zeros'/'ones'), regularizers and constraints: as in Keras.
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or (groups <= 0 and groups != -1):
            raise ValueError(f"Layer '{self.name}' (GroupNormalization): groups must be a positive integer, or -1 "
                             f"for one group per channel; received groups={groups!r}")
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"Layer '{self.name}' (GroupNormalization): axis must be an int, received {axis!r}")
        self.groups = int(groups)
        self.axis = int(axis)

    def _group_count(self, channels):
        groups = channels if self.groups == -1 else self.groups
        if channels % groups:
            raise ValueError(f"Layer '{self.name}' (GroupNormalization): groups={groups} must divide the number of "
                             f"channels on axis {self.axis}, which is {channels}")
        return groups

    def build(self, input_shape):
        (axis,) = self._positive_axes([self.axis], input_shape)
        self._group_count(input_shape[axis])
        self._add_affine_weights((input_shape[axis],))

    def _views(self, ctx, *arrays):
        shape = ctx.x.shape
        (axis,) = self._positive_axes([self.axis], (None,) + shape[1:])
        shape4 = (shape[0], math.prod(shape[1:axis]), shape[axis], math.prod(shape[axis + 1:]))
        return self._group_count(shape[axis]), [None if a is None else a.reshape(shape4) for a in arrays]

    def forward(self, ctx):
        groups, (x4, y4) = self._views(ctx, ctx.x, ctx.y)
        channels = x4.shape[2]
        gamma, beta = self._gamma_beta(ctx, channels)
        stats = ctx.scratch("stats", (x4.shape[0], groups, 2), np.float64)
        sums = ctx.scratch("sums", (2, channels), np.float64)
        coeffs = ctx.scratch("coeffs", (4, channels))
        epsilon = self.epsilon
        return [lambda: group_norm_forward(x4, groups, gamma, beta, epsilon, stats, sums, coeffs, y4)]

    def backward(self, ctx):
        groups, (x4, dy4, dx4) = self._views(ctx, ctx.x, ctx.dy, ctx.dx)
        channels = x4.shape[2]
        dgamma, dbeta, wanted = self._gamma_beta_grads(ctx, channels)
        write_dx = dx4 is not None
        if not (wanted or write_dx):
            return []
        dx4 = dx4 if write_dx else dy4  # not written when write_dx is False
        gamma, _ = self._gamma_beta(ctx, channels)
        stats = ctx.scratch("stats", (x4.shape[0], groups, 2), np.float64)
        sums = ctx.scratch("sums", (2, channels), np.float64)
        acc = ctx.scratch("acc", (2, channels), np.float64)
        coeffs = ctx.scratch("coeffs", (4, channels))
        return [lambda: group_norm_backward(x4, dy4, groups, gamma, stats, write_dx, sums, acc, coeffs, dgamma,
                                            dbeta, dx4)]

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "axis": self.axis})
        return config


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (BatchNormalization, LayerNormalization, GroupNormalization)
