"""Layers, one module per family."""
from framework.layers.core import Activation, Dense, Dropout, Identity, Input, InputLayer
from framework.layers.layer import Layer
from framework.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add,
                                      average, concatenate, maximum, minimum, multiply, subtract)
from framework.layers.reshaping import Flatten, Permute, RepeatVector, Reshape
from framework.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
