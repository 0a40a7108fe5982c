"""Streaming metrics with Keras 3 names, arguments and weighting semantics.

Mean metrics (accuracies, top-k accuracies, MSE/RMSE/MAE/MAPE, cosine similarity)
keep a weighted mean: ``update_state`` adds ``sum(w * v)`` to total and
``sum(w)`` to count, where ``v`` are per-sample values (the metric's elementwise
values averaged over every non-batch axis, as Keras's ``Mean`` reduces them) and
``w`` the sample weights (ones when none are given, so the count is the number
of samples). ``result()`` is total / count (0 when the count is 0);
``metric(y_true, y_pred)`` updates then returns the result.

The other families keep counts: confusion-matrix metrics (Precision, Recall, AUC,
TruePositives..., SensitivityAtSpecificity...) a float64 array (4, thresholds,
labels) of TP/FP/TN/FN, F-scores per-class TP/FP/FN/label sums, IoU metrics a
confusion matrix. Every state is a float64 array updated in place. In a plan,
``metric.bind(y_true, y_pred, sample_weight)`` returns a no-argument callable
that adds one batch into that array with a Numba kernel, allocating nothing.

``resolve_accuracy`` / ``compile_metric`` implement Keras 3's resolution of the
string 'accuracy' (or 'acc') in ``compile()``. See docs/metrics.md.

This package face offers every metric name and the lookup (``get``,
``serialize``, ``deserialize``); the classes live in one module per family:
``metric`` (the base class and ``REGISTRY``), ``reduction_metrics`` (``Mean``,
``MeanMetricWrapper``), ``accuracy_metrics``, ``regression_metrics``,
``confusion_metrics``, ``f_score_metrics``, ``iou_metrics`` and ``loss_metrics`` (the means of losses:
crossentropies, KL divergence, Poisson, hinges, MSLE, log-cosh; ``Sum`` and ``R2Score``).
"""
from framework.losses.regression_losses import mean_absolute_error, mean_squared_error
from framework.metrics.accuracy_metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                                SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                                                TopKCategoricalAccuracy, accuracy, binary_accuracy,
                                                categorical_accuracy, sparse_categorical_accuracy,
                                                sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from framework.metrics.confusion_metrics import (AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall,
                                                 Recall, RecallAtPrecision, SensitivityAtSpecificity,
                                                 SpecificityAtSensitivity, TrueNegatives, TruePositives)
from framework.metrics.f_score_metrics import F1Score, FBetaScore
from framework.metrics.iou_metrics import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from framework.losses.hinge_losses import categorical_hinge, hinge, squared_hinge
from framework.losses.probabilistic_losses import (binary_crossentropy, categorical_crossentropy, kl_divergence,
                                                   poisson, sparse_categorical_crossentropy)
from framework.losses.regression_losses import log_cosh, mean_squared_logarithmic_error
from framework.metrics.loss_metrics import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, Hinge,
                                            KLDivergence, LogCoshError, MeanSquaredLogarithmicError, Poisson,
                                            R2Score, SparseCategoricalCrossentropy, SquaredHinge, Sum)
from framework.metrics.metric import REGISTRY, Metric, register
from framework.metrics.reduction_metrics import Mean, MeanMetricWrapper, reduce_to_samplewise_values
from framework.metrics.regression_metrics import (CosineSimilarity, MeanAbsoluteError, MeanAbsolutePercentageError,
                                                  MeanSquaredError, RootMeanSquaredError, cosine_similarity,
                                                  mean_absolute_percentage_error)

_FUNCTIONS = {
    accuracy: Accuracy, binary_accuracy: BinaryAccuracy, categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError, top_k_categorical_accuracy: TopKCategoricalAccuracy,
    sparse_top_k_categorical_accuracy: SparseTopKCategoricalAccuracy,
    mean_absolute_percentage_error: MeanAbsolutePercentageError, cosine_similarity: CosineSimilarity,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy, kl_divergence: KLDivergence, poisson: Poisson,
    hinge: Hinge, squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, log_cosh: LogCoshError,
}


def _from_function(fn):
    """A built-in metric function gives its class, named after it; any other its ``MeanMetricWrapper``."""
    cls = _FUNCTIONS.get(fn)
    return cls(name=fn.__name__) if cls else MeanMetricWrapper(fn)


# A string gives an instance named by that string, as Keras's ``compile`` names metrics ('mse' logs as 'mse').
REGISTRY.configure(from_name=lambda cls, name: cls(name=name), from_callable=_from_function)


def serialize(metric):
    """``{'class_name': registered name, 'config': metric.get_config()}``."""
    return REGISTRY.serialize(metric)


def deserialize(config):
    """A metric from ``serialize``'s output or a registered name. Only registry names are looked up."""
    return REGISTRY.deserialize(config)


def get(identifier):
    """A ``Metric`` from a name, config dict, class, instance or function.

    A string gives an instance named by that string, as Keras's ``compile``
    names metrics ('mse' logs as 'mse'). 'accuracy' here is exact-match
    ``Accuracy`` (as ``keras.metrics.get``); in ``compile`` use
    ``compile_metric``, which resolves 'accuracy'/'acc' from the shapes.
    """
    return REGISTRY.get(identifier)


def resolve_accuracy(loss, y_true_shape, y_pred_shape, name="accuracy"):
    """The metric Keras 3's ``compile`` picks for 'accuracy'/'acc', named ``name``.

    Binary when y_pred's last dim is 1; sparse categorical when y_true has a
    lower rank than y_pred, or its last dim is 1 while y_pred's is not; else
    categorical. Keras 3 does not look at the loss (Keras 2 also chose binary
    for binary crossentropy); ``loss`` is accepted for that call shape and
    ignored. A rank-1 y_pred (one value per sample) counts as binary.
    """
    yt, yp = tuple(y_true_shape), tuple(y_pred_shape)
    if len(yp) <= 1 or yp[-1] == 1:
        return BinaryAccuracy(name=name)
    if len(yt) < len(yp) or (yt[-1] == 1 and yp[-1] != 1):
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


def compile_metric(identifier, y_true_shape, y_pred_shape, loss=None):
    """Keras's ``compile_utils.get_metric``: 'accuracy'/'acc' (any case) resolved by shape, else ``get``."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return resolve_accuracy(loss, y_true_shape, y_pred_shape, name=identifier)
    return get(identifier)
