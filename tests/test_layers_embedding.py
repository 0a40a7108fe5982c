"""Embedding and Masking: lookups against NumPy, masks they start, id range errors,
gradients in float64, config round trip, and an allocation-free train step."""
import numpy as np
import pytest
import yaml

import framework as fw
from framework import layers
from framework.graph.tensor import Mask
from gradcheck import _loss, _plans, check_gradients, float64_mode
from helpers import assert_no_allocation


@pytest.fixture(autouse=True)
def _seed():
    fw.utils.set_random_seed(0)


def _ids(rng, batch=4, steps=6, vocab=9):
    ids = rng.integers(1, vocab, (batch, steps))
    ids[0, 4:] = 0
    ids[2, 1:] = 0
    ids[3, :2] = 3  # repeated ids: their gradients add up
    return ids


# ----------------------------------------------------------------------------- Embedding

@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_embedding_forward_is_a_row_lookup(dtype):
    ids = _ids(np.random.default_rng(0))
    inputs = fw.Input((6,), dtype=dtype)
    embedding = layers.Embedding(9, 4)
    model = fw.Model(inputs, embedding(inputs))
    table = embedding.get_weights()[0]
    assert table.shape == (9, 4) and embedding.weights[0].name == "embeddings"
    assert np.abs(table).max() <= 0.05  # Keras's 'uniform' initializer: RandomUniform(-0.05, 0.05)
    np.testing.assert_array_equal(model.predict(ids.astype(dtype), verbose=0), table[ids])


def test_embedding_eager_call_and_any_rank():
    embedding = layers.Embedding(5, 3)
    ids = np.array([[[1, 2], [4, 0]]])
    out = embedding(ids)
    assert out.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(out, embedding.get_weights()[0][ids])


def test_embedding_mask_zero_starts_a_mask_used_by_the_loss():
    rng = np.random.default_rng(1)
    ids = _ids(rng)
    inputs = fw.Input((6,), dtype="int32")
    embedded = layers.Embedding(9, 3, mask_zero=True)(inputs)
    assert isinstance(embedded.mask, Mask) and embedded.mask.shape == (None, 6)
    outputs = layers.Dense(2)(embedded)
    assert outputs.mask is embedded.mask
    model = fw.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    y = rng.normal(size=(4, 6, 2))
    loss = model.evaluate(ids, y, batch_size=4, verbose=0)
    per_step = ((model.predict(ids, verbose=0) - y) ** 2).mean(axis=-1)
    assert loss == pytest.approx(per_step[ids != 0].mean(), rel=1e-5)


def test_embedding_without_mask_zero_starts_no_mask():
    inputs = fw.Input((6,), dtype="int32")
    assert layers.Embedding(9, 3)(inputs).mask is None


@pytest.mark.parametrize("bad", [9, -1, 100])
def test_embedding_ids_out_of_range_name_layer_id_and_range(bad):
    inputs = fw.Input((3,), dtype="int32")
    model = fw.Model(inputs, layers.Embedding(9, 2, name="tokens")(inputs))
    ids = np.array([[1, 2, 3], [4, bad, 5]])
    with pytest.raises(ValueError, match=rf"'tokens'.*id {bad} at index \(1, 1\).*\[0, 9\)"):
        model.predict(ids, verbose=0)


def test_embedding_bad_id_in_fit_raises():
    inputs = fw.Input((3,), dtype="int32")
    model = fw.Model(inputs, layers.Flatten()(layers.Embedding(4, 2)(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"token id 7"):
        model.fit(np.array([[1, 2, 7]] * 4), np.zeros((4, 6)), verbose=0)


def test_embedding_constructor_errors():
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        layers.Embedding(0, 3)
    with pytest.raises(ValueError, match="output_dim"):
        layers.Embedding(3, 2.5)
    with pytest.raises(ValueError, match=r"mask_zero=True needs ids of shape \(batch, steps\)"):
        layers.Embedding(3, 2, mask_zero=True)(fw.Input((2, 3), dtype="int32"))


def test_embedding_gradient_scatter_adds_rows():
    with float64_mode():
        rng = np.random.default_rng(2)
        ids = _ids(rng)
        inputs = fw.Input((6,), dtype="int32")
        embedding = layers.Embedding(9, 3, embeddings_initializer="random_normal",
                                     embeddings_regularizer="l2")
        model = fw.Model(inputs, layers.Dense(2, activation="tanh")(embedding(inputs)))
        assert check_gradients(model, [ids], [rng.normal(size=(4, 6, 2))], limit=30) >= 30


def test_embedding_gradient_with_mask_zero():
    with float64_mode():
        rng = np.random.default_rng(3)
        ids = _ids(rng)
        inputs = fw.Input((6,), dtype="int32")
        embedded = layers.Embedding(9, 3, mask_zero=True, embeddings_initializer="random_normal")(inputs)
        model = fw.Model(inputs, layers.Dense(2)(embedded))
        check_gradients(model, [ids], [rng.normal(size=(4, 6, 2))])


def test_embedding_config_round_trip_and_keras_names():
    embedding = layers.Embedding(7, 2, mask_zero=True, embeddings_regularizer="l2",
                                 embeddings_constraint="non_neg")
    config = embedding.get_config()
    text = yaml.safe_dump(config)
    rebuilt = layers.Embedding.from_config(yaml.safe_load(text))
    assert yaml.safe_dump(rebuilt.get_config()) == text
    assert config["input_dim"] == 7 and config["mask_zero"] is True
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"


# ----------------------------------------------------------------------------- Masking

def _padded(rng, mask_value=0.0):
    x = rng.normal(size=(4, 5, 3))
    x[0, 3:] = mask_value
    x[1, :2] = mask_value
    x[2, 1, 0] = mask_value  # one feature equal to mask_value does not mask the step
    return x


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_zeroes_masked_steps_and_starts_a_mask(mask_value):
    rng = np.random.default_rng(4)
    x = _padded(rng, mask_value).astype(np.float32)
    inputs = fw.Input((5, 3))
    masked = layers.Masking(mask_value=mask_value)(inputs)
    assert isinstance(masked.mask, Mask) and masked.mask.shape == (None, 5)
    keep = np.any(x != mask_value, axis=-1)
    out = fw.Model(inputs, masked).predict(x, verbose=0)
    np.testing.assert_array_equal(out, np.where(keep[..., None], x, 0.0))
    model = fw.Model(inputs, layers.Dense(2)(masked))
    model.compile(optimizer="sgd", loss="mse")
    y = rng.normal(size=(4, 5, 2))
    per_step = ((model.predict(x, verbose=0) - y) ** 2).mean(axis=-1)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(per_step[keep].mean(), rel=1e-5)


def test_masking_gradients():
    """Weights through the masked steps; the input gradient is dy at kept steps and 0 at masked
    ones (finite differences only at kept steps: nudging a masked step unmasks it)."""
    with float64_mode():
        rng = np.random.default_rng(5)
        x = _padded(rng)
        y = rng.normal(size=(4, 5, 2))
        inputs = fw.Input((5, 3))
        model = fw.Model(inputs, layers.Dense(2, activation="tanh")(layers.Masking()(inputs)))
        check_gradients(model, [x], [y], check_inputs=False)
        train, evaluate, _ = _plans(model, [x], [y], "mse")
        train.train_step()
        analytic = train.input_grads[0].copy()
        keep = np.any(x != 0, axis=-1)
        assert np.all(analytic[~keep] == 0) and np.abs(analytic[keep]).max() > 1e-6
        source = evaluate.inputs[0]
        for b, t in zip(*np.nonzero(keep)):
            for f in range(3):
                saved = source[b, t, f]
                source[b, t, f] = saved + 1e-6
                up = _loss(model, evaluate)
                source[b, t, f] = saved - 1e-6
                down = _loss(model, evaluate)
                source[b, t, f] = saved
                assert analytic[b, t, f] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7)


def test_masking_needs_rank_3_and_round_trips():
    with pytest.raises(ValueError, match=r"'pad'.*\(None, None, None\), received \(None, 4\)"):
        layers.Masking(name="pad")(fw.Input((4,)))
    config = layers.Masking(mask_value=-1).get_config()
    assert layers.Masking.from_config(yaml.safe_load(yaml.safe_dump(config))).mask_value == -1.0


# ----------------------------------------------------------------------------- allocation

def test_train_step_with_embedding_and_masking_allocates_nothing():
    rng = np.random.default_rng(6)
    tokens, features = fw.Input((6,), dtype="int32"), fw.Input((5, 3))
    token_out = layers.Dense(2)(layers.Embedding(9, 3, mask_zero=True)(tokens))
    feature_out = layers.Dense(2)(layers.Masking()(features))
    model = fw.Model([tokens, features], [token_out, feature_out])
    model.compile(optimizer="adam", loss="mse")
    x = [_ids(rng, batch=16), np.concatenate([_padded(rng) for _ in range(4)])]
    y = [rng.normal(size=(16, 6, 2)), rng.normal(size=(16, 5, 2))]
    for _ in range(2):
        model.train_on_batch(x, y)
    plan = model.plan("train", 16)
    assert_no_allocation(plan.train_step, calls=50)
