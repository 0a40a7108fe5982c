"""Choosing a model file's format: this library's archive, or Keras's files (``keras_files``).

Reading looks at the file itself: a zip holding ``config.json`` is a Keras 3 ``.keras`` file, an
HDF5 file is a Keras ``.h5`` (legacy full model for ``load_model``; Keras 3 or legacy weights for
``load_weights``), anything else this library's archive. Writing follows the name: ``.keras``
writes Keras 3's format when Keras could load the model (otherwise this library's archive, with
a warning naming what Keras lacks), a name ending in ``.h5`` for weights writes Keras 3's
``.weights.h5``; any other name this library's archive (``.fw``) or ``.npz`` weights. Without h5py
(the ``h5`` extra) the Keras formats fall back to this library's, with a warning.
"""
import os
import warnings

from framework.saving import archive, keras_files
from framework.saving.keras_files import config_out


def _have_h5py():
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def _name(path):
    return os.fspath(path).lower() if isinstance(path, (str, os.PathLike)) else ""


def load_model(path, compile=True, custom_objects=None):
    """A model from ``path``: this library's archive, a Keras ``.keras`` file or a legacy Keras ``.h5``."""
    if keras_files.is_keras_archive(path):
        return keras_files.load_keras_archive(path, compile=compile, custom_objects=custom_objects)
    if keras_files.is_hdf5(path):
        return keras_files.load_legacy_h5(path, compile=compile, custom_objects=custom_objects)
    return archive.load_model(path, compile=compile, custom_objects=custom_objects)


def save_model(model, path):
    if _name(path).endswith(".keras"):
        reason = config_out.unsupported(model) if _have_h5py() else "no h5py installed (the h5 extra) to write it"
        if reason is None:
            settings = archive.compile_config(model) if model.compiled else None
            keras_files.save_keras_archive(model, path, settings)
            return
        warnings.warn(f"{os.fspath(path)}: written in this library's format, not Keras's: Keras could not load a "
                      f"model with {reason}", stacklevel=3)
    archive.save_model(model, path)


def save_weights(model, path):
    if _name(path).endswith(".h5"):
        if _have_h5py():
            keras_files.save_keras_weights(model, path)
            return
        warnings.warn(f"{os.fspath(path)}: written as this library's .npz weights: writing Keras's .h5 needs h5py "
                      "(pip install 'framework[h5]')", stacklevel=3)
    archive.save_weights(model, path)


def load_weights(model, path):
    if keras_files.is_hdf5(path) or keras_files.is_keras_archive(path):
        keras_files.load_keras_weights(model, path)
        return
    archive.load_weights(model, path)
