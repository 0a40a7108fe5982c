"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
