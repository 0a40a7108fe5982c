"""The confusion-matrix metrics (framework/metrics/confusion_metrics.py): Precision, Recall, AUC,
the counts (TruePositives ...) and the *At* metrics (SensitivityAtSpecificity ...).

Each is checked, eager and bound, against Keras's docstring examples and values computed by hand
(ties, threshold lists, top_k, class_id, zero sample weights, zero denominators, AUC's curves and
summation methods, multi-label AUC, float32 rounding). Streaming, bound == eager, allocation,
config and use in compile for these and the other metric classes: tests/test_metrics_streaming_and_config.py."""

import numpy as np
import pytest

from framework import metrics as M
from helpers import bound_result, check_metric, eager_and_bound


# ----------------------------------------------------------------------------- Keras docstring examples

def test_keras_docstring_examples_confusion():
    check_metric(M.Precision, [0, 1, 1, 1], [1, 0, 1, 1], 2 / 3)
    check_metric(M.Precision, [0, 1, 1, 1], [1, 0, 1, 1], 1.0, [0, 0, 1, 0])
    check_metric(lambda: M.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1], 0.0)
    check_metric(lambda: M.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1], 0.5)
    check_metric(M.Recall, [0, 1, 1, 1], [1, 0, 1, 1], 2 / 3)
    check_metric(M.Recall, [0, 1, 1, 1], [1, 0, 1, 1], 1.0, [0, 0, 1, 0])
    check_metric(lambda: M.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 0.75)
    check_metric(lambda: M.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 1.0, [1, 0, 0, 1])
    check_metric(M.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1], 2.0)
    check_metric(M.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1], 1.0, [0, 0, 1, 0])
    check_metric(M.FalseNegatives, [0, 1, 1, 1], [0, 1, 0, 0], 2.0)
    check_metric(M.TrueNegatives, [0, 1, 0, 0], [1, 1, 0, 0], 2.0)
    check_metric(M.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1], 2.0)
    check_metric(M.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1], 1.0, [0, 0, 1, 0])
    yt, yp = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    check_metric(lambda: M.SensitivityAtSpecificity(0.5), yt, yp, 0.5)
    check_metric(lambda: M.SensitivityAtSpecificity(0.5), yt, yp, 1 / 3, [1, 1, 2, 2, 1])
    check_metric(lambda: M.SpecificityAtSensitivity(0.5), yt, yp, 2 / 3)
    check_metric(lambda: M.SpecificityAtSensitivity(0.5), yt, yp, 0.5, [1, 1, 2, 2, 2])
    check_metric(lambda: M.PrecisionAtRecall(0.5), yt, yp, 0.5)
    check_metric(lambda: M.PrecisionAtRecall(0.5), yt, yp, 1 / 3, [2, 2, 2, 1, 1])
    check_metric(lambda: M.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 0.5)
    check_metric(lambda: M.RecallAtPrecision(0.8), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 1.0, [1, 0, 0, 1])


# ----------------------------------------------------------------------------- hand-computed cases

def test_precision_recall_by_hand():
    yt, yp = [1, 0, 1, 1], [0.5, 0.5, 0.7, 0.2]
    check_metric(M.Precision, yt, yp, 1.0)                      # 0.5 is not above 0.5: only 0.7 is positive
    check_metric(M.Recall, yt, yp, 1 / 3)
    # a list of thresholds gives one value per threshold; nothing above 0.8 -> 0, not NaN
    for thresholds in ([0.0, 0.5, 0.8], [0.0, 0.5, 1.0]):  # uneven (comparisons) and even (Keras's buckets)
        check_metric(lambda: M.Precision(thresholds=thresholds), yt, yp, [0.75, 1.0, 0.0])
        check_metric(lambda: M.Recall(thresholds=thresholds), yt, yp, [1.0, 1 / 3, 0.0])
    # unsorted thresholds keep their order
    check_metric(lambda: M.Recall(thresholds=[0.8, 0.0, 0.5]), yt, yp, [0.0, 1.0, 1 / 3])
    # sample weights, zeros included: 0.8 (a negative) has weight 0
    yt, yp, w = [1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], [1, 0, 2, 5]
    check_metric(M.Precision, yt, yp, 1.0, w)
    check_metric(M.Precision, yt, yp, 2 / 3)
    check_metric(M.Recall, yt, yp, 1.0, w)
    check_metric(M.Precision, yt, yp, 0.0, [0, 0, 0, 0])
    # labels count as positive when nonzero
    check_metric(M.Recall, [2.0, 0.0], [0.9, 0.9], 1.0)


def test_precision_recall_top_k_and_class_id():
    yt = [[0, 1, 1], [1, 0, 0]]
    yp = [[0.2, 0.7, 0.5], [0.6, 0.6, 0.1]]
    # top 1 of each row; the tie in row 1 goes to the lower index (a true label)
    check_metric(lambda: M.Precision(top_k=1), yt, yp, 1.0)
    check_metric(lambda: M.Recall(top_k=1), yt, yp, 2 / 3)
    check_metric(lambda: M.Precision(top_k=2), yt, yp, 0.75)
    # top_k with thresholds: a top entry must also exceed the threshold
    check_metric(lambda: M.Precision(top_k=2, thresholds=[0.55, 0.65]), yt, yp, [2 / 3, 1.0])
    # class_id: one column only
    check_metric(lambda: M.Precision(class_id=1), yt, yp, 0.5)    # 0.7 (label 1), 0.6 (label 0)
    check_metric(lambda: M.Recall(class_id=1), yt, yp, 1.0)
    check_metric(lambda: M.Precision(class_id=2), yt, yp, 0.0)    # 0.5 and 0.1 are not above 0.5
    check_metric(lambda: M.Recall(class_id=2), yt, yp, 0.0)
    check_metric(lambda: M.Precision(class_id=0, top_k=1), yt, yp, 1.0)   # row 1's tie picks class 0
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
    check_metric(lambda: M.AUC(num_thresholds=3, curve="PR"), yt, yp, (1 + 2 / 3 * np.log(4)) / 6 + 0.5)
    # minoring / majoring of the ROC curve: fpr [1, 0, 0], tpr [1, 0.5, 0]
    check_metric(lambda: M.AUC(num_thresholds=3, summation_method="minoring"), yt, yp, 0.5)
    check_metric(lambda: M.AUC(num_thresholds=3, summation_method="majoring"), yt, yp, 1.0)
    # PR curve without interpolation: recall [1, .5, 0], precision [.5, 1, 0] (0 where nothing is positive)
    check_metric(lambda: M.AUC(num_thresholds=3, curve="PR", summation_method="minoring"), yt, yp, 0.5 * 0.5 + 0.5 * 0)
    check_metric(lambda: M.AUC(num_thresholds=3, curve="PR", summation_method="majoring"), yt, yp, 0.5 * 1 + 0.5 * 1)
    # explicit (uneven) thresholds [-eps, 0.3, 0.5, 1 + eps]; 0.3 and 0.5 sit on thresholds (ties: not above)
    # tpr [1, .5, .5, 0], fpr [1, .5, 0, 0] -> .5 * .75 + .5 * .5
    check_metric(lambda: M.AUC(thresholds=[0.5, 0.3]), yt, yp, 0.625)
    # perfect ranking; a single class gives 0 (every rate's denominator is 0)
    check_metric(M.AUC, [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0)
    check_metric(lambda: M.AUC(curve="PR"), [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0)
    check_metric(M.AUC, [0, 0, 0], [0.1, 0.5, 0.9], 0.0)
    check_metric(lambda: M.AUC(curve="PR"), [1, 1, 1], [0.1, 0.5, 0.9], 1.0)
    # zero weights mask points: only (0, 0.1) and (1, 0.9) remain
    check_metric(M.AUC, [0, 1, 0, 1], [0.1, 0.2, 0.95, 0.9], 1.0, [1, 0, 0, 1])
    # predictions outside [0, 1] are clipped (Keras's bucket formula): -0.5 ranks with 0, 1.5 with 1
    check_metric(lambda: M.AUC(num_thresholds=3), [0, 1], [-0.5, 1.5], 1.0)


def test_auc_logits_multi_label_and_label_weights():
    yt = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    yp = np.array([[0.9, 0.2], [0.3, 0.6], [0.8, 0.4], [0.1, 0.7]])
    logits = np.log(yp / (1 - yp))
    plain = eager_and_bound(M.AUC, yt, yp)
    assert eager_and_bound(lambda: M.AUC(from_logits=True), yt, logits) == pytest.approx(plain)
    # per label: label 0 is perfectly ranked (1.0); label 1: positives 0.6, 0.4 vs negatives 0.2, 0.7 -> 0.5
    check_metric(lambda: M.AUC(multi_label=True, num_thresholds=1001), yt, yp, 0.75, rel=1e-3)
    check_metric(lambda: M.AUC(multi_label=True, num_thresholds=1001, label_weights=[3, 1]), yt, yp,
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
    assert bound_result(M.TruePositives(thresholds=0.3), [1, 1], yp, dtype=np.float32) == 1.0
    assert M.TruePositives(thresholds=0.3)([1, 1], yp) == 1.0
    # with dtype='float64' the comparison is in float64: 0.30000001192... > 0.3
    assert M.TruePositives(thresholds=0.3, dtype="float64")([1, 1], yp) == 2.0
