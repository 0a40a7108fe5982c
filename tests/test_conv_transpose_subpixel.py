"""Conv2DTranspose's sub-pixel forward pass (framework/layers/conv_transpose_subpixel.py): its geometry
against the definition of a transposed convolution, its outputs against the col2im path and the direct
reference, gradients through it in float64, chunks, no allocation, and which layers take it; and
col2im's few-channel loop (framework/kernels/conv.py) against the definition."""
import numpy as np
import pytest

import framework as fw
from framework import layers as L
from framework.kernels import conv as K
from framework.layers import conv_transpose_subpixel as subpixel
from framework.layers import convolutional
from framework.layers.convolutional import transpose_output_length, transpose_pad_before
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation
from test_layers_conv import ref_conv2d_transpose

# (id, layer arguments, sample input shape): every kernel size a multiple of its stride
SUBPIXEL = [
    ("dcgan_4x4_s2_same", dict(filters=4, kernel_size=4, strides=2, padding="same"), (5, 4, 3)),
    ("4x4_s2_valid", dict(filters=3, kernel_size=4, strides=2), (4, 5, 2)),
    ("2x2_s2_same_no_im2col", dict(filters=3, kernel_size=2, strides=2, padding="same"), (4, 3, 5)),
    ("3x3_s3_valid_no_im2col_relu", dict(filters=2, kernel_size=3, strides=3, activation="relu"), (3, 4, 2)),
    ("6x6_s3_same", dict(filters=2, kernel_size=6, strides=3, padding="same"), (4, 3, 2)),
    ("6x6_s2_same_three_taps", dict(filters=3, kernel_size=6, strides=2, padding="same", use_bias=False),
     (4, 4, 3)),
    ("4x4_s2_same_output_padding", dict(filters=2, kernel_size=4, strides=2, padding="same", output_padding=1),
     (4, 3, 2)),
    ("4x4_s2_valid_output_padding_tanh", dict(filters=2, kernel_size=4, strides=2, output_padding=(1, 0),
                                              activation="tanh"), (3, 4, 2)),
    ("mixed_strides", dict(filters=3, kernel_size=(4, 3), strides=(2, 1), padding="same"), (4, 5, 2)),
    ("mixed_kernels", dict(filters=2, kernel_size=(2, 6), strides=(2, 3), output_padding=(1, 2)), (3, 3, 2)),
    ("one_channel_in", dict(filters=2, kernel_size=4, strides=2, padding="same"), (4, 4, 1)),
]
IDS = [case[0] for case in SUBPIXEL]


def _x(shape, batch=3, seed=0):
    return np.random.default_rng(seed).standard_normal((batch,) + tuple(shape))


def _layer(arguments, shape, seed=1):
    layer = L.Conv2DTranspose(**arguments)
    layer.build((None,) + tuple(shape))
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.weights])
    return layer


def _reference(layer, x):
    weights = layer.get_weights()
    y = ref_conv2d_transpose(x, weights[0], weights[1] if layer.use_bias else None, strides=layer.strides,
                             padding=layer.padding, dilation=layer.dilation_rate,
                             output_padding=layer.output_padding)
    return {"linear": y, "relu": np.maximum(y, 0), "tanh": np.tanh(y)}[layer.activation.name]


@pytest.fixture
def col2im_path(monkeypatch):
    """Build layers with the sub-pixel path switched off (the col2im forward)."""
    def switch_off():
        monkeypatch.setattr(subpixel, "applies", lambda layer: False)
    return switch_off


@pytest.fixture(params=["default_chunks", "one_sample_chunks"])
def chunks(request, monkeypatch):
    if request.param == "one_sample_chunks":
        monkeypatch.setattr(convolutional, "COLUMN_BYTES", 1)


# ----------------------------------------------------------------------------- geometry

@pytest.mark.parametrize("size,kernel,stride,padding,output_padding", [
    (7, 4, 2, "same", None), (7, 4, 2, "valid", None), (5, 2, 2, "same", None), (4, 6, 3, "same", None),
    (4, 6, 2, "same", None), (3, 4, 2, "same", 1), (3, 4, 2, "valid", 1), (3, 3, 3, "valid", 2),
    (1, 4, 2, "same", 0), (6, 6, 3, "valid", 0)])
def test_phases_read_exactly_the_taps_of_the_definition(size, kernel, stride, padding, output_padding):
    """Output o of a transposed convolution sums x[i] through tap t for every i*s + t - P == o; each
    phase's window (grid row rows[o], taps[phase[o]]) must list exactly those pairs."""
    out = transpose_output_length(size, kernel, stride, 1, padding, output_padding)
    pad = transpose_pad_before(kernel, stride, 1, padding, output_padding)
    axis = subpixel._Axis(out, kernel, stride, pad)
    assert axis.window == kernel // stride
    for o in range(out):
        expected = {(i, o + pad - i * stride) for i in range(size) if 0 <= o + pad - i * stride < kernel}
        read = {(axis.rows[o] + v - axis.pad, axis.taps[axis.phase[o], v]) for v in range(axis.window)}
        assert {(i, t) for i, t in read if 0 <= i < size} == expected
        assert 0 <= axis.rows[o] < axis.grid
        first, end = axis.spans[axis.phase[o]]
        assert first <= axis.rows[o] < end
    taps = sorted(int(t) for t in axis.taps.ravel())
    assert taps == list(range(kernel))  # every tap in exactly one phase: packing is a permutation


def test_which_layers_take_the_subpixel_path(monkeypatch):
    taken = []
    original = subpixel.forward
    monkeypatch.setattr(subpixel, "forward", lambda layer, ctx: taken.append(layer.name) or original(layer, ctx))
    cases = {"k4_s2": (L.Conv2DTranspose(2, 4, strides=2, padding="same", name="k4_s2"), True),
             "k2_s2": (L.Conv2DTranspose(2, 2, strides=2, name="k2_s2"), True),
             "k4_s2_1": (L.Conv2DTranspose(2, 4, strides=(2, 1), name="k4_s2_1"), True),
             "k3_s2": (L.Conv2DTranspose(2, 3, strides=2, padding="same", name="k3_s2"), False),
             "k2_s3": (L.Conv2DTranspose(2, 2, strides=3, name="k2_s3"), False),
             "k4_s1": (L.Conv2DTranspose(2, 4, name="k4_s1"), False),
             "k3_d2": (L.Conv2DTranspose(2, 3, dilation_rate=2, name="k3_d2"), False)}
    for name, (layer, expected) in cases.items():
        assert subpixel.applies(layer) is expected, name
        y = layer(_x((4, 4, 2)).astype(np.float32))
        np.testing.assert_allclose(y, _reference(layer, _x((4, 4, 2))), rtol=1e-4, atol=1e-4)
    assert sorted(taken) == sorted(name for name, (_, expected) in cases.items() if expected)


# ----------------------------------------------------------------------------- forward

@pytest.mark.parametrize("name,arguments,shape", SUBPIXEL, ids=IDS)
def test_subpixel_equals_col2im_path_and_reference(name, arguments, shape, col2im_path, chunks):
    assert subpixel.applies(L.Conv2DTranspose(**arguments))
    with float64_mode():
        x = _x(shape)
        layer = _layer(arguments, shape)
        y = np.asarray(layer(x))
        np.testing.assert_allclose(y, _reference(layer, x), rtol=1e-10, atol=1e-10)
        col2im_path()
        other = _layer(arguments, shape)  # the same weights (same seed)
        np.testing.assert_allclose(y, np.asarray(other(x)), rtol=1e-12, atol=1e-12)


def test_dcgan_generator_layers_float32_in_several_chunks():
    """The benchmark's 7x7x128 -> 14x14 -> 28x28 layers at a batch that needs several chunks."""
    model = fw.Sequential([fw.Input((7, 7, 32)),
                           L.Conv2DTranspose(32, 4, strides=2, padding="same"), L.LeakyReLU(0.2),
                           L.Conv2DTranspose(16, 4, strides=2, padding="same")])
    x = _x((7, 7, 32), batch=40, seed=3).astype(np.float32)
    y = model.predict(x, batch_size=40, verbose=0)
    first, second = model.layers[0], model.layers[2]
    hidden = _reference(first, x.astype(np.float64))
    expected = _reference(second, np.where(hidden > 0, hidden, 0.2 * hidden))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=2e-4, atol=2e-4)


# ----------------------------------------------------------------------------- gradients, allocation

@pytest.mark.parametrize("name", ["dcgan_4x4_s2_same", "2x2_s2_same_no_im2col", "4x4_s2_valid_output_padding_tanh",
                                  "mixed_kernels"])
def test_gradients_through_subpixel_forward(name, chunks):
    arguments, shape = dict((c[0], c[1:]) for c in SUBPIXEL)[name]
    with float64_mode():
        fw.utils.set_random_seed(3)
        inp = fw.Input(shape)
        layer = L.Conv2DTranspose(**arguments)
        model = fw.Model(inp, L.Flatten()(layer(inp)))
        rng = np.random.default_rng(4)
        layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.weights])
        x, y = _x(shape, seed=6), _x(model.outputs[0].shape[1:], seed=7)
        check_gradients(model, [x], [y])


def test_train_step_with_subpixel_layers_allocates_nothing():
    model = fw.Sequential([fw.Input((4, 4, 3)), L.Conv2DTranspose(4, 4, strides=2, padding="same"),
                           L.LeakyReLU(0.2), L.Conv2DTranspose(2, 2, strides=2, activation="relu"),
                           L.Conv2D(1, 3, padding="same")])
    x = _x((4, 4, 3), batch=4).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, np.zeros((4, 16, 16, 1), np.float32))
    assert_no_allocation(model.plan("train", 4).train_step, calls=30, held=1024, peak=4096)


# ----------------------------------------------------------------------------- col2im, few channels

@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("kernel,stride,dilation,pad,grid,size", [
    (7, 1, 1, 3, 6, 6), (3, 2, 1, 1, 5, 9), (3, 1, 2, 2, 6, 6), (2, 3, 1, 0, 3, 8), (4, 2, 1, 2, 3, 5)])
def test_col2im_matches_the_definition(channels, kernel, stride, dilation, pad, grid, size):
    """col2im scatters along image rows for 1-3 channels (_col2im_along_rows), per pixel above."""
    rng = np.random.default_rng(channels)
    cols = rng.standard_normal((1, 2 * grid * grid, kernel * kernel * channels))
    dx = np.full((4, size, size, channels), np.nan)
    K.col2im(cols, 1, dx, kernel, kernel, stride, stride, dilation, dilation, pad, pad, grid, grid)
    expected = np.zeros((2, size, size, channels))
    for n in range(2):
        for oy in range(grid):
            for ox in range(grid):
                row = cols[0, (n * grid + oy) * grid + ox].reshape(kernel, kernel, channels)
                for i in range(kernel):
                    for j in range(kernel):
                        iy, ix = oy * stride + i * dilation - pad, ox * stride + j * dilation - pad
                        if 0 <= iy < size and 0 <= ix < size:
                            expected[n, iy, ix] += row[i, j]
    np.testing.assert_allclose(dx[1:3], expected, rtol=1e-12, atol=1e-12)
    assert np.isnan(dx[0]).all() and np.isnan(dx[3]).all()  # other samples untouched
