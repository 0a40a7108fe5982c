"""framework.ops linear algebra and neural-network ops (dot, tensordot, einsum, norm, conv,
depthwise_conv, max_pool, average_pool, batch_normalization, dot_product_attention, the three
cross-entropies): values on arrays against NumPy closed forms (direct convolution and pooling loops,
the cross-entropy formulas, softmax(q k^T / sqrt(d)) v), the same ops inside a model's plan, gradients
against finite differences (float64), weights read by ops, and the errors raised when a graph is built."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from framework.ops import OpError, nn as ops_nn
from gradcheck import _plans, check_gradients, float64_mode
from op_cases import assert_op_gradients, assert_op_matches
from helpers import assert_no_allocation
from test_ops import apart, normal, positive

rng = np.random.default_rng(5)
EPS = 1e-7


def probabilities(shape):
    return rng.uniform(0.05, 0.95, shape)


def labels(classes):
    return lambda shape: rng.integers(0, classes, shape).astype("float64")


C45, C3, V4 = rng.standard_normal((4, 5)), rng.standard_normal(3), rng.standard_normal(4)
C245, C423, C35, C54 = (rng.standard_normal(s) for s in [(2, 4, 5), (4, 2, 3), (3, 5), (5, 4)])
K2, K2_SAME, K1 = rng.standard_normal((3, 3, 2, 3)), rng.standard_normal((2, 3, 2, 4)), rng.standard_normal((3, 2, 4))
DW2, DW1 = rng.standard_normal((3, 3, 2, 2)), rng.standard_normal((2, 2, 3))
K442, C363 = rng.standard_normal((3, 3, 4, 2)), rng.standard_normal((36, 3))
MEAN4, VAR4, OFFSET4, SCALE4 = rng.standard_normal(4), rng.uniform(0.5, 2, 4), rng.standard_normal(4), \
    rng.standard_normal(4)
MASK = rng.uniform(size=(2, 3, 5)) > 0.3
MASK[..., 0] = True  # every query attends somewhere
BIAS = rng.standard_normal((2, 3, 5))


class WithWeights(layers.Layer):
    """A layer whose call() is ``fn(x, *weights)``, the weights made from the given arrays."""

    def __init__(self, fn, *values, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn
        self.ws = [self.add_weight(shape=v.shape, initializer=lambda shape, dtype=None, v=v: v) for v in values]

    def call(self, x):
        return self.fn(x, *self.ws)


def weights(fn, *values):
    return lambda x: WithWeights(fn, *values)(x)


# ----- NumPy closed forms ------------------------------------------------------------------------------
def _pads(n, k, s, padding):
    out = (n - k) // s + 1 if padding == "valid" else -(-n // s)
    total = 0 if padding == "valid" else max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def np_conv(x, k, strides=1, padding="valid", dilation=1, depthwise=False):
    """A direct convolution loop (channels_last), 'same' padding as TF/Keras (the smaller half first)."""
    if x.ndim == 3:
        return np_conv(x[:, None], k[None], (1, strides), padding, (1, dilation), depthwise)[:, 0]
    s, d = ((v, v) if isinstance(v, int) else v for v in (strides, dilation))
    extent = [(k.shape[i] - 1) * d[i] + 1 for i in (0, 1)]
    (oh, th, bh), (ow, tw, bw) = (_pads(x.shape[i + 1], extent[i], s[i], padding) for i in (0, 1))
    xp = np.pad(x, ((0, 0), (th, bh), (tw, bw), (0, 0)))
    y = np.zeros((len(x), oh, ow, k.shape[2] * k.shape[3] if depthwise else k.shape[3]))
    for i in range(oh):
        for j in range(ow):
            for a in range(k.shape[0]):
                for b in range(k.shape[1]):
                    pixel = xp[:, i * s[0] + a * d[0], j * s[1] + b * d[1]]
                    if depthwise:
                        y[:, i, j] += (pixel[:, :, None] * k[a, b]).reshape(len(x), -1)
                    else:
                        y[:, i, j] += pixel @ k[a, b]
    return y


def np_pool(x, pool, strides=None, padding="valid", mode="max"):
    """Pooling windows clipped to the input: max ignores padding, mean divides by the real elements."""
    if x.ndim == 3:
        return np_pool(x[:, None], (1, pool), (1, strides or pool), padding, mode)[:, 0]
    pool = (pool, pool) if isinstance(pool, int) else pool
    strides = pool if strides is None else (strides, strides) if isinstance(strides, int) else strides
    (oh, th, _), (ow, tw, _) = (_pads(x.shape[i + 1], pool[i], strides[i], padding) for i in (0, 1))
    y = np.zeros((len(x), oh, ow, x.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            r, c = i * strides[0] - th, j * strides[1] - tw
            window = x[:, max(r, 0):r + pool[0], max(c, 0):c + pool[1]]
            y[:, i, j] = window.max(axis=(1, 2)) if mode == "max" else window.mean(axis=(1, 2))
    return y


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_attention(q, k, v, bias=None, mask=None, scale=None, causal=False):
    """softmax(q k^T * scale + bias, masked) v, head by head."""
    qh, kh, vh = (a.transpose(0, 2, 1, 3) for a in (q, k, v))
    logits = qh @ kh.transpose(0, 1, 3, 2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    logits = logits + (0 if bias is None else bias)
    keep = np.ones(logits.shape, bool) & (True if mask is None else mask)
    if causal:
        keep &= np.tril(np.ones(logits.shape[-2:], bool))
    return (np_softmax(np.where(keep, logits, -1e30)) @ vh).transpose(0, 2, 1, 3)


def np_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def np_cce(t, p, axis=-1):
    p = np.clip(p / p.sum(axis, keepdims=True), EPS, 1 - EPS)
    return -np.sum(t * np.log(p), axis=axis)


def np_log_softmax(z, axis=-1):
    z = z - z.max(axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis, keepdims=True))


def np_sparse(t, z, from_logits=False, axis=-1):
    log_p = np_log_softmax(z, axis) if from_logits else np.log(np.clip(z / z.sum(axis, keepdims=True), EPS, 1 - EPS))
    picked = np.take_along_axis(log_p, np.expand_dims(t.astype(int), axis), axis)
    return -np.squeeze(picked, axis)


def np_norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """The norms written out (np.linalg.norm is what ops.norm calls on arrays)."""
    a = np.abs(x)
    if isinstance(axis, tuple):
        r, c = axis
        if ord in (None, "fro"):
            return np.sqrt((x * x).sum(axis, keepdims=keepdims))
        summed = a.sum(r if ord in (1, -1) else c, keepdims=True)
        return (summed.max if ord > 0 else summed.min)(axis, keepdims=keepdims)
    if ord in (None, 2):
        return np.sqrt((x * x).sum(axis, keepdims=keepdims))
    if ord == np.inf:
        return a.max(axis, keepdims=keepdims)
    return (a ** ord).sum(axis, keepdims=keepdims) ** (1 / ord)


#: name -> (function of the inputs, sample shapes, input makers, NumPy reference[, input dtypes])
CASES = {
    # dot, tensordot
    "dot by constant matrix": (lambda x: ops.dot(x, C45), [(3, 4)], [normal], lambda x: np.dot(x, C45)),
    "dot 2-D by constant": (lambda x: ops.dot(x, C45), [(4,)], [normal], lambda x: np.dot(x, C45)),
    "dot by constant vector": (lambda x: ops.dot(x, V4), [(3, 4)], [normal], lambda x: np.dot(x, V4)),
    "dot by constant 3-D": (lambda x: ops.dot(x, C245), [(3, 4)], [normal], lambda x: np.dot(x, C245)),
    "dot by weight": (weights(ops.dot, C45), [(3, 4)], [normal], lambda x: np.dot(x, C45)),
    "dot by scalar": (lambda x: ops.dot(x, 2.5), [(3, 4)], [normal], lambda x: x * 2.5),
    "tensordot axes=1": (lambda x: ops.tensordot(x, C45, axes=1), [(3, 4)], [normal],
                         lambda x: np.tensordot(x, C45, axes=1)),
    "tensordot axes=2": (lambda x: ops.tensordot(x, C423, axes=2), [(3, 4, 2)], [normal],
                         lambda x: np.tensordot(x, C423, axes=2)),
    "tensordot pairs, permuted constant": (lambda x: ops.tensordot(x, C423, axes=([1, 2], [2, 0])), [(3, 4)],
                                           [normal], lambda x: np.tensordot(x, C423, axes=([1, 2], [2, 0]))),
    "tensordot inner tensor axis": (lambda x: ops.tensordot(x, C35, axes=([1], [0])), [(3, 4)], [normal],
                                    lambda x: np.tensordot(x, C35, axes=([1], [0]))),
    "tensordot negative axes": (lambda x: ops.tensordot(x, C45, axes=([-1], [-2])), [(2, 4)], [normal],
                                lambda x: np.tensordot(x, C45, axes=([-1], [-2]))),
    "tensordot permuted weight": (weights(lambda x, w: ops.tensordot(x, w, axes=([2], [1])), C54), [(3, 4)],
                                  [normal], lambda x: np.tensordot(x, C54, axes=([2], [1]))),
    "tensordot constant first": (lambda x: ops.tensordot(C3, x, axes=([0], [1])), [(3, 4)], [normal],
                                 lambda x: np.tensordot(C3, x, axes=([0], [1]))),
    # einsum
    "einsum bij,bkj->bik": (lambda a, b: ops.einsum("bij,bkj->bik", a, b), [(3, 4), (5, 4)], [normal, normal],
                            lambda a, b: a @ b.transpose(0, 2, 1)),
    "einsum bhqd,bhkd->bhqk": (lambda q, k: ops.einsum("bhqd,bhkd->bhqk", q, k), [(2, 3, 4), (2, 5, 4)],
                               [normal, normal], lambda q, k: q @ k.transpose(0, 1, 3, 2)),
    "einsum abc,cd->abd": (lambda x: ops.einsum("abc,cd->abd", x, C45), [(3, 4)], [normal], lambda x: x @ C45),
    "einsum ...ij,jk->...ik": (lambda x: ops.einsum("...ij,jk->...ik", x, C45), [(2, 3, 4)], [normal],
                               lambda x: x @ C45),
    "einsum bi,bi->b": (lambda a, b: ops.einsum("bi,bi->b", a, b), [(4,), (4,)], [normal, normal],
                        lambda a, b: (a * b).sum(-1)),
    "einsum implicit output": (lambda x: ops.einsum("bij,jk", x, C45), [(3, 4)], [normal], lambda x: x @ C45),
    "einsum transpose": (lambda x: ops.einsum("bij->bji", x), [(3, 4)], [normal], lambda x: x.transpose(0, 2, 1)),
    "einsum sum": (lambda x: ops.einsum("bij->bi", x), [(3, 4)], [normal], lambda x: x.sum(-1)),
    "einsum weight": (weights(lambda x, w: ops.einsum("bij,kj->bki", x, w), C54), [(3, 4)], [normal],
                      lambda x: np.einsum("bij,kj->bki", x, C54)),
    "einsum three operands": (lambda a, b: ops.einsum("bi,bj,ij->b", a, b, C35), [(3,), (5,)], [normal, normal],
                              lambda a, b: np.einsum("bi,bj,ij->b", a, b, C35)),
    # norm
    "norm last axis": (lambda x: ops.norm(x, axis=-1), [(3, 4)], [normal], lambda x: np_norm(x, axis=-1)),
    "norm ord 2 keepdims": (lambda x: ops.norm(x, 2, axis=1, keepdims=True), [(3, 4)], [normal],
                            lambda x: np_norm(x, 2, axis=1, keepdims=True)),
    "norm ord 1": (lambda x: ops.norm(x, 1, axis=1), [(3, 4)], [apart], lambda x: np.abs(x).sum(1)),
    "norm ord inf": (lambda x: ops.norm(x, np.inf, axis=-1), [(3, 4)], [apart], lambda x: np_norm(x, np.inf, -1)),
    "norm ord -inf": (lambda x: ops.norm(x, -np.inf, axis=2), [(3, 4)], [apart], lambda x: np.abs(x).min(2)),
    "norm ord 3": (lambda x: ops.norm(x, 3, axis=-1), [(3, 4)], [apart], lambda x: np_norm(x, 3, -1)),
    "norm fro": (lambda x: ops.norm(x, "fro", axis=(1, 2)), [(3, 4)], [normal], lambda x: np_norm(x, "fro", (1, 2))),
    "norm matrix ord 1": (lambda x: ops.norm(x, 1, axis=(1, 2)), [(3, 4)], [apart], lambda x: np_norm(x, 1, (1, 2))),
    "norm matrix ord inf, axes reversed, keepdims": (lambda x: ops.norm(x, np.inf, axis=(2, 1), keepdims=True),
                                                     [(3, 4)], [apart],
                                                     lambda x: np_norm(x, np.inf, (2, 1), keepdims=True)),
    "norm matrix ord -1": (lambda x: ops.norm(x, -1, axis=(1, 2)), [(3, 4)], [apart],
                           lambda x: np_norm(x, -1, (1, 2))),
    # convolutions
    "conv 2-D valid": (lambda x: ops.conv(x, K2), [(5, 5, 2)], [normal], lambda x: np_conv(x, K2)),
    "conv 2-D same, strides 2, weight": (weights(lambda x, k: ops.conv(x, k, strides=2, padding="same"), K2_SAME),
                                         [(5, 6, 2)], [normal], lambda x: np_conv(x, K2_SAME, 2, "same")),
    "conv 2-D dilation 2, same": (lambda x: ops.conv(x, K2, padding="same", dilation_rate=2), [(6, 5, 2)], [normal],
                                  lambda x: np_conv(x, K2, 1, "same", 2)),
    "conv 1-D same, weight": (weights(lambda x, k: ops.conv(x, k, padding="same"), K1), [(7, 2)], [normal],
                              lambda x: np_conv(x, K1, 1, "same")),
    "conv 1-D strides 2": (lambda x: ops.conv(x, K1, strides=2), [(8, 2)], [normal], lambda x: np_conv(x, K1, 2)),
    "depthwise_conv 2-D, weight": (weights(ops.depthwise_conv, DW2), [(5, 4, 2)], [normal],
                                   lambda x: np_conv(x, DW2, depthwise=True)),
    "depthwise_conv 2-D same, strides 2": (lambda x: ops.depthwise_conv(x, DW2, 2, "same"), [(5, 5, 2)], [normal],
                                           lambda x: np_conv(x, DW2, 2, "same", depthwise=True)),
    "depthwise_conv 1-D": (lambda x: ops.depthwise_conv(x, DW1, padding="same"), [(6, 2)], [normal],
                           lambda x: np_conv(x, DW1, 1, "same", depthwise=True)),
    # pooling
    "max_pool 2-D": (lambda x: ops.max_pool(x, 2), [(4, 5, 3)], [apart], lambda x: np_pool(x, 2)),
    "max_pool 2-D 3x3, strides 2, same": (lambda x: ops.max_pool(x, 3, 2, "same"), [(5, 6, 2)], [apart],
                                          lambda x: np_pool(x, 3, 2, "same")),
    "max_pool 1-D": (lambda x: ops.max_pool(x, 3, 1), [(6, 2)], [apart], lambda x: np_pool(x, 3, 1)),
    "average_pool 2-D same": (lambda x: ops.average_pool(x, (2, 3), padding="same"), [(5, 5, 2)], [normal],
                              lambda x: np_pool(x, (2, 3), None, "same", "average")),
    "average_pool 1-D strides 1": (lambda x: ops.average_pool(x, 2, 1), [(5, 3)], [normal],
                                   lambda x: np_pool(x, 2, 1, mode="average")),
    # batch normalization
    "batch_normalization constants": (lambda x: ops.batch_normalization(x, MEAN4, VAR4, -1), [(3, 4)], [normal],
                                      lambda x: (x - MEAN4) / np.sqrt(VAR4 + 1e-3)),
    "batch_normalization weights, offset, scale": (
        weights(lambda x, m, v, o, s: ops.batch_normalization(x, m, v, axis=1, offset=o, scale=s, epsilon=0.01),
                MEAN4, VAR4, OFFSET4, SCALE4), [(4, 3)], [normal],
        lambda x: (x - MEAN4[:, None]) / np.sqrt(VAR4[:, None] + 0.01) * SCALE4[:, None] + OFFSET4[:, None]),
    "batch_normalization sample statistics": (
        lambda x: ops.batch_normalization(x, ops.mean(x, axis=1, keepdims=True), ops.var(x, axis=1, keepdims=True),
                                          -1, scale=SCALE4),
        [(5, 4)], [normal],
        lambda x: (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3) * SCALE4),
    # attention
    "dot_product_attention": (ops.dot_product_attention, [(3, 2, 4), (5, 2, 4), (5, 2, 4)], [normal] * 3,
                              np_attention),
    "dot_product_attention mask, bias, scale": (
        lambda q, k, v: ops.dot_product_attention(q, k, v, bias=BIAS, mask=MASK, scale=0.7),
        [(3, 2, 4), (5, 2, 4), (5, 2, 4)], [normal] * 3,
        lambda q, k, v: np_attention(q, k, v, BIAS, MASK, 0.7)),
    "dot_product_attention causal": (lambda q, k, v: ops.dot_product_attention(q, k, v, is_causal=True),
                                     [(4, 2, 3), (4, 2, 3), (4, 2, 3)], [normal] * 3,
                                     lambda q, k, v: np_attention(q, k, v, causal=True)),
    # cross-entropy
    "binary_crossentropy": (ops.binary_crossentropy, [(4,), (4,)], [probabilities, probabilities], np_bce),
    "binary_crossentropy from logits": (lambda t, z: ops.binary_crossentropy(t, z, from_logits=True),
                                        [(3, 2), (3, 2)], [probabilities, normal],
                                        lambda t, z: np_bce(t, 1 / (1 + np.exp(-z)))),
    "categorical_crossentropy": (ops.categorical_crossentropy, [(4,), (4,)], [probabilities, positive], np_cce),
    "categorical_crossentropy from logits, axis 1": (
        lambda t, z: ops.categorical_crossentropy(t, z, from_logits=True, axis=1), [(3, 2), (3, 2)],
        [probabilities, normal], lambda t, z: -np.sum(t * np_log_softmax(z, 1), axis=1)),
    "sparse_categorical_crossentropy": (ops.sparse_categorical_crossentropy, [(), (5,)], [labels(5), positive],
                                        np_sparse, ["int32", None]),
    "sparse_categorical_crossentropy labels (n, 1), from logits": (
        lambda t, z: ops.sparse_categorical_crossentropy(t, z, from_logits=True), [(1,), (4,)], [labels(4), normal],
        lambda t, z: np_sparse(t[:, 0], z, True), ["int64", None]),
    "sparse_categorical_crossentropy axis 1": (
        lambda t, z: ops.sparse_categorical_crossentropy(t, z, axis=1), [(2,), (3, 2)], [labels(3), positive],
        lambda t, z: np_sparse(t, z, axis=1), ["int32", None]),
}


def _model(case):
    fn, shapes = case[0], case[1]
    dtypes = case[4] if len(case) > 4 else [None] * len(shapes)
    inputs = [fw.Input(shape, dtype=dtype) for shape, dtype in zip(shapes, dtypes)]
    return fw.Model(inputs if len(inputs) > 1 else inputs[0], fn(*inputs))


def _data(case, batch=3, dtype=None):
    dtypes = case[4] if len(case) > 4 else [None] * len(case[1])
    arrays = [make((batch,) + shape) for make, shape in zip(case[2], case[1])]
    return [a.astype(d or dtype or a.dtype) for a, d in zip(arrays, dtypes)]


@pytest.mark.parametrize("name", CASES)
def test_op_on_arrays_matches_numpy_and_the_plan(name):
    case = CASES[name]
    assert_op_matches(case[0], case[3], _model(case), _data(case, dtype="float32"), atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_op_gradients_match_finite_differences(name):
    case = CASES[name]
    assert_op_gradients(lambda: _model(case), lambda: _data(case))


def test_on_arrays_the_ops_follow_numpy_and_keras():
    a, b = normal((2, 3, 4)), normal((4, 5))
    assert ops.dot(a[0, 0], b[:, 0]).shape == () and np.allclose(ops.dot(a[0, 0], b[:, 0]), a[0, 0] @ b[:, 0])
    np.testing.assert_allclose(ops.tensordot(a, a, axes=([1, 2], [1, 2])), np.tensordot(a, a, ([1, 2], [1, 2])))
    np.testing.assert_allclose(ops.einsum("ij,ij->", b, b), (b * b).sum())
    for order in (None, "fro", 1, np.inf, 2, "nuc"):  # every axis, and matrix norms singular values need
        np.testing.assert_allclose(ops.norm(b, order), np.linalg.norm(b, order), rtol=1e-12)
    assert ops.norm(np.arange(4)).dtype == np.float32
    np.testing.assert_allclose(ops.binary_crossentropy(np.array([1.0, 0.0]), np.array([1.0, 0.0])),
                               -np.log(1 - EPS) * np.ones(2), rtol=1e-6)  # clipped, as Keras


def test_convolutions_in_chunks_of_samples_match_numpy_and_finite_differences(monkeypatch):
    monkeypatch.setattr(ops_nn, "COLUMN_BYTES", 1)  # one sample per chunk: three products, partial kernel grads
    case = CASES["conv 2-D same, strides 2, weight"]
    xs = _data(case, dtype="float32")
    np.testing.assert_allclose(_model(case).predict(xs[0], verbose=0), case[3](*xs), rtol=1e-5, atol=1e-5)
    with float64_mode():
        check_gradients(_model(case), _data(case), [normal((3, 3, 3, 4))])


def _input_gradient(model, xs, targets):
    train, _, _ = _plans(model, xs, targets, "mse")
    train.train_step()
    return train.input_grads


def test_zero_gradient_results_give_values_and_zero_gradients():
    with float64_mode():
        x = fw.Input((4,))
        data = np.array([[0.0, -1.5, 0.0, 2.0], [1.0, 1.0, 0.0, 0.0]])
        model = fw.Model(x, ops.expand_dims(ops.norm(x, 0, axis=-1), -1) * x)
        np.testing.assert_allclose(model.predict(data, verbose=0), np.array([[2.0], [2.0]]) * data)
        grad = _input_gradient(model, [data], [np.zeros((2, 4))])[0]
        np.testing.assert_allclose(grad, 2 * 4 * data / 8)  # only the outer x carries a gradient: 2 n^2 x / size
        # sparse labels given as floats get no gradient
        t, z = fw.Input(()), fw.Input((3,))
        model = fw.Model([t, z], ops.sparse_categorical_crossentropy(t, z, from_logits=True))
        grads = _input_gradient(model, [np.array([0.0, 2.0]), normal((2, 3))], [np.zeros(2)])
        assert not grads[0].any() and grads[1].any()


def test_out_of_range_labels_give_zero_loss_as_keras():
    z = np.log(np.array([[0.2, 0.3, 0.5]], dtype="float32"))
    result = ops.sparse_categorical_crossentropy(np.array([3]), z, from_logits=True)
    np.testing.assert_allclose(result, [0.0])
    t, o = fw.Input((), dtype="int32"), fw.Input((3,))
    model = fw.Model([t, o], ops.sparse_categorical_crossentropy(t, o, from_logits=True))
    np.testing.assert_allclose(model.predict([np.array([3, 1]), np.repeat(z, 2, 0)], verbose=0), [0.0, -z[0, 1]],
                               rtol=1e-6)


# ----- errors when the graph is built ---------------------------------------------------------------------
@pytest.mark.parametrize("build, message", [
    (lambda x: ops.einsum("bij->ij", x), r"Op 'einsum.*' \(Einsum\): subscripts 'bij->ij' on \(None, 3, 4\) "
                                         r"drops or moves the batch axis 'b'"),
    (lambda x: ops.einsum("bij->ib", x), r"subscripts 'bij->ib' on \(None, 3, 4\) drops or moves the batch axis"),
    (lambda x: ops.einsum("bij,bk->bik", x, C35), r"a constant or weight uses the batch letter 'b'"),
    (lambda x: ops.einsum("bij,cjk->bik", x, ops.expand_dims(x[:, 0], -1)), r"first letters .* differ: b, c"),
    (lambda x: ops.einsum("bij,jk->bik", x, C35), r"axis 'j' has sizes 4 and 3"),
    (lambda x: ops.einsum("bii->bi", x), r"a letter repeated within an operand"),
    (lambda x: ops.einsum("...j,jk->k", x, C45), r"the output needs '...'"),
    (lambda x: ops.tensordot(x, C3, axes=([0], [0])), r"Op 'tensordot.*' \(Tensordot\): axes=\[\[0\], \[0\]\] on "
                                                      r"\(None, 3, 4\) and \(3,\) contract the batch axis"),
    (lambda x: ops.tensordot(x, x, axes=([2], [2])), r"both operands \(None, 3, 4\) and \(None, 3, 4\) have the "
                                                     r"batch axis"),
    (lambda x: ops.tensordot(x, C45, axes=([1], [0])), r"axes \[1\] of \(None, 3, 4\) and \[0\] of \(4, 5\) differ"),
    (lambda x: ops.tensordot(C35, x, axes=([0], [1])), r"free axes of the first operand would come before the batch"),
    (lambda x: ops.dot(x, x), r"both operands \(None, 3, 4\) and \(None, 3, 4\) have the batch axis"),
    (lambda x: ops.norm(x, "nuc", axis=(1, 2)), r"Op 'norm.*' \(Norm\): matrix norm ord='nuc' is not available"),
    (lambda x: ops.norm(x, "fro", axis=1), r"ord='fro' is a matrix norm"),
    (lambda x: ops.norm(x, axis=0), r"\(Norm\) over axis 0 of a rank-3 tensor would reduce or move the batch"),
    (lambda x: ops.conv(x[..., None], K2), r"Op 'conv.*' \(Conv\): kernel \(3, 3, 2, 3\) reads 2 channels, inputs "
                                           r"\(None, 3, 4, 1\) have 1"),
    (lambda x: ops.conv(x, np.ones((5, 4, 2))), r"kernel \(5, 4, 2\) .* does not fit inputs \(None, 3, 4\)"),
    (lambda x: ops.conv(x, x), r"the kernel must be a weight or constant .* received \(None, 3, 4\)"),
    (lambda x: ops.conv(x, K1, data_format="channels_first"), r"data_format='channels_first' is not supported"),
    (lambda x: ops.depthwise_conv(x[..., None], DW2), r"\(DepthwiseConv\): kernel \(3, 3, 2, 2\) reads 2 channels"),
    (lambda x: ops.max_pool(x, 4), r"Op 'max_pool.*' \(MaxPool\): pool_size \(4,\) is larger than inputs "
                                   r"\(None, 3, 4\)"),
    (lambda x: ops.average_pool(x, 2, padding="full"), r"padding must be 'valid' or 'same'"),
    (lambda x: ops.max_pool(x[..., None, None], 2), r"inputs \(None, 3, 4, 1, 1\) must be \(batch, steps, channels\)"),
    (lambda x: ops.batch_normalization(x, C3, V4, axis=-1),
     r"Op 'batch_normalization.*' \(BatchNormalization\): mean \(3,\) does not lie along axis -1 of x \(None, 3, 4\)"),
    (lambda x: ops.sparse_categorical_crossentropy(x, x), r"\(SparseCategoricalCrossentropy\): target \(None, 3, 4\) "
                                                          r"must be output \(None, 3, 4\) without axis -1"),
    (lambda x: ops.categorical_crossentropy(x[:, 0], x), r"categorical_crossentropy: target \(None, 4\) and output "
                                                         r"\(None, 3, 4\) must have the same shape"),
    (lambda x: ops.dot_product_attention(x, x, x), r"dot_product_attention: query, key and value must be "
                                                   r"\(batch, seq, heads, dim\)"),
])
def test_errors_name_the_op_and_the_shapes(build, message):
    x = fw.Input((3, 4))
    with pytest.raises(OpError, match=message):
        build(x)


def test_images_of_unknown_size_get_a_plan_per_size():
    x = fw.Input((None, None, 2))
    model = fw.Model(x, ops.einsum("bijc->bc", ops.max_pool(ops.conv(x, K2, padding="same"), 2)))
    for shape in [(3, 6, 6, 2), (2, 5, 7, 2)]:
        data = normal(shape).astype("float32")
        np.testing.assert_allclose(model.predict(data, verbose=0),
                                   np_pool(np_conv(data, K2, 1, "same"), 2).sum((1, 2)), rtol=1e-4, atol=1e-4)


def test_causal_attention_needs_known_lengths():
    q = fw.Input((None, 2, 4))
    with pytest.raises(OpError, match=r"is_causal needs known sequence lengths"):
        ops.dot_product_attention(q, q, q, is_causal=True)


# ----- models: configs, training, allocation --------------------------------------------------------------
def _image_model():
    fw.utils.set_random_seed(4)
    inp, labels_in = fw.Input((6, 6, 2)), fw.Input((), dtype="int32")
    h = ops.relu(layers.Conv2D(4, 3, padding="same")(inp))
    h = ops.conv(h, K442, padding="same")
    h = ops.max_pool(ops.depthwise_conv(h, DW2, padding="same"), 2)
    h = ops.batch_normalization(h, MEAN4, VAR4, -1, offset=OFFSET4)
    h = ops.average_pool(h, 3, 1, "same")
    h = ops.tensordot(ops.reshape(h, (-1, 36)), C363, axes=1)
    h = ops.einsum("bi,ij->bj", h, C35) / ops.norm(h, np.inf, axis=-1, keepdims=True)
    return fw.Model([inp, labels_in], ops.sparse_categorical_crossentropy(labels_in, h, from_logits=True))


def test_models_with_these_ops_round_trip_through_configs():
    model = _image_model()
    x, t = rng.standard_normal((4, 6, 6, 2)).astype("float32"), np.array([0, 4, 2, 1])
    expected = model.predict([x, t], verbose=0)
    rebuilt = fw.models.model_from_yaml(model.to_yaml())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict([x, t], verbose=0), expected, rtol=1e-5)


def test_a_model_with_conv_pool_and_norm_ops_trains_without_allocating():
    fw.utils.set_random_seed(0)

    class Block(layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], 4))
            self.proj = self.add_weight(shape=(4, 2))
            self.scale = self.add_weight(shape=(4,), initializer="ones")

        def call(self, x):
            h = ops.max_pool(ops.relu(ops.conv(x, self.kernel, padding="same")), 2)
            h = ops.batch_normalization(h, MEAN4, VAR4, -1, scale=self.scale)
            h = ops.tensordot(h, self.proj, axes=1)
            return ops.sum(ops.norm(h, axis=(1, 2)), axis=-1) + ops.mean(ops.average_pool(h, 2), axis=(1, 2, 3))

    inp = fw.Input((8, 8, 1))
    model = fw.Model(inp, Block()(inp))
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((64, 8, 8, 1)).astype("float32")
    y = np.abs(x).mean(axis=(1, 2, 3)).astype("float32")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    plan = model.plan("train", 256)
    for buffer in plan.inputs + plan.targets + plan.sample_weights:
        buffer.fill(0.5)
    assert_no_allocation(plan.train_step, calls=20, held=1024, peak=48 * 1024)
