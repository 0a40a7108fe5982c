"""Regularization layers: SpatialDropout1D/2D."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
