"""Metrics: Keras 3 values (eager and bound) of the accuracies, Mean, the regression metrics,
the top-k accuracies, F-scores and the IoU family; weighting, streaming, bound kernels, accuracy
resolution, registry and config of the accuracies, Mean, MSE and MAE.

The confusion-matrix metrics (Precision, Recall, AUC, ...): tests/test_metrics_confusion.py.
Streaming, bound kernels, allocation, names, config and compile for every metric beyond
accuracy/MSE/MAE: tests/test_metrics_streaming_and_config.py."""

import numpy as np
import pytest

from framework import losses
from framework import metrics as M
from helpers import assert_no_allocation, check_metric, eager_and_bound


# ----------------------------------------------------------------------------- hand-computed values

def test_keras_docstring_examples():
    assert eager_and_bound(M.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]]) == (0.75, 0.75)
    assert eager_and_bound(M.Accuracy, [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0]) == (0.5, 0.5)
    yt, yp = [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]
    assert eager_and_bound(M.BinaryAccuracy, yt, yp) == (0.75, 0.75)
    assert eager_and_bound(M.BinaryAccuracy, yt, yp, [1, 0, 0, 1]) == (0.5, 0.5)
    yt, yp = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    assert eager_and_bound(M.CategoricalAccuracy, yt, yp) == (0.5, 0.5)
    assert np.allclose(eager_and_bound(M.CategoricalAccuracy, yt, yp, [0.7, 0.3]), 0.3)
    yt, yp = [2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]
    assert eager_and_bound(M.SparseCategoricalAccuracy, yt, yp) == (0.5, 0.5)
    assert np.allclose(eager_and_bound(M.SparseCategoricalAccuracy, yt, yp, [0.7, 0.3]), 0.3)
    m = M.Mean()
    assert m([1, 3, 5, 7]) == 4.0
    m.reset_state()
    assert m([1, 3, 5, 7], sample_weight=[1, 1, 0, 0]) == 2.0


def test_regression_metrics():
    yt, yp = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]])
    assert eager_and_bound(M.MeanSquaredError, yt, yp) == (0.5, 0.5)
    # |errors| [[3, 2], [3, 0]] -> per-sample 2.5, 1.5
    assert eager_and_bound(M.MeanAbsoluteError, yt, yp * 3) == (2.0, 2.0)
    # weighted: sum(w * v) / sum(w)
    yp2 = np.array([[2.0, 1.0], [1.0, 0.0]])  # per-sample MSE: 2.0, 0.5
    assert np.allclose(eager_and_bound(M.MeanSquaredError, yt, yp2, [1.0, 3.0]), (2.0 + 1.5) / 4)
    assert M.MeanSquaredError().name == "mean_squared_error"
    assert M.MeanAbsoluteError().name == "mean_absolute_error"


def test_argmax_ties_take_the_first_index():
    yp = [[0.4, 0.4, 0.2], [0.3, 0.3, 0.3]]
    assert eager_and_bound(M.SparseCategoricalAccuracy, [0, 0], yp) == (1.0, 1.0)
    assert eager_and_bound(M.SparseCategoricalAccuracy, [1, 2], yp) == (0.0, 0.0)
    assert eager_and_bound(M.CategoricalAccuracy, [[0.5, 0.5, 0.0], [0, 1, 0]], yp) == (0.5, 0.5)


def test_binary_accuracy_threshold_is_strict():
    assert eager_and_bound(lambda: M.BinaryAccuracy(threshold=0.7), [[1], [0], [0]],
                           [[0.8], [0.7], [0.2]]) == (1.0, 1.0)
    assert eager_and_bound(M.BinaryAccuracy, [[1], [0]], [[0.5], [0.5]]) == (0.5, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        M.BinaryAccuracy(threshold=1.0)


def test_zero_weights():
    yt, yp = [[1], [0], [1]], [[0.9], [0.9], [0.1]]
    assert eager_and_bound(M.BinaryAccuracy, yt, yp, [1, 0, 0]) == (1.0, 1.0)
    assert eager_and_bound(M.BinaryAccuracy, yt, yp, [0, 0, 0]) == (0.0, 0.0)  # divide_no_nan
    assert M.Mean().result() == 0.0


def test_multi_axis_outputs_average_over_non_batch_axes():
    rng = np.random.default_rng(0)
    yp = rng.random((4, 3, 5))
    labels = rng.integers(0, 5, (4, 3))
    hits = (yp.argmax(-1) == labels).astype(float)  # (4, 3)
    w = np.array([1.0, 0.0, 2.0, 0.5])
    expected = (hits.mean(1) * w).sum() / w.sum()
    assert np.allclose(eager_and_bound(M.SparseCategoricalAccuracy, labels, yp, w), expected)
    assert np.allclose(eager_and_bound(M.SparseCategoricalAccuracy, labels[..., None], yp, w), expected)
    onehot = np.eye(5)[labels]
    assert np.allclose(eager_and_bound(M.CategoricalAccuracy, onehot, yp, w), expected)
    yt = rng.random((4, 3, 5))
    expected = (((yp - yt) ** 2).mean((1, 2)) * w).sum() / w.sum()
    assert np.allclose(eager_and_bound(M.MeanSquaredError, yt, yp, w), expected)
    bits = (rng.random((4, 3, 5)) > 0.5).astype(float)
    expected = (((yp > 0.5) == bits).mean((1, 2)) * w).sum() / w.sum()
    assert np.allclose(eager_and_bound(M.BinaryAccuracy, bits, yp, w), expected)


def test_mean_with_weight_of_higher_rank():
    # Keras: values (2, 2) with weights (2, 2) -> per-sample mean(v*w) and mean(w)
    m = M.Mean()
    m.update_state([[1.0, 3.0], [5.0, 7.0]], sample_weight=[[1.0, 0.0], [1.0, 1.0]])
    assert m.result() == pytest.approx((0.5 + 6.0) / (0.5 + 1.0))
    m = M.Mean()
    m.update_state(3.0, sample_weight=2.0)
    m.update_state(6.0)
    assert (m.total, m.count) == (12.0, 3.0)


# ----------------------------------------------------------------------------- top-k, F-scores, RMSE, MAPE, IoU

def test_keras_docstring_examples_others():
    yt, yp = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    check_metric(lambda: M.TopKCategoricalAccuracy(k=1), yt, yp, 0.5)
    check_metric(lambda: M.TopKCategoricalAccuracy(k=1), yt, yp, 0.3, [0.7, 0.3])
    check_metric(lambda: M.SparseTopKCategoricalAccuracy(k=1), [2, 1], yp, 0.5)
    check_metric(lambda: M.SparseTopKCategoricalAccuracy(k=1), [2, 1], yp, 0.3, [0.7, 0.3])
    check_metric(lambda: M.SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True), [2, 1], [[1, 0, 3], [1, 2, 3]],
                 0.5)
    yt = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    yp = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    check_metric(lambda: M.F1Score(threshold=0.5), yt, yp, [0.5, 0.8, 0.6666667], rel=1e-5)
    check_metric(lambda: M.FBetaScore(beta=2.0, threshold=0.5), yt, yp, [0.3846154, 0.90909094, 0.8333334], rel=1e-5)
    check_metric(M.RootMeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.5)
    check_metric(M.RootMeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.70710677, [1, 0])
    check_metric(M.MeanAbsolutePercentageError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 250000000.0)
    check_metric(M.MeanAbsolutePercentageError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 500000000.0, [1, 0])
    check_metric(lambda: M.CosineSimilarity(axis=1), [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]], 0.5)
    check_metric(lambda: M.CosineSimilarity(axis=1), [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]], 0.7,
                 [0.3, 0.7])
    check_metric(lambda: M.MeanIoU(num_classes=2), [0, 0, 1, 1], [0, 1, 0, 1], 1 / 3, rel=1e-6)
    # Keras's docstring value (0.2380952); Keras 3's default integer dtype would truncate these weights
    check_metric(lambda: M.MeanIoU(num_classes=2), [0, 0, 1, 1], [0, 1, 0, 1], 0.23809525, [0.3, 0.3, 0.3, 0.1],
                 rel=1e-6)
    check_metric(lambda: M.IoU(num_classes=2, target_class_ids=[0]), [0, 0, 1, 1], [0, 1, 0, 1], 1 / 3, rel=1e-6)
    check_metric(lambda: M.IoU(num_classes=2, target_class_ids=[0]), [0, 0, 1, 1], [0, 1, 0, 1], 1 / 3,
                 [0.3, 0.3, 0.3, 0.1], rel=1e-6)
    check_metric(lambda: M.BinaryIoU(target_class_ids=[0, 1], threshold=0.3), [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], 1 / 3,
                 rel=1e-6)
    check_metric(lambda: M.BinaryIoU(target_class_ids=[0, 1], threshold=0.3), [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7],
                 0.17361112, [0.2, 0.3, 0.4, 0.1], rel=1e-6)
    yt = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
    yp = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]])
    check_metric(lambda: M.OneHotIoU(num_classes=3, target_class_ids=[0, 2]), yt, yp, (0 + 0.1 / 0.7) / 2,
                 [0.1, 0.2, 0.3, 0.4], rel=1e-6)
    check_metric(lambda: M.OneHotMeanIoU(num_classes=3), yt, yp, 0.1 / 0.7 / 3, [0.1, 0.2, 0.3, 0.4], rel=1e-6)


def test_top_k_accuracy_by_hand():
    onehot = [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    labels = [2, 1, 0]
    yp = [[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.1, 0.2, 0.7]]
    # row 1 ties with the top score: ties count in the true class's favour (Keras's in_top_k)
    for k, expected in [(1, 1 / 3), (2, 1 / 3), (3, 1.0)]:
        check_metric(lambda: M.TopKCategoricalAccuracy(k=k), onehot, yp, expected)
        check_metric(lambda: M.SparseTopKCategoricalAccuracy(k=k), labels, yp, expected)
    check_metric(lambda: M.TopKCategoricalAccuracy(k=1), onehot, yp, 0.0, [1, 0, 2])
    check_metric(lambda: M.SparseTopKCategoricalAccuracy(k=1), [[2], [1], [0]], yp, 1 / 3)   # (N, 1) labels
    check_metric(lambda: M.SparseTopKCategoricalAccuracy(k=2), [2, 1, 5], yp, 1 / 3)        # out-of-range label: a miss
    check_metric(lambda: M.SparseTopKCategoricalAccuracy(k=1), [0, 2, 2], yp, 3 / 4, [2, 1, 1])
    check_metric(M.SparseTopKCategoricalAccuracy, labels, yp, 1.0)                          # k=5 > 3 classes
    assert M.TopKCategoricalAccuracy().k == 5


def test_f_scores_by_hand():
    yt = [[1, 0], [0, 1], [1, 0]]
    yp = [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]
    # argmax predictions [[1, 0], [1, 0], [0, 1]]: class 0 tp 1 fp 1 fn 1, class 1 tp 0 fp 1 fn 1
    tol = dict(rel=1e-5, abs=1e-6)
    check_metric(M.F1Score, yt, yp, [0.5, 0.0], **tol)
    check_metric(lambda: M.F1Score(average="macro"), yt, yp, 0.25, **tol)
    check_metric(lambda: M.F1Score(average="weighted"), yt, yp, (0.5 * 2 + 0.0 * 1) / 3, **tol)
    check_metric(lambda: M.F1Score(average="micro"), yt, yp, 1 / 3, **tol)   # tp 1, fp 2, fn 2
    check_metric(lambda: M.F1Score(threshold=0.5), yt, yp, [0.5, 0.0], **tol)
    # beta = 2: (1 + 4) p r / (4 p + r) with p = r = 1/2 -> 1/2
    check_metric(lambda: M.FBetaScore(beta=2.0), yt, yp, [0.5, 0.0], **tol)
    # tied maxima all count as 1; an all-zero row predicts nothing; an empty class scores 0
    # class 0: tp 1; class 1: fp 1 (row 0's tie), fn 1 (row 1 predicts nothing); class 2: empty
    check_metric(M.F1Score, [[1, 0, 0], [0, 1, 0]], [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]], [1.0, 0.0, 0.0], **tol)
    # weights: the second sample (a false positive for class 0) is masked
    check_metric(M.F1Score, yt, yp, [2 / 3, 0.0], [1, 0, 1], **tol)
    with pytest.raises(ValueError, match="2D"):
        M.F1Score()(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="beta"):
        M.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="threshold"):
        M.F1Score(threshold=1.5)
    with pytest.raises(ValueError, match="average"):
        M.F1Score(average="samples")


def test_regression_metrics_by_hand():
    yt, yp = [[1.0, 2.0], [3.0, -4.0]], [[2.0, 2.0], [0.0, -4.0]]
    # squared errors per sample: mean(1, 0) = 0.5, mean(9, 0) = 4.5
    check_metric(M.RootMeanSquaredError, yt, yp, np.sqrt(2.5))
    check_metric(M.RootMeanSquaredError, yt, yp, np.sqrt((0.5 * 1 + 4.5 * 3) / 4), [1, 3])
    # percentages per sample: mean(100, 0) = 50, mean(100, 0) = 50; y_true 0 divides by epsilon
    check_metric(M.MeanAbsolutePercentageError, yt, yp, 50.0)
    check_metric(M.MeanAbsolutePercentageError, [[0.0]], [[1e-7]], 100.0)
    # cosine: sample 0 (1,2).(2,2) / (sqrt5 sqrt8), sample 1 (3,-4).(0,-4) / (5 * 4)
    c0, c1 = 6 / np.sqrt(40), 16 / 20
    check_metric(M.CosineSimilarity, yt, yp, (c0 + c1) / 2)
    check_metric(M.CosineSimilarity, yt, yp, c1, [0, 2])
    check_metric(M.CosineSimilarity, [[0.0, 0.0]], [[1.0, 2.0]], 0.0)     # a zero vector gives 0, not NaN
    # axis=1 of (N, 2, 2): per sample the mean over the last axis of cosines along axis 1
    a = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    b = np.array([[[1.0, 1.0], [0.0, 1.0]]])
    check_metric(lambda: M.CosineSimilarity(axis=1), a, b, (1.0 + 1 / np.sqrt(2)) / 2)


def test_iou_by_hand():
    # cm [[1, 1, 0], [0, 1, 0], [0, 0, 0]]: IoU 1/2, 1/2; class 2 is absent and left out
    check_metric(lambda: M.MeanIoU(3), [0, 0, 1], [0, 1, 1], 0.5, rel=1e-6)
    check_metric(lambda: M.IoU(3, [2]), [0, 0, 1], [0, 1, 1], 0.0)
    # out-of-range classes and the ignored class are skipped
    check_metric(lambda: M.MeanIoU(3), [0, 5, 1, -1], [0, 1, 7, 1], 1.0, rel=1e-6)
    check_metric(lambda: M.MeanIoU(3, ignore_class=1), [0, 1, 1, 2], [0, 0, 2, 2], 1.0, rel=1e-6)
    # dense predictions: argmax (first index on ties)
    check_metric(lambda: M.MeanIoU(2, sparse_y_pred=False), [0, 1], [[0.5, 0.5], [0.2, 0.8]], 1.0, rel=1e-6)
    # per-sample weights over the elements of (N, 2) label maps: sample 1 masked
    check_metric(lambda: M.MeanIoU(2), [[0, 1], [1, 1]], [[0, 1], [0, 0]], 1.0, [1, 0], rel=1e-6)
    check_metric(lambda: M.MeanIoU(2), [[0, 1], [1, 1]], [[0, 1], [0, 0]], (1 / 3 + 1 / 3) / 2, rel=1e-6)
    assert M.MeanIoU(2).result() == 0.0
    with pytest.raises(ValueError, match="out of range"):
        M.IoU(2, [2])


# ----------------------------------------------------------------------------- streaming and bound kernels

@pytest.mark.parametrize("factory,kind", [
    (M.BinaryAccuracy, "binary"), (M.CategoricalAccuracy, "categorical"),
    (M.SparseCategoricalAccuracy, "sparse"), (M.MeanSquaredError, "regression"),
    (M.MeanAbsoluteError, "regression"), (M.Accuracy, "exact"),
])
def test_streaming_two_batches_equals_one_big_batch(factory, kind):
    rng = np.random.default_rng(1)
    yp = rng.random((10, 4))
    yt = {"binary": (rng.random((10, 4)) > 0.5).astype(float),
          "categorical": np.eye(4)[rng.integers(0, 4, 10)],
          "sparse": rng.integers(0, 4, 10).astype(float),
          "regression": rng.random((10, 4)),
          "exact": np.where(rng.random((10, 4)) > 0.5, yp, 0.0)}[kind]
    w = rng.uniform(0, 2, 10)
    one = factory()
    one.update_state(yt, yp, sample_weight=w)
    eager = factory()
    eager.update_state(yt[:6], yp[:6], sample_weight=w[:6])
    eager.update_state(yt[6:], yp[6:], sample_weight=w[6:])
    plan = factory()
    steps = [plan.bind(np.ascontiguousarray(yt[s]), np.ascontiguousarray(yp[s]), np.ascontiguousarray(w[s]))
             for s in (slice(0, 6), slice(6, 10))]
    for step in steps:
        step()
    assert eager.result() == pytest.approx(one.result())
    assert plan.result() == pytest.approx(one.result())
    plan.reset_state()
    assert plan.result() == 0.0
    steps[0]()  # bound steps keep updating the same state after reset
    half = factory()
    half.update_state(yt[:6], yp[:6], sample_weight=w[:6])
    assert plan.result() == pytest.approx(half.result())


def test_call_updates_then_returns_result():
    m = M.BinaryAccuracy()
    assert m([[1]], [[0.9]]) == 1.0
    assert m([[1]], [[0.1]]) == 0.5


def test_bind_float32_and_validation():
    m = M.SparseCategoricalAccuracy()
    yp = np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)
    m.bind(np.array([1, 1], np.float32), yp, np.ones(2, np.float32))()
    assert m.result() == 0.5
    assert m.target_shape((8, 2)) == (8,)
    with pytest.raises(ValueError, match="y_true"):
        M.CategoricalAccuracy().bind(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="sample_weight"):
        M.CategoricalAccuracy().bind(np.zeros((2, 2)), np.zeros((2, 2)), np.ones(3))
    with pytest.raises(NotImplementedError):
        M.get(lambda t, p: t).bind(np.zeros((2, 2)), np.zeros((2, 2)))


def test_bound_metric_does_not_allocate():
    rng = np.random.default_rng(2)
    yp = rng.random((512, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 512).astype(np.float32)
    w = np.ones(512, np.float32)
    for metric, yt in [(M.SparseCategoricalAccuracy(), labels), (M.MeanSquaredError(), yp.copy()),
                       (M.BinaryAccuracy(), (yp > 0.3).astype(np.float32))]:
        assert_no_allocation(metric.bind(yt, yp, w))


# ----------------------------------------------------------------------------- 'accuracy' resolution

@pytest.mark.parametrize("y_true_shape,y_pred_shape,expected", [
    ((32, 1), (32, 1), M.BinaryAccuracy),
    ((32,), (32, 1), M.BinaryAccuracy),
    ((32, 5), (32, 1), M.BinaryAccuracy),          # y_pred last dim 1 wins
    ((32,), (32,), M.BinaryAccuracy),               # one value per sample
    ((32,), (32, 10), M.SparseCategoricalAccuracy),
    ((32, 1), (32, 10), M.SparseCategoricalAccuracy),
    ((32, 7), (32, 7, 10), M.SparseCategoricalAccuracy),
    ((32, 10), (32, 10), M.CategoricalAccuracy),
    ((32, 7, 10), (32, 7, 10), M.CategoricalAccuracy),
    ((None, 10), (None, 10), M.CategoricalAccuracy),
])
def test_resolve_accuracy(y_true_shape, y_pred_shape, expected):
    for name in ("accuracy", "acc"):
        m = M.resolve_accuracy(None, y_true_shape, y_pred_shape, name=name)
        assert type(m) is expected and m.name == name


def test_resolve_accuracy_ignores_the_loss_as_keras_3():
    m = M.resolve_accuracy(losses.BinaryCrossentropy(), (8, 5), (8, 5))
    assert type(m) is M.CategoricalAccuracy


def test_compile_metric():
    m = M.compile_metric("acc", (8,), (8, 3))
    assert type(m) is M.SparseCategoricalAccuracy and m.name == "acc"
    assert type(M.compile_metric("Accuracy", (8, 1), (8, 1))) is M.BinaryAccuracy
    m = M.compile_metric("mse", (8, 1), (8, 1))
    assert type(m) is M.MeanSquaredError and m.name == "mse"
    assert M.compile_metric(None, (8,), (8,)) is None


# ----------------------------------------------------------------------------- registry and config

def test_get():
    for name, cls in [("binary_accuracy", M.BinaryAccuracy), ("categorical_accuracy", M.CategoricalAccuracy),
                      ("sparse_categorical_accuracy", M.SparseCategoricalAccuracy),
                      ("mse", M.MeanSquaredError), ("mean_squared_error", M.MeanSquaredError),
                      ("mae", M.MeanAbsoluteError), ("mean_absolute_error", M.MeanAbsoluteError),
                      ("accuracy", M.Accuracy), ("acc", M.Accuracy), ("BinaryAccuracy", M.BinaryAccuracy),
                      ("mean", M.Mean)]:
        m = M.get(name)
        assert type(m) is cls and m.name == name
    assert type(M.get(M.CategoricalAccuracy)) is M.CategoricalAccuracy
    assert type(M.get(M.binary_accuracy)) is M.BinaryAccuracy
    m = M.Mean()
    assert M.get(m) is m and M.get(None) is None
    got = M.get({"class_name": "BinaryAccuracy", "config": {"threshold": 0.3, "name": "ba"}})
    assert got.threshold == 0.3 and got.name == "ba"
    with pytest.raises(ValueError, match="Valid choices") as e:
        M.get("binary_acuracy")
    assert "binary_accuracy" in str(e.value)


def test_custom_function_metric_is_eager():
    m = M.get(lambda t, p: np.abs(np.asarray(t) - np.asarray(p)).max(axis=-1))
    assert m([[0.0, 2.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]) == 0.5
    with pytest.raises(ValueError):
        M.serialize(m)


@pytest.mark.parametrize("metric", [
    M.Mean(name="loss"), M.Accuracy(), M.BinaryAccuracy(threshold=0.25), M.CategoricalAccuracy(name="ca"),
    M.SparseCategoricalAccuracy(), M.MeanSquaredError(), M.MeanAbsoluteError(dtype="float32"),
], ids=lambda m: type(m).__name__)
def test_config_round_trip(metric):
    config = metric.get_config()
    assert set(config) >= {"name", "dtype"}
    assert type(metric).from_config(config).get_config() == config
    data = M.serialize(metric)
    assert data["class_name"] == type(metric).__name__
    back = M.deserialize(data)
    assert type(back) is type(metric) and back.get_config() == config
