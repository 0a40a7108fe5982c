"""SimpleRNN, LSTM, GRU: forward against a step-by-step NumPy reference of each cell (Keras's
gate orders and formulas), finite-difference gradients in float64 through the real plan for
every option, masks, initial states, dropout, configs, allocation and errors."""
import numpy as np
import pytest

import framework as fw
from framework import backend, layers
from framework.kernels import recurrent as K
from framework.kernels.activations import SIGMOID, TANH
from framework.layers import GRU, LSTM, Dense, SimpleRNN
from gradcheck import check_gradients
from helpers import assert_no_allocation, sigmoid

B, T, I, U = 3, 4, 3, 2


# ----------------------------------------------------------------------------- NumPy reference

ACTS = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": lambda x: np.maximum(x, 0), "linear": lambda x: x,
        "hard_sigmoid": lambda x: np.clip((x + 3) / 6, 0, 1)}


def reference(kind, x, weights, units, return_sequences=False, return_state=False, go_backwards=False,
              mask=None, initial=None, reset_after=True, activation="tanh", recurrent_activation="sigmoid",
              use_bias=True):
    """The layer's outputs computed one step at a time with NumPy, as Keras defines each cell."""
    a, ra = ACTS[activation], ACTS[recurrent_activation]
    w, u = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else None
    batch, steps, _ = x.shape
    h = np.zeros((batch, units)) if initial is None else initial[0]
    c = np.zeros((batch, units)) if initial is None or len(initial) < 2 else initial[1]
    outputs = []
    for t in (reversed(range(steps)) if go_backwards else range(steps)):
        xt = x[:, t]
        c_new = c
        if kind == "LSTM":
            z = xt @ w + h @ u + (0 if bias is None else bias)
            i, f, g, o = np.split(z, 4, axis=1)
            c_new = ra(f) * c + ra(i) * a(g)
            h_new = ra(o) * a(c_new)
        elif kind == "GRU" and reset_after:
            b_in, b_rec = (0, 0) if bias is None else (bias[0], bias[1])
            xz, hz = xt @ w + b_in, h @ u + b_rec
            z = ra(xz[:, :units] + hz[:, :units])
            r = ra(xz[:, units:2 * units] + hz[:, units:2 * units])
            hh = a(xz[:, 2 * units:] + r * hz[:, 2 * units:])
            h_new = z * h + (1 - z) * hh
        elif kind == "GRU":
            xz = xt @ w + (0 if bias is None else bias)
            hz = h @ u[:, :2 * units]
            z = ra(xz[:, :units] + hz[:, :units])
            r = ra(xz[:, units:2 * units] + hz[:, units:])
            hh = a(xz[:, 2 * units:] + (r * h) @ u[:, 2 * units:])
            h_new = z * h + (1 - z) * hh
        else:
            h_new = a(xt @ w + h @ u + (0 if bias is None else bias))
        if mask is not None:
            keep = mask[:, t:t + 1].astype(bool)
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
        h, c = h_new, c_new
        outputs.append(h)
    out = np.stack(outputs, axis=1) if return_sequences else h
    if not return_state:
        return out
    return [out, h, c] if kind == "LSTM" else [out, h]


CLASSES = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
N_STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}


def _random_weights(layer, rng, scale=0.6):
    return [scale * rng.standard_normal(w.shape) for w in layer.weights]


def _model(kind, units=U, initial=False, explicit_mask=False, features=I, steps=T, **options):
    """A functional model: x [, initial states] [, a bool mask] -> the layer's outputs."""
    inp = fw.Input((steps, features))
    states = [fw.Input((units,)) for _ in range(N_STATES[kind])] if initial else None
    mask = fw.Input((steps,), dtype="bool") if explicit_mask else None
    layer = CLASSES[kind](units, **options)
    out = layer(inp, initial_state=states, mask=mask)
    inputs = [inp] + (states or []) + ([mask] if explicit_mask else [])
    return fw.Model(inputs if len(inputs) > 1 else inp, out), layer


def _mask(rng, batch=B, steps=T):
    mask = rng.random((batch, steps)) > 0.35
    mask[0, :] = True
    mask[1, -1] = False
    mask[-1, 0] = False
    return mask


VARIANTS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False})]
VARIANT_IDS = ["simple_rnn", "lstm", "gru_reset_after", "gru_reset_before"]
OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
    {"use_bias": False, "go_backwards": True},
    {"activation": "relu", "recurrent_activation": "hard_sigmoid", "return_sequences": True},
    {"activation": "linear", "recurrent_activation": "tanh"},
]


def _options(kind, options):
    options = dict(options)
    if kind == "SimpleRNN":
        options.pop("recurrent_activation", None)
    return options


# ----------------------------------------------------------------------------- forward

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("masked,initial", [(False, False), (True, True)])
def test_forward_matches_reference(variant, options, masked, initial, dtype):
    kind, extra = variant
    options = {**_options(kind, options), **extra}
    rng = np.random.default_rng(len(str(options)) + 7 * masked)
    saved = backend.floatx()
    backend.set_floatx(dtype)
    try:
        model, layer = _model(kind, initial=initial, explicit_mask=masked, **options)
        weights = _random_weights(layer, rng)
        layer.set_weights(weights)
        x = rng.standard_normal((B, T, I))
        states = [rng.standard_normal((B, U)) for _ in range(N_STATES[kind])] if initial else None
        mask = _mask(rng) if masked else None
        inputs = [x] + (states or []) + ([mask] if masked else [])
        ours = model.predict(inputs if len(inputs) > 1 else x, verbose=0)
    finally:
        backend.set_floatx(saved)
    expected = reference(kind, x, weights, U, mask=mask, initial=states, **options)
    tol = 1e-12 if dtype == "float64" else 2e-5
    for got, want in zip(ours if isinstance(ours, list) else [ours], expected if isinstance(expected, list)
                         else [expected]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_implicit_mask_from_masking_layer_and_output_mask():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, I))
    x[0, 2:] = 0
    x[2, 0] = 0
    inp = fw.Input((T, I))
    masked = layers.Masking()(inp)
    seq = LSTM(U, return_sequences=True, go_backwards=True)
    last = GRU(U, return_state=True)
    y = seq(masked)
    assert y.mask is masked.mask  # a sequence output keeps its input's mask
    out, h = last(y)
    assert out.mask is None and h.mask is None
    model = fw.Model(inp, [out, h])
    w1, w2 = _random_weights(seq, rng), _random_weights(last, rng)
    seq.set_weights(w1)
    last.set_weights(w2)
    got = model.predict(x, verbose=0)
    mask = np.any(x != 0, axis=-1)
    mid = reference("LSTM", x, w1, U, return_sequences=True, go_backwards=True, mask=mask)
    want = reference("GRU", mid, w2, U, return_state=True, mask=mask)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_zero_output_for_mask_zeroes_masked_steps():
    rng = np.random.default_rng(4)
    model, layer = _model("GRU", explicit_mask=True, return_sequences=True, zero_output_for_mask=True)
    x, mask = rng.standard_normal((B, T, I)), _mask(rng)
    out = model.predict([x, mask], verbose=0)
    np.testing.assert_array_equal(out[~mask], 0)
    assert np.all(np.abs(out[mask]) > 0)


def test_eager_call_with_initial_state_and_mask():
    rng = np.random.default_rng(5)
    layer = LSTM(U, return_state=True)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    h0, c0 = (rng.standard_normal((B, U)).astype(np.float32) for _ in range(2))
    mask = _mask(rng)
    out, h, c = layer(x, initial_state=[h0, c0], mask=mask)
    want = reference("LSTM", x.astype(np.float64), layer.get_weights(), U, return_state=True, mask=mask,
                     initial=[h0, c0])
    for a, b in zip((out, h, c), want):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_weights_shapes_and_forget_bias_as_keras():
    lstm, gru, gru0, rnn = LSTM(3), GRU(3), GRU(3, reset_after=False), SimpleRNN(3)
    for layer in (lstm, gru, gru0, rnn):
        layer(fw.Input((5, 2)))
    assert [w.shape for w in lstm.weights] == [(2, 12), (3, 12), (12,)]
    assert [w.shape for w in gru.weights] == [(2, 9), (3, 9), (2, 9)]
    assert [w.shape for w in gru0.weights] == [(2, 9), (3, 9), (9,)]
    assert [w.shape for w in rnn.weights] == [(2, 3), (3, 3), (3,)]
    assert [w.name for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    np.testing.assert_array_equal(lstm.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    u = lstm.get_weights()[1]
    np.testing.assert_allclose(u @ u.T, np.eye(3), atol=1e-5)  # orthogonal recurrent kernel
    no_forget = LSTM(2, unit_forget_bias=False)
    no_forget(fw.Input((5, 2)))
    np.testing.assert_array_equal(no_forget.get_weights()[2], 0)


# ----------------------------------------------------------------------------- fast activations

def test_float32_sigmoid_and_tanh_are_accurate_and_keep_nan():
    x = np.concatenate([np.linspace(-40, 40, 40001), [0.0, -0.0, 1e-6, -1e-6, 0.6249, 0.6251]]).astype(np.float32)
    y, dy = np.empty_like(x), np.empty_like(x)
    wide = x.astype(np.float64)
    params = np.zeros(3, np.float32)
    K.activation_table(x, y, dy, SIGMOID, params)
    want = 1 / (1 + np.exp(-wide))
    assert np.max(np.abs(y - want) / want) < 5e-7
    K.activation_table(x, y, dy, TANH, params)
    want = np.tanh(wide)
    assert np.max(np.abs(y - want) / np.maximum(np.abs(want), 1e-30)) < 5e-7
    special = np.array([np.nan, np.inf, -np.inf], np.float32)
    out, dout = np.empty_like(special), np.empty_like(special)
    K.activation_table(special, out, dout, SIGMOID, params)
    assert np.isnan(out[0]) and out[1] == 1 and out[2] < 1e-37
    K.activation_table(special, out, dout, TANH, params)
    assert np.isnan(out[0]) and out[1] > 0.9999997 and out[2] < -0.9999997


# ----------------------------------------------------------------------------- gradients

def _targets(rng, model):
    return [rng.standard_normal((B,) + tuple(o.shape[1:])) for o in model.outputs]


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("options", OPTIONS)
def test_gradients(float64_seed_1, variant, options):
    kind, extra = variant
    options = {**_options(kind, options), **extra}
    rng = np.random.default_rng(11)
    model, layer = _model(kind, **options)
    layer.set_weights(_random_weights(layer, rng))
    x = rng.standard_normal((B, T, I))
    check_gradients(model, [x], _targets(rng, model), loss="mse")


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradients_with_mask_and_initial_state(float64_seed_1, variant, go_backwards):
    """Explicit (batch, T) mask and initial states as inputs: their gradients are checked too."""
    kind, extra = variant
    rng = np.random.default_rng(12)
    model, layer = _model(kind, initial=True, explicit_mask=True, return_sequences=True, return_state=True,
                          go_backwards=go_backwards, **extra)
    layer.set_weights(_random_weights(layer, rng))
    x = rng.standard_normal((B, T, I))
    states = [rng.standard_normal((B, U)) for _ in range(N_STATES[kind])]
    check_gradients(model, [x] + states + [_mask(rng)], _targets(rng, model), loss="mse")


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_gradients_with_embedding_mask_and_zero_output(float64_seed_1, variant):
    kind, extra = variant
    rng = np.random.default_rng(13)
    tokens = rng.integers(1, 6, (B, T))
    tokens[0, 2:] = 0
    tokens[2, 0] = 0
    inp = fw.Input((T,), dtype="int32")
    h = layers.Embedding(6, I, mask_zero=True)(inp)
    h = CLASSES[kind](U, return_sequences=True, zero_output_for_mask=True, **extra)(h)
    out = CLASSES[kind](U, go_backwards=True, **extra)(h)
    model = fw.Model(inp, Dense(2)(out))
    check_gradients(model, [tokens], [rng.standard_normal((B, 2))], loss="mse")


class _FixedDraws:
    """A stand-in generator: the same uniforms on every call, so dropout is deterministic."""

    def random(self, dtype=None, out=None):
        out[...] = np.random.default_rng(out.size).random(out.shape)


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_gradients_with_dropout(float64_seed_1, variant):
    kind, extra = variant
    rng = np.random.default_rng(14)
    model, layer = _model(kind, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, **extra)
    layer.set_weights(_random_weights(layer, rng))
    layer.generator = _FixedDraws()
    x = rng.standard_normal((B, T, I))
    check_gradients(model, [x], _targets(rng, model), loss="mse")


def test_gradients_through_stacked_layers_and_regularizers(float64_seed_1):
    rng = np.random.default_rng(15)
    model = fw.Sequential([fw.Input((T, I)), SimpleRNN(3, return_sequences=True),
                           GRU(3, return_sequences=True, reset_after=False, kernel_regularizer="l2"),
                           LSTM(2, recurrent_regularizer="l1l2", bias_regularizer="l2"), Dense(2)])
    check_gradients(model, [rng.standard_normal((B, T, I))], [rng.standard_normal((B, 2))], loss="mse")


# ----------------------------------------------------------------------------- dropout

def _dropout_model(seed):
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((T, I)), LSTM(4, dropout=0.3, recurrent_dropout=0.3, seed=seed),
                           Dense(1)])
    model.compile(fw.optimizers.SGD(0.1), "mse")
    return model


def test_dropout_is_deterministic_under_a_seed_and_off_in_inference():
    rng = np.random.default_rng(16)
    x, y = rng.standard_normal((8, T, I)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32)
    runs = []
    for seed in (5, 5, 6):
        model = _dropout_model(seed)
        runs.append([model.train_on_batch(x, y) for _ in range(3)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    model = _dropout_model(5)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    train_a, train_b = model(x, training=True), model(x, training=True)
    assert not np.allclose(train_a, train_b)  # a fresh mask per batch


# ----------------------------------------------------------------------------- allocation

@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_train_step_allocates_nothing(variant):
    kind, extra = variant
    rng = np.random.default_rng(17)
    x = rng.standard_normal((16, 6, 5)).astype(np.float32)
    x[0, 4:] = 0
    inp = fw.Input((6, 5))
    h = CLASSES[kind](8, return_sequences=True, go_backwards=True, dropout=0.1, recurrent_dropout=0.2,
                      **extra)(layers.Masking()(inp))
    out = Dense(3, activation="softmax")(CLASSES[kind](4, **extra)(h))
    model = fw.Model(inp, out)
    model.compile(fw.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, rng.integers(0, 3, 16))
    assert_no_allocation(model.plan("train", 16).train_step, calls=50, held=1024, peak=4096)


# ----------------------------------------------------------------------------- config

@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_config_round_trip(kind):
    layer = CLASSES[kind](5, return_sequences=True, go_backwards=True, dropout=0.25, seed=3, use_bias=False,
                          kernel_regularizer="l2", recurrent_constraint="non_neg", activation="relu",
                          name=f"custom_{kind.lower()}")
    config = layer.get_config()
    again = CLASSES[kind].from_config(config)
    assert again.get_config() == config
    assert config["units"] == 5 and config["go_backwards"] and config["activation"] == "relu"
    if kind == "GRU":
        assert config["reset_after"] is True
    if kind == "LSTM":
        assert config["unit_forget_bias"] is True and config["recurrent_activation"] == "sigmoid"


def test_encoder_decoder_with_initial_state_and_mask_round_trips_through_yaml():
    rng = np.random.default_rng(18)
    enc_in, dec_in = fw.Input((5, 3)), fw.Input((4, 2))
    dec_mask = fw.Input((4,), dtype="bool")
    _, h, c = LSTM(6, return_state=True, name="encoder")(enc_in)
    seq = LSTM(6, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c], mask=dec_mask)
    out = layers.Dense(2, name="head")(GRU(3, name="top")(seq, initial_state=Dense(3)(h)))
    model = fw.Model([enc_in, dec_in, dec_mask], out)
    decoder_node = model.get_layer("decoder")._inbound_nodes[0]
    assert len(decoder_node.inputs) == 4 and decoder_node.call_kwargs == {"mask": True}
    text = model.to_yaml()
    again = fw.models.model_from_yaml(text)
    again.set_weights(model.get_weights())
    xs = [rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 2)), np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)]
    np.testing.assert_allclose(again.predict(xs, verbose=0), model.predict(xs, verbose=0), rtol=1e-6)
    assert again.to_yaml() == text


def test_list_input_is_sequence_plus_initial_states():
    x, h, c = fw.Input((4, 2)), fw.Input((3,)), fw.Input((3,))
    layer = LSTM(3)
    out = layer([x, h, c])
    assert out.shape == (None, 3) and len(layer._inbound_nodes[0].inputs) == 3


# ----------------------------------------------------------------------------- errors

def test_two_dimensional_input_is_rejected():
    with pytest.raises(ValueError, match=r"'lstm_2d' \(LSTM\) expected 3-D input \(batch, timesteps, features\)"):
        LSTM(3, name="lstm_2d")(fw.Input((4,)))


def test_bad_states_and_masks_are_rejected():
    x = fw.Input((4, 2))
    with pytest.raises(ValueError, match=r"'two' \(LSTM\) expects 2 initial state\(s\) \(h, c\), received 1"):
        LSTM(3, name="two")(x, initial_state=[fw.Input((3,))])
    with pytest.raises(ValueError, match=r"'wide' \(GRU\) expected initial state h of shape \(None, 3\)"):
        GRU(3, name="wide")(x, initial_state=fw.Input((5,)))
    with pytest.raises(ValueError, match=r"'masked' \(SimpleRNN\) expected mask of shape \(None, 4\), received"):
        SimpleRNN(3, name="masked")(x, mask=fw.Input((5,), dtype="bool"))
    with pytest.raises(ValueError, match="not both"):
        LSTM(3)([x, fw.Input((3,)), fw.Input((3,))], initial_state=[fw.Input((3,)), fw.Input((3,))])
    layer = GRU(3, name="reused")
    layer(x)
    with pytest.raises(ValueError, match=r"'reused' \(GRU\) expected input shape \(None, None, 2\)"):
        layer(fw.Input((4, 5)))


def test_bad_arguments_are_rejected():
    with pytest.raises(NotImplementedError, match="stateful=True"):
        LSTM(3, stateful=True)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        GRU(0)
    with pytest.raises(ValueError, match=r"recurrent_dropout must be in \[0, 1\)"):
        LSTM(3, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="elementwise"):
        SimpleRNN(3, activation="softmax")
