"""Embedding and Masking: token lookup and the layers that start a mask."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
