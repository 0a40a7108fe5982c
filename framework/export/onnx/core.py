"""Converters of the core layers: Dense, the activation layers, Dropout and its kin (identity at
inference), Embedding."""

from framework.export.onnx.activations import apply_activation
from framework.export.onnx.builder import ANY, LAST
from framework.export.onnx.registry import converts
from framework.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from framework.layers.core import Activation, Dense, Dropout, Identity
from framework.layers.embedding import Embedding
from framework.layers.regularization import SpatialDropout1D, SpatialDropout2D


@converts(Dense)
def dense(layer, ctx):
    """MatMul on the last axis (any rank), bias, activation."""
    y = ctx.op("MatMul", [ctx.input(0, LAST), ctx.weight(layer.kernel)])
    if layer.use_bias:
        y = ctx.op("Add", [y, ctx.weight(layer.bias)])
    ctx.set_output(apply_activation(ctx, layer.activation, y, len(ctx.output_shape()), LAST), LAST)


@converts(Activation, ReLU, LeakyReLU, ELU, Softmax)
def activation(layer, ctx):
    """Elementwise: kept in the layout the input is held in (softmax's axis follows it)."""
    layout = ctx.layout()
    ctx.set_output(apply_activation(ctx, layer.activation, ctx.input(0, ANY), len(ctx.input_shape()), layout), layout)


@converts(PReLU)
def prelu(layer, ctx):
    """ONNX PRelu with alpha broadcast over the sample axes (alpha has the shape of one sample)."""
    ctx.set_output(ctx.op("PRelu", [ctx.input(0, LAST), ctx.weight(layer.alpha)]), LAST)


@converts(Dropout, Identity, SpatialDropout1D, SpatialDropout2D)
def identity(layer, ctx):
    """Inference: the input unchanged, in whatever layout it is held."""
    ctx.set_output(ctx.input(0, ANY), ctx.layout())


@converts(Embedding)
def embedding(layer, ctx):
    """Gather rows of the table by the ids (cast to int64); a mask it makes is checked where it is read."""
    ids = ctx.op("Cast", [ctx.input(0, LAST)], to=7)  # TensorProto.INT64
    ctx.set_output(ctx.op("Gather", [ctx.weight(layer.embeddings), ids], axis=0), LAST)


