"""Layer wrappers: Bidirectional, TimeDistributed."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
