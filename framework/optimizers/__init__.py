"""Optimizers with Keras 3 names, arguments and defaults, each a small class around one fused
Numba kernel (see ``optimizer`` for how a step runs).

This package face offers every optimizer name and the lookup (``get``, ``serialize``,
``deserialize``); the code lives in ``optimizer`` (the base class and ``REGISTRY``) and one
module per optimizer or small family: ``sgd``, ``adam`` (Adam, AdamW, Adamax, Nadam),
``rmsprop``, ``adagrad`` (Adagrad, Adadelta) and ``lion``.
"""
import sys

from framework import schedules
from framework.optimizers.adagrad import Adadelta, Adagrad
from framework.optimizers.adam import Adam, Adamax, AdamW, Nadam
from framework.optimizers.lion import Lion
from framework.optimizers.optimizer import REGISTRY, Optimizer, register
from framework.optimizers.rmsprop import RMSprop
from framework.optimizers.sgd import SGD

# ``framework.optimizers.schedules`` as in ``keras.optimizers.schedules``, also for
# ``from framework.optimizers.schedules import ExponentialDecay``.
sys.modules.setdefault(__name__ + ".schedules", schedules)

# Keras accepts a name in any case: a name registered only in lower case is found in any case.
REGISTRY.configure(optional=False, any_case=True, bad_identifier="Could not interpret {kind} {identifier!r}; "
                                                                 "valid names: {names}")


def get(identifier):
    """An optimizer from a name ('adam', 'AdamW'), a class, a config dict or an instance."""
    return REGISTRY.get(identifier)


def serialize(optimizer):
    """``{'class_name': name, 'config': {...}}`` for a registered optimizer."""
    return REGISTRY.serialize(optimizer)


def deserialize(config):
    return REGISTRY.get(config)
