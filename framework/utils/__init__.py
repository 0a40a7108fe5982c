"""Utilities: seeding, one-hot encoding, padding sequences, PNG images, session reset, ``plot_model``."""
import numpy as np

from framework.config.registry import CustomObjectScope, custom_object_scope  # noqa: F401  (Keras's names)
from framework.utils.data import pack_x_y_sample_weight, unpack_x_y_sample_weight  # noqa: F401
from framework.utils.images import save_image_grid, save_img
from framework.utils.naming import reset_names
from framework.utils.plots import plot_model
from framework.utils.py_dataset import PyDataset
from framework.utils.random import set_random_seed
from framework.utils.sequences import pad_sequences
from framework.utils.serialization import register_serializable


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels (shape (N, ...) -> (N, ..., num_classes)), as Keras."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and not np.all(np.equal(np.mod(x, 1), 0)):
        raise ValueError("to_categorical expects integer class labels")
    x = x.astype("int64")
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical: class labels must be >= 0, found {x.min()}")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    elif x.size and x.max() >= num_classes:
        raise ValueError(f"to_categorical: label {x.max()} is out of range for num_classes={num_classes}")
    out = np.zeros(x.shape + (num_classes,), dtype="float32")
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


def clear_session():
    """Reset layer name counters (names start again at 'dense', 'dense_1', ...)."""
    reset_names()


__all__ = ["PyDataset", "pad_sequences", "plot_model", "register_serializable", "save_image_grid", "save_img",
           "set_random_seed", "to_categorical", "clear_session"]
