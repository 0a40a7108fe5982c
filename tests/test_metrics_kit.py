"""Keras 3 streaming metrics beyond accuracy/MSE/MAE: confusion-matrix metrics (Precision,
Recall, AUC, counts, the *At* metrics), top-k accuracies, F-scores, RMSE, MAPE, cosine
similarity and the IoU family.

Each metric is checked against values computed by hand (ties, empty classes, zero
denominators, threshold lists, top_k, class_id, zero sample weights), against Keras's
docstring examples, for streaming (two batches == one batch), bound kernel == eager
update, config round trips, allocation-free bound steps, and in a compiled model."""

import numpy as np
import pytest

import framework as fw
from framework import metrics as M
from framework.layers import Dense
from helpers import assert_no_allocation


def bound(metric, y_true, y_pred, sample_weight=None, dtype=np.float64):
    """Update ``metric`` through its plan binding (buffers of ``dtype``) and return the result."""
    y_true = np.ascontiguousarray(y_true, dtype=dtype)
    y_pred = np.ascontiguousarray(y_pred, dtype=dtype)
    w = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=dtype)
    metric.bind(y_true, y_pred, w)()
    return metric.result()


def both(factory, y_true, y_pred, sample_weight=None):
    """(eager result, bound result) of two fresh metrics on the same batch."""
    return factory()(y_true, y_pred, sample_weight=sample_weight), bound(factory(), y_true, y_pred, sample_weight)


def check(factory, y_true, y_pred, expected, sample_weight=None, **tol):
    """Eager and bound results both equal ``expected``."""
    tol = tol or dict(rel=1e-6, abs=1e-6)
    for got in both(factory, y_true, y_pred, sample_weight):
        assert np.asarray(got) == pytest.approx(np.asarray(expected, dtype=np.float64), **tol), (got, expected)


# ----------------------------------------------------------------------------- Keras docstring examples

def test_keras_docstring_examples_confusion():
    check(M.Precision, [0, 1, 1, 1], [1, 0, 1, 1], 2 / 3)
    check(M.Precision, [0, 1, 1, 1], [1, 0, 1, 1], 1.0, [0, 0, 1, 0])
    check(lambda: M.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1], 0.0)
    check(lambda: M.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1], 0.5)
    check(M.Recall, [0, 1, 1, 1], [1, 0, 1, 1], 2 / 3)
    check(M.Recall, [0, 1, 1, 1], [1, 0, 1, 1], 1.0, [0, 0, 1, 0])
    check(lambda: M.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 0.75)
    check(lambda: M.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 1.0, [1, 0, 0, 1])
    check(M.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1], 2.0)
    check(M.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1], 1.0, [0, 0, 1, 0])
    check(M.FalseNegatives, [0, 1, 1, 1], [0, 1, 0, 0], 2.0)
    check(M.TrueNegatives, [0, 1, 0, 0], [1, 1, 0, 0], 2.0)
    check(M.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1], 2.0)
    check(M.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1], 1.0, [0, 0, 1, 0])
    yt, yp = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    check(lambda: M.SensitivityAtSpecificity(0.5), yt, yp, 0.5)
    check(lambda: M.SensitivityAtSpecificity(0.5), yt, yp, 1 / 3, [1, 1, 2, 2, 1])
    check(lambda: M.SpecificityAtSensitivity(0.5), yt, yp, 2 / 3)
    check(lambda: M.SpecificityAtSensitivity(0.5), yt, yp, 0.5, [1, 1, 2, 2, 2])
    check(lambda: M.PrecisionAtRecall(0.5), yt, yp, 0.5)
    check(lambda: M.PrecisionAtRecall(0.5), yt, yp, 1 / 3, [2, 2, 2, 1, 1])
    check(lambda: M.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 0.5)
    check(lambda: M.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 1.0, [1, 0, 0, 1])


def test_keras_docstring_examples_others():
    yt, yp = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    check(lambda: M.TopKCategoricalAccuracy(k=1), yt, yp, 0.5)
    check(lambda: M.TopKCategoricalAccuracy(k=1), yt, yp, 0.3, [0.7, 0.3])
    check(lambda: M.SparseTopKCategoricalAccuracy(k=1), [2, 1], yp, 0.5)
    check(lambda: M.SparseTopKCategoricalAccuracy(k=1), [2, 1], yp, 0.3, [0.7, 0.3])
    check(lambda: M.SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True), [2, 1], [[1, 0, 3], [1, 2, 3]], 0.5)
    yt = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    yp = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    check(lambda: M.F1Score(threshold=0.5), yt, yp, [0.5, 0.8, 0.6666667], rel=1e-5)
    check(lambda: M.FBetaScore(beta=2.0, threshold=0.5), yt, yp, [0.3846154, 0.90909094, 0.8333334], rel=1e-5)
    check(M.RootMeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.5)
    check(M.RootMeanSquaredError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.70710677, [1, 0])
    check(M.MeanAbsolutePercentageError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 250000000.0)
    check(M.MeanAbsolutePercentageError, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 500000000.0, [1, 0])
    check(lambda: M.CosineSimilarity(axis=1), [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]], 0.5)
    check(lambda: M.CosineSimilarity(axis=1), [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]], 0.7, [0.3, 0.7])
    check(lambda: M.MeanIoU(num_classes=2), [0, 0, 1, 1], [0, 1, 0, 1], 1 / 3, rel=1e-6)
    # Keras's docstring value (0.2380952); Keras 3's default integer dtype would truncate these weights
    check(lambda: M.MeanIoU(num_classes=2), [0, 0, 1, 1], [0, 1, 0, 1], 0.23809525, [0.3, 0.3, 0.3, 0.1], rel=1e-6)
    check(lambda: M.IoU(num_classes=2, target_class_ids=[0]), [0, 0, 1, 1], [0, 1, 0, 1], 1 / 3, rel=1e-6)
    check(lambda: M.IoU(num_classes=2, target_class_ids=[0]), [0, 0, 1, 1], [0, 1, 0, 1], 1 / 3,
          [0.3, 0.3, 0.3, 0.1], rel=1e-6)
    check(lambda: M.BinaryIoU(target_class_ids=[0, 1], threshold=0.3), [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], 1 / 3,
          rel=1e-6)
    check(lambda: M.BinaryIoU(target_class_ids=[0, 1], threshold=0.3), [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7],
          0.17361112, [0.2, 0.3, 0.4, 0.1], rel=1e-6)
    yt = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
    yp = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]])
    check(lambda: M.OneHotIoU(num_classes=3, target_class_ids=[0, 2]), yt, yp, (0 + 0.1 / 0.7) / 2,
          [0.1, 0.2, 0.3, 0.4], rel=1e-6)
    check(lambda: M.OneHotMeanIoU(num_classes=3), yt, yp, 0.1 / 0.7 / 3, [0.1, 0.2, 0.3, 0.4], rel=1e-6)


# ----------------------------------------------------------------------------- hand-computed cases

def test_precision_recall_by_hand():
    yt, yp = [1, 0, 1, 1], [0.5, 0.5, 0.7, 0.2]
    check(M.Precision, yt, yp, 1.0)                      # 0.5 is not above 0.5: only 0.7 is positive
    check(M.Recall, yt, yp, 1 / 3)
    # a list of thresholds gives one value per threshold; nothing above 0.8 -> 0, not NaN
    for thresholds in ([0.0, 0.5, 0.8], [0.0, 0.5, 1.0]):  # uneven (comparisons) and even (Keras's buckets)
        check(lambda: M.Precision(thresholds=thresholds), yt, yp, [0.75, 1.0, 0.0])
        check(lambda: M.Recall(thresholds=thresholds), yt, yp, [1.0, 1 / 3, 0.0])
    # unsorted thresholds keep their order
    check(lambda: M.Recall(thresholds=[0.8, 0.0, 0.5]), yt, yp, [0.0, 1.0, 1 / 3])
    # sample weights, zeros included: 0.8 (a negative) has weight 0
    yt, yp, w = [1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], [1, 0, 2, 5]
    check(M.Precision, yt, yp, 1.0, w)
    check(M.Precision, yt, yp, 2 / 3)
    check(M.Recall, yt, yp, 1.0, w)
    check(M.Precision, yt, yp, 0.0, [0, 0, 0, 0])
    # labels count as positive when nonzero
    check(M.Recall, [2.0, 0.0], [0.9, 0.9], 1.0)


def test_precision_recall_top_k_and_class_id():
    yt = [[0, 1, 1], [1, 0, 0]]
    yp = [[0.2, 0.7, 0.5], [0.6, 0.6, 0.1]]
    # top 1 of each row; the tie in row 1 goes to the lower index (a true label)
    check(lambda: M.Precision(top_k=1), yt, yp, 1.0)
    check(lambda: M.Recall(top_k=1), yt, yp, 2 / 3)
    check(lambda: M.Precision(top_k=2), yt, yp, 0.75)
    # top_k with thresholds: a top entry must also exceed the threshold
    check(lambda: M.Precision(top_k=2, thresholds=[0.55, 0.65]), yt, yp, [2 / 3, 1.0])
    # class_id: one column only
    check(lambda: M.Precision(class_id=1), yt, yp, 0.5)    # 0.7 (label 1), 0.6 (label 0)
    check(lambda: M.Recall(class_id=1), yt, yp, 1.0)
    check(lambda: M.Precision(class_id=2), yt, yp, 0.0)    # 0.5 and 0.1 are not above 0.5
    check(lambda: M.Recall(class_id=2), yt, yp, 0.0)
    check(lambda: M.Precision(class_id=0, top_k=1), yt, yp, 1.0)   # row 1's tie picks class 0
    with pytest.raises(ValueError, match="top_k"):
        M.Precision(top_k=4)(yt, yp)
    with pytest.raises(ValueError, match="class_id"):
        M.Recall(class_id=3).bind(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.Precision(thresholds=[0.5, 1.5])


def test_auc_by_hand():
    yt, yp = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
    # thresholds [-eps, 0.5, 1 + eps]: tp [2, 1, 0], fp [2, 0, 0], fn [0, 1, 2]
    m = M.AUC(num_thresholds=3)
    m.update_state(yt, yp)
    assert m.true_positives.tolist() == [2, 1, 0] and m.false_positives.tolist() == [2, 0, 0]
    assert m.true_negatives.tolist() == [0, 2, 2] and m.false_negatives.tolist() == [0, 1, 2]
    assert m.thresholds == [-1e-7, 0.5, 1 + 1e-7]
    # PR interpolation: slopes [1/3, 1], intercepts [2/3, 0], P ratio [4, -]:
    #   (1/3) * (1 + (2/3) ln 4) / 2 + 1 * 1 / 2
    check(lambda: M.AUC(num_thresholds=3, curve="PR"), yt, yp, (1 + 2 / 3 * np.log(4)) / 6 + 0.5)
    # minoring / majoring of the ROC curve: fpr [1, 0, 0], tpr [1, 0.5, 0]
    check(lambda: M.AUC(num_thresholds=3, summation_method="minoring"), yt, yp, 0.5)
    check(lambda: M.AUC(num_thresholds=3, summation_method="majoring"), yt, yp, 1.0)
    # PR curve without interpolation: recall [1, .5, 0], precision [.5, 1, 0] (0 where nothing is positive)
    check(lambda: M.AUC(num_thresholds=3, curve="PR", summation_method="minoring"), yt, yp, 0.5 * 0.5 + 0.5 * 0)
    check(lambda: M.AUC(num_thresholds=3, curve="PR", summation_method="majoring"), yt, yp, 0.5 * 1 + 0.5 * 1)
    # explicit (uneven) thresholds [-eps, 0.3, 0.5, 1 + eps]; 0.3 and 0.5 sit on thresholds (ties: not above)
    # tpr [1, .5, .5, 0], fpr [1, .5, 0, 0] -> .5 * .75 + .5 * .5
    check(lambda: M.AUC(thresholds=[0.5, 0.3]), yt, yp, 0.625)
    # perfect ranking; a single class gives 0 (every rate's denominator is 0)
    check(M.AUC, [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0)
    check(lambda: M.AUC(curve="PR"), [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0)
    check(M.AUC, [0, 0, 0], [0.1, 0.5, 0.9], 0.0)
    check(lambda: M.AUC(curve="PR"), [1, 1, 1], [0.1, 0.5, 0.9], 1.0)
    # zero weights mask points: only (0, 0.1) and (1, 0.9) remain
    check(M.AUC, [0, 1, 0, 1], [0.1, 0.2, 0.95, 0.9], 1.0, [1, 0, 0, 1])
    # predictions outside [0, 1] are clipped (Keras's bucket formula): -0.5 ranks with 0, 1.5 with 1
    check(lambda: M.AUC(num_thresholds=3), [0, 1], [-0.5, 1.5], 1.0)


def test_auc_logits_multi_label_and_label_weights():
    yt = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    yp = np.array([[0.9, 0.2], [0.3, 0.6], [0.8, 0.4], [0.1, 0.7]])
    logits = np.log(yp / (1 - yp))
    plain = both(M.AUC, yt, yp)
    assert both(lambda: M.AUC(from_logits=True), yt, logits) == pytest.approx(plain)
    # per label: label 0 is perfectly ranked (1.0); label 1: positives 0.6, 0.4 vs negatives 0.2, 0.7 -> 0.5
    check(lambda: M.AUC(multi_label=True, num_thresholds=1001), yt, yp, 0.75, rel=1e-3)
    check(lambda: M.AUC(multi_label=True, num_thresholds=1001, label_weights=[3, 1]), yt, yp,
          (3 * 1.0 + 0.5) / 4, rel=1e-3)
    m = M.AUC(multi_label=True, num_labels=2)
    assert m.true_positives.shape == (200, 2)
    with pytest.raises(ValueError, match="rank 2"):
        M.AUC(multi_label=True)(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="num_labels"):
        M.AUC(num_labels=3)
    with pytest.raises(ValueError, match="curve"):
        M.AUC(curve="PRGAIN")
    with pytest.raises(ValueError, match="num_thresholds"):
        M.AUC(num_thresholds=1)


def test_confusion_float32_rounding_matches_keras():
    # Keras compares in float32: float32(0.3) is not above the threshold 0.3
    yp = np.array([0.3, 0.7], dtype=np.float32)
    assert bound(M.TruePositives(thresholds=0.3), [1, 1], yp, dtype=np.float32) == 1.0
    assert M.TruePositives(thresholds=0.3)([1, 1], yp) == 1.0
    # with dtype='float64' the comparison is in float64: 0.30000001192... > 0.3
    assert M.TruePositives(thresholds=0.3, dtype="float64")([1, 1], yp) == 2.0


def test_top_k_accuracy_by_hand():
    onehot = [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    labels = [2, 1, 0]
    yp = [[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.1, 0.2, 0.7]]
    # row 1 ties with the top score: ties count in the true class's favour (Keras's in_top_k)
    for k, expected in [(1, 1 / 3), (2, 1 / 3), (3, 1.0)]:
        check(lambda: M.TopKCategoricalAccuracy(k=k), onehot, yp, expected)
        check(lambda: M.SparseTopKCategoricalAccuracy(k=k), labels, yp, expected)
    check(lambda: M.TopKCategoricalAccuracy(k=1), onehot, yp, 0.0, [1, 0, 2])
    check(lambda: M.SparseTopKCategoricalAccuracy(k=1), [[2], [1], [0]], yp, 1 / 3)   # (N, 1) labels
    check(lambda: M.SparseTopKCategoricalAccuracy(k=2), [2, 1, 5], yp, 1 / 3)        # out-of-range label: a miss
    check(lambda: M.SparseTopKCategoricalAccuracy(k=1), [0, 2, 2], yp, 3 / 4, [2, 1, 1])
    check(M.SparseTopKCategoricalAccuracy, labels, yp, 1.0)                          # k=5 > 3 classes
    assert M.TopKCategoricalAccuracy().k == 5


def test_f_scores_by_hand():
    yt = [[1, 0], [0, 1], [1, 0]]
    yp = [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]
    # argmax predictions [[1, 0], [1, 0], [0, 1]]: class 0 tp 1 fp 1 fn 1, class 1 tp 0 fp 1 fn 1
    tol = dict(rel=1e-5, abs=1e-6)
    check(M.F1Score, yt, yp, [0.5, 0.0], **tol)
    check(lambda: M.F1Score(average="macro"), yt, yp, 0.25, **tol)
    check(lambda: M.F1Score(average="weighted"), yt, yp, (0.5 * 2 + 0.0 * 1) / 3, **tol)
    check(lambda: M.F1Score(average="micro"), yt, yp, 1 / 3, **tol)   # tp 1, fp 2, fn 2
    check(lambda: M.F1Score(threshold=0.5), yt, yp, [0.5, 0.0], **tol)
    # beta = 2: (1 + 4) p r / (4 p + r) with p = r = 1/2 -> 1/2
    check(lambda: M.FBetaScore(beta=2.0), yt, yp, [0.5, 0.0], **tol)
    # tied maxima all count as 1; an all-zero row predicts nothing; an empty class scores 0
    # class 0: tp 1; class 1: fp 1 (row 0's tie), fn 1 (row 1 predicts nothing); class 2: empty
    check(M.F1Score, [[1, 0, 0], [0, 1, 0]], [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]], [1.0, 0.0, 0.0], **tol)
    # weights: the second sample (a false positive for class 0) is masked
    check(M.F1Score, yt, yp, [2 / 3, 0.0], [1, 0, 1], **tol)
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
    check(M.RootMeanSquaredError, yt, yp, np.sqrt(2.5))
    check(M.RootMeanSquaredError, yt, yp, np.sqrt((0.5 * 1 + 4.5 * 3) / 4), [1, 3])
    # percentages per sample: mean(100, 0) = 50, mean(100, 0) = 50; y_true 0 divides by epsilon
    check(M.MeanAbsolutePercentageError, yt, yp, 50.0)
    check(M.MeanAbsolutePercentageError, [[0.0]], [[1e-7]], 100.0)
    # cosine: sample 0 (1,2).(2,2) / (sqrt5 sqrt8), sample 1 (3,-4).(0,-4) / (5 * 4)
    c0, c1 = 6 / np.sqrt(40), 16 / 20
    check(M.CosineSimilarity, yt, yp, (c0 + c1) / 2)
    check(M.CosineSimilarity, yt, yp, c1, [0, 2])
    check(M.CosineSimilarity, [[0.0, 0.0]], [[1.0, 2.0]], 0.0)     # a zero vector gives 0, not NaN
    # axis=1 of (N, 2, 2): per sample the mean over the last axis of cosines along axis 1
    a = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    b = np.array([[[1.0, 1.0], [0.0, 1.0]]])
    check(lambda: M.CosineSimilarity(axis=1), a, b, (1.0 + 1 / np.sqrt(2)) / 2)


def test_iou_by_hand():
    # cm [[1, 1, 0], [0, 1, 0], [0, 0, 0]]: IoU 1/2, 1/2; class 2 is absent and left out
    check(lambda: M.MeanIoU(3), [0, 0, 1], [0, 1, 1], 0.5, rel=1e-6)
    check(lambda: M.IoU(3, [2]), [0, 0, 1], [0, 1, 1], 0.0)
    # out-of-range classes and the ignored class are skipped
    check(lambda: M.MeanIoU(3), [0, 5, 1, -1], [0, 1, 7, 1], 1.0, rel=1e-6)
    check(lambda: M.MeanIoU(3, ignore_class=1), [0, 1, 1, 2], [0, 0, 2, 2], 1.0, rel=1e-6)
    # dense predictions: argmax (first index on ties)
    check(lambda: M.MeanIoU(2, sparse_y_pred=False), [0, 1], [[0.5, 0.5], [0.2, 0.8]], 1.0, rel=1e-6)
    # per-sample weights over the elements of (N, 2) label maps: sample 1 masked
    check(lambda: M.MeanIoU(2), [[0, 1], [1, 1]], [[0, 1], [0, 0]], 1.0, [1, 0], rel=1e-6)
    check(lambda: M.MeanIoU(2), [[0, 1], [1, 1]], [[0, 1], [0, 0]], (1 / 3 + 1 / 3) / 2, rel=1e-6)
    assert M.MeanIoU(2).result() == 0.0
    with pytest.raises(ValueError, match="out of range"):
        M.IoU(2, [2])


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
            got = bound(factory(), yt_, yp_, weights, dtype=dtype)
            assert np.asarray(got) == pytest.approx(np.asarray(ref.result()), rel=1e-6, abs=1e-9)
        assert np.asarray(bound(factory(), yt, yp, weights)) == pytest.approx(np.asarray(eager.result()),
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
