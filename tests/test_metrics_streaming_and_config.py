"""Keras 3 streaming metrics beyond accuracy/MSE/MAE: the confusion-matrix metrics (Precision,
Recall, AUC, counts, the *At* metrics), top-k accuracies, F-scores, RMSE, MAPE, cosine
similarity and the IoU family, checked together for: streaming (two batches == one batch), bound
kernel == eager update (float64 and float32), allocation-free bound steps, bind's validation,
default names, ``get`` with Keras's strings, config round trips, directions, and use in compiled
models (single and multi output).

Their values: the confusion-matrix metrics in tests/test_metrics_confusion.py, the others in
tests/test_metrics.py."""

import numpy as np
import pytest

import framework as fw
from framework import metrics as M
from framework.layers import Dense
from helpers import assert_no_allocation, bound_result


# ----------------------------------------------------------------------------- streaming, bound == eager

def _data(kind, n, rng):
    if kind == "binary":
        return (rng.random((n, 4)) > 0.5).astype(float), np.round(rng.random((n, 4)), 1)
    if kind == "multi":
        return (rng.random((n, 4)) > 0.6).astype(float), rng.random((n, 4))
    if kind == "onehot":
        return np.eye(4)[rng.integers(0, 4, n)], np.round(rng.random((n, 4)), 1)
    if kind == "sparse":
        return rng.integers(0, 4, n).astype(float), np.round(rng.random((n, 4)), 1)
    if kind == "ids":
        return rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)
    if kind == "dense_ids":
        return rng.integers(0, 4, n).astype(float), rng.random((n, 4))
    return rng.normal(size=(n, 4)), rng.normal(size=(n, 4))


FACTORIES = [
    ("binary", M.Precision), ("binary", M.Recall), ("binary", lambda: M.Precision(thresholds=[0.2, 0.5, 0.75])),
    ("binary", lambda: M.Recall(thresholds=[0.0, 0.5, 1.0])), ("binary", lambda: M.Precision(top_k=2)),
    ("binary", lambda: M.Recall(top_k=2, class_id=1)), ("binary", M.TruePositives), ("binary", M.FalseNegatives),
    ("binary", M.AUC), ("binary", lambda: M.AUC(curve="PR")), ("binary", lambda: M.AUC(thresholds=[0.25, 0.5])),
    ("binary", lambda: M.AUC(multi_label=True)), ("binary", lambda: M.AUC(from_logits=True, curve="PR")),
    ("binary", lambda: M.SensitivityAtSpecificity(0.5, num_thresholds=11)),
    ("binary", lambda: M.RecallAtPrecision(0.6, class_id=0)),
    ("onehot", M.TopKCategoricalAccuracy), ("onehot", lambda: M.TopKCategoricalAccuracy(k=2)),
    ("sparse", lambda: M.SparseTopKCategoricalAccuracy(k=2)),
    ("multi", M.F1Score), ("multi", lambda: M.F1Score(average="micro", threshold=0.5)),
    ("multi", lambda: M.FBetaScore(average="weighted", beta=0.5)), ("multi", lambda: M.F1Score(average="macro")),
    ("regression", M.RootMeanSquaredError), ("regression", M.MeanAbsolutePercentageError),
    ("regression", M.CosineSimilarity),
    ("ids", lambda: M.MeanIoU(4)), ("dense_ids", lambda: M.MeanIoU(4, sparse_y_pred=False)),
    ("onehot", lambda: M.OneHotMeanIoU(4, sparse_y_pred=False)), ("ids", lambda: M.IoU(4, [1, 3])),
]
FACTORY_IDS = [f"{i}-{type(f()).__name__}" for i, (_, f) in enumerate(FACTORIES)]


@pytest.mark.parametrize("kind,factory", FACTORIES, ids=FACTORY_IDS)
def test_streaming_two_batches_equals_one_big_batch(kind, factory):
    rng = np.random.default_rng(3)
    yt, yp = _data(kind, 20, rng)
    w = rng.integers(0, 3, 20).astype(float)
    one = factory()
    one.update_state(yt, yp, sample_weight=w)
    eager = factory()
    eager.update_state(yt[:12], yp[:12], sample_weight=w[:12])
    eager.update_state(yt[12:], yp[12:], sample_weight=w[12:])
    plan = factory()
    steps = [plan.bind(np.ascontiguousarray(yt[s]), np.ascontiguousarray(yp[s]), np.ascontiguousarray(w[s]))
             for s in (slice(0, 12), slice(12, 20))]
    for step in steps:
        step()
    expected = np.asarray(one.result())
    assert np.asarray(eager.result()) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert np.asarray(plan.result()) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    plan.reset_state()
    steps[0]()  # bound steps keep updating the same state after reset
    half = factory()
    half.update_state(yt[:12], yp[:12], sample_weight=w[:12])
    assert np.asarray(plan.result()) == pytest.approx(np.asarray(half.result()), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind,factory", FACTORIES, ids=FACTORY_IDS)
def test_bound_kernel_equals_eager_update(kind, factory):
    rng = np.random.default_rng(4)
    yt, yp = _data(kind, 33, rng)
    w = rng.uniform(0, 2, 33)
    w[::5] = 0.0
    for weights in (None, w):
        eager = factory()
        eager.update_state(yt, yp, sample_weight=weights)
        for dtype in (np.float64, np.float32):
            # float32 buffers: compare with eager on the same float32 values
            yt_, yp_ = yt.astype(dtype), yp.astype(dtype)
            ref = factory()
            ref.update_state(yt_, yp_, sample_weight=None if weights is None else weights.astype(dtype))
            got = bound_result(factory(), yt_, yp_, weights, dtype=dtype)
            assert np.asarray(got) == pytest.approx(np.asarray(ref.result()), rel=1e-6, abs=1e-9)
        assert np.asarray(bound_result(factory(), yt, yp, weights)) == pytest.approx(np.asarray(eager.result()),
                                                                              rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kind,factory", FACTORIES, ids=FACTORY_IDS)
def test_bound_metric_does_not_allocate(kind, factory):
    rng = np.random.default_rng(5)
    yt, yp = (np.ascontiguousarray(a, dtype=np.float32) for a in _data(kind, 256, rng))
    w = np.ones(256, np.float32)
    assert_no_allocation(factory().bind(yt, yp, w), calls=100)


def test_bind_validation():
    with pytest.raises(ValueError, match="y_true"):
        M.Precision().bind(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="sample_weight"):
        M.AUC().bind(np.zeros((4, 2)), np.zeros((4, 2)), np.ones(3))
    with pytest.raises(ValueError, match="2D"):
        M.F1Score().bind(np.zeros((4, 2, 2)), np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="y_true"):
        M.SparseTopKCategoricalAccuracy().bind(np.zeros((4, 3)), np.zeros((4, 3)))
    # a multi-label AUC takes its number of labels from the first batch and then insists on it
    m = M.AUC(multi_label=True)
    m.bind(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="3 labels"):
        m.update_state(np.zeros((4, 2)), np.zeros((4, 2)))
    # CosineSimilarity along the batch axis runs eagerly (the compiler falls back on NotImplementedError)
    with pytest.raises(NotImplementedError):
        M.CosineSimilarity(axis=0).bind(np.zeros((4, 2)), np.zeros((4, 2)))


# ----------------------------------------------------------------------------- names, registry, config

DEFAULT_NAMES = [
    (M.Precision, "precision"), (M.Recall, "recall"), (M.AUC, "auc"),
    (M.TopKCategoricalAccuracy, "top_k_categorical_accuracy"),
    (M.SparseTopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy"), (M.F1Score, "f1_score"),
    (M.FBetaScore, "fbeta_score"), (M.RootMeanSquaredError, "root_mean_squared_error"),
    (M.MeanAbsolutePercentageError, "mean_absolute_percentage_error"), (M.CosineSimilarity, "cosine_similarity"),
    (lambda: M.MeanIoU(3), "mean_io_u"), (lambda: M.IoU(3, [0]), "io_u"), (M.BinaryIoU, "binary_io_u"),
    (M.TruePositives, "true_positives"), (lambda: M.PrecisionAtRecall(0.5), "precision_at_recall"),
]


@pytest.mark.parametrize("factory,name", DEFAULT_NAMES, ids=[n for _, n in DEFAULT_NAMES])
def test_default_names(factory, name):
    assert factory().name == name


def test_get_accepts_keras_strings():
    for ident, cls in [("AUC", M.AUC), ("auc", M.AUC), ("precision", M.Precision), ("Precision", M.Precision),
                       ("recall", M.Recall), ("top_k_categorical_accuracy", M.TopKCategoricalAccuracy),
                       ("sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy),
                       ("f1_score", M.F1Score), ("f_beta_score", M.FBetaScore),
                       ("root_mean_squared_error", M.RootMeanSquaredError),
                       ("mape", M.MeanAbsolutePercentageError), ("MAPE", M.MeanAbsolutePercentageError),
                       ("mean_absolute_percentage_error", M.MeanAbsolutePercentageError),
                       ("cosine_similarity", M.CosineSimilarity), ("true_positives", M.TruePositives)]:
        m = M.get(ident)
        assert type(m) is cls and m.name == ident   # as Keras's compile, the string names the metric
    # functions map to their metric classes
    assert type(M.get(M.top_k_categorical_accuracy)) is M.TopKCategoricalAccuracy
    assert type(M.get(M.cosine_similarity)) is M.CosineSimilarity
    # Keras has no 'rmse' alias
    with pytest.raises(ValueError, match="Unknown metric 'rmse'"):
        M.get("rmse")


CONFIGURED = [
    M.Precision(thresholds=[0.2, 0.7], name="p"), M.Precision(top_k=3, class_id=1), M.Recall(thresholds=0.3),
    M.TruePositives(thresholds=[0.1, 0.9]), M.AUC(), M.AUC(num_thresholds=50, curve="PR", summation_method="majoring"),
    M.AUC(thresholds=[0.1, 0.5], multi_label=True, num_labels=2, label_weights=[1.0, 2.0], from_logits=True),
    M.SensitivityAtSpecificity(0.4, num_thresholds=20, class_id=1), M.RecallAtPrecision(0.7),
    M.TopKCategoricalAccuracy(k=3), M.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
    M.F1Score(average="macro", threshold=0.4), M.FBetaScore(beta=0.5, average="micro"), M.RootMeanSquaredError(),
    M.MeanAbsolutePercentageError(dtype="float32"), M.CosineSimilarity(axis=1), M.MeanIoU(4, ignore_class=0),
    M.IoU(3, [0, 2], sparse_y_pred=False), M.BinaryIoU([1], threshold=0.3), M.OneHotIoU(3, [1]),
    M.OneHotMeanIoU(5, sparse_y_pred=True),
]


@pytest.mark.parametrize("metric", CONFIGURED, ids=lambda m: type(m).__name__)
def test_config_round_trip(metric):
    config = metric.get_config()
    assert set(config) >= {"name", "dtype"}
    again = type(metric).from_config(config)
    assert again.get_config() == config
    data = M.serialize(metric)
    assert data["class_name"] == type(metric).__name__
    back = M.deserialize(data)
    assert type(back) is type(metric) and back.get_config() == config


def test_keras_config_keys():
    assert M.F1Score().get_config() == {"name": "f1_score", "dtype": None, "average": None, "threshold": None}
    assert M.Precision().get_config() == {"name": "precision", "dtype": None, "thresholds": None, "top_k": None,
                                          "class_id": None}
    auc = M.AUC().get_config()
    assert "thresholds" not in auc and auc["curve"] == "ROC" and auc["summation_method"] == "interpolation"
    assert M.AUC(thresholds=[0.5, 0.2]).get_config()["thresholds"] == [0.2, 0.5]
    assert "target_class_ids" not in M.MeanIoU(2).get_config()


def test_directions():
    assert M.AUC()._direction == "up" and M.F1Score()._direction == "up" and M.MeanIoU(2)._direction == "up"
    assert M.RootMeanSquaredError()._direction == "down" and M.MeanAbsolutePercentageError()._direction == "down"


# ----------------------------------------------------------------------------- in compile

def test_multi_output_model_metrics_by_output():
    inp = fw.Input((4,))
    h = Dense(8, activation="relu")(inp)
    a = Dense(1, activation="sigmoid", name="a")(h)
    b = Dense(2, name="b")(h)
    model = fw.Model(inp, [a, b])
    model.compile(optimizer="adam", loss={"a": "binary_crossentropy", "b": "mse"},
                  metrics={"a": ["precision", "auc"], "b": [M.RootMeanSquaredError()]})
    rng = np.random.default_rng(7)
    x = rng.standard_normal((50, 4)).astype(np.float32)
    ya = (x[:, :1] + 0.5 * rng.standard_normal((50, 1)) > 0).astype(np.float32)
    yb = rng.standard_normal((50, 2)).astype(np.float32)
    history = model.fit(x, {"a": ya, "b": yb}, epochs=2, batch_size=16, verbose=0)
    expected = ["loss", "a_loss", "b_loss", "a_precision", "a_auc", "b_root_mean_squared_error"]
    assert sorted(history.history) == sorted(expected)
    # batches of 16 + a last partial batch of 2: two plans feed the same metric state
    logs = model.evaluate(x, {"a": ya, "b": yb}, batch_size=16, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(expected)
    pa, pb = model.predict(x, batch_size=16, verbose=0)
    assert logs["a_precision"] == pytest.approx(M.Precision()(ya, pa), abs=1e-7)
    assert logs["a_auc"] == pytest.approx(M.AUC()(ya, pa), rel=1e-6)
    assert logs["b_root_mean_squared_error"] == pytest.approx(np.sqrt(np.mean((pb - yb) ** 2)), rel=1e-5)
    # and by hand: precision of predictions above 0.5
    positive = pa[:, 0] > 0.5
    assert logs["a_precision"] == pytest.approx(ya[positive, 0].sum() / max(positive.sum(), 1), abs=1e-7)


def test_compile_strings_and_instances_single_output():
    model = fw.Sequential([fw.Input((5,)), Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy(k=1, name="top1"),
                           M.MeanIoU(4, sparse_y_pred=False)])
    rng = np.random.default_rng(8)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(["loss", "sparse_top_k_categorical_accuracy", "top1", "mean_io_u"])
    p = model.predict(x, batch_size=16, verbose=0)
    assert logs["sparse_top_k_categorical_accuracy"] == 1.0      # k=5 >= 4 classes
    assert logs["top1"] == pytest.approx(np.mean(p.argmax(1) == y))
    assert logs["mean_io_u"] == pytest.approx(M.MeanIoU(4, sparse_y_pred=False)(y, p), rel=1e-6)
    onehot = fw.Sequential([fw.Input((5,)), Dense(4, activation="softmax")])
    onehot.compile(optimizer="sgd", loss="categorical_crossentropy",
                   metrics=[M.F1Score(average="macro"), "top_k_categorical_accuracy", "AUC"])
    y1 = np.eye(4, dtype=np.float32)[y]
    logs = onehot.evaluate(x, y1, batch_size=16, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(["loss", "f1_score", "top_k_categorical_accuracy", "AUC"])
    p = onehot.predict(x, batch_size=16, verbose=0)
    assert logs["f1_score"] == pytest.approx(M.F1Score(average="macro")(y1, p), rel=1e-6)
    assert logs["AUC"] == pytest.approx(M.AUC()(y1, p), rel=1e-6)
