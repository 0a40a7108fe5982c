"""Streaming-metric kernels: add one batch into a metric's float64 state, in place.

Mean kernels view outputs as (N, R, C) like the loss kernels. Each computes a
per-sample value v[n] (the metric's elementwise value averaged over R and C,
as Keras's Mean reduces non-batch axes) and adds, in place,
``acc[0] += sum_n w[n] * v[n]`` and ``acc[1] += sum_n w[n]``, where ``acc`` is
the metric's float64 state (total, count). Writing into the state array
instead of returning a tuple keeps a bound update allocation-free.

Count kernels add confusion counts per threshold (``confusion_update``),
per-class F-score counts (``fbeta_update``) or a class confusion matrix
(``iou_update``); their scratch arrays are preallocated by the caller.

Argmax ties resolve to the first index (as NumPy and TensorFlow argmax).
"""
import numpy as np
from numba import njit

from framework.kernels import kernel

# Elementwise metric codes for ``elementwise_mean``.
SQUARED_ERROR, ABSOLUTE_ERROR, EQUAL, BINARY_EQUAL, ABSOLUTE_PERCENTAGE_ERROR = 0, 1, 2, 3, 4


@kernel
def elementwise_mean(t, y, w, kind, threshold, acc):
    """Per-sample mean over (R, C) of: squared error, absolute error, y == t,
    (y > threshold) == t, or ``100 |t - y| / max(|t|, threshold)`` (``kind``: SQUARED_ERROR,
    ABSOLUTE_ERROR, EQUAL, BINARY_EQUAL, ABSOLUTE_PERCENTAGE_ERROR; for the last,
    ``threshold`` is Keras's epsilon)."""
    n_, r_, c_ = y.shape
    inv = 1.0 / (r_ * c_)
    total = 0.0
    count = 0.0
    for n in range(n_):
        s = 0.0
        for r in range(r_):
            for c in range(c_):
                yv = np.float64(y[n, r, c])
                tv = np.float64(t[n, r, c])
                if kind == SQUARED_ERROR:
                    s += (yv - tv) * (yv - tv)
                elif kind == ABSOLUTE_ERROR:
                    s += abs(yv - tv)
                elif kind == EQUAL:
                    s += 1.0 if yv == tv else 0.0
                elif kind == ABSOLUTE_PERCENTAGE_ERROR:
                    s += 100.0 * abs((tv - yv) / max(abs(tv), threshold))
                else:
                    s += 1.0 if (1.0 if yv > threshold else 0.0) == tv else 0.0
        total += w[n] * s * inv
        count += w[n]
    acc[0] += total
    acc[1] += count


@kernel(inline="always")
def _argmax(a, n, r):
    best = 0
    for c in range(1, a.shape[2]):
        if a[n, r, c] > a[n, r, best]:
            best = c
    return best


@kernel
def categorical_accuracy(t, y, w, acc):
    """Per-sample fraction of positions r with argmax(y) == argmax(t)."""
    n_, r_, _ = y.shape
    total = 0.0
    count = 0.0
    for n in range(n_):
        hits = 0
        for r in range(r_):
            if _argmax(y, n, r) == _argmax(t, n, r):
                hits += 1
        total += w[n] * hits / r_
        count += w[n]
    acc[0] += total
    acc[1] += count


@kernel
def sparse_categorical_accuracy(labels, y, w, acc):
    """Per-sample fraction of positions r with argmax(y) == label (labels (N, R) as floats)."""
    n_, r_, _ = y.shape
    total = 0.0
    count = 0.0
    for n in range(n_):
        hits = 0
        for r in range(r_):
            if _argmax(y, n, r) == labels[n, r]:
                hits += 1
        total += w[n] * hits / r_
        count += w[n]
    acc[0] += total
    acc[1] += count


# ----------------------------------------------------------------------------- ranking and cosine

@kernel
def top_k_categorical_accuracy(t, y, w, k, acc):
    """Per-sample fraction of positions r whose true class argmax(t) is in the top k of y.

    As Keras's ``in_top_k``: the class is in the top k when fewer than k scores
    are strictly greater than its score (ties count in its favour); a NaN score
    at the true class counts as -inf."""
    n_, r_, c_ = y.shape
    total = 0.0
    count = 0.0
    for n in range(n_):
        hits = 0
        for r in range(r_):
            if _in_top_k(y, n, r, _argmax(t, n, r), k):
                hits += 1
        total += w[n] * hits / r_
        count += w[n]
    acc[0] += total
    acc[1] += count


@kernel(inline="always")
def _in_top_k(y, n, r, label, k):
    c_ = y.shape[2]
    if label < 0 or label >= c_:
        return False
    v = y[n, r, label]
    if v != v:
        v = -np.inf
    greater = 0
    for c in range(c_):
        if y[n, r, c] > v:
            greater += 1
    return greater < k


@kernel
def sparse_top_k_categorical_accuracy(labels, y, w, k, from_sorted_ids, acc):
    """Per-sample fraction of positions r whose integer label (labels (N, R) as floats,
    truncated like Keras's int cast) is in the top k of y; with ``from_sorted_ids``
    y holds class ids sorted by score and a hit is the label among the first k."""
    n_, r_, c_ = y.shape
    total = 0.0
    count = 0.0
    for n in range(n_):
        hits = 0
        for r in range(r_):
            lv = labels[n, r]
            if from_sorted_ids:
                for c in range(min(k, c_)):
                    if y[n, r, c] == lv:
                        hits += 1
                        break
            elif lv > -1.0 and lv < c_:
                if _in_top_k(y, n, r, int(lv), k):
                    hits += 1
        total += w[n] * hits / r_
        count += w[n]
    acc[0] += total
    acc[1] += count


@kernel
def cosine_similarity(t, y, w, acc):
    """Per-sample mean over (A, B) of the cosine similarity along K of (N, A, K, B) views:
    ``sum_k t*y * min(rsqrt(sum t^2), 1/eps) * min(rsqrt(sum y^2), 1/eps)`` (Keras's
    ``normalize``: a zero vector gives 0)."""
    n_, a_, k_, b_ = y.shape
    inv = 1.0 / (a_ * b_)
    cap = 1e7  # 1 / epsilon
    total = 0.0
    count = 0.0
    for n in range(n_):
        s = 0.0
        for a in range(a_):
            for b in range(b_):
                dot = 0.0
                tt = 0.0
                yy = 0.0
                for k in range(k_):
                    tv = np.float64(t[n, a, k, b])
                    yv = np.float64(y[n, a, k, b])
                    dot += tv * yv
                    tt += tv * tv
                    yy += yv * yv
                s += dot * min(1.0 / np.sqrt(tt), cap) * min(1.0 / np.sqrt(yy), cap)
        total += w[n] * s * inv
        count += w[n]
    acc[0] += total
    acc[1] += count


# ----------------------------------------------------------------------------- confusion counts

NEG_INF = -1e10  # Keras's metrics_utils.NEG_INF: the value top_k filtering gives non-top entries


@kernel
def confusion_update(t, y, w, lw, top_k, class_id, from_logits, f32, thresholds, order, even, with_eps,
                     multi, sel, scratch, state):
    """Add one batch's weighted confusion counts at every threshold into ``state``.

    Args:
        t, y: (A, R, C) labels (nonzero = positive) and predictions.
        w: (A, R, C) weights (a broadcast view of per-sample weights is fine).
        lw: (C,) label weights multiplying ``w`` along the last axis.
        top_k: > 0: per (a, r) row only the k largest predictions keep their value
            (ties: lower index first), the others become NEG_INF.
        class_id: >= 0: only column ``class_id`` counts.
        from_logits: apply a sigmoid to predictions first.
        f32: round predictions (and the bucket position) to float32 first, as Keras
            computes in its float32 variables.
        thresholds: (T,) ascending thresholds (float32-rounded when ``f32``);
            ``order[j]`` is the state row of ``thresholds[j]``.
        even: thresholds are i / (T - 1) (up to an epsilon at the ends): use Keras's
            bucket formula ``ceil(clip(p, 0, 1) * (T - 1)) - 1`` (``with_eps``: raised to 0)
            instead of comparisons.
        multi: counts per label (state's last axis = C), else one column.
        sel: (C,) boolean scratch; scratch: (2, T + 1, L) float64 scratch.
        state: (4, T, L) float64: true positives, false positives, true negatives,
            false negatives; a prediction is positive at a threshold when strictly above it.
    """
    a_, r_, c_ = y.shape
    nt = thresholds.shape[0]
    nl = scratch.shape[2]
    scratch[:, :, :] = 0.0
    c0, c1 = 0, c_
    if class_id >= 0:
        c0, c1 = class_id, class_id + 1
    for a in range(a_):
        for r in range(r_):
            if top_k > 0:
                for c in range(c_):
                    sel[c] = False
                for _ in range(min(top_k, c_)):
                    best = -1
                    for c in range(c_):
                        if not sel[c] and (best < 0 or y[a, r, c] > y[a, r, best]):
                            best = c
                    sel[best] = True
            for c in range(c0, c1):
                wt = np.float64(w[a, r, c]) * lw[c]
                p = np.float64(y[a, r, c])
                if top_k > 0 and not sel[c]:
                    p = NEG_INF
                if from_logits:
                    p = 1.0 / (1.0 + np.exp(-p))
                if f32:
                    p = np.float64(np.float32(p))
                b = 0  # number of thresholds strictly below p
                if even:
                    if p == p:
                        p = min(max(p, 0.0), 1.0)
                        s = p * (nt - 1)
                        if f32:
                            s = np.float64(np.float32(s))
                        q = int(np.ceil(s)) - 1
                        if with_eps and q < 0:
                            q = 0
                        if q >= 0:
                            b = q + 1
                else:
                    lo, hi = 0, nt
                    while lo < hi:
                        mid = (lo + hi) // 2
                        if thresholds[mid] < p:
                            lo = mid + 1
                        else:
                            hi = mid
                    b = lo
                col = c if multi else 0
                if t[a, r, c] != 0:
                    scratch[0, b, col] += wt
                else:
                    scratch[1, b, col] += wt
    for col in range(nl):
        pos = 0.0
        neg = 0.0
        for b in range(nt + 1):
            pos += scratch[0, b, col]
            neg += scratch[1, b, col]
        run_pos = 0.0
        run_neg = 0.0
        for j in range(nt - 1, -1, -1):
            run_pos += scratch[0, j + 1, col]
            run_neg += scratch[1, j + 1, col]
            o = order[j]
            state[0, o, col] += run_pos
            state[1, o, col] += run_neg
            state[2, o, col] += neg - run_neg
            state[3, o, col] += pos - run_pos


@kernel
def fbeta_update(t, y, w, threshold, use_max, micro, f32, state):
    """Add one batch of (N, C) labels/predictions into ``state`` (4, K): weighted true
    positives, false positives, false negatives and label sums, per class (K = C) or
    summed over classes (``micro``, K = 1).

    A prediction is 1 where ``y > threshold``, or (``use_max``) where it equals its row's
    maximum and ``|y| > 1e-9``; labels are used as values (``y_true * pred``), as Keras."""
    n_, c_ = y.shape
    for n in range(n_):
        wn = np.float64(w[n])
        mx = np.float64(y[n, 0])
        if use_max:
            for c in range(1, c_):
                if y[n, c] > mx:
                    mx = np.float64(y[n, c])
            if f32:
                mx = np.float64(np.float32(mx))
        for c in range(c_):
            yv = np.float64(y[n, c])
            if f32:
                yv = np.float64(np.float32(yv))
            if use_max:
                pred = 1.0 if (yv >= mx and abs(yv) > 1e-9) else 0.0
            else:
                pred = 1.0 if yv > threshold else 0.0
            tv = np.float64(t[n, c])
            k = 0 if micro else c
            state[0, k] += wn * pred * tv
            state[1, k] += wn * pred * (1.0 - tv)
            state[2, k] += wn * (1.0 - pred) * tv
            state[3, k] += wn * tv


# ----------------------------------------------------------------------------- IoU

SPARSE_IDS, ARGMAX, AT_LEAST_THRESHOLD = 0, 1, 2


@kernel(inline="always")
def _argmax_row(a, n, e):
    best = 0
    for c in range(1, a.shape[2]):
        if a[n, e, c] > a[n, e, best]:
            best = c
    return best


@kernel
def iou_update(t, y, w, t_mode, y_mode, threshold, num_classes, has_ignore, ignore_class, cm):
    """Add one batch into the (num_classes, num_classes) confusion matrix ``cm`` (rows: true
    class, columns: predicted class), each element weighted by ``w[n, e]``.

    t, y: (N, E, Ct), (N, E, Cy). A class is read per element e by ``mode``: SPARSE_IDS
    (the value, truncated to an integer as Keras's int cast; Ct/Cy = 1), ARGMAX over the
    last axis (first index on ties), or AT_LEAST_THRESHOLD (``y >= threshold`` gives 1).
    Elements whose classes fall outside [0, num_classes), or whose true class is
    ``ignore_class`` (when ``has_ignore``), are skipped."""
    n_, e_, _ = y.shape
    for n in range(n_):
        for e in range(e_):
            if t_mode == ARGMAX:
                tv = np.float64(_argmax_row(t, n, e))
            else:
                tv = np.float64(t[n, e, 0])
            if y_mode == ARGMAX:
                yv = np.float64(_argmax_row(y, n, e))
            elif y_mode == AT_LEAST_THRESHOLD:
                yv = 1.0 if np.float64(np.float32(y[n, e, 0])) >= threshold else 0.0
            else:
                yv = np.float64(y[n, e, 0])
            if not (tv > -1.0 and tv < num_classes and yv > -1.0 and yv < num_classes):
                continue
            ti = int(tv)
            if has_ignore and ti == ignore_class:
                continue
            cm[ti, int(yv)] += w[n, e]
