"""Ops that draw random numbers: dropout as a graph node (a traced ``call()``'s ``if training:`` branch).

Each node draws from its own generator, bound when the op is made: a ``SeedGenerator``'s, one
seeded by an integer, or one seeded from the global generator, so training under
``set_random_seed`` repeats bit for bit. The uniforms are drawn into a scratch buffer with
``Generator.random(out=)`` and the mask is applied by the dropout kernels Dropout layers use.
"""
import numpy as np

from framework import backend
from framework.kernels.dropout import dropout_backward, dropout_forward
from framework.kernels.elementwise import flat
from framework.ops.operation import Operation, OpError
from framework.plan.global_batch import uniform_rows
from framework.utils.random import draw_seed


class SeedGenerator:
    """A seeded stream of random draws, shared by the ops that take it as ``seed=`` (as Keras's).

    Args:
        seed: an integer; None draws one from the global generator (``set_random_seed``).
    """

    def __init__(self, seed=None, **kwargs):
        self.seed = draw_seed() if seed is None else int(seed)
        self.generator = np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


def generator_for(seed):
    """The generator ``seed`` stands for: a SeedGenerator's own, a new one for an integer, else one
    seeded from the global generator."""
    if isinstance(seed, SeedGenerator):
        return seed.generator
    return np.random.default_rng(draw_seed() if seed is None else int(seed))


class Dropout(Operation):
    """Inverted dropout: zeroes each value with probability ``rate``, scales the rest by 1/(1-rate).

    Args:
        rate: the probability of zeroing, in [0, 1).
        seed: an integer, a ``SeedGenerator``, or None.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= float(rate) < 1:
            raise OpError(f"Op '{self.name}' (Dropout): rate must be in [0, 1), received {rate!r}")
        self.rate, self.seed = float(rate), seed
        self.generator = generator_for(seed)

    def get_config(self):
        seed = self.seed.seed if isinstance(self.seed, SeedGenerator) else self.seed
        return {"rate": self.rate, "seed": seed}

    def compute(self, x):
        x = np.asarray(x)
        keep = self.generator.random(x.shape) >= self.rate
        return np.where(keep, x / (1 - self.rate), 0).astype(x.dtype if x.dtype.kind == "f" else "float32")

    def output_spec(self, shapes, dtypes):
        return shapes[0], dtypes[0]

    def bind_forward(self, xs, y, ctx):
        draws = ctx.scratch("draws", y.shape)
        x, u, out = flat(xs[0]), flat(draws), flat(y)
        rate, generator = ctx.dtype.type(self.rate), self.generator

        def step():
            uniform_rows(generator, draws)
            dropout_forward(x, u, rate, out)
        return [step]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        if dxs[0] is None:
            return []
        u, g, dx = flat(ctx.scratch("draws", y.shape)), flat(dy), flat(dxs[0])
        rate = ctx.dtype.type(self.rate)
        return [lambda: dropout_backward(g, u, rate, dx)]


class RandomDraw(Operation):
    """Fresh random draws of ``shape`` at every step: a graph node with no inputs (a traced
    ``call()``'s ``random.normal(shape=(batch, dim))``, where ``batch`` is None, the plan's batch).

    Args:
        shape: the shape drawn; a first entry None stands for the batch.
        distribution: 'normal', 'uniform' or 'truncated_normal'.
        low: the mean (normal) or the lower bound (uniform).
        high: the standard deviation (normal) or the upper bound (uniform).
        dtype: the dtype of the draws; floatx() when None.
        seed: an integer, a ``SeedGenerator``, or None.
    """

    differentiable = False
    DISTRIBUTIONS = ("normal", "uniform", "truncated_normal")

    def __init__(self, shape, distribution="normal", low=0.0, high=1.0, dtype=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if distribution not in self.DISTRIBUTIONS:
            raise OpError(f"Op '{self.name}' (RandomDraw): unknown distribution {distribution!r}; valid choices: "
                          f"{', '.join(self.DISTRIBUTIONS)}")
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.distribution, self.low, self.high = distribution, float(low), float(high)
        self.dtype, self.seed = dtype, seed
        self.generator = generator_for(seed)
        self.batched_source = bool(self.shape) and self.shape[0] is None

    def get_config(self):
        seed = self.seed.seed if isinstance(self.seed, SeedGenerator) else self.seed
        return {"shape": list(self.shape), "distribution": self.distribution, "low": self.low, "high": self.high,
                "dtype": self.dtype, "seed": seed}

    def output_spec(self, shapes, dtypes):
        return self.shape, np.dtype(self.dtype or backend.floatx()).name

    def bind_forward(self, xs, y, ctx):
        generator, low, high, kind = self.generator, self.low, self.high, self.distribution
        draw_dtype = y.dtype if y.dtype in (np.float32, np.float64) else np.float64
        draws = y if y.dtype == draw_dtype else ctx.scratch("draws", y.shape, draw_dtype)

        def step():
            if kind == "uniform":
                generator.random(dtype=draw_dtype, out=draws)
                np.multiply(draws, high - low, out=draws)
                np.add(draws, low, out=draws)
            else:
                generator.standard_normal(dtype=draw_dtype, out=draws)
                if kind == "truncated_normal":
                    _redraw_outside(generator, draws)
                np.multiply(draws, high, out=draws)
                np.add(draws, low, out=draws)
            if draws is not y:
                np.copyto(y, draws, casting="unsafe")
        return [step]


def _redraw_outside(generator, values):
    """Standard normal ``values`` beyond two deviations drawn again (Keras's truncated normal)."""
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = generator.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
