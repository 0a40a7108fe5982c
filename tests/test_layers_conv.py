"""Convolution layers: forward against direct NumPy loops, gradients through the compiled plan
(float64 finite differences), chunked columns, the fused softmax, allocation, config, errors.

The references below pad explicitly and loop over output pixels and kernel taps; their
padding and transposed-output rules are Keras's (checked against Keras 3 on JAX while
developing, not here: CI has no Keras).
"""
import numpy as np
import pytest
import yaml

import framework as fw
from framework import layers as L
from framework.layers import convolutional
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation, softmax


# ----------------------------------------------------------------------------- references

def _pair(value, rank=2):
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _out_and_pad(size, k, s, d, padding):
    """Keras output length and zeros before, along one axis."""
    extent = (k - 1) * d + 1
    if padding == "valid":
        return (size - extent) // s + 1, 0
    out = -(-size // s)
    if padding == "causal":
        return out, extent - 1
    return out, max((out - 1) * s + extent - size, 0) // 2


def ref_conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation=1, groups=1):
    """Direct loop: zero-pad, then y[n, oy, ox, f] = sum over taps and the group's channels."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation)
    oh, ph = _out_and_pad(h, kh, sh, dh, padding)
    ow, pw = _out_and_pad(w, kw, sw, dw, padding)
    padded = np.zeros((n, h + 2 * kh * dh, w + 2 * kw * dw, c))
    padded[:, ph:ph + h, pw:pw + w] = x
    y = np.zeros((n, oh, ow, f))
    fg = f // groups
    for oy in range(oh):
        for ox in range(ow):
            for i in range(kh):
                for j in range(kw):
                    for g in range(groups):
                        patch = padded[:, oy * sh + i * dh, ox * sw + j * dw, g * cg:(g + 1) * cg]
                        y[:, oy, ox, g * fg:(g + 1) * fg] += patch @ kernel[i, j, :, g * fg:(g + 1) * fg]
    return y if bias is None else y + bias


def ref_conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation=1, groups=1):
    if padding == "causal":  # all padding before: pad by hand, then a valid convolution
        x = np.concatenate([np.zeros((x.shape[0], (kernel.shape[0] - 1) * dilation, x.shape[2])), x], axis=1)
        padding = "valid"
    y = ref_conv2d(x[:, None], kernel[None], bias, (1, strides), padding, (1, dilation), groups)
    return y[:, 0]


def _transpose_length_and_offset(size, k, s, d, padding, output_padding):
    extent = (k - 1) * d + 1
    if padding == "valid":
        extra = max(extent, s) - extent if output_padding is None else output_padding
        return (size - 1) * s + extent + extra, 0
    if output_padding is None:
        length, total = size * s, s + extent - 2
    else:
        length, total = (size - 1) * s + extent % 2 + output_padding, extent + extent % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, extent - 1)
    return length, extent - 1 - left


def ref_conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", dilation=1, output_padding=None):
    """Scatter every input pixel through every tap onto a large canvas, then crop."""
    n, h, w, c = x.shape
    kh, kw, f, _ = kernel.shape
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation)
    op = (None, None) if output_padding is None else _pair(output_padding)
    oh, offset_h = _transpose_length_and_offset(h, kh, sh, dh, padding, op[0])
    ow, offset_w = _transpose_length_and_offset(w, kw, sw, dw, padding, op[1])
    canvas = np.zeros((n, h * sh + kh * dh + oh, w * sw + kw * dw + ow, f))
    for iy in range(h):
        for ix in range(w):
            for i in range(kh):
                for j in range(kw):
                    canvas[:, iy * sh + i * dh, ix * sw + j * dw] += x[:, iy, ix] @ kernel[i, j].T
    y = canvas[:, offset_h:offset_h + oh, offset_w:offset_w + ow]
    return y if bias is None else y + bias


def ref_depthwise(x, kernel, bias=None, strides=1, padding="valid", dilation=1):
    """Grouped convolution with one group per channel: output channel c*multiplier + q."""
    kh, kw, c, m = kernel.shape
    return ref_conv2d(x, kernel.reshape(kh, kw, 1, c * m), bias, strides, padding, dilation, groups=c)


def ref_separable(x, depthwise, pointwise, bias=None, strides=1, padding="valid", dilation=1):
    middle = ref_depthwise(x, depthwise, None, strides, padding, dilation)
    y = middle @ pointwise[0, 0]
    return y if bias is None else y + bias


ACT = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "softmax": softmax}


def reference(layer, x):
    """The layer's output from its weights through the references above."""
    weights = [w.numpy().astype(np.float64) for w in layer.weights]
    bias = weights[-1] if layer.use_bias else None
    common = dict(strides=layer.strides if layer.rank == 2 else layer.strides[0], padding=layer.padding,
                  dilation=layer.dilation_rate if layer.rank == 2 else layer.dilation_rate[0])
    if isinstance(layer, L.Conv1D):
        y = ref_conv1d(x, weights[0], bias, groups=layer.groups, **common)
    elif isinstance(layer, L.Conv2D):
        y = ref_conv2d(x, weights[0], bias, groups=layer.groups, **common)
    elif isinstance(layer, L.Conv2DTranspose):
        y = ref_conv2d_transpose(x, weights[0], bias, output_padding=layer.output_padding, **common)
    elif isinstance(layer, L.DepthwiseConv2D):
        y = ref_depthwise(x, weights[0], bias, **common)
    else:
        y = ref_separable(x, weights[0], weights[1], bias, **common)
    return ACT[layer.activation.name](y)


# ----------------------------------------------------------------------------- cases

# (id, factory, sample input shape); sizes, strides and dilations chosen to leave remainders
CASES = [
    ("conv2d_valid", lambda: L.Conv2D(3, 3), (6, 5, 2)),
    ("conv2d_valid_stride_remainder", lambda: L.Conv2D(3, (3, 2), strides=(2, 3)), (8, 9, 2)),
    ("conv2d_same_stride_remainder", lambda: L.Conv2D(3, (2, 3), strides=(3, 2), padding="same"), (7, 8, 2)),
    ("conv2d_same_even_kernel", lambda: L.Conv2D(2, 4, strides=2, padding="same"), (7, 6, 3)),
    ("conv2d_dilation_valid", lambda: L.Conv2D(3, (2, 3), dilation_rate=(3, 2)), (8, 7, 2)),
    ("conv2d_dilation_same", lambda: L.Conv2D(3, 3, dilation_rate=2, padding="same"), (7, 6, 2)),
    ("conv2d_kernel_larger_than_input_same", lambda: L.Conv2D(2, 5, padding="same"), (3, 4, 2)),
    ("conv2d_groups", lambda: L.Conv2D(6, 3, groups=3, padding="same", activation="relu"), (5, 4, 6)),
    ("conv2d_groups_stride", lambda: L.Conv2D(4, 2, groups=2, strides=2), (5, 5, 4)),
    ("conv2d_no_bias_tanh", lambda: L.Conv2D(3, 2, use_bias=False, activation="tanh"), (4, 5, 3)),
    ("conv2d_1x1", lambda: L.Conv2D(4, 1), (3, 4, 5)),
    ("conv1d_valid", lambda: L.Conv1D(3, 3), (8, 2)),
    ("conv1d_same_stride", lambda: L.Conv1D(3, 4, strides=3, padding="same"), (10, 2)),
    ("conv1d_causal_dilation", lambda: L.Conv1D(3, 3, padding="causal", dilation_rate=2), (9, 2)),
    ("conv1d_causal_stride", lambda: L.Conv1D(2, 2, padding="causal", strides=2), (9, 3)),
    ("conv1d_groups", lambda: L.Conv1D(4, 3, groups=2, padding="same", activation="relu"), (7, 4)),
    ("transpose_valid", lambda: L.Conv2DTranspose(3, 3), (4, 3, 2)),
    ("transpose_valid_stride", lambda: L.Conv2DTranspose(3, 3, strides=2), (4, 3, 2)),
    ("transpose_stride_above_kernel", lambda: L.Conv2DTranspose(2, 2, strides=3), (3, 3, 2)),
    ("transpose_same_stride", lambda: L.Conv2DTranspose(3, 3, strides=2, padding="same"), (4, 3, 2)),
    ("transpose_same_even_kernel", lambda: L.Conv2DTranspose(3, 4, strides=2, padding="same"), (3, 4, 2)),
    ("transpose_output_padding_same", lambda: L.Conv2DTranspose(3, 3, strides=(2, 3), padding="same",
                                                                output_padding=(1, 2)), (3, 4, 2)),
    ("transpose_output_padding_valid", lambda: L.Conv2DTranspose(2, (3, 4), strides=(3, 2), output_padding=(2, 1),
                                                                 activation="tanh"), (3, 3, 2)),
    ("transpose_output_padding_zero", lambda: L.Conv2DTranspose(2, 5, strides=2, padding="same",
                                                                output_padding=0), (3, 3, 2)),
    ("transpose_dilation", lambda: L.Conv2DTranspose(2, 3, dilation_rate=(2, 1), padding="same",
                                                     use_bias=False), (4, 3, 2)),
    # few filters from many channels: the product on the input side (framework/layers/conv_input_side.py)
    ("input_side_same", lambda: L.Conv2D(1, (3, 4), padding="same"), (5, 6, 8)),
    ("input_side_valid_dilation", lambda: L.Conv2D(2, 3, dilation_rate=(2, 1), activation="tanh"), (7, 5, 8)),
    ("input_side_conv1d_causal", lambda: L.Conv1D(1, 3, padding="causal", dilation_rate=2, use_bias=False), (9, 4)),
    ("depthwise", lambda: L.DepthwiseConv2D(3), (5, 4, 3)),
    ("depthwise_multiplier_same_stride", lambda: L.DepthwiseConv2D(3, strides=2, padding="same",
                                                                   depth_multiplier=2), (7, 6, 2)),
    ("depthwise_dilation_no_bias", lambda: L.DepthwiseConv2D((2, 3), dilation_rate=2, depth_multiplier=3,
                                                             use_bias=False, activation="tanh"), (6, 7, 2)),
    ("separable", lambda: L.SeparableConv2D(3, 3), (5, 4, 2)),
    ("separable_multiplier_same_stride",
     lambda: L.SeparableConv2D(3, 3, strides=2, padding="same", depth_multiplier=2, activation="relu"), (7, 6, 2)),
    ("separable_dilation_no_bias", lambda: L.SeparableConv2D(2, 2, dilation_rate=2, use_bias=False), (5, 6, 3)),
]
IDS = [c[0] for c in CASES]
# cases whose gradients are also checked with one sample per column chunk
CHUNKED = ["conv2d_same_stride_remainder", "conv2d_groups", "conv1d_causal_dilation", "input_side_same",
           "transpose_output_padding_same", "transpose_valid_stride"]


def _x(shape, batch=2, seed=0):
    return np.random.default_rng(seed).standard_normal((batch,) + tuple(shape))


def _randomize(layer, seed=1):
    """Random weights everywhere (biases too), so every path contributes."""
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.weights])


@pytest.fixture(params=["columns_kept", "columns_recomputed"])
def one_sample_chunks(request, monkeypatch):
    """Chunks of one sample: the chunk loops and the partial kernel gradients run; backward either
    reuses forward's columns or recomputes them."""
    monkeypatch.setattr(convolutional, "COLUMN_BYTES", 1)
    if request.param == "columns_recomputed":
        monkeypatch.setattr(convolutional, "KEEP_COLUMN_BYTES", 0)


@pytest.fixture(params=["layout_default", "layout_rows"])
def column_layout(request, monkeypatch):
    """Both im2col layouts: the default (transposed for images of <= 3 channels) and rows only."""
    if request.param == "layout_rows":
        monkeypatch.setattr(convolutional, "TRANSPOSED_MAX_CHANNELS", 0)
    return request.param


# ----------------------------------------------------------------------------- forward

@pytest.mark.parametrize("name,factory,shape", CASES, ids=IDS)
def test_forward_matches_direct_loops(name, factory, shape, column_layout):
    if column_layout == "layout_rows" and name.startswith(("depthwise", "separable")):
        pytest.skip("no columns")
    with float64_mode():
        layer = factory()
        inp = fw.Input(shape)
        model = fw.Model(inp, layer(inp))
        _randomize(layer)
        x = _x(shape, batch=3)
        y = model.predict(x, verbose=0)
        expected = reference(layer, x)
        assert y.shape == expected.shape == (3,) + layer.compute_output_shape((None,) + shape)[1:]
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", CHUNKED)
def test_forward_in_chunks(name, one_sample_chunks, column_layout):
    factory, shape = dict((c[0], c[1:]) for c in CASES)[name]
    layer = factory()
    x = _x(shape, batch=3).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, reference(layer, x.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_large_batch_float32_matches_reference():
    """Default chunking on a batch that needs several chunks (columns > COLUMN_BYTES)."""
    layer = L.Conv2D(8, 3, padding="same", activation="relu")
    x = _x((12, 12, 16), batch=40).astype(np.float32)
    y = layer(x)
    assert convolutional.COLUMN_BYTES < 40 * 144 * 9 * 16 * 4
    np.testing.assert_allclose(y, reference(layer, x.astype(np.float64)), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- gradients

def _gradient_model(factory, shape):
    """Input -> conv layer -> Flatten: weights and input gradients all checked."""
    inp = fw.Input(shape)
    layer = factory()
    out = L.Flatten()(layer(inp))
    return fw.Model(inp, out), layer


@pytest.mark.parametrize("name,factory,shape", CASES, ids=IDS)
def test_gradients(name, factory, shape, column_layout):
    if column_layout == "layout_rows" and name.startswith(("depthwise", "separable")):
        pytest.skip("no columns")
    with float64_mode():
        fw.utils.set_random_seed(3)
        model, layer = _gradient_model(factory, shape)
        _randomize(layer)
        x, y = _x(shape, seed=4), _x(model.outputs[0].shape[1:], seed=5)
        assert check_gradients(model, [x], [y]) >= 10


@pytest.mark.parametrize("name", CHUNKED)
def test_gradients_in_chunks(name, one_sample_chunks, column_layout):
    factory, shape = dict((c[0], c[1:]) for c in CASES)[name]
    with float64_mode():
        fw.utils.set_random_seed(3)
        model, layer = _gradient_model(factory, shape)
        _randomize(layer)
        x, y = _x(shape, batch=3, seed=6), _x(model.outputs[0].shape[1:], batch=3, seed=7)
        check_gradients(model, [x], [y])


def test_gradients_of_stacked_convolutions():
    """Conv layers feeding each other: input gradients of inner layers, frozen kernels skipped."""
    with float64_mode():
        fw.utils.set_random_seed(5)
        inp = fw.Input((7, 6, 2))
        h = L.Conv2D(3, 3, padding="same", activation="relu")(inp)
        h = L.DepthwiseConv2D(2, depth_multiplier=2, activation="tanh")(h)
        h = L.SeparableConv2D(3, 2, strides=2, padding="same")(h)
        h = L.Conv2DTranspose(2, 3, strides=2, activation="elu")(h)
        frozen = L.Conv2D(2, 2, name="frozen")
        out = L.Flatten()(frozen(h))
        model = fw.Model(inp, out)
        frozen.trainable = False
        check_gradients(model, [_x((7, 6, 2), seed=8)], [_x(out.shape[1:], seed=9)])


def test_softmax_conv_last_fuses_with_crossentropy():
    """A per-pixel softmax classifier: gradients through the fused loss, and the loss is computed
    from logits (exact where clipped probabilities would cap it near -log(1e-7))."""
    with float64_mode():
        fw.utils.set_random_seed(6)
        model = fw.Sequential([fw.Input((4, 5, 3)), L.Conv2D(4, 3, padding="same", activation="softmax")])
        _randomize(model.layers[-1])
        labels = np.random.default_rng(10).integers(0, 4, (2, 4, 5))
        one_hot = np.eye(4)[labels]
        check_gradients(model, [_x((4, 5, 3), seed=11)], [one_hot], loss="categorical_crossentropy")
    model = fw.Sequential([fw.Input((1, 1, 1)), L.Conv2D(2, 1, activation="softmax")])
    model.layers[-1].set_weights([np.array([[[[0.0, -40.0]]]]), np.zeros(2)])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    loss = model.evaluate(np.ones((1, 1, 1, 1), np.float32), np.array([[[[0.0, 1.0]]]], np.float32), verbose=0)
    assert abs(float(np.ravel(loss)[0]) - 40.0) < 1e-3


# ----------------------------------------------------------------------------- allocation

def test_train_step_allocates_nothing(one_sample_chunks):
    inp = fw.Input((8, 7, 2))
    h = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", activation="gelu")(h)
    h = L.SeparableConv2D(4, 2, activation="relu")(h)
    h = L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1)(h)
    h = L.Conv2D(4, 2, groups=2, use_bias=False)(L.Conv2D(4, 1)(h))
    h = L.Conv2D(1, 3, padding="same", activation="tanh")(h)  # input side: 1 filter from 4 channels
    out = L.Conv2D(3, 1, activation="softmax")(h)
    model = fw.Model(inp, out)
    x = _x((8, 7, 2), batch=4).astype(np.float32)
    y = np.random.default_rng(0).integers(0, 3, (4,) + out.shape[1:3])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    assert_no_allocation(model.plan("train", 4).train_step, calls=30, held=1024, peak=4096)


def test_conv1d_train_step_allocates_nothing():
    model = fw.Sequential([fw.Input((12, 3)), L.Conv1D(4, 3, padding="causal", activation="relu"),
                           L.Conv1D(2, 2, strides=2, groups=2)])
    x = _x((12, 3), batch=4).astype(np.float32)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(x, np.zeros((4, 6, 2), np.float32))
    assert_no_allocation(model.plan("train", 4).train_step, calls=30, held=1024, peak=4096)


def test_first_layer_skips_the_input_gradient():
    """A conv right after the input gets no dx buffer; the step still trains its kernel."""
    model = fw.Sequential([fw.Input((6, 6, 1)), L.Conv2D(2, 3), L.Flatten(), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = _x((6, 6, 1), batch=8).astype(np.float32)
    before = model.layers[0].kernel.numpy().copy()
    model.train_on_batch(x, np.ones((8, 1), np.float32))
    assert not np.allclose(before, model.layers[0].kernel.numpy())


def test_plan_reports_column_scratch_and_flops():
    from framework.plan.compiler import compile_plan
    model = fw.Sequential([fw.Input((10, 10, 4)), L.Conv2D(8, 3, padding="same")])
    plan = compile_plan(model, "predict", 6, np.float32)
    entry, = [d for d in plan.describe if isinstance(d["layer"], L.Conv2D)]
    output_bytes, column_bytes = 6 * 100 * 8 * 4, 6 * 100 * 9 * 4 * 4
    assert entry["bytes"] >= output_bytes + min(column_bytes, convolutional.COLUMN_BYTES // 2)
    assert entry["flops"] == 6 * 2 * 100 * 9 * 4 * 8


# ----------------------------------------------------------------------------- shapes, config

def test_weight_shapes_and_order_match_keras():
    conv = L.Conv2D(8, (3, 2), groups=2)
    conv(fw.Input((9, 9, 4)))
    assert [(w.name, w.shape) for w in conv.weights] == [("kernel", (3, 2, 2, 8)), ("bias", (8,))]
    transpose = L.Conv2DTranspose(5, 3)
    transpose(fw.Input((4, 4, 2)))
    assert [(w.name, w.shape) for w in transpose.weights] == [("kernel", (3, 3, 5, 2)), ("bias", (5,))]
    depthwise = L.DepthwiseConv2D(3, depth_multiplier=2)
    depthwise(fw.Input((5, 5, 3)))
    assert [(w.name, w.shape) for w in depthwise.weights] == [("kernel", (3, 3, 3, 2)), ("bias", (6,))]
    separable = L.SeparableConv2D(4, 3, depth_multiplier=2)
    separable(fw.Input((5, 5, 3)))
    assert [(w.name, w.shape) for w in separable.weights] == [
        ("depthwise_kernel", (3, 3, 3, 2)), ("pointwise_kernel", (1, 1, 6, 4)), ("bias", (4,))]
    conv1d = L.Conv1D(4, 5, groups=2)
    conv1d(fw.Input((9, 6)))
    assert [w.shape for w in conv1d.weights] == [(5, 3, 4), (4,)]


@pytest.mark.parametrize("layer,shape,expected", [
    (L.Conv2D(2, 3), (None, 28, 28, 1), (None, 26, 26, 2)),
    (L.Conv2D(2, 3, strides=2, padding="same"), (None, 7, 8, 1), (None, 4, 4, 2)),
    (L.Conv2D(2, 3, padding="same"), (None, None, None, 1), (None, None, None, 2)),
    (L.Conv1D(2, 3, strides=2, padding="causal"), (None, 9, 1), (None, 5, 2)),
    (L.Conv2DTranspose(2, 3, strides=2), (None, 5, 4, 1), (None, 11, 9, 2)),
    (L.Conv2DTranspose(2, 3, strides=2, padding="same"), (None, 5, 4, 1), (None, 10, 8, 2)),
    (L.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=0), (None, 5, 4, 1), (None, 9, 7, 2)),
    (L.DepthwiseConv2D(3, depth_multiplier=3), (None, 5, 5, 2), (None, 3, 3, 6)),
    (L.SeparableConv2D(4, 3, strides=2), (None, 7, 7, 2), (None, 3, 3, 4)),
], ids=["conv2d", "conv2d_same", "conv2d_unknown", "conv1d_causal", "transpose", "transpose_same",
        "transpose_output_padding", "depthwise", "separable"])
def test_compute_output_shape(layer, shape, expected):
    assert layer.compute_output_shape(shape) == expected


def test_flops():
    model = fw.Sequential([fw.Input((28, 28, 1)), L.Conv2D(32, 3), L.Conv2D(64, 3, groups=2)])
    conv1, conv2 = model.layers
    assert conv1.flops((None, 28, 28, 1), (None, 26, 26, 32)) == 2 * 26 * 26 * 9 * 32
    assert conv2.flops((None, 26, 26, 32), (None, 24, 24, 64)) == 2 * 24 * 24 * 9 * 16 * 64


@pytest.mark.parametrize("layer", [
    L.Conv1D(3, 5, strides=2, padding="causal", groups=1, activation="relu", kernel_regularizer="l2",
             bias_initializer="ones", kernel_constraint="non_neg"),
    L.Conv2D(4, (3, 2), strides=(1, 2), padding="same", dilation_rate=1, groups=2, use_bias=False,
             activation="tanh", kernel_initializer="he_normal"),
    L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1, bias_regularizer="l1"),
    L.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, depthwise_regularizer="l2",
                      depthwise_constraint="max_norm"),
    L.SeparableConv2D(5, 3, depth_multiplier=2, pointwise_initializer="zeros", pointwise_constraint="unit_norm",
                      activation="softmax"),
], ids=["conv1d", "conv2d", "transpose", "depthwise", "separable"])
def test_config_round_trip(layer):
    config = layer.get_config()
    assert yaml.safe_load(yaml.safe_dump(config)) == config
    clone = type(layer).from_config(config)
    assert clone.get_config() == {**config, "name": clone.name}
    for key in ("kernel_size", "strides", "dilation_rate"):
        assert isinstance(config[key], list)


def test_keras_style_weights_load_and_give_the_same_output():
    """set_weights with arrays shaped as Keras's: same result as the reference on those weights."""
    layer = L.Conv2D(2, 3, padding="same")
    layer(fw.Input((4, 4, 1)))
    kernel = np.arange(18, dtype=np.float32).reshape(3, 3, 1, 2) / 10
    layer.set_weights([kernel, np.array([0.5, -0.5], np.float32)])
    x = _x((4, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(layer(x), reference(layer, x.astype(np.float64)), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- errors

def test_wrong_rank_names_layer_and_shapes():
    with pytest.raises(ValueError) as info:
        L.Conv2D(2, 3, name="conv_rank")(fw.Input((28, 28)))
    message = str(info.value)
    assert "conv_rank" in message
    assert "expected 4-D input (batch, height, width, channels), received (None, 28, 28)" in message
    expected = r"expected 3-D input \(batch, steps, channels\), received \(None, 4, 4, 1\)"
    with pytest.raises(ValueError, match=expected):
        L.Conv1D(2, 3)(fw.Input((4, 4, 1)))
    for layer in (L.Conv2DTranspose(2, 3), L.DepthwiseConv2D(3), L.SeparableConv2D(2, 3)):
        with pytest.raises(ValueError, match="expected 4-D input"):
            layer(fw.Input((5, 5)))


def test_channels_not_divisible_by_groups():
    with pytest.raises(ValueError) as info:
        L.Conv2D(4, 3, groups=2, name="grouped")(fw.Input((5, 5, 3)))
    assert "grouped" in str(info.value) and "channels (3)" in str(info.value) and "groups (2)" in str(info.value)
    with pytest.raises(ValueError, match=r"filters \(5\) must be divisible by groups \(2\)"):
        L.Conv2D(5, 3, groups=2)


@pytest.mark.parametrize("factory,shape,sizes", [
    (lambda: L.Conv2D(2, 5, name="too_big"), (4, 9, 1), ("kernel size 5", "input size 4", "height")),
    (lambda: L.Conv2D(2, 3, dilation_rate=(1, 3), name="too_big"), (9, 5, 1),
     ("kernel size 3 (dilated to 7)", "input size 5", "width")),
    (lambda: L.Conv1D(2, 4, name="too_big"), (3, 1), ("kernel size 4", "input size 3", "steps")),
    (lambda: L.DepthwiseConv2D(3, name="too_big"), (2, 5, 1), ("kernel size 3", "input size 2", "height")),
    (lambda: L.SeparableConv2D(2, 3, name="too_big"), (5, 2, 1), ("kernel size 3", "input size 2", "width")),
], ids=["conv2d", "dilated", "conv1d", "depthwise", "separable"])
def test_kernel_larger_than_padded_input(factory, shape, sizes):
    with pytest.raises(ValueError) as info:
        factory()(fw.Input(shape))
    message = str(info.value)
    assert "too_big" in message
    for part in sizes:
        assert part in message


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels_first"):
        L.Conv2D(2, 3, data_format="channels_first", name="cf")
    with pytest.raises(ValueError, match="data_format"):
        L.Conv2D(2, 3, data_format="nhwc")
    with pytest.raises(ValueError, match="padding must be one of 'valid', 'same', received 'causal'"):
        L.Conv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="strides > 1 together with dilation_rate > 1"):
        L.Conv2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="output_padding must be smaller than strides"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    for bad in (0, -1, 2.5, (1, 2, 3), True):
        with pytest.raises(ValueError, match="kernel_size"):
            L.Conv2D(2, bad)
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        L.Conv2D(0, 3)
    with pytest.raises(ValueError, match="depth_multiplier"):
        L.DepthwiseConv2D(3, depth_multiplier=0)


def test_reuse_on_other_channels_is_refused_other_sizes_allowed():
    conv = L.Conv2D(2, 3, name="reused")
    conv(fw.Input((8, 8, 3)))
    assert conv(fw.Input((5, 6, 3))).shape == (None, 3, 4, 2)
    with pytest.raises(ValueError, match="reused"):
        conv(fw.Input((8, 8, 4)))


def test_few_filters_from_many_channels_take_the_input_side_path():
    from framework.layers import conv_input_side
    taken = {name: conv_input_side.applies(factory(), shape[-1]) for name, factory, shape in CASES
             if name.startswith(("conv", "input_side"))}
    assert {name for name, yes in taken.items() if yes} == {"input_side_same", "input_side_valid_dilation",
                                                           "input_side_conv1d_causal"}
