"""Arrays that carry a mask: what a masking layer called on NumPy arrays returns.

Keras attaches the mask a layer computes to its output tensor as ``_keras_mask``. A layer called on
NumPy arrays here returns ``MaskedOutput``, an ``np.ndarray`` subclass with that attribute, so
``Embedding(mask_zero=True)(ids)._keras_mask`` reads as in Keras and the next layer called on the
array receives the mask. Arrays derived from it (slices, arithmetic) carry no mask.
"""
import numpy as np


class MaskedOutput(np.ndarray):
    """A NumPy array with ``_keras_mask``: a boolean (batch, steps) array, or None."""

    def __array_finalize__(self, obj):
        self._keras_mask = None


def with_keras_mask(array, mask):
    """``array`` as a ``MaskedOutput`` carrying ``mask`` (a plain array when ``mask`` is None)."""
    array = np.asarray(array)
    if mask is None:
        return array
    out = array.view(MaskedOutput)
    out._keras_mask = np.asarray(mask, dtype=bool)
    return out


def keras_mask(value):
    """The mask an array (or each array of a list) carries: an array, a list, or None."""
    if isinstance(value, (list, tuple)):
        masks = [getattr(v, "_keras_mask", None) for v in value]
        return None if all(m is None for m in masks) else masks
    return getattr(value, "_keras_mask", None)
