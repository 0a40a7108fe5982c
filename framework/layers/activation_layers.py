"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax.

All but PReLU are an ``Activation`` with Keras's layer arguments fixed into a
``framework.activations`` function; PReLU learns its slope ``alpha``.
"""
import math
import warnings

import numpy as np

from framework import activations, constraints, initializers, regularizers
from framework.graph.shapes import format_shape
from framework.kernels.activations import prelu_backward, prelu_forward
from framework.layers.core import Activation
from framework.layers.layer import Layer

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


def _number(layer, what, value, minimum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {what} must be a number{bound}, "
                         f"received {value!r}")
    return float(value)


class _ActivationLayer(Activation):
    """An Activation whose function is fixed by the subclass's own arguments."""

    def check_input_shape(self, input_shape):
        """No weights: any input shape is valid."""

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        config.update(self.activation.config)
        return config


class ReLU(_ActivationLayer):
    """Rectified linear unit: ``min(x, max_value)`` for x > threshold, else
    ``negative_slope * (x - threshold)``.

    Args:
        max_value: upper bound of the output (None: unbounded); >= 0.
        negative_slope: slope below the threshold; >= 0.
        threshold: where the unit turns on.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        Layer.__init__(self, **kwargs)
        if max_value is not None:
            max_value = _number(self, "max_value", max_value, minimum=0)
        negative_slope = _number(self, "negative_slope", negative_slope, minimum=0)
        threshold = _number(self, "threshold", threshold)
        self.activation = activations.relu.with_params(max_value=max_value, negative_slope=negative_slope,
                                                       threshold=threshold)


class LeakyReLU(_ActivationLayer):
    """``x`` for x >= 0, else ``negative_slope * x``.

    Args:
        negative_slope: slope for negative inputs (>= 0; Keras 3's default 0.3).
            ``alpha`` is accepted as its legacy (Keras 2) name.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            warnings.warn("LeakyReLU: argument `alpha` is deprecated; use `negative_slope` instead",
                          stacklevel=2)
            negative_slope = kwargs.pop("alpha")
        Layer.__init__(self, **kwargs)
        negative_slope = _number(self, "negative_slope", negative_slope, minimum=0)
        self.activation = activations.leaky_relu.with_params(negative_slope=negative_slope)


class ELU(_ActivationLayer):
    """Exponential linear unit: ``x`` for x >= 0, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: scale of the negative part.
    """

    def __init__(self, alpha=1.0, **kwargs):
        Layer.__init__(self, **kwargs)
        self.activation = activations.elu.with_params(alpha=_number(self, "alpha", alpha))


class Softmax(_ActivationLayer):
    """Softmax along ``axis``; with axis -1 a crossentropy loss may fuse it.

    Args:
        axis: the axis to normalize along (batch axis included in the count).
    """

    def __init__(self, axis=-1, **kwargs):
        Layer.__init__(self, **kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Layer '{self.name}' (Softmax): axis must be an int, received {axis!r}")
        self.activation = activations.softmax.with_params(axis=int(axis))

    @property
    def axis(self):
        return self.activation.axis

    def compute_output_shape(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError(f"Layer '{self.name}' (Softmax): axis {self.axis} is out of range for input "
                             f"shape {format_shape(input_shape)}")
        return input_shape

    def fused_activation(self):
        return "softmax" if self.axis == -1 else None


class PReLU(Layer):
    """Parametric ReLU: ``x`` for x >= 0, else ``alpha * x`` with a learned ``alpha``.

    ``alpha`` has the shape of one sample, with size 1 along ``shared_axes``.

    Args:
        alpha_initializer: initializer of alpha (default 'Zeros').
        alpha_regularizer: regularizer of alpha.
        alpha_constraint: constraint of alpha.
        shared_axes: sample axes (1-based, batch excluded) sharing one alpha, e.g.
            [1, 2] for one alpha per channel of (batch, height, width, channels) inputs.
    """

    supports_masking = True

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = alpha_regularizer
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else list(shared_axes)
            self.shared_axes = [int(a) for a in axes]

    def _shared(self, rank):
        axes = set(self.shared_axes or [])
        bad = [a for a in axes if not 1 <= a < rank]
        if bad:
            raise ValueError(f"Layer '{self.name}' (PReLU): shared_axes {self.shared_axes} must be sample "
                             f"axes 1..{rank - 1} for inputs of rank {rank}")
        return axes

    def build(self, input_shape):
        shared = self._shared(len(input_shape))
        shape = tuple(1 if i in shared else d for i, d in enumerate(input_shape) if i > 0)
        if None in shape:
            raise ValueError(f"Layer '{self.name}' (PReLU) needs known sizes on the axes not in shared_axes, "
                             f"received input shape {format_shape(input_shape)}")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer, self.alpha_regularizer,
                                     constraint=self.alpha_constraint)

    def check_input_shape(self, input_shape):
        """Sizes may change along shared axes only (as Keras's input spec)."""
        shape = self.alpha.shape
        shared = self._shared(len(input_shape)) if len(input_shape) == len(shape) + 1 else None
        if shared is None or any(i not in shared and d != shape[i - 1]
                                 for i, d in enumerate(input_shape) if i > 0):
            expected = (None,) + tuple(None if i + 1 in (shared or ()) else d for i, d in enumerate(shape))
            raise ValueError(self.shape_error(expected, input_shape))

    def flops(self, input_shape, output_shape):
        return 2 * math.prod(input_shape[1:])

    def _layout(self, x):
        """(x as 2-D rows, leading) for the PReLU kernels, whose alpha covers one row.

        When the shared axes are the leading sample axes (1..k, or none), rows are
        (batch * shared sizes, rest) and alpha flattened is one row: the kernels apply
        directly. Otherwise (leading False) rows are whole samples and alpha is first
        broadcast to a full sample ("alpha_full"), its gradient summed back over the shared axes.
        """
        shared = sorted(self._shared(x.ndim))
        leading = shared == list(range(1, len(shared) + 1))
        features = math.prod(x.shape[len(shared) + 1:]) if leading else math.prod(x.shape[1:])
        return x.reshape(-1, features), leading

    def forward(self, ctx):
        x2, leading = self._layout(ctx.x)
        y2 = ctx.y.reshape(x2.shape)
        alpha = ctx.weights[0]
        if leading:
            a = alpha.reshape(-1)
            return [lambda: prelu_forward(x2, a, y2)]
        full = ctx.scratch("alpha_full", ctx.x.shape[1:])
        a, copy = full.reshape(-1), np.copyto

        def step():
            copy(full, alpha)
            prelu_forward(x2, a, y2)
        return [step]

    def backward(self, ctx):
        dalpha = ctx.d_weights[0]
        if ctx.dx is None and dalpha is None:
            return []
        x2, leading = self._layout(ctx.x)
        dy2 = ctx.dy.reshape(x2.shape)
        dx2 = (ctx.dx if ctx.dx is not None else ctx.scratch("dx", ctx.x.shape)).reshape(x2.shape)
        if leading:
            a = ctx.weights[0].reshape(-1)
            da = (dalpha if dalpha is not None else ctx.scratch("dalpha", ctx.weights[0].shape)).reshape(-1)
            return [lambda: prelu_backward(x2, a, dy2, dx2, da)]
        a = ctx.scratch("alpha_full", ctx.x.shape[1:]).reshape(-1)
        full = ctx.scratch("dalpha_full", ctx.x.shape[1:])
        da, total = full.reshape(-1), np.add.reduce
        axes = tuple(axis - 1 for axis in sorted(self._shared(ctx.x.ndim)))
        if dalpha is None:
            return [lambda: prelu_backward(x2, a, dy2, dx2, da)]

        def step():
            prelu_backward(x2, a, dy2, dx2, da)
            total(full, axis=axes, keepdims=True, out=dalpha)
        return [step]

    def get_config(self):
        config = super().get_config()
        config.update({
            "alpha_initializer": initializers.serialize(initializers.get(self.alpha_initializer)),
            "alpha_regularizer": None if self.alpha_regularizer is None
            else regularizers.serialize(regularizers.get(self.alpha_regularizer)),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": None if self.shared_axes is None else list(self.shared_axes),
        })
        return config


LAYERS = (ReLU, LeakyReLU, PReLU, ELU, Softmax)
