"""Models declared with unknown sizes (``Input((None,))``, ``Input((None, None, 3))``).

Such a model gets one plan per batch shape, traced again at that shape. The reference is
the same architecture declared with the sizes written out: built under the same seed it has
the same weights, and it must predict and train to the same bits.
"""
import numpy as np
import pytest

import framework as fw
from framework import layers as L
from framework.models import model_from_yaml
from framework.models.summary import summary_text


def text_tagger(steps):
    x = fw.Input((steps,), dtype="int32")
    h = L.Embedding(30, 6, mask_zero=True)(x)
    h = L.Bidirectional(L.LSTM(5, return_sequences=True))(h)
    h = L.GRU(4, return_sequences=True)(h)
    return fw.Model(x, L.TimeDistributed(L.Dense(3, activation="softmax"))(h))


def text_classifier(steps):
    return fw.Sequential([fw.Input((steps,), dtype="int32"), L.Embedding(30, 6, mask_zero=True),
                          L.SimpleRNN(4), L.Dense(1, activation="sigmoid")])


def image_net(height, width):
    return fw.Sequential([
        fw.Input((height, width, 2)),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu"), L.BatchNormalization(),
        L.MaxPooling2D(2, padding="same"), L.Conv2DTranspose(3, 3, strides=2, padding="same"),
        L.UpSampling2D(2), L.ZeroPadding2D(1), L.Cropping2D(((1, 0), (0, 1))), L.DepthwiseConv2D(3),
        L.SeparableConv2D(3, 3, padding="same"), L.AveragePooling2D(2), L.GlobalAveragePooling2D(),
        L.Dense(2)])


def causal_conv(steps):
    return fw.Sequential([fw.Input((steps, 3)), L.Conv1D(4, 3, padding="causal", dilation_rate=2),
                          L.LayerNormalization(), L.Dense(4, activation="tanh"), L.Conv1D(2, 2, strides=2),
                          L.GlobalMaxPooling1D(), L.Dense(1)])


def self_attention(steps):
    x = fw.Input((steps, 8))
    h = L.MultiHeadAttention(2, 4)(x, x)
    h = L.LayerNormalization()(x + h)
    return fw.Model(x, L.Dense(2)(L.GlobalAveragePooling1D()(h)))


def make(builder, sizes):
    fw.utils.set_random_seed(3)
    model = builder(*sizes)
    model.compile(fw.optimizers.Adam(0.01), LOSSES[builder])
    return model


LOSSES = {text_tagger: "sparse_categorical_crossentropy", text_classifier: "binary_crossentropy",
          image_net: "mse", causal_conv: "mse", self_attention: "mse"}


def data(builder, shape, seed=0):
    """Inputs and targets for a batch of ``shape`` (batch axis first)."""
    rng = np.random.default_rng(seed)
    n = shape[0]
    if builder is text_tagger:
        x = rng.integers(0, 30, shape).astype("int32")
        x[:, -2:] = 0  # padding, masked
        return x, rng.integers(0, 3, shape)
    if builder is text_classifier:
        x = rng.integers(1, 30, shape).astype("int32")
        x[0, -3:] = 0
        return x, rng.integers(0, 2, (n, 1)).astype("float32")
    x = rng.standard_normal(shape).astype("float32")
    return x, rng.standard_normal((n, 2 if builder in (image_net, self_attention) else 1)).astype("float32")


CASES = [(text_tagger, (None,), (9,)), (text_classifier, (None,), (7,)),
         (image_net, (None, None), (13, 10)), (causal_conv, (None,), (11,)), (self_attention, (None,), (6,))]


@pytest.mark.parametrize("builder,unknown,known", CASES, ids=[c[0].__name__ for c in CASES])
def test_unknown_sizes_train_and_predict_as_the_declared_model(builder, unknown, known):
    loose, fixed = make(builder, unknown), make(builder, known)
    x, y = data(builder, (16,) + known + ((2,) if builder is image_net else (3,) if builder is causal_conv
                                          else (8,) if builder is self_attention else ()))
    for a, b in zip(loose.get_weights(), fixed.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loose.predict(x, verbose=0), fixed.predict(x, verbose=0))
    histories = []
    for model in (loose, fixed):
        fw.utils.set_random_seed(5)  # the same shuffles
        histories.append(model.fit(x, y, batch_size=6, epochs=2, verbose=0, validation_split=0.25).history)
    h_loose, h_fixed = histories
    assert h_loose == h_fixed
    for a, b in zip(loose.get_weights(), fixed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loose.evaluate(x, y, verbose=0) == fixed.evaluate(x, y, verbose=0)


def test_a_plan_per_shape_and_each_shape_like_its_declared_model():
    loose = make(causal_conv, (None,))
    for steps in (5, 12, 5, 8):
        x, _ = data(causal_conv, (3, steps, 3), seed=steps)
        fixed = make(causal_conv, (steps,))
        np.testing.assert_array_equal(loose(x), fixed(x))
        np.testing.assert_array_equal(loose.predict(x, batch_size=2, verbose=0), fixed.predict(x, verbose=0))
    shapes = {key[3] for key in loose.plan_cache.keys()}
    assert shapes == {((5, 3),), ((12, 3),), ((8, 3),)}
    assert len(loose.plan_cache) == 9  # per shape, one each for 3 samples (model(x)), 2 and 1 (predict); 5 again adds none


def test_a_generator_of_batches_of_varying_length():
    """Each batch its own length, as a bucketing generator gives them; same as step by step."""
    batches = [data(text_tagger, (4, steps), seed=steps) for steps in (6, 9, 6, 4)]
    by_fit, by_step = make(text_tagger, (None,)), make(text_tagger, (None,))
    by_fit.fit(iter(batches), steps_per_epoch=4, epochs=1, verbose=0)
    for x, y in batches:
        by_step.train_on_batch(x, y)
    for a, b in zip(by_fit.get_weights(), by_step.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(by_fit.evaluate(*batches[1], verbose=0))


def test_targets_must_fit_the_batch_shape():
    model = make(text_tagger, (None,))
    x, y = data(text_tagger, (4, 7))
    with pytest.raises(ValueError, match=r"expects targets of shape \(None, 7\), received \(4, 6\)"):
        model.fit(x, y[:, :6], verbose=0)
    with pytest.raises(ValueError, match=r"expects samples of shape \(None, None, 2\)"):
        make(image_net, (None, None)).predict(np.zeros((2, 8, 8, 3), "float32"), verbose=0)


def test_layers_accept_any_size_where_they_were_built_with_none():
    layer = L.Dense(3)
    layer(fw.Input((None, 4)))
    assert layer(fw.Input((7, 4))).shape == (None, 7, 3)
    with pytest.raises(ValueError, match=r"Layer 'dense\w*' \(Dense\) expected input shape \(None, None, 4\)"):
        layer(fw.Input((7, 5)))


def test_summary_config_and_saving_keep_unknown_sizes(tmp_path):
    model = make(text_tagger, (None,))
    x, y = data(text_tagger, (5, 8))
    model.fit(x, y, verbose=0)
    text = summary_text(model)
    assert "(None, None, 6)" in text and "depend on the input sizes" in text
    rebuilt = model_from_yaml(model.to_yaml())
    rebuilt.set_weights(model.get_weights())
    assert rebuilt.inputs[0].shape == (None, None)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
    model.save(tmp_path / "tagger.fw")
    loaded = fw.models.load_model(tmp_path / "tagger.fw")
    x3, _ = data(text_tagger, (2, 3))
    np.testing.assert_array_equal(loaded.predict(x3, verbose=0), model.predict(x3, verbose=0))
