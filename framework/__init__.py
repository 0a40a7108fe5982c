"""framework: a Keras-style deep-learning library compiled into Numba plans."""
from framework import kernels  # noqa: F401  (sets the threading policy before any kernel runs)
from framework import (activations, applications, backend, callbacks, config, constraints, datasets, initializers,
                       layers, losses, metrics, models, ops, optimizers, random, regularizers, saving, utils)
from framework.layers import Input
from framework.models import Model, Sequential
from framework.training.function_transforms import grad, value_and_grad
from framework.training.tape import GradientTape

__version__ = "0.1.0"
__all__ = ["GradientTape", "Input", "Model", "Sequential", "activations", "applications", "backend", "callbacks",
           "config", "constraints", "datasets", "grad", "initializers", "layers", "losses", "metrics", "models",
           "ops", "optimizers", "random", "regularizers", "saving", "utils", "value_and_grad"]
