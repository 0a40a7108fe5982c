"""Masks in layers written with ``call()``: ``call(inputs, mask=None)``, ``compute_mask(inputs, mask)``,
``supports_masking``, ``layer(x, mask=m)``, ``_keras_mask``, on symbolic tensors and on arrays."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation


@fw.utils.register_serializable(package="tests")
class MaskedMean(layers.Layer):
    """Mean over the real steps of a sequence: a mask consumer."""

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        return ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)


@fw.utils.register_serializable(package="tests")
class DropFirstStep(layers.Layer):
    """Removes the first step and shifts the mask with it: a mask modifier."""

    def call(self, inputs):
        return inputs[:, 1:]

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[:, 1:]


@fw.utils.register_serializable(package="tests")
class NonZeroSteps(layers.Layer):
    """Starts a mask: a step is real when any feature is not 0 (as Masking(0.0), written with ops)."""

    def call(self, inputs):
        return ops.tanh(inputs)

    def compute_mask(self, inputs, mask=None):
        return ops.any(ops.not_equal(inputs, 0), axis=-1)


def _masked_mean(x, mask):
    w = mask[:, :, None].astype(x.dtype)
    return (x * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1.0)


def test_a_mask_consumer_receives_the_mask_of_its_input():
    inp = fw.Input((5,), dtype="int32")
    emb = layers.Embedding(20, 3, mask_zero=True)
    model = fw.Model(inp, MaskedMean()(emb(inp)))
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7], [8, 0, 0, 0, 0]])
    vectors = np.asarray(emb(ids))
    np.testing.assert_allclose(model.predict(ids, verbose=0), _masked_mean(vectors, ids != 0), rtol=1e-6)
    # on arrays: the embedding's output carries the mask, and call() receives it
    np.testing.assert_allclose(np.asarray(MaskedMean()(emb(ids))), _masked_mean(vectors, ids != 0), rtol=1e-6)


def test_an_explicit_mask_argument_is_an_input_of_the_node_and_survives_saving(tmp_path):
    fw.utils.set_random_seed(3)
    x_in, m_in = fw.Input((4, 2)), fw.Input((4,))
    out = layers.Dense(1)(MaskedMean()(x_in, mask=ops.greater(m_in, 0.5)))
    model = fw.Model([x_in, m_in], out)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4, 2)).astype("float32")
    m = (rng.random((6, 4)) > 0.4).astype("float32")
    dense = model.layers[-1]
    expected = _masked_mean(x, m > 0.5) @ np.asarray(dense.kernel.value) + np.asarray(dense.bias.value)
    np.testing.assert_allclose(model.predict([x, m], verbose=0), expected, rtol=1e-5)
    model.save(tmp_path / "masked.fw")
    loaded = fw.models.load_model(tmp_path / "masked.fw")
    np.testing.assert_allclose(loaded.predict([x, m], verbose=0), expected, rtol=1e-5)


def test_a_modified_mask_reaches_the_next_consumer():
    inp = fw.Input((6,), dtype="int32")
    emb = layers.Embedding(20, 3, mask_zero=True)
    shifted = DropFirstStep()(emb(inp))
    assert shifted._keras_mask.shape == (None, 5)
    model = fw.Model(inp, MaskedMean()(shifted))
    ids = np.array([[4, 5, 6, 0, 0, 0], [0, 9, 9, 9, 0, 0]])
    vectors = np.asarray(emb(ids))[:, 1:]
    np.testing.assert_allclose(model.predict(ids, verbose=0), _masked_mean(vectors, ids[:, 1:] != 0), rtol=1e-6)


def test_a_custom_layer_starts_a_mask_that_an_lstm_honours():
    inp = fw.Input((None, 2))
    lstm = layers.LSTM(3)
    model = fw.Model(inp, lstm(NonZeroSteps()(inp)))
    x = np.random.default_rng(1).standard_normal((1, 5, 2)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 3, 2), "float32")], axis=1)
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
    # called on arrays, the output carries the mask compute_mask() gives
    assert np.asarray(NonZeroSteps()(padded)._keras_mask).tolist() == [[True] * 5 + [False] * 3]


def test_a_mask_passes_through_a_nested_model():
    inner = fw.Sequential([layers.Dense(4, activation="tanh"), layers.LSTM(3)])
    inp = fw.Input((None,), dtype="int32")
    model = fw.Model(inp, inner(layers.Embedding(30, 5, mask_zero=True)(inp)))
    padded, unpadded = np.array([[3, 4, 5, 0, 0]]), np.array([[3, 4, 5]])
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(unpadded, verbose=0), rtol=1e-5)


def test_gradients_through_custom_mask_layers_match_finite_differences():
    with float64_mode():
        fw.utils.set_random_seed(8)
        inp = fw.Input((5, 3))
        h = layers.Dense(3, activation="tanh")(DropFirstStep()(NonZeroSteps()(inp)))
        out = layers.Dense(2)(MaskedMean()(h))
        model = fw.Model(inp, out)
        x = np.random.default_rng(9).standard_normal((4, 5, 3))
        x[0, 3:] = 0
        x[2, 1] = 0
        # inputs are not checked: nudging a zero step would switch its mask on
        check_gradients(model, [x], [np.random.default_rng(10).standard_normal((4, 2))], check_inputs=False)


def test_a_masked_custom_model_trains_without_allocating():
    fw.utils.set_random_seed(2)
    inp = fw.Input((8,), dtype="int32")
    h = layers.Embedding(50, 8, mask_zero=True)(inp)
    out = layers.Dense(1, activation="sigmoid")(MaskedMean()(DropFirstStep()(h)))
    model = fw.Model(inp, out)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 50, (256, 8))
    ids[rng.random((256, 8)) < 0.3] = 0
    y = (ids[:, 1:] % 2 == 0).sum(axis=1, keepdims=True) > (ids[:, 1:] != 0).sum(axis=1, keepdims=True) / 2
    history = model.fit(ids, y.astype("float32"), epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    plan = model.plan("train", 32)
    for buffer in plan.inputs + plan.targets + plan.sample_weights:
        buffer.fill(1)
    assert_no_allocation(plan.train_step, calls=20, held=1024, peak=48 * 1024)


def test_mask_errors_name_the_layer():
    class ReturnsArray(layers.Layer):
        def call(self, inputs):
            return inputs

        def compute_mask(self, inputs, mask=None):
            return np.ones((2, 3), bool)

    inp = fw.Input((3, 2))
    with pytest.raises(TypeError, match=r"Layer 'returns_array.*' \(ReturnsArray\): compute_mask\(\) returned "
                                        r"ndarray; return a mask computed from its inputs with framework.ops"):
        ReturnsArray()(inp)
    with pytest.raises(TypeError, match=r"mask= on symbolic inputs must be a symbolic \(batch, steps\) tensor"):
        MaskedMean()(inp, mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"WithMask.*mask \(None, 4\) for a tensor \(None, 2, 2\)"):
        DropFirstStep()(inp, mask=fw.Input((5,)))
    with pytest.raises(TypeError, match=r"Dense.* takes no mask argument"):
        layers.Dense(2)(np.ones((1, 2)), False, np.ones((1, 2)))
