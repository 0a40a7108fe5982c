"""Callbacks with Keras's hook names; ``History`` is returned by fit and the
progress display is the ``ProgbarLogger`` callback (progbar.py). The Keras 3
training callbacks (``EarlyStopping``, ``ReduceLROnPlateau``,
``LearningRateScheduler``, ``CSVLogger``, ``TerminateOnNaN``,
``LambdaCallback``) follow ``keras/src/callbacks/*.py``.

This package face offers every callback name and the lookup (``get``,
``serialize``, ``deserialize``); the code lives in ``callback`` (the base class,
``HOOKS`` and ``REGISTRY``), ``callback_list``, ``loggers`` (History,
CSVLogger), ``progbar`` (ProgbarLogger), ``monitor_callback``, ``early_stopping``
(EarlyStopping, TerminateOnNaN), ``learning_rate_callbacks`` (ReduceLROnPlateau,
LearningRateScheduler), ``lambda_callback``, ``model_checkpoint``,
``backup_and_restore`` and ``tensorboard`` (TensorBoard).
"""
from framework.callbacks.backup_and_restore import BackupAndRestore
from framework.callbacks.callback import HOOKS, REGISTRY, Callback
from framework.callbacks.callback_list import CallbackList
from framework.callbacks.early_stopping import EarlyStopping, TerminateOnNaN
from framework.callbacks.lambda_callback import LambdaCallback
from framework.callbacks.learning_rate_callbacks import LearningRateScheduler, ReduceLROnPlateau
from framework.callbacks.loggers import CSVLogger, History, format_logs
from framework.callbacks.progbar import ProgbarLogger, clear_live_lines
from framework.callbacks.model_checkpoint import ModelCheckpoint
from framework.callbacks.tensorboard import TensorBoard

# A name gives the class with its default arguments; a class alone is not accepted.
REGISTRY.configure(optional=False, classes=False,
                   bad_identifier="Could not interpret {kind} {identifier!r}; valid names: {names}")


def serialize(callback):
    """``{'class_name': registered name, 'config': callback.get_config()}``."""
    return REGISTRY.serialize(callback)


def deserialize(config):
    """A callback from ``serialize``'s output or a registered name (registry names only)."""
    return REGISTRY.deserialize(config)


def get(identifier):
    """A callback from an instance, a registered name (default arguments) or a config dict."""
    return REGISTRY.get(identifier)
