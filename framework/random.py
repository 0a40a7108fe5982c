"""framework.random: Keras's random functions, seeded like the rest of the library.

``seed`` is an integer (the same draws every call), a ``SeedGenerator`` (a stream that advances),
or None (the global generator, reset by ``framework.utils.set_random_seed``). ``dropout`` also works
on symbolic tensors, as a graph node with its own generator (see ``framework.ops.random_ops``).
"""
import numpy as np

from framework import backend
from framework.layers.added_losses import tracing
from framework.ops.random_ops import Dropout, RandomDraw, SeedGenerator, generator_for
from framework.utils.random import global_generator

__all__ = ["SeedGenerator", "dropout", "normal", "randint", "shuffle", "truncated_normal", "uniform"]


def _generator(seed):
    return global_generator() if seed is None else generator_for(seed)


def _in_graph(shape):
    """Draws become a graph node inside a traced ``call()``, or for a shape whose batch is None."""
    return tracing() or any(d is None for d in shape)


def _node(shape, distribution, low, high, dtype, seed):
    return RandomDraw(shape, distribution, low, high, dtype, seed).symbolic_call(())


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from a normal distribution (fresh at every step inside a traced ``call()``)."""
    if _in_graph(shape):
        return _node(shape, "normal", mean, stddev, dtype, seed)
    return _generator(seed).normal(mean, stddev, shape).astype(dtype or backend.floatx())


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Draws from [minval, maxval) (fresh at every step inside a traced ``call()``)."""
    if _in_graph(shape):
        return _node(shape, "uniform", minval, maxval, dtype, seed)
    return _generator(seed).uniform(minval, maxval, shape).astype(dtype or backend.floatx())


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal draws, those beyond two standard deviations drawn again (as Keras)."""
    if _in_graph(shape):
        return _node(shape, "truncated_normal", mean, stddev, dtype, seed)
    generator = _generator(seed)
    values = generator.normal(0.0, 1.0, shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = generator.normal(0.0, 1.0, int(outside.sum()))
        outside = np.abs(values) > 2
    return (mean + stddev * values).astype(dtype or backend.floatx())


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval)."""
    return _generator(seed).integers(minval, maxval, shape).astype(dtype)


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries along ``axis`` in a random order."""
    x = np.asarray(x)
    return np.take(x, _generator(seed).permutation(x.shape[axis]), axis=axis)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout of ``inputs`` (arrays, or symbolic tensors inside a traced ``call()``)."""
    if noise_shape is not None:
        raise NotImplementedError("framework.random.dropout: noise_shape is not supported yet")
    return Dropout(rate, seed=seed)(inputs)
