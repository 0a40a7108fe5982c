"""Metrics that are the mean of a loss: Keras 3's probabilistic metrics (``BinaryCrossentropy``,
``CategoricalCrossentropy``, ``SparseCategoricalCrossentropy``, ``KLDivergence``, ``Poisson``), hinge
metrics (``Hinge``, ``SquaredHinge``, ``CategoricalHinge``), ``MeanSquaredLogarithmicError`` and
``LogCoshError``; plus ``Sum`` and ``R2Score``.

A loss metric keeps the weighted mean of the loss's per-sample values, as every mean metric does. On
arrays it calls the loss function; in a plan it binds the loss's own kernel with ``reduction='sum'``
(which writes the weighted sum and, unused here, the gradient into a scratch buffer of its own) and adds
that sum into the metric's total.
"""
import functools

import numpy as np

from framework.losses import hinge_losses, probabilistic_losses, regression_losses
from framework.losses.loss import view3
from framework.metrics.metric import Metric, register
from framework.metrics.reduction_metrics import _BuiltinWrapper, reduce_to_samplewise_values


def _add_loss_sum(bound, rows_per_sample, weights, n, state):
    state[0] += bound() / rows_per_sample
    state[1] += n if weights is None else float(weights.sum())


class _LossMetric(_BuiltinWrapper):
    """The weighted mean of a loss's per-sample values (subclasses name the loss and its arguments)."""

    _direction = "down"
    loss_class = None
    loss_function = None

    def __init__(self, name, dtype=None, **loss_args):
        self.loss_args = loss_args
        super().__init__(functools.partial(type(self).loss_function, **loss_args), name=name, dtype=dtype)

    def bind(self, y_true, y_pred, sample_weight=None):
        loss = self.loss_class(reduction="sum", **self.loss_args)
        n, rows, _ = view3(y_pred, "y_pred").shape
        scratch = np.empty_like(y_pred)
        bound = loss.bind(y_pred, y_true, sample_weight, scratch)
        return functools.partial(_add_loss_sum, bound, rows, sample_weight, n, self._state)

    def target_shape(self, y_pred_shape):
        return self.loss_class(**self.loss_args).target_shape(y_pred_shape)

    def get_config(self):
        return {**Metric.get_config(self), **self.loss_args}


@register("BinaryCrossentropy", "binary_crossentropy")
class BinaryCrossentropy(_LossMetric):
    """Mean binary crossentropy. Args: name, dtype, from_logits=False, label_smoothing=0."""

    loss_class = probabilistic_losses.BinaryCrossentropy
    loss_function = staticmethod(probabilistic_losses.binary_crossentropy)

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(name, dtype, from_logits=bool(from_logits), label_smoothing=float(label_smoothing))


@register("CategoricalCrossentropy", "categorical_crossentropy")
class CategoricalCrossentropy(_LossMetric):
    """Mean categorical crossentropy. Args: name, dtype, from_logits=False, label_smoothing=0, axis=-1."""

    loss_class = probabilistic_losses.CategoricalCrossentropy
    loss_function = staticmethod(probabilistic_losses.categorical_crossentropy)

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0,
                 axis=-1):
        super().__init__(name, dtype, from_logits=bool(from_logits), label_smoothing=float(label_smoothing),
                         axis=int(axis))


@register("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(_LossMetric):
    """Mean crossentropy against integer labels. Args: name, dtype, from_logits=False, axis=-1."""

    loss_class = probabilistic_losses.SparseCategoricalCrossentropy
    loss_function = staticmethod(probabilistic_losses.sparse_categorical_crossentropy)
    sparse = True

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, axis=-1):
        if int(axis) != -1:
            raise ValueError(f"SparseCategoricalCrossentropy metric: only axis=-1 (the class axis last) is "
                             f"supported, received {axis}")
        super().__init__(name, dtype, from_logits=bool(from_logits))

    def get_config(self):
        return {**super().get_config(), "axis": -1}


@register("KLDivergence", "kl_divergence", "kld")
class KLDivergence(_LossMetric):
    """Mean Kullback-Leibler divergence ``sum(t * log(t / p))``. Args: name, dtype."""

    loss_class = probabilistic_losses.KLDivergence
    loss_function = staticmethod(probabilistic_losses.kl_divergence)

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(name, dtype)


@register("Poisson", "poisson")
class Poisson(_LossMetric):
    """Mean Poisson loss ``p - t * log(p + epsilon)``. Args: name, dtype."""

    loss_class = probabilistic_losses.Poisson
    loss_function = staticmethod(probabilistic_losses.poisson)

    def __init__(self, name="poisson", dtype=None):
        super().__init__(name, dtype)


@register("Hinge", "hinge")
class Hinge(_LossMetric):
    """Mean hinge loss ({0, 1} labels read as {-1, 1}). Args: name, dtype."""

    loss_class = hinge_losses.Hinge
    loss_function = staticmethod(hinge_losses.hinge)

    def __init__(self, name="hinge", dtype=None):
        super().__init__(name, dtype)


@register("SquaredHinge", "squared_hinge")
class SquaredHinge(_LossMetric):
    """Mean squared hinge loss. Args: name, dtype."""

    loss_class = hinge_losses.SquaredHinge
    loss_function = staticmethod(hinge_losses.squared_hinge)

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(name, dtype)


@register("CategoricalHinge", "categorical_hinge")
class CategoricalHinge(_LossMetric):
    """Mean categorical hinge loss. Args: name, dtype."""

    loss_class = hinge_losses.CategoricalHinge
    loss_function = staticmethod(hinge_losses.categorical_hinge)

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(name, dtype)


@register("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", "msle", "MSLE")
class MeanSquaredLogarithmicError(_LossMetric):
    """Mean of ``mean(square(log(1 + t) - log(1 + p)))``. Args: name, dtype."""

    loss_class = regression_losses.MeanSquaredLogarithmicError
    loss_function = staticmethod(regression_losses.mean_squared_logarithmic_error)

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name, dtype)


@register("LogCoshError", "logcosh", "log_cosh_error")
class LogCoshError(_LossMetric):
    """Mean of ``mean(log(cosh(p - t)))``. Args: name, dtype."""

    loss_class = regression_losses.LogCosh
    loss_function = staticmethod(regression_losses.log_cosh)

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(name, dtype)


@register("Sum", "sum")
class Sum(Metric):
    """The weighted sum of the values given to ``update_state(values, sample_weight=None)``.

    Args:
        name, dtype: as every metric.
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._state = np.zeros(1, dtype=np.float64)

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight)
        self._state[0] += float(np.sum(values))

    def result(self):
        return float(self._state[0])

    def reset_state(self):
        self._state[:] = 0.0


@register("R2Score", "r2_score")
class R2Score(Metric):
    """Coefficient of determination over everything seen: ``1 - SS_res / SS_tot`` per output, then
    aggregated as Keras's ``class_aggregation`` says; ``num_regressors`` gives the adjusted score.

    Args:
        class_aggregation: 'uniform_average' (default), 'variance_weighted_average' or None (per output).
        num_regressors: the number of regressors for the adjusted R2 (0: the plain score).
        name, dtype: as every metric.
    """

    _direction = "up"
    AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in self.AGGREGATIONS:
            raise ValueError(f"R2Score: class_aggregation must be one of {self.AGGREGATIONS}, received "
                             f"{class_aggregation!r}")
        if int(num_regressors) < 0:
            raise ValueError(f"R2Score: num_regressors must be >= 0, received {num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        self._state = None  # rows: weighted sums of y, y^2, squared residuals, weights; and the sample count

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        if y_true.shape != y_pred.shape or y_pred.ndim != 2:
            raise ValueError(f"R2Score expects y_true and y_pred of the same shape (samples, outputs); received "
                             f"{y_true.shape} and {y_pred.shape}")
        weights = np.ones((len(y_true), 1)) if sample_weight is None else \
            np.broadcast_to(np.asarray(sample_weight, np.float64).reshape(len(y_true), -1), y_true.shape)
        if self._state is None:
            self._state = np.zeros((5, y_true.shape[1]))
        elif self._state.shape[1] != y_true.shape[1]:
            raise ValueError(f"R2Score was built for {self._state.shape[1]} outputs; received {y_true.shape[1]}")
        self._state[0] += np.sum(weights * y_true, axis=0)
        self._state[1] += np.sum(weights * y_true ** 2, axis=0)
        self._state[2] += np.sum(weights * (y_true - y_pred) ** 2, axis=0)
        self._state[3] += np.sum(np.broadcast_to(weights, y_true.shape), axis=0)
        self._state[4] += len(y_true)

    def result(self):
        if self._state is None:
            return 0.0
        total, squares, residual, weight, count = self._state
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total / weight
            total_sum_squares = squares - total * mean
            scores = 1.0 - residual / total_sum_squares
        scores = np.where(np.isfinite(scores), scores, 0.0)
        if self.class_aggregation == "uniform_average":
            score = float(np.mean(scores))
        elif self.class_aggregation == "variance_weighted_average":
            score = float(np.sum(scores * total_sum_squares) / np.sum(total_sum_squares))
        else:
            return scores
        samples = float(count[0])
        if self.num_regressors:
            if self.num_regressors >= samples - 1:
                raise ValueError(f"R2Score: num_regressors ({self.num_regressors}) must be smaller than the "
                                 f"number of samples minus one ({samples - 1:.0f})")
            score = 1.0 - (1.0 - score) * (samples - 1) / (samples - self.num_regressors - 1)
        return score

    def reset_state(self):
        self._state = None

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
