"""Wrappers: TimeDistributed and Bidirectional. Forward vs NumPy references (the inner
layers run on their own), gradients through the compiled plan in float64, masks, weights
and their Keras order, config round trips, errors, allocation."""

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.graph.tensor import Mask
from framework.layers import Activation, Dense, Dropout, Flatten
from framework.layers.wrappers import Bidirectional, TimeDistributed
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation

RNNS = ["SimpleRNN", "LSTM", "GRU"]
MODES = ["concat", "sum", "mul", "ave", None]


def _rnn(kind, units=3, **kwargs):
    return layers.get(kind)(units, **kwargs)


def _x(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _model(inp, out):
    return fw.Model(inp, out)


# ============================================================================ TimeDistributed

def test_time_distributed_dense_is_dense_per_step():
    x = _x((3, 4, 5), dtype=np.float32)
    td = TimeDistributed(Dense(2, activation="tanh"))
    y = fw.Sequential([fw.Input((4, 5)), td]).predict(x, verbose=0)
    kernel, bias = td.get_weights()
    reference = np.stack([np.tanh(x[:, t] @ kernel + bias) for t in range(4)], axis=1)
    assert y.shape == (3, 4, 2)
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-6)


def test_time_distributed_over_rank_4_and_view_layers():
    x = _x((2, 3, 4, 5))
    with float64_mode():
        dense = TimeDistributed(Dense(2))
        flatten = TimeDistributed(Flatten())
        inp = fw.Input((3, 4, 5))
        out = flatten(dense(inp))
        assert out.shape == (None, 3, 8)
        y = fw.Model(inp, out).predict(x, verbose=0)
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(y, (x @ kernel + bias).reshape(2, 3, 8), rtol=1e-12)


def test_time_distributed_dropout_is_identity_in_inference_and_scales_in_training():
    x = np.ones((2, 50, 4), np.float32)
    model = fw.Sequential([fw.Input((50, 4)), TimeDistributed(Dropout(0.5, seed=1))])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    y = model(x, training=True)
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.3 < (y == 0).mean() < 0.7


@pytest.mark.parametrize("case", ["tanh_mse", "softmax_fused", "rank4", "activation", "lstm"])
def test_time_distributed_gradients(case):
    with float64_mode():
        if case == "lstm":  # a sequence layer applied to each of 3 sub-sequences
            inp = fw.Input((3, 4, 2))
            out = TimeDistributed(_rnn("LSTM", 2))(inp)
            x, y, loss = _x((2, 3, 4, 2)), _x((2, 3, 2), seed=1), "mse"
        elif case == "rank4":
            inp = fw.Input((3, 2, 4))
            out = TimeDistributed(Dense(3, activation="sigmoid"))(inp)
            x, y, loss = _x((2, 3, 2, 4)), _x((2, 3, 2, 3), seed=1), "mse"
        else:
            inp = fw.Input((4, 3))
            inner = {"tanh_mse": Dense(2, activation="tanh"), "softmax_fused": Dense(3, activation="softmax"),
                     "activation": Activation("tanh")}[case]
            out = TimeDistributed(inner)(Dense(3)(inp) if case == "activation" else inp)
            x = _x((2, 4, 3))
            if case == "softmax_fused":
                y, loss = np.eye(3)[np.random.default_rng(1).integers(0, 3, (2, 4))], "categorical_crossentropy"
            else:
                y, loss = _x((2, 4, out.shape[-1]), seed=1), "mse"
        assert check_gradients(_model(inp, out), [x], [y], loss) > 0


def test_time_distributed_weights_are_the_inner_layers():
    dense = Dense(3)
    td = TimeDistributed(dense)
    fw.Sequential([fw.Input((4, 2)), td])
    assert [w.name for w in td.weights] == ["kernel", "bias"]
    assert td.weights == dense.weights and td.count_params() == 9
    td.set_weights([np.ones((2, 3)), np.zeros(3)])
    np.testing.assert_array_equal(dense.get_weights()[0], np.ones((2, 3)))
    td.trainable = False
    assert td.trainable_weights == [] and len(td.non_trainable_weights) == 2 and not dense.trainable


def test_frozen_time_distributed_does_not_train():
    td = TimeDistributed(Dense(2))
    model = fw.Sequential([fw.Input((3, 2)), td, TimeDistributed(Dense(1))])
    td.trainable = False
    before = td.get_weights()
    model.compile("sgd", "mse")
    model.train_on_batch(_x((4, 3, 2), dtype=np.float32), np.ones((4, 3, 1), np.float32))
    assert all(np.array_equal(a, b) for a, b in zip(before, td.get_weights()))


def test_time_distributed_passes_the_mask_on():
    inp = fw.Input((4, 3))
    inp.mask = Mask((None, 4))
    assert TimeDistributed(Dense(2))(inp).mask is inp.mask


def test_time_distributed_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"'td'.*rank >= 3.*\(None, 4\)"):
        TimeDistributed(Dense(2), name="td")(fw.Input((4,)))
    with pytest.raises(ValueError, match="layer instance"):
        TimeDistributed("dense")
    td = TimeDistributed(Dense(2), name="td2")
    td(fw.Input((3, 4)))
    with pytest.raises(ValueError, match="dense"):
        td(fw.Input((3, 5)))


# ============================================================================ Bidirectional

def _merge(mode, yf, yb):
    return {"concat": lambda: [np.concatenate([yf, yb], -1)], "sum": lambda: [yf + yb],
            "mul": lambda: [yf * yb], "ave": lambda: [(yf + yb) / 2], None: lambda: [yf, yb]}[mode]()


def _bidirectional_reference(b, x):
    """Merge of the two inner layers run on their own (the backward one put back in time order)."""
    f, r = _list(b.forward_layer(x)), _list(b.backward_layer(x))
    yf, yb = f[0], r[0]
    if b.return_sequences:
        yb = yb[:, ::-1]
    return _merge(b.merge_mode, yf, yb) + f[1:] + r[1:]


@pytest.mark.parametrize("rnn", RNNS)
@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("sequences", [True, False], ids=["seq", "last"])
def test_bidirectional_matches_its_inner_layers_and_gradients(rnn, mode, sequences):
    x = _x((2, 4, 3))
    with float64_mode():
        b = Bidirectional(_rnn(rnn, return_sequences=sequences), merge_mode=mode)
        inp = fw.Input((4, 3))
        model = _model(inp, b(inp))
        got = _list(model.predict(x, verbose=0))
        expected = _bidirectional_reference(b, x)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
        targets = [_x(g.shape, seed=5 + i) for i, g in enumerate(got)]
        assert check_gradients(model, [x], targets, "mse", limit=15) > 0


@pytest.mark.parametrize("rnn", RNNS)
@pytest.mark.parametrize("mode", ["concat", None], ids=str)
def test_bidirectional_return_state(rnn, mode):
    x = _x((2, 3, 2))
    with float64_mode():
        b = Bidirectional(_rnn(rnn, return_sequences=True, return_state=True), merge_mode=mode)
        inp = fw.Input((3, 2))
        outs = b(inp)
        states = 2 if rnn == "LSTM" else 1
        assert len(outs) == (2 if mode is None else 1) + 2 * states
        assert all(o.shape == (None, 3) for o in outs[-2 * states:])
        model = _model(inp, outs)
        got, expected = model.predict(x, verbose=0), _bidirectional_reference(b, x)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
        assert check_gradients(model, [x], [_x(g.shape, seed=i) for i, g in enumerate(got)], "mse", limit=15) > 0


def _masked_tokens():
    """Post-padded token sequences (0 = padding) of lengths 4, 2, 3."""
    return np.array([[3, 1, 4, 2], [2, 5, 0, 0], [1, 1, 3, 0]]), [4, 2, 3]


def _masked_model(rnn, mode, sequences):
    embedding = layers.get("Embedding")(6, 3, mask_zero=True)
    b = Bidirectional(_rnn(rnn, return_sequences=sequences), merge_mode=mode)
    inp = fw.Input((4,), dtype="int32")
    return _model(inp, b(embedding(inp))), embedding, b


@pytest.mark.parametrize("rnn", RNNS)
@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("sequences", [True, False], ids=["seq", "last"])
def test_bidirectional_with_a_mask_is_the_unpadded_sequence(rnn, mode, sequences):
    tokens, lengths = _masked_tokens()
    with float64_mode():
        model, embedding, b = _masked_model(rnn, mode, sequences)
        got = _list(model.predict(tokens, verbose=0))
        vectors = embedding.get_weights()[0][tokens]
        for i, n in enumerate(lengths):
            expected = _bidirectional_reference(b, vectors[i:i + 1, :n])
            for g, e in zip(got, expected):
                if sequences:
                    np.testing.assert_allclose(g[i:i + 1, :n], e, rtol=1e-10, atol=1e-12)
                    np.testing.assert_array_equal(g[i, n:], 0)
                else:
                    np.testing.assert_allclose(g[i:i + 1], e, rtol=1e-10, atol=1e-12)
        targets = [_x(g.shape, seed=i) for i, g in enumerate(got)]
        assert check_gradients(model, [tokens], targets, "mse", limit=15) > 0


def test_bidirectional_weights_order_and_names():
    b = Bidirectional(_rnn("LSTM", 2, name="enc"))
    b(fw.Input((3, 4)))
    assert b.forward_layer.name == "forward_enc" and b.backward_layer.name == "backward_enc"
    assert not b.forward_layer.go_backwards and b.backward_layer.go_backwards
    assert b.weights == b.forward_layer.weights + b.backward_layer.weights
    assert [w.shape for w in b.weights] == [(4, 8), (2, 8), (8,)] * 2
    values = [np.full(w.shape, i, np.float32) for i, w in enumerate(b.weights)]
    b.set_weights(values)
    assert all(np.array_equal(v, w) for v, w in zip(values, b.forward_layer.get_weights() +
                                                    b.backward_layer.get_weights()))
    again = Bidirectional(_rnn("LSTM", 2), weights=values)
    again(fw.Input((3, 4)))
    assert all(np.array_equal(v, w) for v, w in zip(values, again.get_weights()))


def test_bidirectional_with_a_given_backward_layer():
    forward = _rnn("GRU", 2, return_sequences=True)
    backward = _rnn("SimpleRNN", 2, return_sequences=True, go_backwards=True, name="back")
    b = Bidirectional(forward, merge_mode="sum", backward_layer=backward)
    assert b.backward_layer is backward
    x = _x((2, 3, 2), dtype=np.float32)
    inp = fw.Input((3, 2))
    y = _model(inp, b(inp)).predict(x, verbose=0)
    np.testing.assert_allclose(y, _bidirectional_reference(b, x)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="go_backwards"):
        Bidirectional(forward, backward_layer=_rnn("GRU", 2, return_sequences=True))
    with pytest.raises(ValueError, match="return_sequences"):
        Bidirectional(forward, backward_layer=_rnn("GRU", 2, go_backwards=True))


def test_bidirectional_mask_travels_with_sequences_only():
    for sequences, expected in ((True, True), (False, False)):
        inp = fw.Input((4, 3))
        inp.mask = Mask((None, 4))
        out = Bidirectional(_rnn("LSTM", return_sequences=sequences))(inp)
        assert (out.mask is inp.mask) is expected


def test_bidirectional_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"'bi'.*recurrent layer.*Dense 'd'"):
        Bidirectional(Dense(3, name="d"), name="bi")
    with pytest.raises(ValueError, match=r"'bi2'.*merge_mode.*'concat'.*received 'max'"):
        Bidirectional(_rnn("LSTM"), merge_mode="max", name="bi2")
    with pytest.raises(ValueError, match=r"'bi3'.*rank >= 3.*\(None, 4\)"):
        Bidirectional(_rnn("LSTM"), name="bi3")(fw.Input((4,)))


# ============================================================================ config, allocation

def _sequence_model():
    return fw.Sequential([fw.Input((5, 3)), Bidirectional(_rnn("LSTM", 4, return_sequences=True), merge_mode="ave"),
                          Bidirectional(_rnn("GRU", 2, return_sequences=True)),
                          TimeDistributed(Dense(3, activation="softmax"))])


def test_config_round_trip_through_yaml():
    model = _sequence_model()
    text = model.to_yaml()
    rebuilt = fw.models.model_from_yaml(text)
    assert rebuilt.to_yaml() == text
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["Bidirectional", "Bidirectional",
                                                                  "TimeDistributed"]
    config = model.layers[0].get_config()
    assert config["layer"]["class_name"] == "LSTM" and config["layer"]["config"]["name"].startswith("forward_")
    assert config["backward_layer"]["config"]["go_backwards"] is True and config["merge_mode"] == "ave"
    rebuilt.set_weights(model.get_weights())
    x = _x((2, 5, 3), dtype=np.float32)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_saved_model_loads_with_the_same_outputs(tmp_path):
    model = _sequence_model()
    path = str(tmp_path / "wrappers.fw")
    fw.saving.save_model(model, path)
    loaded = fw.saving.load_model(path)
    x = _x((2, 5, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_sequence_model_trains():
    fw.utils.set_random_seed(0)
    model = _sequence_model()
    model.compile(optimizer=fw.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    x = _x((32, 5, 3), dtype=np.float32)
    y = (x[:, :, 0] > 0).astype(np.int64) + (x[:, :, 1] > 1)
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_train_step_allocates_nothing(masked):
    fw.utils.set_random_seed(0)
    if masked:
        inp = fw.Input((5,), dtype="int32")
        h = layers.get("Embedding")(7, 3, mask_zero=True)(inp)
        x = np.random.default_rng(0).integers(0, 7, (16, 5))
    else:
        inp = fw.Input((5, 3))
        h = inp
        x = _x((16, 5, 3), dtype=np.float32)
    h = Bidirectional(_rnn("LSTM", 4, return_sequences=True))(h)
    out = Bidirectional(_rnn("GRU", 2), merge_mode="mul")(TimeDistributed(Dense(3, activation="tanh"))(h))
    model = fw.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, np.zeros((16, 2), np.float32))
    plan = model.plan("train", 16)
    assert_no_allocation(plan.train_step, calls=50, held=1024, peak=4096)
