"""Attention layers: Attention and MultiHeadAttention."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
