"""Convolution layers: Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D (channels_last)."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
