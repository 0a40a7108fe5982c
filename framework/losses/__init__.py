"""Losses with Keras 3 names, arguments, defaults and reduction semantics.

A loss is used two ways:

- eagerly, ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced
  loss as a float (NumPy, may allocate), and functions such as
  ``mean_squared_error(y_true, y_pred)`` return per-sample values;
- in a plan, ``loss.bind(y_pred, y_true, sample_weight, d_pred)`` returns a
  no-argument callable that computes the reduced loss from preallocated
  buffers with one Numba kernel and writes ``d_pred = dloss/dy_pred``,
  allocating nothing.

Shapes in a plan: an output (N, *S) is viewed as (N, R, C), C = last axis,
R = product of the middle axes (a rank-1 output is (N, 1, 1)). Per-sample loss
elements are (N, R); 'sum_over_batch_size' divides the weighted sum by N*R
(the element count, not the sum of weights, as Keras 3 does).

Fusion: for CategoricalCrossentropy / SparseCategoricalCrossentropy /
BinaryCrossentropy with ``from_logits=False``, ``fusable_activation`` names the
output activation ('softmax' / 'sigmoid'). Binding with ``logits=`` computes
the loss stably from the logits and writes the gradient with respect to the
logits, so the activation's own backward step is skipped. The focal
crossentropies fuse the same way but keep Keras's clipped formula (their
kernels recompute the probabilities from the logits), so their value does
not change.

This package face offers every loss name and the lookup (``get``, ``serialize``,
``deserialize``); the code lives in ``loss`` (the base class, reductions, shape
views and ``REGISTRY``) and one module per family: ``regression_losses``,
``probabilistic_losses`` and ``hinge_losses``.
"""
from framework.losses.hinge_losses import (CategoricalHinge, Hinge, SquaredHinge, categorical_hinge,
                                           convert_binary_labels_to_hinge, hinge, squared_hinge)
from framework.losses.loss import (REDUCTIONS, REGISTRY, Loss, LossFunctionWrapper, reduce_weighted_values, register,
                                   reshape_view, squeeze_or_expand_to_same_rank, standardize_reduction, view3)
from framework.losses.probabilistic_losses import (BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
                                                   CategoricalFocalCrossentropy, KLDivergence, Poisson,
                                                   SparseCategoricalCrossentropy, binary_crossentropy,
                                                   binary_focal_crossentropy, categorical_crossentropy,
                                                   categorical_focal_crossentropy, kl_divergence, poisson,
                                                   sparse_categorical_crossentropy)
from framework.losses.regression_losses import (CosineSimilarity, Huber, LogCosh, MeanAbsoluteError,
                                                MeanAbsolutePercentageError, MeanSquaredError,
                                                MeanSquaredLogarithmicError, cosine_similarity, huber, log_cosh,
                                                mean_absolute_error, mean_absolute_percentage_error,
                                                mean_squared_error, mean_squared_logarithmic_error)

_FUNCTIONS = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError, huber: Huber,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, cosine_similarity: CosineSimilarity,
    log_cosh: LogCosh, kl_divergence: KLDivergence, poisson: Poisson, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
}


def _from_function(fn):
    """A built-in loss function gives its class, named after it; any other its ``LossFunctionWrapper``."""
    cls = _FUNCTIONS.get(fn)
    return cls(name=fn.__name__) if cls else LossFunctionWrapper(fn)


def _from_name(cls, name):
    """A function alias keeps the name written; a class name gets the class default."""
    return cls() if name == cls.registered_name else cls(name=name)


REGISTRY.configure(from_name=_from_name, from_callable=_from_function, function_dicts=True)


def serialize(loss):
    """``{'class_name': registered name, 'config': loss.get_config()}``."""
    return REGISTRY.serialize(loss)


def deserialize(config):
    """A loss from ``serialize``'s output or a registered name. Only registry names are looked up."""
    return REGISTRY.deserialize(config)


def get(identifier):
    """A ``Loss`` instance from a name, config dict, class, instance, or function.

    Unlike ``keras.losses.get`` (which returns the bare function for 'mse'),
    this always returns a ``Loss``, because a plan needs ``bind``. A function
    alias keeps the name written (``get('mse').name == 'mse'``, as Keras's
    compile names a wrapped function); a class name gets the class default.
    """
    return REGISTRY.get(identifier)
