"""Keras 3's loss-valued metrics (crossentropies, KL divergence, Poisson, hinges, MSLE, log-cosh), Sum and
R2Score: eager values against Keras's recorded ones and closed forms, and the plan's values (evaluate) equal
to the eager ones."""
import numpy as np
import pytest

import framework as fw
from framework import layers

RNG = np.random.default_rng(0)
Y_TRUE = RNG.random((16, 3))
Y_PRED = RNG.random((16, 3)) * 0.9 + 0.05
WEIGHTS = RNG.random(16)
LABELS = RNG.integers(0, 3, 16)
SOFT = Y_PRED / Y_PRED.sum(1, keepdims=True)

# Keras 3.15.1 (JAX backend) on the same arrays: update_state(weighted), then update_state(first 5, unweighted)
KERAS = {
    "BinaryCrossentropy": ((Y_TRUE.round(), Y_PRED), 0.9715034),
    "CategoricalCrossentropy": ((np.eye(3)[LABELS], SOFT), 1.1140772),
    "SparseCategoricalCrossentropy": ((LABELS, SOFT), 1.1140772),
    "KLDivergence": ((Y_TRUE, Y_PRED), 0.8747379),
    "Poisson": ((Y_TRUE, Y_PRED), 0.9715744),
    "Hinge": ((Y_TRUE.round(), Y_PRED), 0.9036442),
    "SquaredHinge": ((Y_TRUE.round(), Y_PRED), 1.1013514),
    "CategoricalHinge": ((np.eye(3)[LABELS], Y_PRED), 1.1054229),
    "MeanSquaredLogarithmicError": ((Y_TRUE, Y_PRED), 0.0769433),
    "LogCoshError": ((Y_TRUE, Y_PRED), 0.0780494),
    "R2Score": ((Y_TRUE, Y_PRED), -0.8574259),
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_values_equal_keras(name):
    (y_true, y_pred), expected = KERAS[name]
    metric = getattr(fw.metrics, name)()
    metric.update_state(y_true, y_pred, sample_weight=WEIGHTS)
    metric.update_state(y_true[:5], y_pred[:5])
    assert metric.result() == pytest.approx(expected, abs=2e-6)
    metric.reset_state()
    assert metric.result() == 0.0


def test_names_in_compile_resolve_to_these_metrics():
    for name in ("binary_crossentropy", "kl_divergence", "poisson", "hinge", "msle", "logcosh", "r2_score"):
        metric = fw.metrics.get(name)
        assert metric.name == name and isinstance(metric, fw.metrics.Metric)
    assert isinstance(fw.metrics.get(fw.metrics.binary_crossentropy), fw.metrics.BinaryCrossentropy)


def test_sum_and_r2_closed_forms():
    total = fw.metrics.Sum()
    total.update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 2.0])
    assert total.result() == 7.0
    y = np.array([1.0, 2.0, 3.0, 4.0])
    r2 = fw.metrics.R2Score()
    r2.update_state(y, y + np.array([0.1, -0.1, 0.2, 0.0]))
    assert r2.result() == pytest.approx(1 - 0.06 / 5.0)
    adjusted = fw.metrics.R2Score(num_regressors=1)
    adjusted.update_state(y, y + np.array([0.1, -0.1, 0.2, 0.0]))
    assert adjusted.result() == pytest.approx(1 - (0.06 / 5.0) * 3 / 2)
    with pytest.raises(ValueError, match="class_aggregation must be one of"):
        fw.metrics.R2Score(class_aggregation="median")


@pytest.mark.parametrize("loss,metrics,labels", [
    ("binary_crossentropy", ["binary_crossentropy", "hinge", "squared_hinge", fw.metrics.BinaryCrossentropy(
        name="bce_smooth", label_smoothing=0.1)], "binary"),
    ("categorical_crossentropy", ["categorical_crossentropy", "kl_divergence", "categorical_hinge", "poisson"],
     "one_hot"),
    ("sparse_categorical_crossentropy", ["sparse_categorical_crossentropy"], "sparse"),
    ("mse", ["msle", "logcosh", "r2_score", fw.metrics.SparseCategoricalCrossentropy(from_logits=True,
                                                                                   name="unused")][:3], "regression"),
])
def test_plan_values_equal_the_eager_metric_on_the_predictions(loss, metrics, labels):
    fw.utils.set_random_seed(0)
    activation = {"binary": "sigmoid", "regression": "softplus"}.get(labels, "softmax")
    units = 1 if labels == "binary" else 3
    model = fw.Sequential([fw.Input((5,)), layers.Dense(units, activation=activation)])
    model.compile("sgd", loss, metrics=metrics)
    rng = np.random.default_rng(1)
    x = rng.random((40, 5))
    y = {"binary": rng.integers(0, 2, (40, 1)).astype(float), "one_hot": np.eye(3)[rng.integers(0, 3, 40)],
         "sparse": rng.integers(0, 3, 40), "regression": rng.random((40, 3))}[labels]
    weights = rng.random(40)
    logs = model.evaluate(x, y, sample_weight=weights, batch_size=16, return_dict=True, verbose=0)
    predictions = model.predict(x, verbose=0)
    for metric in metrics:  # compile's metrics are unweighted (weighted_metrics take the sample weights)
        eager = fw.metrics.get(metric) if isinstance(metric, str) else type(metric).from_config(metric.get_config())
        eager.update_state(y, predictions)
        assert logs[eager.name] == pytest.approx(eager.result(), rel=1e-5), eager.name
    model.compile("sgd", loss, weighted_metrics=metrics[:1])
    logs = model.evaluate(x, y, sample_weight=weights, batch_size=16, return_dict=True, verbose=0)
    eager = fw.metrics.get(metrics[0]) if isinstance(metrics[0], str) else metrics[0]
    eager.reset_state()
    eager.update_state(y, predictions, sample_weight=weights)
    assert logs[eager.name] == pytest.approx(eager.result(), rel=1e-5)
