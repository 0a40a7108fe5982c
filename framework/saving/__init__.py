"""Model files: save_model / load_model, save_weights / load_weights (this library's archive,
archive.py, and Keras's files, keras_files/, chosen by formats.py), and Keras's names for
registering user classes and functions (``register_keras_serializable``)."""
from framework.saving.archive import ArchiveError
from framework.saving.formats import load_model, load_weights, save_model, save_weights
from framework.saving.keras_files import KerasFileError
from framework.utils.serialization import register_serializable

#: Keras's name: ``@keras.saving.register_keras_serializable()``
register_keras_serializable = register_serializable
