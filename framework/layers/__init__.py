"""Layers, one module per family.

Each family module lists its classes in ``LAYERS``; they are exported here and
registered by class name, the only way configs and model files can name them.
Long families are split per layer over a shared base module that registers
nothing itself (convolutional, recurrent).
"""
from framework.layers import (activation_layers, attention, augmentation, conv, conv2d_transpose, core,
                              depthwise_conv, embedding, gru, lambda_layer, lstm, merging, multi_head_attention,
                              normalization, pooling, preprocessing, regularization, reshaping, simple_rnn, wrappers)
from framework.layers.core import Input
from framework.layers.layer import Layer
from framework.layers.merging import add, average, concatenate, maximum, minimum, multiply, subtract
from framework.layers.serialization import REGISTRY

FAMILIES = (core, merging, reshaping, activation_layers, conv, conv2d_transpose, depthwise_conv, pooling,
            regularization, normalization, simple_rnn, lstm, gru, wrappers, embedding, attention,
            multi_head_attention, lambda_layer, preprocessing, augmentation)

for _family in FAMILIES:
    for _cls in _family.LAYERS:
        REGISTRY.register(_cls.__name__)(_cls)
        globals()[_cls.__name__] = _cls
del _family, _cls

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
