"""Second derivatives through a model: its input gradient as a model of its own.

A gradient penalty (WGAN-GP: the norm of d critic / d input, differentiated again with respect to the
critic's weights) needs the input gradient of a model as something a tape can differentiate. A tape
plan's backward is first-order kernels, so the input gradient is rebuilt as a graph instead:
``input_gradient_model(model)`` is ``Model([x, seed], d(model(x) . seed)/dx)``, the model's forward
written again with ops over the same variables, then each layer's input gradient written with ops
(``Dense``: the product with the kernel transposed; ``Conv2D``: ``ConvInputGradient``; activations:
their derivatives by ``ops.where`` and products; ``Dropout``: the same mask on the way back). Calling
that model inside the outer tape records it like any model, and the outer gradient is its plan's
first-order backward: the second derivative, with every kernel the plans already have.

Layers without such a rule are refused by name when the model is built. In training mode the
rebuilt forward draws its own dropout masks, so the penalty sees an independent draw of the same
distribution as the forward pass it differentiates.
"""
import numpy as np

from framework import ops
from framework.layers.core import Input
from framework.models.functional import Model
from framework.ops.conv_adjoint import ConvInputGradient
from framework.ops.random_ops import Dropout

_CACHE_KEY = "_input_gradient_models"


def input_gradient_model(model, training):
    """``Model([x, seed], gradient)`` for a model of one input and one output, cached on the model."""
    cache = model.__dict__.setdefault(_CACHE_KEY, {})
    if training not in cache:
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise NotImplementedError(f"Second derivatives through model '{model.name}': available for models of "
                                      f"one input and one output, it has {len(model.inputs)} and {len(model.outputs)}")
        x = Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
        seed = Input(model.outputs[0].shape[1:])
        h, backs = x, []
        for layer in _chain(model):
            h, back = _rule(layer)(layer, h, training)
            backs.append(back)
        gradient = seed
        for back in reversed(backs):
            gradient = back(gradient)
        cache[training] = Model([x, seed], gradient, name=f"{model.name}_input_gradient")
    return cache[training]


def _chain(model):
    """The layers of a model whose graph is one path from its input to its output (nested models
    flattened), in order."""
    layers, current = [], model.inputs[0]
    for node in model.graph_nodes():
        if len(node.inputs) != 1 or node.inputs[0] is not current or len(node.outputs) != 1:
            raise NotImplementedError(f"Second derivatives through model '{model.name}': available for a chain of "
                                      f"layers (one input and one output each); '{node.layer.name}' "
                                      "breaks the chain")
        layers += _chain(node.layer) if node.layer.has_graph else [node.layer]
        current = node.outputs[0]
    return layers


def _rule(layer):
    for kinds, rule in _RULES:
        if type(layer).__name__ in kinds:
            return rule
    available = ", ".join(sorted(k for kinds, _ in _RULES for k in kinds))
    raise NotImplementedError(f"Second derivatives through layer '{layer.name}' ({type(layer).__name__}) are not "
                              f"available: its input gradient has no rule written with differentiable ops "
                              f"(layers with one: {available})")


def _activation(layer, z):
    """(activation(z), d/dz as a function of the incoming gradient)."""
    function = layer.activation
    name = getattr(function, "name", None)
    if name in (None, "linear"):
        return z, lambda dy: dy
    if name == "relu" and not any(getattr(function, "config", {}).values()):
        return ops.relu(z), lambda dy: ops.where(z > 0, dy, ops.zeros_like(dy))
    if name == "leaky_relu":
        slope = float(function.config["negative_slope"])
        return ops.where(z > 0, z, z * slope), lambda dy: ops.where(z > 0, dy, dy * slope)
    if name == "tanh":
        y = ops.tanh(z)
        return y, lambda dy: dy * (1.0 - y * y)
    if name == "sigmoid":
        y = ops.sigmoid(z)
        return y, lambda dy: dy * y * (1.0 - y)
    raise NotImplementedError(f"Second derivatives through layer '{layer.name}': activation {name!r} has no rule "
                              "(linear, relu, leaky_relu, tanh and sigmoid have)")


def _dense(layer, h, training):
    if len(h.shape) != 2:
        raise NotImplementedError(f"Second derivatives through Dense '{layer.name}': available on (batch, "
                                  f"features) inputs, received {h.shape}")
    z = ops.matmul(h, layer.kernel)
    if layer.use_bias:
        z = z + layer.bias
    y, d_z = _activation(layer, z)
    return y, lambda dy: ops.einsum("bj,ij->bi", d_z(dy), layer.kernel)


def _conv(layer, h, training):
    if getattr(layer, "groups", 1) != 1:
        raise NotImplementedError(f"Second derivatives through '{layer.name}': grouped convolutions have no rule")
    z = ops.conv(h, layer.kernel, layer.strides, layer.padding, None, layer.dilation_rate)
    if layer.use_bias:
        z = z + layer.bias
    y, d_z = _activation(layer, z)
    adjoint = ConvInputGradient(h.shape[1:], layer.strides, layer.padding, None, layer.dilation_rate)
    return y, lambda dy: adjoint(d_z(dy), layer.kernel)


def _activation_layer(layer, h, training):
    return _activation(layer, h)


def _dropout(layer, h, training):
    if not training or layer.rate == 0:
        return h, lambda dy: dy
    mask = Dropout(layer.rate)(ops.ones_like(h))  # scaled by 1 / (1 - rate), as the layer's forward
    return h * mask, lambda dy: dy * mask


def _flatten(layer, h, training):
    shape = tuple(h.shape[1:])
    return ops.reshape(h, (-1, int(np.prod(shape)))), lambda dy: ops.reshape(dy, (-1,) + shape)


def _zero_padding(layer, h, training):
    (top, bottom), (left, right) = layer.padding
    rows, cols = h.shape[1], h.shape[2]
    padded = ops.pad(h, ((0, 0), (top, bottom), (left, right), (0, 0)))
    return padded, lambda dy: dy[:, top:top + rows, left:left + cols, :]


_RULES = (
    (("Dense",), _dense),
    (("Conv1D", "Conv2D"), _conv),
    (("Activation", "LeakyReLU", "ReLU"), _activation_layer),
    (("Dropout",), _dropout),
    (("Flatten",), _flatten),
    (("ZeroPadding2D",), _zero_padding),
)
