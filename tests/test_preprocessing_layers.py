"""Preprocessing and augmentation layers, and run configs whose data options travel with the saved model.

Keras's outputs come from tests/keras_reference/preprocessing.npz, recorded by
tests/keras_reference/make_preprocessing_reference.py (Keras 3.15.1, JAX backend) on the cases of
tests/keras_reference/preprocessing_cases.py; Keras is not needed to run these tests.
"""
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import framework as fw
from framework import layers
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation
from keras_reference.preprocessing_cases import CASES, NORMALIZATION_CASES, inputs

REFERENCE = pathlib.Path(__file__).parent / "keras_reference" / "preprocessing.npz"


@pytest.fixture(scope="module")
def keras_outputs():
    with np.load(REFERENCE, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


# ----------------------------------------------------------------------------- Keras's values
@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_equal_keras(case, keras_outputs):
    class_name, args, source = CASES[case]
    layer = getattr(layers, class_name)(**args)
    out = layer(inputs()[source], training=True)
    expected = keras_outputs[case]
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", sorted(NORMALIZATION_CASES))
def test_normalization_equals_keras(case, keras_outputs):
    args = NORMALIZATION_CASES[case]
    layer = layers.Normalization(**args)
    features = inputs()["features"]
    if "mean" not in args:
        layer.adapt(features)
    np.testing.assert_allclose(layer(features), keras_outputs[case], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- Rescaling
def test_rescaling_closed_form_integer_input_and_config():
    x = np.arange(12, dtype=np.uint8).reshape(2, 3, 2)
    out = layers.Rescaling(1 / 255, offset=-0.5)(x)
    np.testing.assert_allclose(out, x / 255 - 0.5, rtol=1e-6)
    per_channel = layers.Rescaling([2.0, -1.0], offset=[0.0, 1.0])
    np.testing.assert_allclose(per_channel(x.astype("float32")), x * [2.0, -1.0] + [0.0, 1.0])
    clone = layers.Rescaling.from_config(per_channel.get_config())
    assert clone.scale == [2.0, -1.0] and clone.offset == [0.0, 1.0]
    with pytest.raises(ValueError, match=r"Rescaling.*scale has 2 values, one per channel.*3 channels"):
        fw.Sequential([fw.Input((4, 3)), layers.Rescaling([1.0, 2.0])])
    with pytest.raises(ValueError, match="scale must be a number"):
        layers.Rescaling("big")


def test_rescaling_and_normalization_gradients(float64_seed_1):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    for front in ([layers.Rescaling([0.5, 2.0, -1.0, 3.0], offset=0.25)],
                  [layers.Normalization(mean=[1.0, 0.0, -1.0, 2.0], variance=[4.0, 0.5, 1.0, 9.0])],
                  [layers.Normalization(axis=None, invert=True, mean=0.5, variance=2.0)]):
        model = fw.Sequential([fw.Input((4,)), *front, layers.Dense(2)])
        assert check_gradients(model, [x], [y]) > 0
    adapted = layers.Normalization()
    adapted.adapt(rng.normal(3.0, 2.0, (50, 4)))
    model = fw.Sequential([fw.Input((4,)), adapted, layers.Dense(2)])
    check_gradients(model, [x], [y])
    assert not model.get_layer(adapted.name).trainable_weights  # statistics are not trained


# ----------------------------------------------------------------------------- Normalization
@pytest.mark.parametrize("axis, reduce", [(-1, (0, 1)), (None, (0, 1, 2)), ((1, 2), (0,)), (1, (0, 2))])
def test_adapt_statistics_equal_numpy_mean_and_var(axis, reduce):
    data = np.random.default_rng(1).normal(2.0, 3.0, (40, 3, 5)).astype("float32")
    layer = layers.Normalization(axis=axis)
    layer.adapt(data)
    mean, variance, count = layer.get_weights()
    np.testing.assert_allclose(mean, data.astype(np.float64).mean(axis=reduce), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(variance, data.astype(np.float64).var(axis=reduce), rtol=1e-5)
    assert count == data.size / mean.size
    assert [w.name for w in layer.weights] == ["mean", "variance", "count"]  # Keras's names
    assert mean.shape == variance.shape == tuple(data.shape[a] for a in range(3) if a not in reduce)
    assert not layer.trainable_weights


def test_adapt_in_batches_and_from_iterables_gives_the_same_statistics():
    data = np.random.default_rng(2).normal(size=(101, 4))
    whole = layers.Normalization()
    whole.adapt(data)
    chunked = layers.Normalization()
    chunked.adapt(data, batch_size=7)
    from_list = layers.Normalization()
    from_list.adapt([data[:50], data[50:]])
    from_pairs = layers.Normalization()
    from_pairs.adapt((batch, np.zeros(len(batch))) for batch in np.array_split(data, 5))
    for layer in (chunked, from_list, from_pairs):
        for a, b in zip(layer.get_weights(), whole.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    first_two = layers.Normalization()
    first_two.adapt(iter([data[:10], data[10:20], data[20:]]), steps=2)
    np.testing.assert_allclose(first_two.get_weights()[0], data[:20].mean(axis=0), rtol=1e-6)


def test_normalization_saved_and_loaded_keeps_its_statistics(tmp_path):
    data = np.random.default_rng(3).normal(5.0, 2.0, (64, 3)).astype("float32")
    norm = layers.Normalization()
    norm.adapt(data)
    model = fw.Sequential([fw.Input((3,)), norm, layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(data, np.zeros((64, 2), "float32"), epochs=1, verbose=0)
    np.testing.assert_allclose(norm.get_weights()[0], data.mean(axis=0), rtol=1e-5)  # fit does not move them
    model.save(tmp_path / "m.fw")
    loaded = fw.models.load_model(tmp_path / "m.fw")
    for a, b in zip(loaded.layers[0].get_weights(), norm.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    given = fw.Sequential([fw.Input((3,)), layers.Normalization(mean=[1, 2, 3], variance=[1, 4, 9])])
    rebuilt = fw.models.model_from_yaml(given.to_yaml())
    assert rebuilt.layers[0].get_config()["mean"] == [1, 2, 3] and not rebuilt.weights
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), (data - [1, 2, 3]) / [1, 2, 3], rtol=1e-5)


def test_normalization_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"axis 3 is out of range for input shape \(None, 4, 5\)"):
        fw.Sequential([fw.Input((4, 5)), layers.Normalization(axis=3)])
    with pytest.raises(ValueError, match="is the batch axis"):
        layers.Normalization(axis=0).adapt(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="give both mean and variance"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="same shape"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0])
    built = layers.Normalization()
    fw.Sequential([fw.Input((3,)), built])
    with pytest.raises(ValueError, match=r"built for input shape \(None, 3\).*adapt\(\) received data of shape "
                                         r"\(8, 4\)"):
        built.adapt(np.zeros((8, 4)))
    with pytest.raises(ValueError, match="was given mean and variance; adapt"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="received no samples"):
        layers.Normalization().adapt(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        layers.Normalization().adapt([np.zeros((2, 2))], steps=0)
    with pytest.raises(TypeError, match="adapt\\(\\) takes an array or an iterable of batches"):
        layers.Normalization().adapt(3.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        fw.Sequential([fw.Input((3,)), layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])])


# ----------------------------------------------------------------------------- CategoryEncoding
def test_category_encoding_in_a_model_with_integer_inputs():
    ids = np.array([[1, 3], [0, 0], [2, 1]], dtype="int32")
    inp = fw.Input((2,), dtype="int32")
    model = fw.Model(inp, layers.CategoryEncoding(4, output_mode="count")(inp))
    np.testing.assert_array_equal(model.predict(ids, verbose=0),
                                  [[0, 1, 0, 1], [2, 0, 0, 0], [0, 1, 1, 0]])
    one_hot = layers.CategoryEncoding(3, output_mode="one_hot")(np.array([2, 0]))
    np.testing.assert_array_equal(one_hot, [[0, 0, 1], [1, 0, 0]])


def test_category_encoding_errors():
    with pytest.raises(ValueError, match="unknown output_mode 'tf_idf'; valid choices: 'multi_hot', 'one_hot', "
                                         "'count'"):
        layers.CategoryEncoding(4, output_mode="tf_idf")
    with pytest.raises(ValueError, match="num_tokens must be a positive integer"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match=r"received id 7; ids must be whole numbers in \[0, 4\)"):
        layers.CategoryEncoding(4)(np.array([[1, 7]]))
    with pytest.raises(ValueError, match=r"received id -1; ids must be whole numbers in \[0, 3\)"):
        layers.CategoryEncoding(3, output_mode="one_hot")(np.array([0.0, -1.0]))
    with pytest.raises(ValueError, match=r"received id 1\.5; ids must be whole"):
        layers.CategoryEncoding(3)(np.array([[0.0, 1.5]]))


# ----------------------------------------------------------------------------- Resizing, CenterCrop
def test_resizing_and_center_crop_pass_the_adjoint_gradient(float64_seed_1):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 5, 6, 2))
    for layer, out_size in ((layers.Resizing(3, 4), 3 * 4), (layers.Resizing(7, 4, interpolation="nearest"), 7 * 4),
                            (layers.Resizing(4, 2, crop_to_aspect_ratio=True), 4 * 2),
                            (layers.CenterCrop(3, 3), 3 * 3), (layers.CenterCrop(6, 8), 6 * 8)):
        model = fw.Sequential([fw.Input((5, 6, 2)), layer, layers.Flatten(), layers.Dense(1)])
        assert model.output_shape == (None, 1) and model.layers[1].output.shape == (None, out_size * 2)
        check_gradients(model, [x], [rng.normal(size=(2, 1))])


def test_resizing_errors():
    with pytest.raises(ValueError, match="unknown interpolation 'bicubic'; valid choices: 'bilinear', 'nearest'"):
        layers.Resizing(4, 4, interpolation="bicubic")
    with pytest.raises(ValueError, match="height must be a positive integer"):
        layers.CenterCrop(0, 3)
    with pytest.raises(ValueError, match=r"expects a 4-D input.*received \(None, 8, 8\)"):
        fw.Sequential([fw.Input((8, 8)), layers.Resizing(4, 4)])
    with pytest.raises(NotImplementedError, match="pad_to_aspect_ratio=True is not supported"):
        layers.Resizing(4, 4, pad_to_aspect_ratio=True)


# ----------------------------------------------------------------------------- augmentation
AUGMENTATIONS = [lambda: layers.RandomFlip(), lambda: layers.RandomRotation(0.2),
                 lambda: layers.RandomTranslation(0.2, 0.3, fill_mode="constant"),
                 lambda: layers.RandomZoom(0.6, interpolation="nearest")]


@pytest.mark.parametrize("make", AUGMENTATIONS)
def test_augmentation_is_identity_at_inference_and_random_in_training(make):
    images = np.random.default_rng(5).uniform(size=(4, 6, 7, 2)).astype("float32")
    fw.utils.set_random_seed(11)
    layer = make()
    model = fw.Sequential([fw.Input((6, 7, 2)), layer])
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)
    np.testing.assert_array_equal(model(images), images)
    np.testing.assert_array_equal(layer(images, training=False), images)
    first, second = layer(images), layer(images)  # alone on arrays: augments (Keras's training=True default)
    assert not np.array_equal(first, second)  # a fresh draw per batch
    fw.utils.set_random_seed(11)
    again = make()
    np.testing.assert_array_equal(again(images), first)  # reproducible under set_random_seed
    seeded = [type(layer).from_config({**layer.get_config(), "name": None, "seed": 3}) for _ in range(2)]
    np.testing.assert_array_equal(seeded[0](images), seeded[1](images))


def test_random_flip_closed_form():
    images = np.arange(2 * 3 * 4).reshape(1, 3, 4, 2).repeat(64, axis=0).astype("float32")
    both = layers.RandomFlip(seed=0)(images)
    flipped = [np.array_equal(o, images[0, ::-1, ::-1]) for o in both]
    kept = [np.array_equal(o, images[0]) for o in both]
    assert all(f or k for f, k in zip(flipped, kept)) and 16 < sum(flipped) < 48
    horizontal = layers.RandomFlip("horizontal", seed=0)(images)
    assert all(np.array_equal(o, images[0, :, ::-1]) or np.array_equal(o, images[0]) for o in horizontal)
    with pytest.raises(ValueError, match="unknown mode 'diagonal'; valid choices: 'horizontal', 'vertical', "
                                         "'horizontal_and_vertical'"):
        layers.RandomFlip("diagonal")


@pytest.mark.parametrize("layer", [
    lambda: layers.RandomRotation((0.1, 0.1), fill_mode="reflect"),
    lambda: layers.RandomRotation((-0.15, -0.15), fill_mode="constant", fill_value=0.5),
    lambda: layers.RandomTranslation((0.2, 0.2), (-0.3, -0.3), fill_mode="wrap"),
    lambda: layers.RandomZoom((0.3, 0.3), (-0.2, -0.2), fill_mode="nearest"),
    lambda: layers.RandomZoom((-0.4, -0.4), interpolation="nearest")])
def test_affine_augmentation_passes_the_adjoint_gradient_in_training(float64_seed_1, layer):
    # a range of one value fixes the transform, so finite differences see the same one every call
    rng = np.random.default_rng(6)
    model = fw.Sequential([fw.Input((5, 6, 2)), layer(), layers.Flatten(), layers.Dense(1)])
    check_gradients(model, [rng.normal(size=(2, 5, 6, 2))], [rng.normal(size=(2, 1))])


def test_random_flip_gradient_is_the_same_flip(float64_seed_1):
    class Flipping:  # draws <= 0.5 every time: every image is flipped
        def random(self, dtype=np.float64, out=None):
            out.fill(0.25)

    rng = np.random.default_rng(7)
    flip = layers.RandomFlip("horizontal")
    flip.generator = Flipping()
    model = fw.Sequential([fw.Input((3, 4, 2)), flip, layers.Flatten(), layers.Dense(1)])
    check_gradients(model, [rng.normal(size=(2, 3, 4, 2))], [rng.normal(size=(2, 1))])


def test_augmentation_argument_errors():
    with pytest.raises(ValueError, match=r"factor must be a number or a pair \(lower, upper\) of numbers in "
                                         r"\[-1, 1\], received 1.5"):
        layers.RandomRotation(1.5)
    with pytest.raises(ValueError, match="unknown fill_mode 'mirror'; valid choices: 'reflect', 'wrap', "
                                         "'constant', 'nearest'"):
        layers.RandomTranslation(0.1, 0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="unknown interpolation 'bicubic'"):
        layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"height_factor must be .* in \(-1, 1\]"):
        layers.RandomZoom((-1.0, 0.2))
    with pytest.raises(ValueError, match="channels_first"):
        layers.RandomFlip(data_format="channels_first")


def test_augmented_model_trains_repeatably_saves_and_allocates_nothing_per_step(tmp_path):
    rng = np.random.default_rng(8)
    x, y = rng.uniform(0, 255, (32, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 32)

    def run():
        fw.utils.set_random_seed(4)
        norm = layers.Normalization(axis=None)
        norm.adapt(x / 255)
        model = fw.Sequential([fw.Input((8, 8, 1)), layers.Rescaling(1 / 255), norm, layers.RandomFlip(),
                               layers.RandomRotation(0.1), layers.RandomTranslation(0.1, 0.1),
                               layers.RandomZoom(0.1), layers.Flatten(), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model, model.fit(x, y, epochs=2, batch_size=8, verbose=0).history

    model, history = run()
    assert history == run()[1]
    assert_no_allocation(model.plan("train", 8).train_step)
    model.save(tmp_path / "aug.fw")
    loaded = fw.models.load_model(tmp_path / "aug.fw")
    assert [type(l).__name__ for l in loaded.layers[:6]] == ["Rescaling", "Normalization", "RandomFlip",
                                                             "RandomRotation", "RandomTranslation", "RandomZoom"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert fw.models.model_from_yaml(model.to_yaml()).layers[3].get_config()["factor"] == 0.1


# ----------------------------------------------------------------------------- runs and the command line
RUN = textwrap.dedent("""\
    seed: 0
    model:
      input_shape: [64]
      layers:
        - Dense: {units: 24, activation: relu}
        - Dense: {units: 10, activation: softmax}
    compile:
      optimizer: {Adam: {learning_rate: 0.01}}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    data:
      train: {dataset: digits}
      test: {dataset: digits, split: test}
      reshape: [64]
      scale: 0.0625
      normalize: standardize
    fit:
      epochs: 2
      batch_size: 64
    """)


def _cli(*args):
    result = subprocess.run([sys.executable, "-m", "framework", *map(str, args)], capture_output=True, text=True,
                            cwd=pathlib.Path(__file__).parent.parent, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def _figures(line):
    return {k: float(v) for k, v in re.findall(r"(\w+): ([0-9.]+)", line)}


def test_evaluate_and_predict_on_the_saved_run_reproduce_its_test_figures(tmp_path):
    config = tmp_path / "digits.yaml"
    config.write_text(RUN)
    out = tmp_path / "run"
    trained = _cli("train", config, "--output", out, "--verbose", "0")
    reported = _figures(next(l for l in trained.stdout.splitlines() if l.startswith("Test: ")))
    assert set(reported) == {"loss", "accuracy"} and reported["accuracy"] > 0.8
    evaluated = _cli("evaluate", out / "model.fw", "--data", "{dataset: digits, split: test}")
    assert _figures(evaluated.stdout) == reported  # the raw digits (8x8, 0-16) give the run's own figures
    assert "note:" not in evaluated.stderr  # the model does its preprocessing: no warning
    _cli("predict", out / "model.fw", "--data", "{dataset: digits, split: test}", "--output", tmp_path / "p.npy")
    model = fw.models.load_model(out / "model.fw")
    assert [l.name for l in model.layers[:3]] == ["data_reshape", "data_scale", "data_normalize"]
    assert model.input_shape == (None, 8, 8)
    from framework.datasets import digits
    _, (x_test, y_test) = digits.load_data()
    predictions = np.load(tmp_path / "p.npy")
    np.testing.assert_allclose(predictions, model.predict(x_test, verbose=0), rtol=1e-6)
    assert abs(float(np.mean(predictions.argmax(axis=1) == y_test)) - reported["accuracy"]) < 5e-5
    # the statistics are the run's: standardized (x / 16) of the training split, constant pixels spread 1
    (x_train, _), _ = digits.load_data()
    scaled = x_train.reshape(len(x_train), 64) / 16
    std = scaled.std(axis=0)
    mean, variance, count = model.get_layer("data_normalize").get_weights()
    np.testing.assert_allclose(mean, scaled.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(variance, np.where(std > 0, std, 1.0) ** 2, rtol=1e-5)
    assert count == len(x_train)


def test_run_config_builds_the_front_layers_for_several_inputs(tmp_path):
    from framework.runs import load_run_config
    cfg = load_run_config(pathlib.Path(__file__).parent.parent / "configs" / "functional_multi_input.yaml",
                          ["fit.epochs=1", "fit.verbose=0", f"output={tmp_path / 'out'}"])
    x, y, _, _ = cfg.load_data()
    model = cfg.build_model()
    assert model.input_names == ["left", "right"]
    for name in ("left", "right"):
        mean = model.get_layer(f"data_normalize_{name}").get_weights()[0]
        np.testing.assert_allclose(mean, x[name].astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)
    declared = cfg.build_model(preprocessing=False)
    assert not any(l.name.startswith("data_") for l in declared.layers)
