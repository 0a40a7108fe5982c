"""Keras files in and out: ``.keras`` (Keras 3), ``.weights.h5`` and legacy ``.h5`` (docs/interop.md).

Modules, each with one job: ``refusal`` (the error), ``safe_h5`` (HDF5 read only after the whole
tree is checked), ``config_in`` / ``config_out`` (Keras configs to this library's and back),
``weight_paths`` (where Keras keeps each layer's variables), ``weights_in`` (reading them),
``loader`` (the files in), ``writer`` (the files out).
"""
from framework.saving.keras_files.loader import (is_hdf5, is_keras_archive, is_zip, load_keras_archive,
                                                 load_keras_weights, load_legacy_h5)
from framework.saving.keras_files.refusal import KerasFileError
from framework.saving.keras_files.writer import save_keras_archive, save_keras_weights

__all__ = ["KerasFileError", "is_hdf5", "is_keras_archive", "is_zip", "load_keras_archive", "load_keras_weights",
           "load_legacy_h5", "save_keras_archive", "save_keras_weights"]
