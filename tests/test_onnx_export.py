"""Export to ONNX: each model family written with ``model.export(..., format="onnx")``, checked by
``onnx.checker`` and run by onnxruntime at batch sizes 1 and 7 through the same file (the batch axis is
dynamic), compared with ``model.predict`` to 1e-5; refusals that name the layer and write nothing; the
``framework export`` command."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the optional 'onnx' package is not installed "
                                          "(pip install 'framework[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'framework[onnx]')")

import framework as fw  # noqa: E402
from framework import layers as L  # noqa: E402
from framework.export import ExportError  # noqa: E402

TOLERANCE = 1e-5


def _randomize(model, seed=0):
    """Weights drawn at random (batch-norm variances positive) so that no path hides behind zeros or ones."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        new = []
        for w, v in zip(weights, layer.weights):
            if "variance" in v.name:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            else:
                new.append(rng.normal(0, 0.5, w.shape).astype(w.dtype))
        layer.set_weights(new)


def export_and_compare(model, inputs, tmp_path, name="model"):
    """Export, check, run at the batch sizes of ``inputs`` and 1; the loaded ONNX model."""
    path = tmp_path / f"{name}.onnx"
    written = model.export(str(path), format="onnx", verbose=False)
    assert os.fspath(written) == os.fspath(path) and path.exists()
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    for graph_input in proto.graph.input:
        assert graph_input.type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = inputs if isinstance(inputs, list) else [inputs]
    for rows in (slice(0, 1), slice(None)):
        batch = [x[rows] for x in inputs]
        got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), batch)})
        want = model.predict(batch if len(batch) > 1 else batch[0], verbose=0)
        want = want if isinstance(want, list) else [want]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, atol=TOLERANCE, rtol=TOLERANCE)
    return proto


def _ops(proto):
    return [node.op_type for node in proto.graph.node]


def test_mlp_with_every_elementwise_activation(tmp_path):
    acts = ["relu", "sigmoid", "tanh", "gelu", "elu", "selu", "swish", "silu", "softplus", "linear",
            "leaky_relu", "relu6", "hard_sigmoid", "softsign", "exponential", "log_softmax"]
    layers = [L.Input((6,))] + [L.Dense(6, activation=a) for a in acts]
    layers += [L.LeakyReLU(0.1), L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.2), L.ELU(0.5),
               L.Dense(4, activation=fw.activations.gelu.with_params(approximate=True)), L.Dropout(0.5),
               L.Dense(3, activation="softmax")]
    model = fw.Sequential(layers)
    _randomize(model)
    x = np.random.default_rng(1).normal(0, 1, (7, 6)).astype("float32")
    export_and_compare(model, x, tmp_path)


def test_mnist_convnet_keeps_convolutions_channels_first(tmp_path):
    model = fw.Sequential([L.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
                           L.Conv2D(16, 3, padding="same", strides=2, activation="relu"),
                           L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(padding="same"),
                           L.Flatten(), L.Dropout(0.5), L.Dense(10, activation="softmax")])
    _randomize(model)
    x = np.random.default_rng(2).random((7, 28, 28, 1), dtype=np.float32)
    proto = export_and_compare(model, x, tmp_path)
    # one transpose into NCHW at the input, one back to channels_last before Flatten: none in between
    assert _ops(proto).count("Transpose") == 2
    assert _ops(proto).count("Conv") == 3


def test_batchnorm_resnet_block(tmp_path):
    inputs = L.Input((16, 16, 3))
    x = L.Conv2D(8, 3, padding="same")(inputs)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    y = L.Conv2D(8, 3, padding="same")(x)
    y = L.BatchNormalization()(y)
    z = L.ReLU()(L.Add()([x, y]))
    z = L.GlobalAveragePooling2D()(z)
    outputs = L.Dense(4, activation="softmax")(L.BatchNormalization()(z))
    model = fw.Model(inputs, outputs)
    _randomize(model)
    x = np.random.default_rng(3).random((7, 16, 16, 3), dtype=np.float32)
    proto = export_and_compare(model, x, tmp_path)
    assert _ops(proto).count("Transpose") == 1  # only the input; global pooling reduces NCHW directly


def test_depthwise_separable_transpose_and_spatial_layers(tmp_path):
    model = fw.Sequential([
        L.Input((12, 12, 4)), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", strides=2),
        L.SeparableConv2D(6, 3, padding="same", activation="elu"),
        L.Conv2DTranspose(5, 3, strides=2, padding="same"),
        L.Conv2DTranspose(3, 4, strides=2, padding="valid", output_padding=1, activation="relu"),
        L.ZeroPadding2D(((1, 2), (0, 1))), L.UpSampling2D((2, 3)), L.AveragePooling2D(3, strides=2, padding="same"),
        L.Cropping2D(((1, 0), (2, 1))), L.Conv2D(2, (2, 3), dilation_rate=2, padding="same")])
    _randomize(model)
    x = np.random.default_rng(4).random((7, 12, 12, 4), dtype=np.float32)
    proto = export_and_compare(model, x, tmp_path)
    assert _ops(proto).count("Transpose") == 2  # in and out only


def test_one_dimensional_convolutions_and_pooling(tmp_path):
    model = fw.Sequential([L.Input((20, 3)), L.Conv1D(4, 3, padding="causal", activation="relu"),
                           L.Conv1D(5, 4, strides=2, padding="same"), L.MaxPooling1D(2),
                           L.AveragePooling1D(2, padding="same"), L.ZeroPadding1D(1), L.UpSampling1D(2),
                           L.GlobalMaxPooling1D()])
    _randomize(model)
    export_and_compare(model, np.random.default_rng(5).normal(size=(7, 20, 3)).astype("float32"), tmp_path)


def test_embedding_and_bidirectional_recurrent_text_model(tmp_path):
    ids = L.Input((10,), dtype="int32")
    e = L.Embedding(50, 8)(ids)
    a = L.Bidirectional(L.LSTM(6, return_sequences=True))(e)
    b = L.Bidirectional(L.GRU(5), merge_mode="sum")(a)
    c = L.GlobalAveragePooling1D()(L.SimpleRNN(4, go_backwards=True, return_sequences=True)(a))
    g = L.GRU(3, reset_after=False)(e)
    last, h, cell = L.LSTM(3, go_backwards=True, return_state=True)(e)
    r = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode="ave")(e)
    outputs = L.Concatenate()([b, c, g, last, h, cell, L.Flatten()(r)])
    model = fw.Model(ids, L.Dense(2, activation="softmax")(outputs))
    _randomize(model)
    x = np.random.default_rng(6).integers(0, 50, (7, 10)).astype("int32")
    proto = export_and_compare(model, x, tmp_path)
    assert {"LSTM", "GRU", "RNN", "Gather"} <= set(_ops(proto))


def test_text_model_with_unknown_length_and_float_ids(tmp_path):
    ids = L.Input((None,))
    x = L.Bidirectional(L.GRU(4))(L.Embedding(30, 5)(ids))
    model = fw.Model(ids, L.Dense(3)(x))
    _randomize(model)
    path = tmp_path / "varlen.onnx"
    model.export(str(path), verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for steps in (3, 11):
        x = np.random.default_rng(steps).integers(0, 30, (5, steps)).astype("float32")
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=TOLERANCE, rtol=TOLERANCE)


def test_layer_normalization_merges_and_reshapes(tmp_path):
    i1, i2 = L.Input((6,)), L.Input((6,))
    a = L.Dense(6, activation="gelu")(i1)
    b = L.Dense(6, activation="swish")(i2)
    merged = [L.Add()([a, b]), L.Subtract()([a, b]), L.Multiply()([a, b]), L.Average()([a, b]),
              L.Maximum()([a, b]), L.Minimum()([a, b])]
    x = L.LayerNormalization()(L.Concatenate()(merged))
    x = L.Reshape((3, 12))(x)
    x = L.LayerNormalization(axis=[1, 2], epsilon=1e-5)(x)
    x = L.Permute((2, 1))(x)
    x = L.Flatten()(L.RepeatVector(2)(L.Flatten()(x)))
    model = fw.Model([i1, i2], [L.Dense(4, activation="softplus")(x), L.BatchNormalization()(L.Dense(3)(x))])
    _randomize(model)
    rng = np.random.default_rng(7)
    proto = export_and_compare(model, [rng.normal(size=(7, 6)).astype("float32"),
                                       rng.normal(size=(7, 6)).astype("float32")], tmp_path)
    assert "LayerNormalization" in _ops(proto)


def test_multi_head_attention_encoder(tmp_path):
    tokens = L.Input((5, 8))
    memory = L.Input((7, 6))
    a = L.MultiHeadAttention(2, 4)(tokens, tokens, use_causal_mask=True)
    x = L.LayerNormalization()(L.Add()([tokens, a]))
    b, scores = L.MultiHeadAttention(3, 4, value_dim=5, output_shape=(2, 4))(x, memory, return_attention_scores=True)
    c = L.MultiHeadAttention(2, 3, use_bias=False)(x, memory, memory)
    model = fw.Model([tokens, memory], [L.Dense(4)(c), b, scores])
    _randomize(model)
    rng = np.random.default_rng(8)
    export_and_compare(model, [rng.normal(size=(7, 5, 8)).astype("float32"),
                               rng.normal(size=(7, 7, 6)).astype("float32")], tmp_path)


def test_nested_model_and_shared_layer(tmp_path):
    shared = L.Dense(5, activation="tanh")
    inner_in = L.Input((4,))
    inner = fw.Model(inner_in, L.Dense(4, activation="relu")(shared(L.Dense(5)(inner_in))), name="inner")
    outer_in = L.Input((4,))
    y = inner(inner(outer_in))
    model = fw.Model(outer_in, L.Add()([shared(L.Dense(5)(y)), L.Dense(5)(outer_in)]))
    _randomize(model)
    proto = export_and_compare(model, np.random.default_rng(9).normal(size=(7, 4)).astype("float32"), tmp_path)
    assert len(proto.graph.initializer) == len({i.name for i in proto.graph.initializer})


def test_unsupported_layers_are_all_named_and_nothing_is_written(tmp_path):
    tokens = L.Input((4, 8))
    x = L.GroupNormalization(groups=2, name="groups")(tokens)
    model = fw.Model(tokens, L.Dense(2)(L.Attention(name="dot_attention")([x, x])))
    path = tmp_path / "bad.onnx"
    with pytest.raises(ExportError) as error:
        model.export(str(path), format="onnx", verbose=False)
    message = str(error.value)
    assert "'groups' (GroupNormalization)" in message and "'dot_attention' (Attention)" in message
    assert "Layers that export:" in message and "Conv2D" in message
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_mask_reaching_a_recurrent_layer_is_refused(tmp_path):
    ids = L.Input((6,))
    model = fw.Model(ids, L.LSTM(3)(L.Embedding(10, 4, mask_zero=True)(ids)))
    with pytest.raises(ExportError, match=r"\(LSTM\) reads a mask"):
        model.export(str(tmp_path / "m.onnx"), verbose=False)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_setting_is_refused_before_writing(tmp_path):
    model = fw.Sequential([L.Input((3, 4)), L.LSTM(2, activation="softsign")])
    with pytest.raises(ExportError, match=r"'.*' \(LSTM\).*activation 'softsign'"):
        model.export(str(tmp_path / "m.onnx"), verbose=False)
    assert list(tmp_path.iterdir()) == []


def test_other_formats_are_refused_with_the_choices(tmp_path):
    model = fw.Sequential([L.Input((3,)), L.Dense(2)])
    with pytest.raises(ExportError, match="format 'tf_saved_model' is not supported; valid formats: 'onnx'"):
        model.export(str(tmp_path / "m"), format="tf_saved_model")
    with pytest.raises(ExportError, match="give the format"):
        model.export(str(tmp_path / "m"))
    with pytest.raises(ExportError, match="opset 17 or later"):
        model.export(str(tmp_path / "m.onnx"), format="onnx", opset_version=13)
    assert list(tmp_path.iterdir()) == []


def test_later_opset(tmp_path):
    model = fw.Sequential([L.Input((6, 6, 2)), L.Conv2D(3, 3), L.GlobalMaxPooling2D(keepdims=True), L.Flatten()])
    _randomize(model)
    path = tmp_path / "m.onnx"
    model.export(str(path), format="onnx", verbose=False, opset_version=18)
    assert onnx.load(str(path)).opset_import[0].version == 18
    x = np.random.default_rng(10).random((3, 6, 6, 2), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=TOLERANCE, rtol=TOLERANCE)


def test_cli_export(tmp_path):
    model = fw.Sequential([L.Input((5,)), L.Dense(4, activation="relu"), L.Dense(2)])
    _randomize(model)
    model.save(str(tmp_path / "model.fw"))
    out = tmp_path / "model.onnx"
    result = subprocess.run([sys.executable, "-m", "framework", "export", str(tmp_path / "model.fw"),
                             "--format", "onnx", "--output", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    x = np.random.default_rng(11).normal(size=(7, 5)).astype("float32")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=TOLERANCE, rtol=TOLERANCE)
    refused = subprocess.run([sys.executable, "-m", "framework", "export", str(tmp_path / "model.fw"),
                              "--format", "tflite", "--output", str(tmp_path / "x")], capture_output=True, text=True)
    assert refused.returncode == 2 and "onnx" in refused.stderr


def test_prelu_batchnorm_on_another_axis_and_bidirectional_merge_modes(tmp_path):
    sequence = L.Input((4, 3))
    x = L.BatchNormalization(axis=1)(sequence)
    x = L.PReLU(shared_axes=[1])(x)
    forward, backward = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None)(x)
    product = L.Bidirectional(L.LSTM(2), merge_mode="mul")(x)
    model = fw.Model(sequence, [forward, backward, product])
    _randomize(model)
    export_and_compare(model, np.random.default_rng(12).normal(size=(7, 4, 3)).astype("float32"), tmp_path)
