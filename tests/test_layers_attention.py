"""Attention and MultiHeadAttention: outputs against NumPy references (heads, key_dim !=
value_dim, output_shape, masks, causal, scores), finite-difference gradients in float64,
dropout, an allocation-free train step, configs and model YAML, and input errors."""
import math

import numpy as np
import pytest
import yaml

import framework as fw
from framework import layers
from framework.models import model_from_yaml
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation

B, T, S = 3, 4, 5


@pytest.fixture(autouse=True)
def _seed():
    fw.utils.set_random_seed(0)


# ----------------------------------------------------------------------------- references

def softmax_ref(logits, allowed=None):
    """Softmax over the last axis over allowed positions; rows with none allowed are 0."""
    if allowed is not None:
        logits = np.where(allowed, logits, -np.inf)
    top = logits.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(logits - top)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def allowed_ref(t, s, query_mask=None, value_mask=None, attention_mask=None, causal=False, batch=B):
    allowed = np.ones((batch, t, s), bool)
    if query_mask is not None:
        allowed &= query_mask[:, :, None].astype(bool)
    if value_mask is not None:
        allowed &= value_mask[:, None, :].astype(bool)
    if attention_mask is not None:
        allowed &= attention_mask.astype(bool)
    if causal:
        allowed &= np.tril(np.ones((t, s), bool))[None]
    return allowed


def mha_ref(layer, query, value, key=None, allowed=None):
    """Keras's MultiHeadAttention in einsum form; returns (output, scores)."""
    key = value if key is None else key
    weights = layer.get_weights()
    if not layer.use_bias:
        weights = [weights[0], 0, weights[1], 0, weights[2], 0, weights[3], 0]
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    q = np.einsum("btd,dhk->bthk", query, wq) + bq
    k = np.einsum("bsd,dhk->bshk", key, wk) + bk
    v = np.einsum("bsd,dhv->bshv", value, wv) + bv
    scores = np.einsum("bthk,bshk->bhts", q, k) / math.sqrt(layer.key_dim)
    probs = softmax_ref(scores, None if allowed is None else allowed[:, None])
    context = np.einsum("bhts,bshv->bthv", probs, v)
    out = np.einsum("bthv,hvo->bto", context, wo.reshape(wo.shape[0], wo.shape[1], -1)) + np.reshape(bo, -1)
    return out.reshape(out.shape[:2] + wo.shape[2:]), probs


def attention_ref(layer, query, value, key=None, value_mask=None, query_mask=None, causal=False):
    """Keras's Attention (Luong) in NumPy; returns (output, scores)."""
    key = value if key is None else key
    weights = [float(np.reshape(w, -1)[0]) for w in layer.get_weights()]
    scale = weights[0] if layer.use_scale else 1.0
    if layer.score_mode == "dot":
        scores = scale * query @ key.transpose(0, 2, 1)
    else:
        scores = weights[-1] * np.tanh(scale * (query[:, :, None, :] + key[:, None, :, :])).sum(-1)
    allowed = allowed_ref(query.shape[1], key.shape[1], value_mask=value_mask, causal=causal,
                          batch=query.shape[0])
    probs = softmax_ref(scores, allowed)
    out = probs @ value
    if query_mask is not None:
        out = np.where(query_mask[:, :, None].astype(bool), out, 0.0)
    return out, probs


def _rng(seed):
    return np.random.default_rng(seed)


def _data(rng, dims=(6, 7, 5)):
    return (rng.normal(size=(B, T, dims[0])), rng.normal(size=(B, S, dims[1])), rng.normal(size=(B, S, dims[2])))


def _attention_mask(rng):
    mask = (rng.random((B, T, S)) > 0.3).astype(np.int32)
    mask[0, 1] = 0  # a query step that may attend to nothing
    return mask


def _mha_model(layer, with_key=False, with_mask=False, dims=(6, 7, 5), mask_dtype="int32", **call):
    query, value = fw.Input((T, dims[0])), fw.Input((S, dims[1]))
    inputs, kwargs = [query, value], dict(call)
    if with_key:
        kwargs["key"] = fw.Input((S, dims[2]))
        inputs.append(kwargs["key"])
    if with_mask:
        kwargs["attention_mask"] = fw.Input((T, S), dtype=mask_dtype)
        inputs.append(kwargs["attention_mask"])
    return fw.Model(inputs, layer(query, value, **kwargs))


MHA_CONFIGS = [
    dict(num_heads=2, key_dim=3),
    dict(num_heads=3, key_dim=2, value_dim=4, output_shape=(2, 3)),
    dict(num_heads=4, key_dim=3, value_dim=2, output_shape=5, use_bias=False),
]


# ----------------------------------------------------------------------------- MultiHeadAttention forward

def test_mha_weights_have_keras_names_shapes_and_order():
    layer = layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, output_shape=(2, 5))
    _mha_model(layer, with_key=True)
    assert [(w.name, w.shape) for w in layer.weights] == [
        ("query/kernel", (6, 3, 2)), ("query/bias", (3, 2)), ("key/kernel", (5, 3, 2)), ("key/bias", (3, 2)),
        ("value/kernel", (7, 3, 4)), ("value/bias", (3, 4)), ("attention_output/kernel", (3, 4, 2, 5)),
        ("attention_output/bias", (2, 5))]
    no_bias = layers.MultiHeadAttention(num_heads=2, key_dim=2, use_bias=False)
    _mha_model(no_bias)
    assert [w.name for w in no_bias.weights] == ["query/kernel", "key/kernel", "value/kernel",
                                                 "attention_output/kernel"]


@pytest.mark.parametrize("config", MHA_CONFIGS, ids=["2heads", "kd_ne_vd_outshape", "4heads_nobias"])
@pytest.mark.parametrize("with_key", [False, True], ids=["kv", "k"])
@pytest.mark.parametrize("with_mask,causal", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["plain", "mask", "causal", "mask_causal"])
def test_mha_forward_matches_numpy(config, with_key, with_mask, causal):
    rng = _rng(1)
    query, value, key = _data(rng)
    mask = _attention_mask(rng)
    layer = layers.MultiHeadAttention(**config, bias_initializer="random_normal")
    model = _mha_model(layer, with_key, with_mask, use_causal_mask=causal, return_attention_scores=True)
    xs = [query, value] + ([key] if with_key else []) + ([mask] if with_mask else [])
    out, scores = model.predict(xs, verbose=0)
    allowed = allowed_ref(T, S, attention_mask=mask if with_mask else None, causal=causal)
    ref_out, ref_scores = mha_ref(layer, query, value, key if with_key else None,
                                  allowed if (with_mask or causal) else None)
    assert out.shape == (B, T) + tuple(np.atleast_1d(config.get("output_shape", 6)))
    assert scores.shape == (B, config["num_heads"], T, S)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)
    if with_mask:
        assert np.all(scores[0, :, 1] == 0)  # a row with nothing to attend to: all-zero weights


def test_mha_without_scores_matches_and_bool_mask_eager_call():
    rng = _rng(2)
    query, value, _ = _data(rng)
    mask = _attention_mask(rng).astype(bool)
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    out = layer(query.astype(np.float32), value.astype(np.float32), attention_mask=mask)
    ref, _ = mha_ref(layer, query, value, allowed=allowed_ref(T, S, attention_mask=mask))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    out2, scores = layer(query.astype(np.float32), value.astype(np.float32), return_attention_scores=True)
    assert scores.shape == (B, 2, T, S) and np.allclose(scores.sum(-1), 1, atol=1e-6)


def test_mha_self_attention_with_incoming_masks_keeps_the_query_mask():
    rng = _rng(3)
    ids = rng.integers(1, 9, (B, T))
    ids[0, 2:] = 0
    ids[1, 3] = 0
    tokens = fw.Input((T,), dtype="int32")
    embedding = layers.Embedding(9, 6, mask_zero=True)
    x = embedding(tokens)
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    out, scores = layer(x, x, return_attention_scores=True, use_causal_mask=True)
    assert out.mask is x.mask and scores.mask is None
    got_out, got_scores = fw.Model(tokens, [out, scores]).predict(ids, verbose=0)
    e = embedding.get_weights()[0][ids]
    keep = ids != 0
    ref_out, ref_scores = mha_ref(layer, e, e, allowed=allowed_ref(T, T, keep, keep, causal=True))
    np.testing.assert_allclose(got_scores, ref_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_out, ref_out, rtol=1e-4, atol=1e-5)
    assert np.all(got_scores[0, :, 2:] == 0)  # padded query steps attend to nothing


def test_mha_value_and_key_masks_combine_with_attention_mask():
    rng = _rng(4)
    query = rng.normal(size=(B, T, 3)).astype(np.float32)
    value = rng.normal(size=(B, S, 3)).astype(np.float32)
    value[0, 3:] = 0.0
    value[2, 0] = 0.0
    key = rng.normal(size=(B, S, 2)).astype(np.float32)
    key[1, 1] = 0.0
    mask = _attention_mask(rng)
    iq, iv, ik, im = fw.Input((T, 3)), fw.Input((S, 3)), fw.Input((S, 2)), fw.Input((T, S), dtype="int32")
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=2)
    out = layer(iq, layers.Masking()(iv), key=layers.Masking()(ik), attention_mask=im)
    assert out.mask is None
    got = fw.Model([iq, iv, ik, im], out).predict([query, value, key, mask], verbose=0)
    value_keep, key_keep = np.any(value != 0, -1), np.any(key != 0, -1)
    allowed = allowed_ref(T, S, value_mask=value_keep & key_keep, attention_mask=mask)
    ref, _ = mha_ref(layer, query, np.where(value_keep[..., None], value, 0), key, allowed)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_mha_layer_called_twice_with_different_options_shares_weights():
    rng = _rng(5)
    x = rng.normal(size=(B, T, 4))
    inputs = fw.Input((T, 4))
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=2)
    model = fw.Model(inputs, [layer(inputs, inputs), layer(inputs, inputs, use_causal_mask=True)])
    plain, causal = model.predict(x, verbose=0)
    np.testing.assert_allclose(plain, mha_ref(layer, x, x)[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(causal, mha_ref(layer, x, x, allowed=allowed_ref(T, T, causal=True))[0],
                               rtol=1e-4, atol=1e-5)


def test_mha_sliding_window():
    rng = _rng(6)
    x = rng.normal(size=(B, T, 4))
    layer = layers.MultiHeadAttention(num_heads=1, key_dim=2, sliding_window=2)
    out = layer(x.astype(np.float32), x.astype(np.float32))
    band = np.abs(np.arange(T)[:, None] - np.arange(T)[None]) < 2
    np.testing.assert_allclose(out, mha_ref(layer, x, x, allowed=np.broadcast_to(band, (B, T, T)))[0],
                               rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- Attention forward

ATTENTION_CONFIGS = [dict(), dict(use_scale=True), dict(score_mode="concat"),
                     dict(score_mode="concat", use_scale=True)]
ATTENTION_IDS = ["dot", "dot_scale", "concat", "concat_scale"]


def _set_scalars(layer):
    if layer.weights:
        layer.set_weights([np.full(w.shape, 0.6 + 0.3 * i) for i, w in enumerate(layer.weights)])


@pytest.mark.parametrize("config", ATTENTION_CONFIGS, ids=ATTENTION_IDS)
@pytest.mark.parametrize("with_key", [False, True], ids=["qv", "qvk"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_forward_matches_numpy(config, with_key, causal):
    rng = _rng(7)
    query, value, key = rng.normal(size=(B, T, 5)), rng.normal(size=(B, S, 7)), rng.normal(size=(B, S, 5))
    if not with_key:
        value = key
    inputs = [fw.Input((T, 5)), fw.Input((S, value.shape[-1]))] + ([fw.Input((S, 5))] if with_key else [])
    layer = layers.Attention(**config)
    model = fw.Model(inputs, layer(inputs, use_causal_mask=causal, return_attention_scores=True))
    _set_scalars(layer)
    assert [w.name for w in layer.weights] == (["scale"] if layer.use_scale else []) + \
        (["concat_score_weight"] if layer.score_mode == "concat" else [])
    out, scores = model.predict([query, value] + ([key] if with_key else []), verbose=0)
    ref_out, ref_scores = attention_ref(layer, query, value, key if with_key else None, causal=causal)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)


def test_attention_uses_value_mask_and_zeroes_masked_query_steps():
    rng = _rng(8)
    x = rng.normal(size=(B, T, 4)).astype(np.float32)
    x[0, 2:] = 0.0
    x[1, 0] = 0.0
    inputs = fw.Input((T, 4))
    masked = layers.Masking()(inputs)
    layer = layers.Attention(use_scale=True)
    out = layer([masked, masked])
    assert out.mask is masked.mask
    got = fw.Model(inputs, out).predict(x, verbose=0)
    keep = np.any(x != 0, -1)
    ref, _ = attention_ref(layer, x, x, value_mask=keep, query_mask=keep)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert np.all(got[0, 2:] == 0)


# ----------------------------------------------------------------------------- gradients (float64)

@pytest.mark.parametrize("config", MHA_CONFIGS, ids=["2heads", "kd_ne_vd_outshape", "4heads_nobias"])
@pytest.mark.parametrize("with_key,with_mask,causal", [(False, False, False), (True, True, False),
                                                       (False, True, True), (True, False, True)],
                         ids=["plain", "key_mask", "mask_causal", "key_causal"])
def test_mha_gradients(config, with_key, with_mask, causal):
    with float64_mode():
        rng = _rng(9)
        query, value, key = _data(rng)
        layer = layers.MultiHeadAttention(**config, bias_initializer="random_normal")
        model = _mha_model(layer, with_key, with_mask, use_causal_mask=causal)
        xs = [query, value] + ([key] if with_key else []) + ([_attention_mask(rng)] if with_mask else [])
        y = rng.normal(size=(B,) + model.outputs[0].shape[1:])
        assert check_gradients(model, xs, [y], limit=12) >= 70


def test_mha_gradients_self_attention_scores_output_and_incoming_masks():
    with float64_mode():
        rng = _rng(10)
        ids = rng.integers(1, 9, (B, T))
        ids[0, 2:] = 0
        tokens = fw.Input((T,), dtype="int32")
        x = layers.Embedding(9, 4, mask_zero=True, embeddings_initializer="random_normal")(tokens)
        out, scores = layers.MultiHeadAttention(num_heads=2, key_dim=3)(x, x, return_attention_scores=True)
        model = fw.Model(tokens, [layers.Dense(2)(out), scores])
        check_gradients(model, [ids], [rng.normal(size=(B, T, 2)), rng.normal(size=(B, 2, T, T))], limit=15)


@pytest.mark.parametrize("config", ATTENTION_CONFIGS, ids=ATTENTION_IDS)
@pytest.mark.parametrize("with_key,causal,scores", [(False, False, False), (True, True, False),
                                                    (False, True, True)], ids=["qv", "qvk_causal", "qv_causal_scores"])
def test_attention_gradients(config, with_key, causal, scores):
    with float64_mode():
        rng = _rng(11)
        query, value, key = rng.normal(size=(B, T, 3)), rng.normal(size=(B, S, 4)), rng.normal(size=(B, S, 3))
        value = value if with_key else key
        inputs = [fw.Input((T, 3)), fw.Input((S, value.shape[-1]))] + ([fw.Input((S, 3))] if with_key else [])
        layer = layers.Attention(**config)
        model = fw.Model(inputs, layer(inputs, use_causal_mask=causal, return_attention_scores=scores))
        _set_scalars(layer)
        ys = [rng.normal(size=(B, T, value.shape[-1]))] + ([rng.normal(size=(B, T, S))] if scores else [])
        check_gradients(model, [query, value] + ([key] if with_key else []), ys, limit=20)


@pytest.mark.parametrize("config", ATTENTION_CONFIGS, ids=ATTENTION_IDS)
def test_attention_gradients_with_masks(config):
    with float64_mode():
        rng = _rng(12)
        ids = rng.integers(1, 9, (B, T))
        ids[0, 2:] = 0
        ids[2, 0] = 0
        tokens = fw.Input((T,), dtype="int32")
        x = layers.Embedding(9, 3, mask_zero=True, embeddings_initializer="random_normal")(tokens)
        layer = layers.Attention(**config)
        model = fw.Model(tokens, layers.Dense(2)(layer([x, x], use_causal_mask=True)))
        _set_scalars(layer)
        check_gradients(model, [ids], [rng.normal(size=(B, T, 2))], limit=20)


class _FixedDraws:
    """Stands in for a layer's dropout generator: the same uniforms on every step."""

    def __init__(self, seed):
        self.seed = seed

    def random(self, dtype, out):
        np.random.default_rng(self.seed).random(out=out, dtype=dtype)


@pytest.mark.parametrize("kind", ["mha", "attention"])
def test_dropout_gradients_with_fixed_draws(kind):
    with float64_mode():
        rng = _rng(13)
        query, value = rng.normal(size=(B, T, 4)), rng.normal(size=(B, S, 4))
        iq, iv = fw.Input((T, 4)), fw.Input((S, 4))
        if kind == "mha":
            layer = layers.MultiHeadAttention(num_heads=2, key_dim=2, dropout=0.4)
            out = layer(iq, iv)
        else:
            layer = layers.Attention(dropout=0.4)
            out = layer([iq, iv])
        layer.generator = _FixedDraws(3)
        model = fw.Model([iq, iv], out)
        check_gradients(model, [query, value], [rng.normal(size=(B, T, 4))], limit=15)


def test_attention_dropout_is_seeded_and_only_in_training():
    rng = _rng(14)
    q, v = rng.normal(size=(B, T, 4)).astype(np.float32), rng.normal(size=(B, S, 4)).astype(np.float32)

    def run(seed, training):
        fw.utils.set_random_seed(seed)
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=2, dropout=0.5)
        layer(q, v)
        fw.utils.set_random_seed(0)
        layer.set_weights([np.full(w.shape, 0.1 * (i + 1)) for i, w in enumerate(layer.weights)])
        return layer(q, v, training=training)

    a, b, c = run(1, True), run(1, True), run(2, True)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(run(1, False), run(2, False))
    assert not np.allclose(run(1, False), a)


# ----------------------------------------------------------------------------- allocation

def test_train_step_with_attention_layers_allocates_nothing():
    rng = _rng(15)
    ids = rng.integers(0, 9, (16, T))
    tokens = fw.Input((T,), dtype="int32")
    x = layers.Embedding(9, 8, mask_zero=True)(tokens)
    x = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(x, x, use_causal_mask=True)
    x = layers.Attention(score_mode="concat", use_scale=True, dropout=0.1)([x, x])
    model = fw.Model(tokens, layers.Dense(2)(x))
    model.compile(optimizer="adam", loss="mse")
    y = rng.normal(size=(16, T, 2))
    for _ in range(2):
        model.train_on_batch(ids, y)
    plan = model.plan("train", 16)
    assert_no_allocation(plan.train_step, calls=50)


# ----------------------------------------------------------------------------- configs

def test_layer_configs_round_trip():
    for layer in (layers.Attention(use_scale=True, score_mode="concat", dropout=0.2, seed=3),
                  layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=(2, 3),
                                            kernel_regularizer="l2", bias_constraint="non_neg", seed=1)):
        text = yaml.safe_dump(layer.get_config())
        assert yaml.safe_dump(type(layer).from_config(yaml.safe_load(text)).get_config()) == text


def test_model_with_mha_attention_mask_key_and_scores_round_trips_through_yaml():
    rng = _rng(16)
    query, value, key = _data(rng)
    mask = _attention_mask(rng)
    iq, iv, ik, im = fw.Input((T, 6)), fw.Input((S, 7)), fw.Input((S, 5)), fw.Input((T, S), dtype="int32")
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
    out, scores = mha(iq, iv, key=ik, attention_mask=im, use_causal_mask=True, return_attention_scores=True)
    self_out = mha(iq, iv, ik)  # the same layer again: positional key, no mask
    model = fw.Model([iq, iv, ik, im], [out, scores, self_out])
    text = model.to_yaml()
    rebuilt = model_from_yaml(text)
    assert rebuilt.to_yaml() == text
    rebuilt.set_weights(model.get_weights())
    xs = [query, value, key, mask]
    for got, want in zip(rebuilt.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_model_with_attention_round_trips_through_yaml():
    rng = _rng(17)
    q, v = rng.normal(size=(B, T, 3)), rng.normal(size=(B, S, 3))
    iq, iv = fw.Input((T, 3)), fw.Input((S, 3))
    out, scores = layers.Attention(use_scale=True)([iq, iv], use_causal_mask=True, return_attention_scores=True)
    model = fw.Model([iq, iv], [out, scores])
    rebuilt = model_from_yaml(model.to_yaml())
    rebuilt.set_weights(model.get_weights())
    for got, want in zip(rebuilt.predict([q, v], verbose=0), model.predict([q, v], verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


# ----------------------------------------------------------------------------- errors

def test_wrong_rank_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"'att'.*query shape \(None, None, None\), received \(None, 4\)"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2, name="att")(fw.Input((4,)), fw.Input((3, 4)))
    with pytest.raises(ValueError, match=r"'luong'.*value shape .*received \(None, 3, 4, 2\)"):
        layers.Attention(name="luong")([fw.Input((3, 4)), fw.Input((3, 4, 2))])


def test_attention_mask_of_the_wrong_shape_names_the_layer():
    with pytest.raises(ValueError, match=r"'mha_x'.*attention_mask shape \(None, 4, 5\), received \(None, 5, 4\)"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2, name="mha_x")(
            fw.Input((T, 3)), fw.Input((S, 3)), attention_mask=fw.Input((S, T)))


def test_other_call_errors():
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=2, name="m")
    with pytest.raises(ValueError, match="key and value need the same number of steps"):
        mha(fw.Input((T, 3)), fw.Input((S, 3)), key=fw.Input((S + 1, 3)))
    with pytest.raises(NotImplementedError, match="explicit value_mask"):
        mha(fw.Input((T, 3)), fw.Input((S, 3)), value_mask=fw.Input((S,)))
    mha(fw.Input((T, 3)), fw.Input((S, 3)))
    with pytest.raises(ValueError, match=r"'m'.*value shape \(None, None, 3\), received \(None, 5, 4\)"):
        mha(fw.Input((T, 3)), fw.Input((S, 4)))
    with pytest.raises(ValueError, match=r"list \[query, value\]"):
        layers.Attention()(fw.Input((T, 3)))
    with pytest.raises(ValueError, match="same feature size"):
        layers.Attention()([fw.Input((T, 3)), fw.Input((S, 4))])


def test_constructor_errors():
    with pytest.raises(NotImplementedError, match="attention_axes"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=(1, 2))
    layers.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=1)  # the default axis, spelled out
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        layers.MultiHeadAttention(num_heads=0, key_dim=2)
    with pytest.raises(ValueError, match="score_mode must be one of dot, concat"):
        layers.Attention(score_mode="additive")
