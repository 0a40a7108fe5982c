"""Pooling layers: max/average pooling in 1D/2D and their global forms (channels_last)."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
