"""Global seeding: one NumPy generator that every unseeded random draw uses.

``set_random_seed`` resets it (and Python's and NumPy's legacy global state), so
weights, shuffles and Dropout masks repeat bit for bit under the same seed.
"""
import random

import numpy as np

_GENERATOR = np.random.default_rng()


def set_random_seed(seed):
    """Seed every source of randomness the framework uses (Python's, NumPy's and the framework's own
    generator): training after it repeats bit for bit."""
    global _GENERATOR
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    _GENERATOR = np.random.default_rng(seed)


def global_generator():
    """The shared generator used when no explicit seed is given."""
    return _GENERATOR


def make_generator(seed=None):
    """A generator for one object: its own when seeded, the global one otherwise."""
    return global_generator() if seed is None else np.random.default_rng(seed)


def draw_seed():
    """A fresh integer seed from the global generator (for objects that need their own stream)."""
    return int(global_generator().integers(0, 2**31 - 1))


def get_global_state():
    """The global generator's state (plain ints and strings), for saving a training position."""
    return _GENERATOR.bit_generator.state


def set_global_state(state):
    _GENERATOR.bit_generator.state = state
