"""F-scores: ``FBetaScore`` and ``F1Score`` from weighted per-class counts."""
import functools

import numpy as np

from framework import backend
from framework.kernels import metrics as K
from framework.losses.loss import reshape_view
from framework.metrics.metric import Metric, register
from framework.metrics.metrics_utils import _is_float32, _sample_weights, _targets_like


@register("FBetaScore", "f_beta_score")
class FBetaScore(Metric):
    """F-beta score ``(1 + b^2) * p * r / (b^2 * p + r)`` from weighted counts per class.

    Args:
        average: None (one score per class: ``result()`` is an array), 'micro' (counts
            summed over classes), 'macro' (mean of the class scores) or 'weighted'
            (class scores weighted by their label sums).
        beta: weight of recall (a float > 0).
        threshold: predictions above it count as 1; None: each row's maximum counts as 1
            (every tied maximum, and never a 0).

    Inputs are (batch, classes). As Keras, precision, recall and the score divide by
    ``denominator + epsilon``, so a class without labels or predictions scores 0.
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"Invalid `threshold` argument value. It should be a Python float. "
                                 f"Received: threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(f"Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._f32 = _is_float32(dtype)
        self._state = None  # (4, classes or 1): tp, fp, fn, label sums; built from the first batch

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(f"FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={tuple(y_pred_shape)} and y_true.shape={tuple(y_true_shape)}.")
        c = y_pred_shape[-1]
        if self._state is None:
            self._num_classes = c
            self._state = np.zeros((4, 1 if self.average == "micro" else c))
        elif self._num_classes != c:
            raise ValueError(f"Metric {self.name!r} was built for {self._num_classes} classes; received {c}")

    def _step(self, t, y, w):
        threshold = 0.0 if self.threshold is None else float(self.threshold)
        if self._f32:
            threshold = float(np.float32(threshold))
        return functools.partial(K.fbeta_update, t, y, w, threshold, self.threshold is None,
                                 self.average == "micro", self._f32, self._state)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.ascontiguousarray(y_true, dtype=np.float64)
        y_pred = np.ascontiguousarray(y_pred, dtype=np.float64)
        self._build(y_true.shape, y_pred.shape)
        n = y_pred.shape[0]
        w = np.ones(n) if sample_weight is None else np.ascontiguousarray(
            np.broadcast_to(np.asarray(sample_weight, dtype=np.float64).reshape(-1), (n,)))
        self._step(y_true, y_pred, w)()

    def bind(self, y_true, y_pred, sample_weight=None):
        """A no-argument callable adding one batch: y_pred (N, C), y_true with N * C elements."""
        if not isinstance(y_pred, np.ndarray):
            raise ValueError(f"Metric {self.name!r}: bind() needs a NumPy array y_pred")
        self._build(y_pred.shape, y_pred.shape)
        y = reshape_view(y_pred, y_pred.shape, "y_pred")
        t = _targets_like(y_true, y_pred.shape, y_pred, self)
        return self._step(t, y, _sample_weights(sample_weight, y_pred.shape[0], self))

    def result(self):
        if self._state is None:
            return np.zeros(0) if self.average is None else 0.0
        tp, fp, fn, support = self._state
        eps = backend.epsilon()
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            return float(np.sum(score * support / (np.sum(support) + eps)))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def reset_state(self):
        if self._state is not None:
            self._state[:] = 0.0

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


@register("F1Score", "f1_score")
class F1Score(FBetaScore):
    """F1 score ``2 * p * r / (p + r)``: ``FBetaScore`` with ``beta=1``.

    Args:
        average: None (per-class array), 'micro', 'macro' or 'weighted' (see FBetaScore).
        threshold: predictions above it count as 1; None: each row's maximum counts as 1.
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
