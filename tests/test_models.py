"""Models: Sequential and functional construction, graph errors, layers and weights,
summary, count_params, seeding helpers, and ``model(x)`` on NumPy data."""
import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.layers import Add, Concatenate, Dense, Dropout, Flatten


def _rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _dense_reference(x, kernel, bias, activation=None):
    y = x @ kernel + bias
    return np.maximum(y, 0) if activation == "relu" else y


# ----------------------------------------------------------------------------- Sequential

def test_sequential_list_constructor_builds_from_input():
    model = fw.Sequential([fw.Input((3,)), Dense(4, activation="relu"), Dense(2)])
    assert model.built
    assert len(model.layers) == 2  # the InputLayer is not listed, as in Keras
    assert all(isinstance(layer, Dense) for layer in model.layers)
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]


def test_sequential_input_shape_on_first_layer():
    model = fw.Sequential([Dense(5, input_shape=(7,)), Dense(1)])
    assert model.built and model.input_shape == (None, 7) and model.output_shape == (None, 1)
    assert model.count_params() == 7 * 5 + 5 + 5 + 1


def test_sequential_add_and_pop():
    model = fw.Sequential()
    model.add(fw.Input((3,)))
    first = Dense(4, name="first")
    model.add(first)
    model.add(Dense(6, name="second"))
    assert [l.name for l in model.layers] == ["first", "second"]
    assert model.output_shape == (None, 6)
    popped = model.pop()
    assert popped.name == "second"
    assert [l.name for l in model.layers] == ["first"]
    assert model.output_shape == (None, 4)
    x = _rand(2, 3)
    k, b = first.get_weights()
    np.testing.assert_allclose(model(x), x @ k + b, rtol=1e-5, atol=1e-6)
    model.add(Dense(1, name="third"))
    assert model.output_shape == (None, 1) and model(x).shape == (2, 1)


def test_sequential_pop_empty_raises():
    with pytest.raises((IndexError, ValueError)):
        fw.Sequential().pop()


def test_sequential_add_rejects_non_layers():
    with pytest.raises((TypeError, ValueError), match="(?i)sequential"):
        fw.Sequential().add("dense")


def test_sequential_add_non_layer_raises_value_error_like_keras():
    with pytest.raises(ValueError):
        fw.Sequential().add("dense")


def test_sequential_built_from_first_data():
    model = fw.Sequential([Dense(4, activation="relu"), Dense(1)])
    assert not model.built
    model.compile(optimizer="sgd", loss="mse")
    x, y = _rand(8, 5), _rand(8, 1, seed=1)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 5)
    assert model.layers[0].get_weights()[0].shape == (5, 4)
    # after building, the shape is fixed: other feature sizes are rejected
    with pytest.raises(ValueError, match=r"\(5,\)"):
        model.predict(_rand(3, 6), verbose=0)


def test_sequential_built_from_first_call():
    model = fw.Sequential([Dense(3)])
    out = model(_rand(4, 2))
    assert isinstance(out, np.ndarray) and out.shape == (4, 3)
    assert model.input_shape == (None, 2)


def test_sequential_build_method():
    model = fw.Sequential([Dense(3), Dense(2)])
    model.build((None, 6))
    assert model.built and model.count_params() == 6 * 3 + 3 + 3 * 2 + 2


def _nested_sequential_check(inner, outer):
    x = _rand(6, 5)
    k1, b1, k2, b2 = inner.get_weights()
    k3, b3 = outer.layers[-1].get_weights()
    expected = (np.maximum(x @ k1 + b1, 0) @ k2 + b2) @ k3 + b3
    np.testing.assert_allclose(outer(x), expected, rtol=1e-5, atol=1e-5)
    assert outer.count_params() == inner.count_params() + 3 * 2 + 2


def test_built_sequential_inside_sequential():
    inner = fw.Sequential([fw.Input((5,)), Dense(4, activation="relu"), Dense(3)], name="inner_built")
    outer = fw.Sequential([fw.Input((5,)), inner, Dense(2)])
    _nested_sequential_check(inner, outer)


def test_unbuilt_sequential_inside_sequential():
    inner = fw.Sequential([Dense(4, activation="relu"), Dense(3)], name="inner_block")
    outer = fw.Sequential([fw.Input((5,)), inner, Dense(2)])
    _nested_sequential_check(inner, outer)


# ----------------------------------------------------------------------------- functional

def test_input_shape_name_dtype():
    t = fw.Input((4, 3), name="features")
    assert t.shape == (None, 4, 3) and t.dtype == fw.backend.floatx()
    t2 = fw.Input(shape=(2,), name="ids", dtype="int32")
    assert t2.dtype == "int32"
    model = fw.Model([t, t2], [Flatten()(t), Dense(1)(t2)])
    assert model.input_names == ["features", "ids"]


def test_functional_single_io_matches_numpy():
    inputs = fw.Input((3,))
    hidden = Dense(5, activation="relu", name="hidden")(inputs)
    outputs = Dense(2, name="out")(hidden)
    model = fw.Model(inputs, outputs)
    assert model.name.startswith("functional")
    names = [l.name for l in model.layers]
    assert names[1:] == ["hidden", "out"]  # the InputLayer comes first, as in Keras functional models
    x = _rand(4, 3)
    k1, b1, k2, b2 = model.get_weights()
    np.testing.assert_allclose(model(x), np.maximum(x @ k1 + b1, 0) @ k2 + b2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x), rtol=1e-6)


def test_multi_input_multi_output_lists():
    a, b = fw.Input((3,), name="a"), fw.Input((2,), name="b")
    merged = Concatenate()([Dense(4, name="da")(a), b])
    out1 = Dense(1, name="reg")(merged)
    out2 = Dense(3, activation="softmax", name="cls")(merged)
    model = fw.Model([a, b], [out1, out2])
    assert model.output_names == ["reg", "cls"]
    xa, xb = _rand(5, 3), _rand(5, 2, seed=1)
    y1, y2 = model([xa, xb])
    assert y1.shape == (5, 1) and y2.shape == (5, 3)
    np.testing.assert_allclose(y2.sum(axis=1), 1.0, rtol=1e-5)
    p1, p2 = model.predict({"a": xa, "b": xb}, verbose=0)  # dict keyed by input name
    np.testing.assert_allclose(p1, y1, rtol=1e-6)
    np.testing.assert_allclose(p2, y2, rtol=1e-6)
    ka, ba = model.get_layer("da").get_weights()
    kr, br = model.get_layer("reg").get_weights()
    np.testing.assert_allclose(y1, np.concatenate([xa @ ka + ba, xb], axis=1) @ kr + br, rtol=1e-5, atol=1e-5)


def test_dict_inputs_and_outputs():
    a, b = fw.Input((3,), name="left"), fw.Input((3,), name="right")
    model = fw.Model({"x1": a, "x2": b}, {"sum": Add()([a, b]), "proj": Dense(2)(a)})
    xa, xb = _rand(2, 3), _rand(2, 3, seed=1)
    # as in Keras 3, data for dict-structured inputs is keyed by the dict's keys
    out = model({"x2": xb, "x1": xa})
    assert isinstance(out, dict) and set(out) == {"sum", "proj"}
    np.testing.assert_allclose(out["sum"], xa + xb, rtol=1e-6)
    out = model.predict({"x1": xa, "x2": xb}, verbose=0)
    assert isinstance(out, dict) and out["proj"].shape == (2, 2)
    k, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(out["proj"], xa @ k + bias, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="x2"):
        model.predict({"x1": xa, "right": xb}, verbose=0)


def test_shared_layer_uses_one_set_of_weights():
    a, b = fw.Input((4,)), fw.Input((4,))
    shared = Dense(3, name="shared")
    model = fw.Model([a, b], Concatenate()([shared(a), shared(b)]))
    assert len(model.weights) == 2 and model.count_params() == 4 * 3 + 3
    assert sum(1 for l in model.layers if l is shared) == 1
    xa, xb = _rand(2, 4), _rand(2, 4, seed=1)
    k, bias = shared.get_weights()
    np.testing.assert_allclose(model([xa, xb]), np.concatenate([xa @ k + bias, xb @ k + bias], 1),
                               rtol=1e-5, atol=1e-6)
    shared.set_weights([np.ones((4, 3)), np.zeros(3)])
    np.testing.assert_allclose(model([xa, xb])[:, :3], np.repeat(xa.sum(1, keepdims=True), 3, 1), rtol=1e-5)


def test_model_used_as_a_layer():
    x_in = fw.Input((3,))
    encoder = fw.Model(x_in, Dense(4, activation="relu", name="enc")(x_in), name="encoder")
    a = fw.Input((3,))
    outer = fw.Model(a, Dense(1, name="head")(encoder(a)))
    assert any(l is encoder for l in outer.layers)
    assert outer.count_params() == encoder.count_params() + 4 + 1
    x = _rand(5, 3)
    kh, bh = outer.get_layer("head").get_weights()
    np.testing.assert_allclose(outer(x), encoder(x) @ kh + bh, rtol=1e-5, atol=1e-5)
    # training the outer model trains the inner one (shared weights)
    before = encoder.get_weights()[0].copy()
    outer.compile(optimizer="sgd", loss="mse")
    outer.fit(x, np.ones((5, 1)), epochs=2, verbose=0)
    assert not np.allclose(before, encoder.get_weights()[0])


def test_two_models_sharing_a_submodel_stay_consistent():
    """Training either model moves the shared weights; both see the same values afterwards."""
    a = fw.Input((3,))
    encoder = fw.Model(a, Dense(2, name="enc")(a))
    b = fw.Input((3,))
    full = fw.Model(b, Dense(1, name="head")(encoder(b)))
    encoder.compile(optimizer="adam", loss="mse")
    full.compile(optimizer="sgd", loss="mse")
    x = _rand(8, 3)

    def check():
        k, bias = encoder.get_weights()
        kh, bh = full.get_layer("head").get_weights()
        np.testing.assert_allclose(encoder(x), x @ k + bias, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(full.predict(x, verbose=0), (x @ k + bias) @ kh + bh, rtol=1e-5, atol=1e-5)
        return k.copy()

    k0 = check()
    encoder.fit(x, np.ones((8, 2)), epochs=2, verbose=0)
    k1 = check()
    full.fit(x, np.ones((8, 1)), epochs=2, verbose=0)
    k2 = check()
    encoder.fit(x, np.zeros((8, 2)), epochs=2, verbose=0)
    k3 = check()
    assert not np.allclose(k0, k1) and not np.allclose(k1, k2) and not np.allclose(k2, k3)


def test_model_as_layer_applied_twice_shares_weights():
    x_in = fw.Input((3,))
    tower = fw.Model(x_in, Dense(2)(x_in))
    a, b = fw.Input((3,)), fw.Input((3,))
    siamese = fw.Model([a, b], Add()([tower(a), tower(b)]))
    assert siamese.count_params() == tower.count_params() == 8
    xa, xb = _rand(2, 3), _rand(2, 3, seed=1)
    np.testing.assert_allclose(siamese([xa, xb]), tower(xa) + tower(xb), rtol=1e-5, atol=1e-6)


def test_arithmetic_on_symbolic_tensors():
    a, b = fw.Input((3,)), fw.Input((3,))
    residual = a
    x = Dense(3, name="block")(a)
    x += residual
    model = fw.Model([a, b], [a + b, a - b, a * b, x])
    xa, xb = _rand(4, 3), _rand(4, 3, seed=1)
    s, d, p, res = model([xa, xb])
    np.testing.assert_allclose(s, xa + xb, rtol=1e-6)
    np.testing.assert_allclose(d, xa - xb, rtol=1e-6)
    np.testing.assert_allclose(p, xa * xb, rtol=1e-6)
    k, bias = model.get_layer("block").get_weights()
    np.testing.assert_allclose(res, xa @ k + bias + xa, rtol=1e-5, atol=1e-6)


def test_arithmetic_with_a_constant_is_an_op_and_a_non_number_a_clear_error():
    """Once an error ("constants come with framework.ops"); framework.ops made it work."""
    a = fw.Input((3,))
    model = fw.Model(a, a + 1.0)
    np.testing.assert_allclose(model(np.zeros((2, 3), "float32")), np.ones((2, 3)))
    with pytest.raises(ValueError, match="an operand of type dict is neither a tensor, a variable nor a number"):
        a + {"not": "a number"}


def test_predict_plan_buffer_reuse_keeps_live_tensors():
    """Predict plans reuse buffers by liveness: long skips, views (Flatten, Dropout at inference),
    intermediate tensors as outputs and an input as an output must all survive."""
    inputs = fw.Input((4,))
    h1 = Dense(4, activation="tanh", name="h1")(inputs)
    h2 = Dense(4, activation="relu", name="h2")(h1)
    flat = Flatten()(h2)
    h3 = Dense(4, activation="sigmoid", name="h3")(h2)
    h4 = Dense(4, name="h4")(h3)
    gated = layers.Multiply()([Add()([h4, h1]), Dropout(0.5)(h3)])
    out = Dense(2, name="out")(gated)
    model = fw.Model(inputs, [out, flat, h3, inputs])
    x = _rand(5, 4)
    w = {n: model.get_layer(n).get_weights() for n in ("h1", "h2", "h3", "h4", "out")}

    def dense(name, a):
        return a @ w[name][0] + w[name][1]
    r1 = np.tanh(dense("h1", x))
    r2 = np.maximum(dense("h2", r1), 0)
    r3 = 1 / (1 + np.exp(-dense("h3", r2)))
    expected = [dense("out", (dense("h4", r3) + r1) * r3), r2, r3, x]
    for outputs in (model.predict(x, verbose=0), model(x), model.predict(x, batch_size=2, verbose=0)):
        for got, want in zip(outputs, expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- graph errors

def test_disconnected_graph_names_the_layer_and_missing_input():
    a, b = fw.Input((3,), name="given"), fw.Input((2,), name="forgotten")
    out = Dense(2, name="needs_b")(b)
    with pytest.raises(ValueError) as info:
        fw.Model(a, out)
    msg = str(info.value)
    assert "needs_b" in msg and "forgotten" in msg and "disconnected" in msg.lower()


def test_disconnected_graph_with_a_partial_input_list():
    a, b = fw.Input((3,), name="in_a"), fw.Input((3,), name="in_b")
    out = Add(name="join")([a, b])
    with pytest.raises(ValueError, match="in_b"):
        fw.Model(a, out)


def test_shape_mismatch_names_layer_and_both_shapes():
    dense = Dense(2, name="proj")
    dense(fw.Input((3,)))
    with pytest.raises(ValueError) as info:
        dense(fw.Input((5,)))
    msg = str(info.value)
    assert "proj" in msg and "(None, 3)" in msg and "(None, 5)" in msg


def test_merge_shape_mismatch_names_layer_and_shapes():
    with pytest.raises(ValueError) as info:
        Add(name="bad_add")([fw.Input((3,)), fw.Input((4,))])
    msg = str(info.value)
    assert "bad_add" in msg and "(None, 3)" in msg and "(None, 4)" in msg


def test_wrong_input_count_for_layer():
    with pytest.raises(ValueError, match="single_in"):
        Dense(2, name="single_in")([fw.Input((3,)), fw.Input((3,))])
    with pytest.raises(ValueError, match="sub"):
        layers.Subtract(name="sub")([fw.Input((3,)), fw.Input((3,)), fw.Input((3,))])


def test_wrong_input_count_and_shape_for_nested_model():
    x_in = fw.Input((3,), name="inner_x")
    inner = fw.Model(x_in, Dense(2)(x_in), name="inner_model")
    with pytest.raises(ValueError, match="inner_model"):
        inner([fw.Input((3,)), fw.Input((3,))])
    with pytest.raises(ValueError) as info:
        inner(fw.Input((4,)))
    msg = str(info.value)
    assert "inner_model" in msg and "(None, 3)" in msg and "(None, 4)" in msg


def test_model_inputs_must_be_input_tensors():
    a = fw.Input((3,))
    hidden = Dense(2)(a)
    with pytest.raises(ValueError, match="Input"):
        fw.Model(hidden, Dense(1)(hidden))
    with pytest.raises(TypeError):
        fw.Model(np.zeros((2, 3)), hidden)


def test_unknown_activation_lists_valid_choices():
    with pytest.raises(ValueError) as info:
        Dense(2, activation="relux")
    msg = str(info.value)
    assert "relux" in msg and "relu" in msg and "sigmoid" in msg and "tanh" in msg


# ----------------------------------------------------------------------------- weights

def test_get_set_weights_keras_order_and_shapes():
    model = fw.Sequential([fw.Input((3,)), Dense(4, activation="relu"), Dense(2)])
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 2), (2,)]
    rng = np.random.default_rng(5)
    new = [rng.standard_normal(w.shape).astype(np.float32) for w in weights]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    x = _rand(3, 3)
    expected = _dense_reference(_dense_reference(x, new[0], new[1], "relu"), new[2], new[3])
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    # get_weights returns copies
    got = model.get_weights()
    got[0][...] = 0
    assert not np.all(model.get_weights()[0] == 0)


def test_set_weights_errors_name_shapes():
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    with pytest.raises(ValueError, match="2"):
        model.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError) as info:
        model.set_weights([np.zeros((2, 3)), np.zeros(2)])
    assert "(3, 2)" in str(info.value) and "(2, 3)" in str(info.value)


def test_set_weights_after_training_are_used():
    model = fw.Sequential([fw.Input((2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = _rand(8, 2)
    model.fit(x, np.zeros((8, 1)), epochs=1, verbose=0)
    model.set_weights([np.array([[1.0], [2.0]]), np.array([0.5])])
    np.testing.assert_allclose(model(x), x @ np.array([[1.0], [2.0]]) + 0.5, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ np.array([[1.0], [2.0]]) + 0.5,
                               rtol=1e-5, atol=1e-6)


def test_trainable_flag_and_weight_lists():
    model = fw.Sequential([fw.Input((3,)), Dense(4, name="frozen"), Dense(1, name="free")])
    model.get_layer("frozen").trainable = False
    assert len(model.weights) == 4
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    frozen = model.get_layer("frozen").get_weights()[0].copy()
    free = model.get_layer("free").get_weights()[0].copy()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(_rand(16, 3), _rand(16, 1, seed=2), epochs=2, verbose=0)
    np.testing.assert_array_equal(model.get_layer("frozen").get_weights()[0], frozen)
    assert not np.allclose(model.get_layer("free").get_weights()[0], free)


def test_count_params():
    model = fw.Sequential([fw.Input((10,)), Dense(8), Dropout(0.5), Dense(3, use_bias=False)])
    assert model.count_params() == 10 * 8 + 8 + 8 * 3
    assert model.count_params() == sum(w.size for w in model.get_weights())


def test_summary_prints_names_shapes_params_flops_bytes(capsys):
    model = fw.Sequential([fw.Input((3,)), Dense(4, activation="relu", name="hidden"),
                           Dense(2, name="logits")], name="tiny")
    model.summary()
    text = capsys.readouterr().out
    assert "tiny" in text
    for fragment in ("hidden", "logits", "(None, 4)", "(None, 2)", "16", "10", "26"):
        assert fragment in text, f"{fragment!r} missing from summary:\n{text}"
    assert "FLOP" in text
    assert "B" in text and ("104" in text)  # 26 float32 parameters take 104 bytes
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "16" in lines["hidden"].split() and "10" in lines["logits"].split()
    # forward FLOPs: 2*3*4 for hidden and 2*4*2 for logits
    assert "24" in lines["hidden"] and "16" in lines["logits"]


def test_summary_of_unbuilt_model_is_a_clear_error():
    with pytest.raises(ValueError, match="built"):
        fw.Sequential([Dense(2)]).summary()


def test_summary_print_fn():
    model = fw.Sequential([fw.Input((3,)), Dense(2, name="only")])
    captured = []
    model.summary(print_fn=captured.append)
    assert captured and "only" in "\n".join(captured)


# ----------------------------------------------------------------------------- model(x)

def test_model_call_on_numpy_returns_numpy():
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    out = model(_rand(4, 3))
    assert type(out) is np.ndarray and out.shape == (4, 2) and out.dtype == np.float32
    # different batch sizes in a row
    assert model(_rand(1, 3)).shape == (1, 2) and model(_rand(7, 3)).shape == (7, 2)


def test_model_call_accepts_booleans_integers_and_lists():
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    k, b = model.get_weights()
    ints = np.array([[1, 0, 2], [3, 1, 0]], dtype=np.int64)
    np.testing.assert_allclose(model(ints), ints @ k + b, rtol=1e-5, atol=1e-6)
    bools = np.array([[True, False, True]])
    np.testing.assert_allclose(model(bools), bools.astype(np.float32) @ k + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0]]), ints @ k + b, rtol=1e-5, atol=1e-6)


def test_model_call_does_not_return_internal_buffers():
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    x = _rand(4, 3)
    first = model(x)
    kept = first.copy()
    model(x * 10)
    np.testing.assert_array_equal(first, kept)


def test_model_call_training_flag_controls_dropout():
    fw.utils.set_random_seed(3)
    model = fw.Sequential([fw.Input((200,)), Dropout(0.5)])
    x = np.ones((4, 200), dtype=np.float32)
    np.testing.assert_array_equal(model(x), x)  # inference: identity
    dropped = model(x, training=True)
    assert set(np.unique(dropped).tolist()) <= {0.0, 2.0}
    assert 0.3 < np.mean(dropped == 0) < 0.7


def test_model_call_wrong_feature_shape():
    model = fw.Sequential([fw.Input((3,), name="feats"), Dense(2)])
    with pytest.raises(ValueError) as info:
        model(np.zeros((2, 4)))
    msg = str(info.value)
    assert "feats" in msg and "(3,)" in msg and "(2, 4)" in msg


# ----------------------------------------------------------------------------- utils

def test_set_random_seed_repeats_initial_weights():
    fw.utils.set_random_seed(11)
    w1 = fw.Sequential([fw.Input((5,)), Dense(4), Dense(3)]).get_weights()
    fw.utils.set_random_seed(11)
    w2 = fw.Sequential([fw.Input((5,)), Dense(4), Dense(3)]).get_weights()
    fw.utils.set_random_seed(12)
    w3 = fw.Sequential([fw.Input((5,)), Dense(4), Dense(3)]).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert not np.array_equal(w1[0], w3[0])


def test_to_categorical():
    out = fw.utils.to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1, 2]])
    out = fw.utils.to_categorical(np.array([[1], [0]]), num_classes=4)
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out, [[0, 1, 0, 0], [1, 0, 0, 0]])
    assert fw.utils.to_categorical(np.zeros((2, 3), dtype=int), 2).shape == (2, 3, 2)
