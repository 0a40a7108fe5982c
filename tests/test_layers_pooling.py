"""Pooling layers: forward and backward against direct NumPy loops (odd sizes, strides
other than the pool, remainders, both paddings), gradients through the compiled plan
in float64, global pooling with keepdims and masks, config, errors, allocation."""
import numpy as np
import pytest

import framework as fw
from framework.graph.tensor import Mask
from framework.kernels.pooling import masked_avg_backward, masked_avg_forward
from framework.layers import (AveragePooling1D, AveragePooling2D, Dense, Flatten, GlobalAveragePooling1D,
                              GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D,
                              MaxPooling2D)
from framework.layers.layer import Layer
from framework.plan.context import StepContext
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation


# ----------------------------------------------------------------------------- NumPy references

def _windows(n, k, s, padding):
    """[lo, hi) of every window along one axis, clipped to the input (Keras/TF 'same' split)."""
    if padding == "valid":
        out, before = (n - k) // s + 1, 0
    else:
        out = -(-n // s)
        before = max(0, (out - 1) * s + k - n) // 2
    return [(max(o * s - before, 0), min(o * s - before + k, n)) for o in range(out)]


def _all_windows(x, pool, strides, padding):
    """(output index, slices into x's spatial axes) for every window."""
    axes = [_windows(n, k, s, padding) for n, k, s in zip(x.shape[1:-1], pool, strides)]
    for index in np.ndindex(*[len(a) for a in axes]):
        yield index, tuple(slice(*axes[d][i]) for d, i in enumerate(index)), [len(a) for a in axes]


def ref_pool(x, pool, strides, padding, mode):
    out = None
    for index, window, sizes in _all_windows(x, pool, strides, padding):
        if out is None:
            out = np.zeros((x.shape[0],) + tuple(sizes) + (x.shape[-1],), x.dtype)
        for b in range(x.shape[0]):
            for c in range(x.shape[-1]):
                block = x[(b,) + window + (c,)]
                out[(b,) + index + (c,)] = block.max() if mode == "max" else block.sum() / block.size
    return out


def ref_pool_grad(x, dy, pool, strides, padding, mode):
    """Max: dy to the first maximum in row-major window order; average: dy / (real elements)."""
    dx = np.zeros_like(x)
    for index, window, _ in _all_windows(x, pool, strides, padding):
        for b in range(x.shape[0]):
            for c in range(x.shape[-1]):
                g = dy[(b,) + index + (c,)]
                block = dx[(b,) + window + (c,)]  # a view into dx
                if mode == "max":
                    at = np.unravel_index(np.argmax(x[(b,) + window + (c,)]), block.shape)
                    block[at] += g
                else:
                    block += g / block.size
    return dx


def run_layer(layer, x, dy=None, training=True, mask=None):
    """Bind the layer's steps to plain arrays as the compiler does and run them.

    dx starts as nan everywhere, so a backward that skips an element is caught."""
    out = layer(fw.Input(x.shape[1:]))
    y = np.full((len(x),) + out.shape[1:], np.nan, x.dtype)
    ctx = StepContext(out.node, [x], [y], [], training, len(x), x.dtype, lambda shape, dtype: np.empty(shape, dtype))
    ctx.input_masks = [mask]
    for step in layer.forward(ctx):
        step()
    if dy is None:
        return y
    dx = np.full_like(x, np.nan)
    ctx.d_outputs, ctx.d_inputs, ctx.d_weights = [dy], [dx], []
    for step in layer.backward(ctx):
        step()
    return y, dx


class _nothing:
    def __enter__(self):
        pass

    def __exit__(self, *exc):
        pass


def _distinct(shape, seed=0, dtype=np.float64):
    """Random values at least 0.01 apart: no ties, and finite differences never cross an argmax."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.01 - n * 0.005).astype(dtype)


# ----------------------------------------------------------------------------- windowed pooling

CASES_2D = [  # (input spatial shape, pool_size, strides)
    ((7, 9), (2, 2), None),        # remainders on both axes
    ((8, 8), (2, 2), None),        # exact tiling
    ((7, 9), (3, 2), (2, 1)),      # overlapping columns
    ((6, 7), (2, 3), (1, 2)),      # overlapping rows
    ((9, 9), (3, 3), (2, 2)),      # overlapping both (ResNet stem)
    ((7, 8), (2, 2), (3, 3)),      # gaps between windows
    ((5, 6), (1, 2), (2, 1)),
    ((4, 5), (4, 5), None),        # one window
    ((3, 3), (5, 4), (1, 1)),      # pool larger than input ('same' only)
    ((13, 12), (12, 11), (1, 1)),  # large windows: offsets past int8
]
CASES_1D = [((11,), (2,), None), ((11,), (3,), (1,)), ((10,), (4,), (3,)), ((9,), (2,), (3,)),
            ((7,), (1,), (1,)), ((5,), (5,), None), ((3,), (6,), (2,))]


def _cases():
    for spatial, pool, strides in CASES_2D + CASES_1D:
        for padding in ("valid", "same"):
            if padding == "valid" and any(n < k for n, k in zip(spatial, pool)):
                continue
            for mode in ("max", "average"):
                yield spatial, pool, strides, padding, mode


CASES = list(_cases())
IDS = [f"{mode}-{'x'.join(map(str, s))}-p{'x'.join(map(str, p))}-s{'x'.join(map(str, st or p))}-{pad}"
       for s, p, st, pad, mode in CASES]


def _layer(spatial, pool, strides, padding, mode):
    cls = {(1, "max"): MaxPooling1D, (2, "max"): MaxPooling2D,
           (1, "average"): AveragePooling1D, (2, "average"): AveragePooling2D}[(len(spatial), mode)]
    return cls(pool_size=pool if len(pool) > 1 else pool[0], strides=strides, padding=padding)


@pytest.mark.parametrize("spatial,pool,strides,padding,mode", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_match_numpy(spatial, pool, strides, padding, mode, dtype):
    rng = np.random.default_rng(len(spatial) * 100 + pool[0])
    x = rng.standard_normal((3,) + spatial + (5,)).astype(dtype)
    expected = ref_pool(x, pool, strides or pool, padding, mode)
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    layer = _layer(spatial, pool, strides, padding, mode)
    with float64_mode() if dtype == np.float64 else _nothing():
        out = layer(x)  # eager call through a one-layer model's plan
    assert out.shape == expected.shape and out.dtype == dtype
    np.testing.assert_allclose(out, expected, **tolerance)
    dy = rng.standard_normal(expected.shape).astype(dtype)
    y, dx = run_layer(_layer(spatial, pool, strides, padding, mode), x, dy)
    np.testing.assert_allclose(y, expected, **tolerance)
    np.testing.assert_allclose(dx, ref_pool_grad(x, dy, pool, strides or pool, padding, mode), **tolerance)


def test_max_ties_go_to_the_first_maximum():
    x = np.zeros((1, 4, 4, 2))
    x[0, :, :, 1] = [[1, 3, 3, 0], [3, 2, 0, 0], [5, 5, 1, 1], [5, 5, 1, 1]]
    dy = np.ones((1, 2, 2, 2))
    y, dx = run_layer(MaxPooling2D(2), x, dy)
    np.testing.assert_array_equal(y[0, :, :, 1], [[3, 3], [5, 1]])
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(dx[0, :, :, 1], [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("layer,shape", [(MaxPooling2D(2), (4, 4, 2)), (MaxPooling2D(3, strides=2), (7, 7, 2)),
                                         (MaxPooling1D(3, padding="same"), (7, 2)), (GlobalMaxPooling2D(), (3, 3, 2))],
                         ids=["2x2", "3x3s2", "1d_same", "global"])
def test_max_pooling_propagates_nan(layer, shape):
    """A nan anywhere in a window gives a nan output (as XLA's max), so training can report it."""
    x = np.random.default_rng(0).standard_normal((2,) + shape)
    x[(0,) + (1,) * (len(shape) - 1) + (1,)] = np.nan  # not a window's first element
    out = run_layer(layer, x)
    assert np.isnan(out[0, ..., 1]).any() and not np.isnan(out[0, ..., 0]).any() and not np.isnan(out[1]).any()


def test_same_padding_is_ignored_by_max_and_average():
    """All-negative inputs: max never sees a padded zero; the average counts real elements only."""
    x = -1.0 - np.arange(5.0).reshape(1, 5, 1)
    np.testing.assert_array_equal(MaxPooling1D(2, padding="same")(x)[0, :, 0], [-1, -3, -5])
    np.testing.assert_array_equal(AveragePooling1D(2, padding="same")(x)[0, :, 0], [-1.5, -3.5, -5])
    np.testing.assert_array_equal(AveragePooling1D(3, strides=1, padding="same")(x)[0, :, 0],
                                  [-1.5, -2, -3, -4, -4.5])


@pytest.mark.parametrize("spatial,pool,strides,padding,mode", [
    ((6, 7), (2, 2), None, "valid", "max"), ((6, 7), (2, 2), None, "same", "max"),
    ((7, 7), (3, 3), (2, 2), "valid", "max"), ((7, 6), (3, 2), (2, 1), "same", "max"),
    ((7, 8), (2, 2), (3, 3), "same", "max"),
    ((6, 7), (2, 2), None, "valid", "average"), ((6, 7), (2, 2), None, "same", "average"),
    ((7, 7), (3, 3), (2, 2), "same", "average"), ((7, 8), (2, 2), (3, 3), "valid", "average"),
    ((9,), (3,), (2,), "valid", "max"), ((9,), (2,), None, "same", "max"),
    ((9,), (3,), (2,), "same", "average"), ((9,), (2,), (3,), "valid", "average"),
], ids=lambda v: str(v))
def test_gradients_through_the_plan(spatial, pool, strides, padding, mode):
    with float64_mode():
        fw.utils.set_random_seed(3)
        inp = fw.Input(spatial + (3,))
        h = _layer(spatial, pool, strides, padding, mode)(inp)
        out = Dense(2)(Flatten()(h))
        model = fw.Model(inp, out)
        x = _distinct((2,) + spatial + (3,))
        y = np.random.default_rng(1).standard_normal((2, 2))
        assert check_gradients(model, [x], [y]) >= 40


def test_gradients_after_a_dense_layer():
    """Pooling between trained layers: its backward feeds Dense weight gradients upstream."""
    with float64_mode():
        fw.utils.set_random_seed(4)
        inp = fw.Input((5, 6, 2))
        h = Dense(3, activation="tanh")(inp)
        h = MaxPooling2D((2, 3), strides=(1, 2), padding="same")(h)
        h = AveragePooling2D(2, padding="same")(h)
        out = Dense(1)(GlobalMaxPooling2D()(h))
        model = fw.Model(inp, out)
        x = np.random.default_rng(2).standard_normal((3, 5, 6, 2))
        check_gradients(model, [x], [np.ones((3, 1))])


# ----------------------------------------------------------------------------- global pooling

GLOBALS = [(GlobalMaxPooling1D, (7,), "max"), (GlobalAveragePooling1D, (7,), "average"),
           (GlobalMaxPooling2D, (3, 5), "max"), (GlobalAveragePooling2D, (3, 5), "average")]


@pytest.mark.parametrize("cls,spatial,mode", GLOBALS, ids=[g[0].__name__ for g in GLOBALS])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_forward_backward(cls, spatial, mode, keepdims):
    x = _distinct((4,) + spatial + (3,), seed=5)
    axes = tuple(range(1, 1 + len(spatial)))
    expected = x.max(axis=axes, keepdims=keepdims) if mode == "max" else x.mean(axis=axes, keepdims=keepdims)
    with float64_mode():
        out = cls(keepdims=keepdims)(x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    assert cls(keepdims=keepdims).compute_output_shape((None,) + spatial + (3,)) == (None,) + expected.shape[1:]
    dy = np.random.default_rng(6).standard_normal(expected.shape)
    _, dx = run_layer(cls(keepdims=keepdims), x, dy)
    if mode == "max":
        reference = np.where(x == x.max(axis=axes, keepdims=True), dy.reshape((4,) + (1,) * len(spatial) + (3,)), 0)
    else:
        reference = np.broadcast_to(dy.reshape((4,) + (1,) * len(spatial) + (3,)) / np.prod(spatial), x.shape)
    np.testing.assert_allclose(dx, reference, rtol=1e-13)


@pytest.mark.parametrize("cls,spatial,mode", GLOBALS, ids=[g[0].__name__ for g in GLOBALS])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_gradients(cls, spatial, mode, keepdims):
    with float64_mode():
        fw.utils.set_random_seed(5)
        inp = fw.Input(spatial + (3,))
        out = Dense(2)(cls(keepdims=keepdims)(inp))
        model = fw.Model(inp, out)
        y = np.random.default_rng(7).standard_normal((2,) + out.shape[1:])
        check_gradients(model, [_distinct((2,) + spatial + (3,), seed=8)], [y])


def test_global_max_ties_go_to_the_first_step():
    x = np.array([[[1.0, 2.0], [3.0, 2.0], [3.0, 0.0]]])
    _, dx = run_layer(GlobalMaxPooling1D(), x, np.ones((1, 2)))
    np.testing.assert_array_equal(dx[0], [[0, 1], [1, 0], [0, 0]])


# ----------------------------------------------------------------------------- masks

def _masked_mean(x, mask):
    m = mask[:, :, None] != 0
    return np.where(m, x, 0).sum(axis=1) / m.sum(axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_average_kernels_match_numpy(dtype):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 6, 4)).astype(dtype)
    mask = (rng.random((5, 6)) < 0.6).astype(dtype)
    mask[:, 0] = 1  # every sample has a real step
    x[mask == 0] = np.nan  # masked steps never leak into the result (Keras uses where)
    y = np.empty((5, 4), dtype)
    masked_avg_forward(x, mask, y)
    np.testing.assert_allclose(y, _masked_mean(x, mask), rtol=1e-6)
    dy = rng.standard_normal((5, 4)).astype(dtype)
    dx = np.full_like(x, 7.0)
    masked_avg_backward(dy, mask, dx)
    expected = mask[:, :, None] * dy[:, None, :] / mask.sum(axis=1)[:, None, None]
    np.testing.assert_allclose(dx, expected, rtol=1e-6)


def test_fully_masked_sample_gives_nan_as_keras():
    x, mask, y = np.ones((1, 3, 2)), np.zeros((1, 3)), np.empty((1, 2))
    masked_avg_forward(x, mask, y)
    assert np.isnan(y).all()


def test_masked_average_layer_reads_ctx_input_masks():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 5, 2))
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], dtype=np.float64)
    dy = rng.standard_normal((3, 2))
    y, dx = run_layer(GlobalAveragePooling1D(), x, dy, mask=mask)
    np.testing.assert_allclose(y, _masked_mean(x, mask), rtol=1e-13)
    np.testing.assert_allclose(dx, mask[:, :, None] * dy[:, None, :] / mask.sum(axis=1)[:, None, None], rtol=1e-13)
    y, dx = run_layer(GlobalAveragePooling1D(keepdims=True), x, dy.reshape(3, 1, 2), mask=mask)
    np.testing.assert_allclose(y[:, 0], _masked_mean(x, mask), rtol=1e-13)


class _MaskNonZero(Layer):
    """Test helper that starts a mask, as Masking(0.0) does: a step is real when any feature is nonzero."""

    def compute_output_masks(self, input_masks):
        return Mask((None, self.input_spec_shape[1]))

    def forward(self, ctx):
        x, y, mask = ctx.x, ctx.y, ctx.output_masks[0]

        def step():
            np.copyto(y, x)
            mask[...] = np.any(x != 0, axis=2)
        return [step]

    def backward(self, ctx):
        dy, dx = ctx.dy, ctx.dx
        return [] if dx is None else [lambda: np.copyto(dx, dy)]


def test_mask_flows_through_a_plan_into_global_average_pooling_1d():
    x = np.random.default_rng(11).standard_normal((3, 4, 2))
    x[0, 2:] = 0
    x[2, :3] = 0
    inp = fw.Input((4, 2))
    masked = _MaskNonZero()(inp)
    assert masked.mask is not None
    pooled = GlobalAveragePooling1D()(masked)
    assert pooled.mask is None  # the mask stops at the pooling layer
    model = fw.Model(inp, pooled)
    mask = np.any(x != 0, axis=2).astype(np.float32)
    np.testing.assert_allclose(model.predict(x.astype(np.float32), verbose=0), _masked_mean(x, mask), rtol=1e-6)


def test_masked_global_average_gradients():
    with float64_mode():
        fw.utils.set_random_seed(6)
        inp = fw.Input((5, 3))
        h = Dense(3, activation="tanh")(_MaskNonZero()(inp))
        out = Dense(2)(GlobalAveragePooling1D()(h))
        model = fw.Model(inp, out)
        x = np.random.default_rng(12).standard_normal((3, 5, 3))
        x[0, 3:] = 0
        x[1, 0] = 0
        # inputs are not checked: nudging a zero step would switch its mask on
        check_gradients(model, [x], [np.ones((3, 2))], check_inputs=False)


def test_pooling_layers_return_no_mask():
    token = Mask((None, 6))
    for layer in (MaxPooling1D(2), AveragePooling1D(2), GlobalMaxPooling1D(), GlobalAveragePooling1D()):
        assert layer.compute_output_masks([token]) is None


try:
    from framework.layers import Embedding
    _EMBEDDING_MASKS = True
except ImportError:  # pragma: no cover - written concurrently
    _EMBEDDING_MASKS = False


@pytest.mark.skipif(not _EMBEDDING_MASKS, reason="framework.layers.Embedding is not available yet")
def test_embedding_mask_zero_into_global_average_pooling_1d():
    fw.utils.set_random_seed(0)
    tokens = np.array([[3, 1, 0, 0], [2, 2, 2, 5], [4, 0, 0, 0]])
    inp = fw.Input((4,), dtype="int32")
    embedding = Embedding(6, 3, mask_zero=True)
    out = GlobalAveragePooling1D()(embedding(inp))
    model = fw.Model(inp, out)
    table = embedding.get_weights()[0]
    vectors = table[tokens]
    np.testing.assert_allclose(model.predict(tokens, verbose=0), _masked_mean(vectors, tokens != 0), rtol=1e-6)


# ----------------------------------------------------------------------------- shapes, config, errors

@pytest.mark.parametrize("layer,shape,expected", [
    (MaxPooling2D(), (None, 28, 28, 8), (None, 14, 14, 8)),
    (MaxPooling2D(3, strides=2), (None, 7, 8, 1), (None, 3, 3, 1)),
    (MaxPooling2D(3, strides=2, padding="same"), (None, 7, 8, 1), (None, 4, 4, 1)),
    (AveragePooling2D((2, 3), strides=(1, 2), padding="SAME"), (None, 5, 5, 2), (None, 5, 3, 2)),
    (MaxPooling1D(), (None, 9, 4), (None, 4, 4)),
    (AveragePooling1D(3, strides=1), (None, 9, 4), (None, 7, 4)),
    (AveragePooling1D(4, padding="same"), (None, 9, 4), (None, 3, 4)),
    (GlobalMaxPooling2D(), (None, 3, 4, 5), (None, 5)),
    (GlobalAveragePooling2D(keepdims=True), (None, 3, 4, 5), (None, 1, 1, 5)),
    (GlobalAveragePooling1D(keepdims=True), (None, 3, 5), (None, 1, 5)),
])
def test_output_shapes(layer, shape, expected):
    assert layer.compute_output_shape(shape) == expected
    assert layer(fw.Input(shape[1:])).shape == expected


def test_layers_reused_on_other_shapes():
    pool = MaxPooling2D()
    assert pool(fw.Input((4, 4, 2))).shape == (None, 2, 2, 2)
    assert pool(fw.Input((6, 8, 3))).shape == (None, 3, 4, 3)


@pytest.mark.parametrize("layer", [
    MaxPooling1D(3, strides=2, padding="same"), MaxPooling2D((2, 3), strides=(1, 2)),
    AveragePooling1D(2), AveragePooling2D(3, padding="same"),
    GlobalMaxPooling1D(keepdims=True), GlobalMaxPooling2D(), GlobalAveragePooling1D(),
    GlobalAveragePooling2D(keepdims=True),
], ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    import yaml
    config = layer.get_config()
    assert yaml.safe_load(yaml.safe_dump(config)) == config
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_defaults_as_keras():
    config = MaxPooling2D().get_config()
    assert config["pool_size"] == [2, 2] and config["strides"] == [2, 2] and config["padding"] == "valid"
    assert config["data_format"] == "channels_last"
    assert MaxPooling1D().get_config()["pool_size"] == [2]
    assert AveragePooling2D(3, strides=1).get_config()["strides"] == [1, 1]
    assert GlobalAveragePooling2D().get_config()["keepdims"] is False


@pytest.mark.parametrize("layer,shape", [
    (MaxPooling2D(name="pool_rank"), (28, 28)),
    (AveragePooling1D(2, name="pool_rank"), (4, 4, 1)),
    (GlobalMaxPooling2D(name="pool_rank"), (5, 3)),
    (GlobalAveragePooling1D(name="pool_rank"), (5,)),
])
def test_wrong_rank_names_layer_and_shapes(layer, shape):
    with pytest.raises(ValueError) as info:
        layer(fw.Input(shape))
    message = str(info.value)
    assert "pool_rank" in message and type(layer).__name__ in message
    assert "(None, " + ", ".join(map(str, shape)) in message


def test_pool_larger_than_input_with_valid_padding():
    with pytest.raises(ValueError) as info:
        MaxPooling2D((3, 3), name="big_pool")(fw.Input((2, 5, 1)))
    assert "big_pool" in str(info.value) and "(None, 2, 5, 1)" in str(info.value)
    with pytest.raises(ValueError, match="pool_size"):
        AveragePooling1D(4)(fw.Input((3, 2)))
    assert MaxPooling2D((3, 3), padding="same")(fw.Input((2, 5, 1))).shape == (None, 1, 2, 1)


@pytest.mark.parametrize("kwargs,match", [
    ({"padding": "full"}, "padding must be one of valid, same"),
    ({"data_format": "channels_first"}, "channels_first"),
    ({"data_format": "nchw"}, "data_format"),
    ({"pool_size": 0}, "pool_size"),
    ({"pool_size": (2, 2, 2)}, "pool_size"),
    ({"pool_size": 2.5}, "pool_size"),
    ({"strides": (1, 0)}, "strides"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaxPooling2D(**kwargs)


def test_global_pooling_refuses_channels_first():
    with pytest.raises(ValueError, match="channels_first"):
        GlobalAveragePooling2D(data_format="channels_first")


# ----------------------------------------------------------------------------- allocation

def test_train_step_allocates_nothing():
    fw.utils.set_random_seed(0)
    inp = fw.Input((9, 9, 3))
    h = Dense(4, activation="relu")(inp)
    h = MaxPooling2D(2)(h)
    h = AveragePooling2D(3, strides=1, padding="same")(h)
    h = MaxPooling2D(3, strides=2, padding="same")(h)
    a = GlobalAveragePooling2D()(h)
    b = GlobalMaxPooling2D()(h)
    seq = MaxPooling1D(2, padding="same")(fw.layers.Reshape((-1, 4))(h))
    c = GlobalAveragePooling1D()(AveragePooling1D(2, strides=1)(seq))
    out = Dense(2)(fw.layers.Concatenate()([a, b, c]))
    model = fw.Model(inp, out)
    x = np.random.default_rng(0).standard_normal((16, 9, 9, 3)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, np.zeros((16, 2), np.float32))
    plan = model.plan("train", 16)
    assert_no_allocation(plan.train_step, calls=50, held=1024, peak=4096)
