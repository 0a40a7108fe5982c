"""Weight initializers with Keras 3 names, arguments, defaults and fan rules.

An initializer is called as ``init(shape, dtype=None)`` and returns a new
C-contiguous NumPy array (dtype defaults to ``floatx()``). Random values are
drawn in float64 and cast, so float32 and float64 weights agree up to rounding.

Seeding: ``seed=None`` draws from the framework's global generator, so
``framework.utils.random.set_random_seed(s)`` makes a model's weights
reproducible; an int seed gives the same values on every call.
"""
import math

import numpy as np

from framework.backend import standardize_dtype
from framework.config.registry import Registry
from framework.utils.random import make_generator

# Standard deviation of a unit normal truncated to [-2, 2] (Keras's constant).
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, by Keras's rule.

    Rank 0: (1, 1); rank 1: (n, n); rank 2: (in, out); higher ranks are
    convolution kernels ``(*spatial, in, out)`` whose fans are multiplied by
    the receptive field size ``prod(spatial)``.
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = math.prod(shape[:-2])
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


def _standardize_shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise ValueError(f"Initializers need a fully defined shape. Received: shape={shape}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"Negative dimension in shape={shape}")
    return shape


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
    return int(seed)


def _truncated_normal(rng, shape):
    """Unit normal samples, every one beyond 2 resampled until inside [-2, 2]."""
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out


class Initializer:
    """Base class: subclasses implement ``generate(shape)`` returning float64 values."""

    def __call__(self, shape, dtype=None):
        """A new C-contiguous array of ``shape`` and ``dtype`` (``floatx()`` when None)."""
        shape, dtype = _standardize_shape(shape), standardize_dtype(dtype)
        return np.array(self.generate(shape, dtype), dtype=dtype, order="C")

    def generate(self, shape, dtype):
        raise NotImplementedError(f"{type(self).__name__} does not implement generate()")

    def get_config(self):
        """Constructor arguments as plain Python values."""
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


REGISTRY = Registry("initializer", base=Initializer, from_callable=lambda fn: fn)


class RandomInitializer(Initializer):
    """Base for initializers drawing random numbers; holds the seed."""

    def __init__(self, seed=None):
        self.seed = _check_seed(seed)

    def __call__(self, shape, dtype=None):
        if not np.issubdtype(standardize_dtype(dtype), np.floating):
            raise ValueError(f"{type(self).__name__} needs a float dtype. Received: dtype={dtype}")
        return super().__call__(shape, dtype)

    def generator(self):
        """A fresh seeded generator per call, or the global one when unseeded."""
        return make_generator(self.seed)

    def get_config(self):
        return {"seed": self.seed}


@REGISTRY.register("Zeros", "zeros")
class Zeros(Initializer):
    """All zeros."""

    def generate(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)


@REGISTRY.register("Ones", "ones")
class Ones(Initializer):
    """All ones."""

    def generate(self, shape, dtype):
        return np.ones(shape, dtype=dtype)


@REGISTRY.register("Constant", "constant")
class Constant(Initializer):
    """A constant value (a scalar, or an array broadcast to the shape).

    Args:
        value: the fill value.
    """

    def __init__(self, value=0.0):
        self.value = value

    def generate(self, shape, dtype):
        return np.broadcast_to(np.asarray(self.value, dtype=dtype), shape)

    def get_config(self):
        value = np.asarray(self.value)
        return {"value": value.item() if value.ndim == 0 else value.tolist()}


@REGISTRY.register("RandomNormal", "random_normal", "normal")
class RandomNormal(RandomInitializer):
    """Normal samples.

    Args:
        mean: mean of the distribution.
        stddev: standard deviation.
        seed: int for repeatable values, None for the global generator.
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = float(mean), float(stddev)
        super().__init__(seed)

    def generate(self, shape, dtype):
        return self.mean + self.stddev * self.generator().standard_normal(size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


@REGISTRY.register("TruncatedNormal", "truncated_normal")
class TruncatedNormal(RandomInitializer):
    """Normal samples redrawn until within 2 stddev of the mean.

    ``stddev`` is that of the normal before truncation (the samples' own
    standard deviation is about 0.88 of it).

    Args:
        mean: mean of the distribution.
        stddev: standard deviation before truncation.
        seed: int for repeatable values, None for the global generator.
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = float(mean), float(stddev)
        super().__init__(seed)

    def generate(self, shape, dtype):
        return self.mean + self.stddev * _truncated_normal(self.generator(), shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


@REGISTRY.register("RandomUniform", "random_uniform", "uniform")
class RandomUniform(RandomInitializer):
    """Uniform samples in ``[minval, maxval)``.

    Args:
        minval: lower bound (inclusive).
        maxval: upper bound (exclusive).
        seed: int for repeatable values, None for the global generator.
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = float(minval), float(maxval)
        super().__init__(seed)

    def generate(self, shape, dtype):
        return self.generator().uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


@REGISTRY.register("VarianceScaling", "variance_scaling")
class VarianceScaling(RandomInitializer):
    """Samples whose variance is ``scale / n``, n chosen from the weight's fans.

    Normal variants have standard deviation ``sqrt(scale / n)`` (after
    truncation for 'truncated_normal'); 'uniform' draws from
    ``[-limit, limit]`` with ``limit = sqrt(3 * scale / n)``. Fans below 1 count as 1.

    Args:
        scale: positive scaling factor.
        mode: 'fan_in', 'fan_out' or 'fan_avg'.
        distribution: 'truncated_normal', 'untruncated_normal' or 'uniform'
            ('normal' is accepted as 'truncated_normal', as in Keras).
        seed: int for repeatable values, None for the global generator.
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if not scale > 0.0:
            raise ValueError(f"Argument `scale` must be a positive float. Received: scale={scale}")
        if mode not in self.MODES:
            raise ValueError(f"Invalid `mode` {mode!r}; valid choices: {', '.join(self.MODES)}")
        distribution = str(distribution).lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` {distribution!r}; valid choices: "
                             f"{', '.join(self.DISTRIBUTIONS)}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        super().__init__(seed)

    def variance(self, shape):
        """The target variance ``scale / n`` for a weight shape."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def generate(self, shape, dtype):
        variance, rng = self.variance(shape), self.generator()
        if self.distribution == "truncated_normal":
            return math.sqrt(variance) / _TRUNCATED_STD * _truncated_normal(rng, shape)
        if self.distribution == "untruncated_normal":
            return math.sqrt(variance) * rng.standard_normal(size=shape)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, size=shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling preset: only the seed is configurable."""

    PRESET = {}

    def __init__(self, seed=None):
        super().__init__(seed=seed, **self.PRESET)

    def get_config(self):
        return {"seed": self.seed}


@REGISTRY.register("GlorotUniform", "glorot_uniform")
class GlorotUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))`` (Xavier)."""

    PRESET = dict(scale=1.0, mode="fan_avg", distribution="uniform")


@REGISTRY.register("GlorotNormal", "glorot_normal")
class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal with std ``sqrt(2 / (fan_in + fan_out))`` (Xavier)."""

    PRESET = dict(scale=1.0, mode="fan_avg", distribution="truncated_normal")


@REGISTRY.register("HeNormal", "he_normal")
class HeNormal(_FixedVarianceScaling):
    """Truncated normal with std ``sqrt(2 / fan_in)``."""

    PRESET = dict(scale=2.0, mode="fan_in", distribution="truncated_normal")


@REGISTRY.register("HeUniform", "he_uniform")
class HeUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / fan_in)``."""

    PRESET = dict(scale=2.0, mode="fan_in", distribution="uniform")


@REGISTRY.register("LecunNormal", "lecun_normal")
class LecunNormal(_FixedVarianceScaling):
    """Truncated normal with std ``sqrt(1 / fan_in)``."""

    PRESET = dict(scale=1.0, mode="fan_in", distribution="truncated_normal")


@REGISTRY.register("LecunUniform", "lecun_uniform")
class LecunUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(3 / fan_in)``."""

    PRESET = dict(scale=1.0, mode="fan_in", distribution="uniform")


@REGISTRY.register("Orthogonal", "orthogonal", "OrthogonalInitializer")
class Orthogonal(RandomInitializer):
    """An orthogonal matrix (times ``gain``), from the QR of a normal matrix.

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``: columns are
    orthonormal when rows >= cols, rows are orthonormal otherwise.

    Args:
        gain: multiplicative factor.
        seed: int for repeatable values, None for the global generator.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = float(gain)
        super().__init__(seed)

    def generate(self, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self.generator().standard_normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # makes Q uniformly distributed (Haar)
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


@REGISTRY.register("Identity", "identity", "IdentityInitializer")
class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; rectangular allowed).

    Args:
        gain: multiplicative factor.
    """

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def generate(self, shape, dtype):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D shape. Received: shape={shape}")
        return self.gain * np.eye(*shape, dtype=dtype)

    def get_config(self):
        return {"gain": self.gain}


def serialize(initializer):
    """``{'class_name': name, 'config': {...}}`` for a registered initializer; None stays None."""
    return REGISTRY.serialize(initializer)


def deserialize(config):
    """An initializer from ``serialize``'s output (or a registered name)."""
    return REGISTRY.deserialize(config)


def get(identifier):
    """Resolve a name, config dict, class, instance or ``f(shape, dtype)`` callable."""
    return REGISTRY.get(identifier)
