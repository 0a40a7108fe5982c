"""Layers, one module per family.

Each family module lists its classes in ``LAYERS``; they are exported here and
registered by class name, the only way configs and model files can name them.
"""
from framework.layers.core import Activation, Dense, Dropout, Identity, Input, InputLayer
from framework.layers.layer import Layer
from framework.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                                      average, concatenate, maximum, minimum, multiply, subtract)
from framework.layers.reshaping import Flatten, Permute, RepeatVector, Reshape
from framework.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from framework.layers import (attention, convolutional, embedding, normalization, pooling, recurrent,
                              regularization, reshaping, wrappers)

from framework.config.registry import Registry

_FAMILIES = (convolutional, pooling, regularization, normalization, recurrent, wrappers, embedding, attention)

REGISTRY = Registry("layer")
for _cls in (InputLayer, Dense, Activation, Dropout, Identity, Add, Subtract, Multiply, Average, Maximum,
             Minimum, Concatenate, Flatten, Reshape, Permute, RepeatVector, ReLU, LeakyReLU, PReLU, ELU, Softmax,
             *reshaping.LAYERS, *(c for family in _FAMILIES for c in family.LAYERS)):
    REGISTRY.register(_cls.__name__)(_cls)
    globals()[_cls.__name__] = _cls
del _cls

#: Keras's other names for the same classes
ALIASES = {"MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "AvgPool1D": "AveragePooling1D",
           "AvgPool2D": "AveragePooling2D", "GlobalMaxPool1D": "GlobalMaxPooling1D",
           "GlobalMaxPool2D": "GlobalMaxPooling2D", "GlobalAvgPool1D": "GlobalAveragePooling1D",
           "GlobalAvgPool2D": "GlobalAveragePooling2D"}
for _alias, _name in ALIASES.items():
    REGISTRY.add(_alias, globals()[_name])
    globals()[_alias] = globals()[_name]
del _alias, _name


def get(identifier):
    """A layer class by registered name (only registry lookups; no imports)."""
    return REGISTRY.lookup(identifier)
