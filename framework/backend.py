"""Global settings: the default float dtype, the fuzz factor epsilon, the image data format.

Mirrors ``keras.config.floatx`` / ``set_floatx`` / ``epsilon`` / ``image_data_format``. Models take the
float dtype that is current when they are compiled (float32 unless changed).
"""
import numpy as np

from framework import variables

_FLOATX = "float32"
_EPSILON = 1e-7
_VALID_FLOATX = ("float32", "float64")
_IMAGE_DATA_FORMAT = "channels_last"
_VALID_FORMATS = ("channels_last",)


def backend():
    """The name of the backend computing the ops: 'numpy' (NumPy arrays, Numba kernels, BLAS)."""
    return "numpy"


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


def cast_floats(array, dtype=None):
    """``array`` with a float dtype cast to ``dtype`` (floatx() when None); other arrays unchanged."""
    if array.dtype.kind != "f":
        return array
    return array.astype(standardize_dtype(dtype), copy=False)


def image_data_format():
    """'channels_last': images are (batch, height, width, channels), the only layout here."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    """Accepts 'channels_last' (the layout every image layer uses); refuses anything else clearly."""
    value = str(data_format).lower()
    if value not in _VALID_FORMATS:
        raise ValueError(f"Unsupported image data format {data_format!r}; valid choices: "
                         f"{', '.join(_VALID_FORMATS)} (images are batch, height, width, channels)")


class Variable(variables.Variable):
    """Keras's ``backend.Variable``: a variable made from a value or an initializer. Kept as an
    attribute of a layer (``self.w = Variable(...)``), it is one of the layer's weights.

    Args:
        initializer: the initial value (an array or number), or an initializer called with ``shape``.
        shape: the shape, when ``initializer`` is a callable.
        dtype: the dtype; numbers and lists without one take floatx().
        trainable: whether training updates it.
        name: its name ('variable' when omitted).
    """

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, name=None, **kwargs):
        if shape is not None and callable(initializer):
            initializer = initializer(tuple(shape), dtype=standardize_dtype(dtype))
        raw = initializer.value if isinstance(initializer, variables.Variable) else initializer
        array = np.asarray(raw, dtype=dtype)
        if dtype is None and array.dtype == np.float64 and not isinstance(raw, np.ndarray):
            array = array.astype(floatx())
        super().__init__(array, name or "variable", name or "variable", trainable=trainable)
