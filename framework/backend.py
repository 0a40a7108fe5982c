"""Global numeric settings: the default float dtype and the fuzz factor epsilon.

Mirrors ``keras.config.floatx`` / ``set_floatx`` / ``epsilon``. Models take the
float dtype that is current when they are compiled (float32 unless changed).
"""
import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_VALID_FLOATX = ("float32", "float64")


def floatx():
    """The default float dtype name ('float32' or 'float64')."""
    return _FLOATX


def set_floatx(value):
    """Set the default float dtype used for weights, buffers and computations."""
    global _FLOATX
    name = np.dtype(value).name
    if name not in _VALID_FLOATX:
        raise ValueError(f"Unknown floatx {value!r}; valid choices: {', '.join(_VALID_FLOATX)}")
    _FLOATX = name


def epsilon():
    """The small constant used to keep divisions and logarithms finite."""
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def standardize_dtype(dtype=None):
    """A numpy float dtype: the given one, or floatx() when None."""
    return np.dtype(floatx() if dtype is None else dtype)
