"""framework.applications against Keras 3.15.1: layer names and classes, parameter counts, output
shapes and outputs (recorded by tests/keras_reference/make_applications_reference.py; Keras is not
imported here), the weights argument, preprocessing, and Keras's transfer-learning guide."""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import framework as fw
from framework import applications, layers
from framework.applications import imagenet_utils, weights as weight_files
from framework.applications.extra_layers import LayerScale, StochasticDepth
from framework.saving.keras_files.weight_paths import keras_layer_order

REFERENCE = Path(__file__).resolve().parent / "keras_reference"
sys.path.insert(0, str(REFERENCE))
from application_cases import (CASES, OUTPUT_CASES, WEIGHTS_FILE_CASE, deterministic_weights,  # noqa: E402
                               inputs)

RECORD = json.loads((REFERENCE / "applications.json").read_text())
OUTPUTS = np.load(REFERENCE / "applications_outputs.npz")


def build(constructor, arguments, **more):
    fw.utils.clear_session()  # Keras's automatic names ("conv2d_3") count from a fresh session
    return getattr(applications, constructor)(weights=more.pop("weights", None), **arguments, **more)


def keras_ordered_weights(model):
    """The model's variables in Keras's ``model.weights`` order: layers as Keras orders ``model.layers``
    (by depth from the outputs; this library's ``model.layers`` is a depth-first order, which differs
    for branching graphs such as ResNet's and Xception's blocks)."""
    return [w for layer in keras_layers(model) for w in layer.weights]


def keras_layers(model):
    """``model.layers`` in Keras's order (operations such as ``x + 3.0`` are nodes, not layers, as in Keras)."""
    return [layer for layer in keras_layer_order(model) if isinstance(layer, layers.Layer)]


def set_keras_ordered_weights(model, arrays):
    variables = keras_ordered_weights(model)
    assert [tuple(v.shape) for v in variables] == [a.shape for a in arrays]
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.mark.parametrize("case", sorted(CASES))
def test_architecture_equals_keras(case):
    constructor, arguments = CASES[case]
    expected = RECORD["cases"][case]
    model = build(constructor, arguments)
    got = [[layer.name, type(layer).__name__] for layer in keras_layers(model)]
    assert got == expected["layers"]
    assert sorted(layer.name for layer in model.layers) == sorted(name for name, _ in expected["layers"])
    assert model.count_params() == expected["params"]
    assert trainable_count(model) == expected["trainable_params"]
    assert list(model.output.shape) == expected["output_shape"]


@pytest.mark.parametrize("case", sorted(OUTPUT_CASES))
def test_outputs_equal_keras_for_the_same_weights(case):
    constructor, arguments = OUTPUT_CASES[case]
    model = build(constructor, arguments)
    set_keras_ordered_weights(model, deterministic_weights([tuple(w.shape) for w in keras_ordered_weights(model)]))
    got = model.predict(inputs(arguments["input_shape"]), verbose=0)
    expected = OUTPUTS[f"{case}.y"]
    assert got.shape == expected.shape
    scale = np.abs(expected).max()
    assert scale > 1e-3  # the weights keep the signal alive through the whole network
    np.testing.assert_allclose(got, expected, atol=2e-5 * scale, rtol=2e-4)


def test_weights_path_loads_a_keras_weights_file():
    case, constructor, arguments = WEIGHTS_FILE_CASE
    path = REFERENCE / "mobilenet_file.weights.h5"
    model = build(constructor, arguments, weights=str(path))
    got = model.predict(inputs(arguments["input_shape"]), verbose=0)
    np.testing.assert_allclose(got, OUTPUTS[f"{case}.y"], atol=1e-5, rtol=1e-4)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "_class_index", None)
    return tmp_path


def test_imagenet_weights_missing_names_the_file_url_and_folder(keras_home):
    with pytest.raises(FileNotFoundError) as error:
        applications.ResNet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    message = str(error.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert str(keras_home / "models") in message
    assert "4d473c1dd8becc155b73f8504c6f6626" in message


def test_imagenet_weights_are_read_from_the_keras_cache(keras_home):
    """MobileNet's files carry no published checksum, so any file under the right name is read."""
    source = build("MobileNet", {"alpha": 0.25, "include_top": False, "input_shape": (128, 128, 3)})
    source.set_weights(deterministic_weights([w.shape for w in source.get_weights()], seed=3))
    (keras_home / "models").mkdir()
    source.save_weights(str(keras_home / "models" / "mobilenet_2_5_128_tf_no_top.h5"))
    model = build("MobileNet", {"alpha": 0.25, "include_top": False, "input_shape": (128, 128, 3)},
                  weights="imagenet")
    for a, b in zip(model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_imagenet_weights_with_a_wrong_checksum_are_refused(keras_home):
    (keras_home / "models").mkdir()
    (keras_home / "models" / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="does not have the checksum Keras publishes"):
        applications.Xception(weights="imagenet", include_top=False, input_shape=(71, 71, 3))


def test_download_weights_verifies_the_checksum_offline(keras_home, tmp_path):
    payload = tmp_path / "payload.h5"
    payload.write_bytes(b"0123456789" * 100)
    good = weight_files.WeightFile("some_weights.h5", payload.as_uri(), hashlib.md5(payload.read_bytes()).hexdigest())
    path = weight_files.download_weights(good)
    assert Path(path) == keras_home / "models" / "some_weights.h5"
    assert Path(path).read_bytes() == payload.read_bytes()
    bad = weight_files.WeightFile("other_weights.h5", payload.as_uri(), "0" * 32)
    with pytest.raises(fw.datasets.ChecksumError, match="expected 0000"):
        weight_files.download_weights(bad)
    assert not (keras_home / "models" / "other_weights.h5").exists()
    unverified = weight_files.WeightFile("unverified.h5", payload.as_uri())
    with pytest.raises(ValueError, match="no checksum"):
        weight_files.download_weights(unverified)


def test_every_published_file_name_is_known_to_download_weights():
    names = set(weight_files.RECORDS)
    for name in ("resnet152v2_weights_tf_dim_ordering_tf_kernels.h5",
                 "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5", "efficientnetb3_notop.h5",
                 "weights_mobilenet_v3_small_224_1.0_float.h5", "convnext_tiny_notop.h5",
                 "densenet121_weights_tf_dim_ordering_tf_kernels.h5", "mobilenet_7_5_160_tf.h5"):
        assert name in names
    with pytest.raises(ValueError, match="not a weight file"):
        weight_files.download_weights("resnet9000.h5")


def test_bad_arguments_are_refused_with_keras_messages():
    with pytest.raises(ValueError, match="classes must be 1000"):
        applications.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="at least 71x71"):
        applications.Xception(weights=None, include_top=False, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="pooling must be"):
        applications.DenseNet121(weights=None, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="weights must be None"):
        applications.VGG16(weights="/no/such/file.h5")
    with pytest.raises(ValueError, match="classifier_activation"):
        applications.MobileNetV2(weights="imagenet", classifier_activation="sigmoid")


def test_input_tensor_is_built_on():
    fw.utils.clear_session()
    image = fw.Input((64, 64, 3))
    base = applications.MobileNetV2(weights=None, include_top=False, alpha=0.35, input_tensor=image, pooling="avg")
    assert base.inputs[0] is image
    assert base.output.shape == (None, 1280)


def test_preprocess_input_modes():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    kept = x.copy()
    caffe = applications.resnet.preprocess_input(x)
    np.testing.assert_allclose(caffe, x[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32"), rtol=1e-6)
    np.testing.assert_allclose(applications.mobilenet_v2.preprocess_input(x), x / 127.5 - 1, rtol=1e-6, atol=1e-6)
    torch = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(applications.densenet.preprocess_input(x), torch, rtol=1e-5, atol=1e-5)
    assert applications.efficientnet.preprocess_input(x) is x
    np.testing.assert_array_equal(x, kept)  # never changed in place
    assert applications.vgg16.preprocess_input(np.full((4, 4, 3), 255, "uint8")).dtype == np.float32
    with pytest.raises(ValueError, match="3 channels"):
        applications.resnet.preprocess_input(np.zeros((2, 4, 4, 1)))


def test_decode_predictions_reads_the_class_index_from_the_keras_cache(keras_home):
    preds = np.zeros((2, 1000), "float32")
    preds[0, [7, 3, 999]] = [0.5, 0.3, 0.2]
    preds[1, 42] = 1.0
    with pytest.raises(FileNotFoundError, match="imagenet_class_index.json"):
        applications.resnet50.decode_predictions(preds)
    (keras_home / "models").mkdir()
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (keras_home / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    top = applications.xception.decode_predictions(preds, top=3)
    assert [(w, n) for w, n, _ in top[0]] == [("n00000007", "class_7"), ("n00000003", "class_3"),
                                              ("n00000999", "class_999")]
    assert top[1][0][:2] == ("n00000042", "class_42") and top[1][0][2] == 1.0
    with pytest.raises(ValueError, match="shape"):
        applications.resnet50.decode_predictions(preds[:, :10])


def test_hard_swish_layer_scale_and_stochastic_depth():
    x = np.linspace(-5, 5, 24, dtype="float32").reshape(2, 2, 2, 3)
    np.testing.assert_allclose(layers.Activation("hard_swish")(x), x * np.clip(x + 3, 0, 6) / 6, rtol=1e-6, atol=1e-7)
    scale = LayerScale(0.5, 3)
    np.testing.assert_allclose(scale(x), x * 0.5)
    assert LayerScale.from_config(scale.get_config()).projection_dim == 3
    drop = StochasticDepth(0.5)
    np.testing.assert_array_equal(drop(x), x)
    fw.utils.set_random_seed(0)
    big = np.ones((64, 2, 2, 3), "float32")
    dropped = np.asarray(drop(big, training=True))
    per_sample = dropped.reshape(64, -1)
    assert set(np.unique(per_sample)) <= {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()  # whole samples kept or dropped
    assert 10 < (per_sample[:, 0] == 0).sum() < 54


def test_broadcast_multiply_gradient():
    """The squeeze-and-excitation product (feature map x per-channel gate) trains with the right gradient."""
    rng = np.random.default_rng(1)
    a = fw.Input((3, 4, 2))
    b = fw.Input((1, 1, 2))
    model = fw.Model([a, b], layers.Multiply()([a, b]))
    xa, xb = rng.normal(size=(2, 3, 4, 2)).astype("float32"), rng.normal(size=(2, 1, 1, 2)).astype("float32")
    with fw.GradientTape() as tape:
        ta, tb = tape.watch(xa), tape.watch(xb)
        loss = fw.ops.sum(fw.ops.multiply(model([ta, tb]), 2.0))
    ga, gb = tape.gradient(loss, [ta, tb])
    np.testing.assert_allclose(ga, 2 * np.broadcast_to(xb, xa.shape), rtol=1e-6)
    np.testing.assert_allclose(gb, 2 * xa.sum(axis=(1, 2), keepdims=True), rtol=1e-5)


def test_transfer_learning_guide_runs():
    """Keras's transfer_learning.py guide: a frozen Xception base, a new head, fit; then fine-tune."""
    fw.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 71, 71, 3)).astype("float32")
    y = rng.integers(0, 2, (8, 1)).astype("float32")
    base_model = applications.Xception(weights=None, input_shape=(71, 71, 3), include_top=False)
    base_model.trainable = False
    inputs = fw.Input(shape=(71, 71, 3))
    scale_layer = layers.Rescaling(scale=1 / 127.5, offset=-1)
    h = scale_layer(inputs)
    h = base_model(h, training=False)
    h = layers.GlobalAveragePooling2D()(h)
    h = layers.Dropout(0.2)(h)
    outputs = layers.Dense(1)(h)
    model = fw.Model(inputs, outputs)
    assert trainable_count(model) == 2049
    frozen = [w.copy() for w in base_model.get_weights()]
    model.compile(optimizer=fw.optimizers.Adam(), loss=fw.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[fw.metrics.BinaryAccuracy()])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for a, b in zip(base_model.get_weights(), frozen):
        np.testing.assert_array_equal(a, b)

    base_model.trainable = True
    assert trainable_count(model) == RECORD["cases"]["Xception_small"]["trainable_params"] + 2049
    model.compile(optimizer=fw.optimizers.Adam(1e-5), loss=fw.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[fw.metrics.BinaryAccuracy()])
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    kernel = base_model.get_layer("block1_conv1").get_weights()[0]
    assert not np.array_equal(kernel, frozen[0])  # fine-tuning moved the base


def test_base_model_called_with_training_false_keeps_batchnorm_statistics():
    """The guide's point: ``base_model(x, training=False)`` keeps BatchNormalization in inference mode
    even after ``base_model.trainable = True``, so fine-tuning does not disturb its moving statistics."""
    inner_in = fw.Input((4,))
    inner = fw.Model(inner_in, layers.BatchNormalization()(layers.Dense(3)(inner_in)))
    x = fw.Input((4,))
    model = fw.Model(x, layers.Dense(1)(inner(x, training=False)))
    model.compile("sgd", "mse")
    gamma_before = inner.layers[-1].get_weights()[0].copy()
    model.fit(np.random.default_rng(0).random((8, 4)).astype("float32"), np.zeros((8, 1), "float32"), verbose=0)
    gamma, _, moving_mean, moving_variance = inner.layers[-1].get_weights()
    np.testing.assert_array_equal(moving_mean, np.zeros(3, "float32"))  # inference mode: statistics untouched
    np.testing.assert_array_equal(moving_variance, np.ones(3, "float32"))
    assert not np.array_equal(gamma, gamma_before)  # but its weights still train, as in Keras
    inner_call = fw.Model(x, layers.Dense(1)(inner(x, training=True)))  # an explicit training=True wins too
    inner_call.compile("sgd", "mse")
    inner_call.fit(np.random.default_rng(1).random((8, 4)).astype("float32"), np.zeros((8, 1), "float32"), verbose=0)
    assert not np.array_equal(inner.layers[-1].get_weights()[2], np.zeros(3, "float32"))
