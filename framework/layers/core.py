"""Core layers: Input, Dense, Activation, Dropout, Identity."""
import numpy as np

from framework import activations, backend, constraints, initializers, regularizers
from framework.graph.node import Node
from framework.graph.shapes import format_shape
from framework.kernels.dropout import dropout_backward, dropout_forward
from framework.kernels.elementwise import flat
from framework.layers.layer import Layer
from framework.plan.global_batch import uniform_rows
from framework.plan.steps import copy_step, matmul_step, rows2d_last
from framework.utils.random import draw_seed


class InputLayer(Layer):
    """The source of a graph: a placeholder for data of ``shape`` (batch axis excluded)."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input needs a shape (the shape of one sample, without the batch axis)")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.batch_shape = tuple(batch_shape)
        self.dtype = np.dtype(dtype or backend.floatx()).name
        self.built = True
        Node(self, [], [self.batch_shape], self.dtype).outputs[0].name = self.name

    def get_config(self):
        return {"name": self.name, "batch_shape": list(self.batch_shape), "dtype": self.dtype}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
    """A symbolic input tensor, as ``keras.Input``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape,
                      name=name).output


class Dense(Layer):
    """``activation(inputs @ kernel + bias)`` on the last axis of inputs of any rank.

    Args:
        units: output size. activation: name or function (default linear).
        use_bias, kernel_initializer='glorot_uniform', bias_initializer='zeros',
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: as in Keras.
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"Layer '{self.name}' (Dense): units must be a positive integer, received {units!r}")
        if activity_regularizer is not None:
            raise NotImplementedError(f"Layer '{self.name}': activity_regularizer is not supported yet")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' (Dense) needs an input with a known last axis, "
                             f"received shape {format_shape(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def check_input_shape(self, input_shape):
        expected = self.kernel.shape[0]
        if input_shape[-1] != expected:
            raise ValueError(self.shape_error(self.input_spec_shape[:1] + (None,) * (len(input_shape) - 2)
                                              + (expected,), input_shape))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def fused_activation(self):
        return self.activation.name

    def flops(self, input_shape, output_shape):
        rows = int(np.prod([d for d in input_shape[1:-1]] or [1]))
        return 2 * rows * self.kernel.shape[0] * self.units

    def forward(self, ctx):
        x2, y2 = rows2d_last(ctx.x), rows2d_last(ctx.y)
        kernel = ctx.weights[0]
        act = ctx.activation_of(self)
        if ctx.fused:
            z2 = rows2d_last(ctx.logits)
        elif act.needs_input:
            z2 = rows2d_last(ctx.scratch("z", ctx.y.shape))
        else:
            z2 = y2
        steps = [matmul_step(x2, kernel, z2)]
        if self.use_bias:
            steps.append(act.bind_bias_forward(z2, ctx.weights[1], y2))
        elif z2 is not y2 or act.name != "linear":
            steps.append(act.bind_forward(z2, y2))
        ctx.saved["z"] = z2
        return steps

    def backward(self, ctx):
        x2, y2, dy2 = rows2d_last(ctx.x), rows2d_last(ctx.y), rows2d_last(ctx.dy)
        act = ctx.activation_of(self)
        z2 = ctx.saved["z"]
        steps = []
        linear = ctx.fused or act.name == "linear"
        if self.use_bias and ctx.d_weights[1] is not None:
            fn = activations.linear if linear else act
            steps.append(fn.bind_backward_bias_grad(z2 if fn.needs_input else y2, y2, dy2, dy2, ctx.d_weights[1]))
        elif not linear:
            steps.append(act.bind_backward(z2 if act.needs_input else None, y2, dy2, dy2))
        if ctx.d_weights[0] is not None:
            steps.append(matmul_step(x2.T, dy2, ctx.d_weights[0]))
        if ctx.dx is not None:
            steps.append(matmul_step(dy2, ctx.weights[0].T, rows2d_last(ctx.dx)))
        return steps

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(initializers.get(self.kernel_initializer)),
            "bias_initializer": initializers.serialize(initializers.get(self.bias_initializer)),
            "kernel_regularizer": regularizers.serialize(regularizers.get(self.kernel_regularizer)),
            "bias_regularizer": regularizers.serialize(regularizers.get(self.bias_regularizer)),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        })
        return config


class Activation(Layer):
    """Applies an activation function (by name or function object)."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def fused_activation(self):
        return self.activation.name

    def forward(self, ctx):
        if ctx.fused:
            logits = ctx.logits
            copy = np.copyto
            return [lambda: copy(logits, ctx.x), self.activation.bind_forward(logits, ctx.y)]
        return [self.activation.bind_forward(ctx.x, ctx.y)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        if ctx.fused:
            return [copy_step(ctx.dy, ctx.dx)]
        act = self.activation
        return [act.bind_backward(ctx.x if act.needs_input else None, ctx.y, ctx.dy, ctx.dx)]

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Identity(Layer):
    """Returns its input unchanged (a view, no copy)."""

    supports_masking = True

    def output_views(self, ctx):
        return [ctx.x]

    def backward(self, ctx):
        return [] if ctx.dx is None else [copy_step(ctx.dy, ctx.dx)]


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs during training, scaling the rest by 1/(1-rate).

    Each Dropout layer draws from its own generator, seeded from ``seed`` or from
    the global seed, so training repeats bit for bit under ``set_random_seed``.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= float(rate) < 1:
            raise ValueError(f"Layer '{self.name}' (Dropout): rate must be in [0, 1), received {rate!r}")
        if noise_shape is not None:
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self.generator = np.random.default_rng(draw_seed() if seed is None else seed)

    def output_views(self, ctx):
        return None if (ctx.training and self.rate > 0) else [ctx.x]

    def mask_shape(self, shape):
        """The shape of the drawn mask: ``noise_shape`` (None entries taken from the input), broadcast."""
        if len(self.noise_shape) != len(shape) or any(n not in (None, 1, d) for n, d in zip(self.noise_shape, shape)):
            raise ValueError(f"Layer '{self.name}' (Dropout): noise_shape {self.noise_shape} does not broadcast "
                             f"to the input shape {tuple(shape)}")
        return tuple(d if n is None else n for n, d in zip(self.noise_shape, shape))

    def forward(self, ctx):
        if self.noise_shape is not None:
            return [broadcast_dropout_step(ctx.x, ctx.y, ctx.scratch("mask", self.mask_shape(ctx.x.shape)),
                                           self.rate, self.generator, per_sample=self.noise_shape[0] is None)]
        draws = ctx.scratch("draws", ctx.x.shape)
        x, u, y = flat(ctx.x), flat(draws), flat(ctx.y)
        rate, generator = ctx.dtype.type(self.rate), self.generator

        def step():
            uniform_rows(generator, draws)
            dropout_forward(x, u, rate, y)
        return [step]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        if not (ctx.training and self.rate > 0):
            return [copy_step(ctx.dy, ctx.dx)]
        if self.noise_shape is not None:
            mask, dy, dx = ctx.scratch("mask", self.mask_shape(ctx.x.shape)), ctx.dy, ctx.dx
            return [lambda: np.multiply(dy, mask, out=dx)]
        u, dy, dx = flat(ctx.scratch("draws", ctx.x.shape)), flat(ctx.dy), flat(ctx.dx)
        rate = ctx.dtype.type(self.rate)
        return [lambda: dropout_backward(dy, u, rate, dx)]

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return config


def broadcast_dropout_step(x, y, mask, rate, generator, per_sample):
    """Dropout with one draw per entry of ``mask`` (broadcast over ``x``): ``mask`` holds 0 or 1/(1-rate).
    ``per_sample``: the mask's first axis is the batch (else one draw is shared by every sample)."""
    keep = mask.dtype.type(1.0 / (1.0 - rate))

    def step():
        if per_sample:
            uniform_rows(generator, mask)
        else:
            generator.random(dtype=mask.dtype, out=mask)
        np.greater_equal(mask, mask.dtype.type(rate), out=mask, casting="unsafe")
        np.multiply(mask, keep, out=mask)
        np.multiply(x, mask, out=y)
    return step


LAYERS = (InputLayer, Dense, Activation, Dropout, Identity)
