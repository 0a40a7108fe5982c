"""Recurrent layers: SimpleRNN, LSTM, GRU with fused Numba cells."""

#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = ()
