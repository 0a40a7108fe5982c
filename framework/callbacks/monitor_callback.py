"""Keras's ``MonitorCallback`` logic for callbacks that watch a logged value: whether it should
go up or down, and what counts as an improvement."""
import operator
import warnings

from framework import losses, metrics

# Keras's Metric._direction of its built-in metric classes (looked up by class name along the MRO)
_UP_METRICS = frozenset((
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "AUC", "Precision", "Recall",
    "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "F1Score", "FBetaScore", "R2Score", "CosineSimilarity"))
_DOWN_METRICS = frozenset((
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "RootMeanSquaredError", "LogCoshError", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge"))


def _metric_direction(metric):
    """'up' / 'down' / None: Keras's ``Metric._direction`` (accuracies up, errors and losses down)."""
    direction = getattr(metric, "_direction", None)
    if direction is not None:
        return direction
    for cls in type(metric).__mro__:
        if cls.__name__ in _UP_METRICS:
            return "up"
        if cls.__name__ in _DOWN_METRICS:
            return "down"
    fn = getattr(metric, "_fn", None)
    if fn is not None:
        # Keras: a MeanMetricWrapper around a loss function is minimized
        name = getattr(fn, "__name__", None)
        if name and getattr(losses, name, None) is fn:
            return "down"
        cls = getattr(metrics, "_FUNCTIONS", {}).get(fn)
        if cls is not None and cls is not type(metric):
            return _metric_direction(cls())
    return None


class _MonitorMixin:
    """Keras's ``MonitorCallback`` logic: the comparison from ``mode`` (or, in 'auto' mode, from
    the monitored name: 'loss' minimizes, a compiled metric follows its direction) and
    ``_is_improvement(value, reference) = op(value - min_delta, reference)`` with ``min_delta``
    negated when minimizing. Set up lazily at the first ``on_epoch_end``."""

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            self.monitor_op = self._auto_monitor_op()
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but the direction of "
                    "that metric cannot be determined automatically (known: 'loss', '<output>_loss' and the "
                    "compiled metrics, with or without 'val_'). Pass mode='max' in order to monitor based on "
                    "the highest metric value, or pass mode='min' in order to use the lowest value.")
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _auto_monitor_op(self):
        metric_name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
        op = operator.lt if metric_name == "loss" else None
        model = self.model
        outputs = list(getattr(model, "output_names", None) or []) if model is not None else []
        if len(outputs) > 1 and metric_name.endswith("_loss") and metric_name[:-5] in outputs:
            op = operator.lt  # a per-output loss of a multi-output model
        try:
            compiled = list(getattr(model, "metrics", None) or [])
        except Exception:
            compiled = []
        for m in compiled:
            names = {m.name} | ({f"{o}_{m.name}" for o in outputs} if len(outputs) > 1 else set())
            if metric_name in names:
                direction = _metric_direction(m)
                if direction == "up":
                    op = operator.gt
                elif direction is not None:
                    op = operator.lt
        return op

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))


def _check_mode(owner, mode, message):
    if mode not in ("auto", "min", "max"):
        warnings.warn(message.format(owner=owner, mode=mode), stacklevel=3)
        return "auto"
    return mode
