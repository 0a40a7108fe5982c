"""Model files: save_model / load_model, save_weights / load_weights (see archive.py), and Keras's
names for registering user classes and functions (``register_keras_serializable``)."""
from framework.saving.archive import ArchiveError, load_model, load_weights, save_model, save_weights
from framework.utils.serialization import register_serializable

#: Keras's name: ``@keras.saving.register_keras_serializable()``
register_keras_serializable = register_serializable
