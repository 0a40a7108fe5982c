"""Layers, one module per family."""
from framework.layers.core import Activation, Dense, Dropout, Identity, Input, InputLayer
from framework.layers.layer import Layer
from framework.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                                      average, concatenate, maximum, minimum, multiply, subtract)
from framework.layers.reshaping import Flatten, Permute, RepeatVector, Reshape
from framework.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax

from framework.config.registry import Registry

REGISTRY = Registry("layer")
for _cls in (InputLayer, Dense, Activation, Dropout, Identity, Add, Subtract, Multiply, Average, Maximum,
             Minimum, Concatenate, Flatten, Reshape, Permute, RepeatVector, ReLU, LeakyReLU, PReLU, ELU, Softmax):
    REGISTRY.register(_cls.__name__)(_cls)
del _cls


def get(identifier):
    """A layer class by registered name (only registry lookups; no imports)."""
    return REGISTRY.lookup(identifier)
