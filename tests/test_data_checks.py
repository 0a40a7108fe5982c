"""Silent wrong values and huge sizes in the Python API (issue 15): ids narrowed into an integer
input, negative or absurd class weights, float16 data, empty data, targets a loss cannot use, and
declared sizes beyond the machine's memory."""
import tracemalloc

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.plan.memory import SizeError, memory_limit, symbolic_weights
from framework.training.data_checks import check_data


def classifier(classes=3, loss="sparse_categorical_crossentropy"):
    model = fw.Sequential([fw.Input((4,)), layers.Dense(classes, activation="softmax" if classes > 1 else "sigmoid")])
    model.compile("adam", loss, metrics=["accuracy"])
    return model


def data(n=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, classes, n)


def embedding_model():
    ids = fw.Input((2,), dtype="int32")
    model = fw.Model(ids, layers.Dense(1)(layers.Flatten()(layers.Embedding(10, 3)(ids))))
    model.compile("sgd", "mse")
    return model


# ----------------------------------------------------------------------------- integer inputs

def test_ids_that_do_not_fit_an_int32_input_are_refused_not_wrapped():
    model = embedding_model()
    wide = np.array([[2 ** 32 + 3, 1], [4, 5]], dtype=np.int64)
    calls = {"predict": lambda: model.predict(wide, verbose=0), "call": lambda: model(wide),
             "evaluate": lambda: model.evaluate(wide, np.zeros(2), verbose=0),
             "fit": lambda: model.fit(wide, np.zeros(2), verbose=0)}
    for name, call in calls.items():
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "is int32, but sample 0 of the data (int64) holds 4294967299" in message, name
        assert "[-2147483648, 2147483647]" in message and model.input_names[0] in message
    for bad in (np.array([[np.nan, 1.0]]), np.array([[-(2.0 ** 40), 1.0]])):
        with pytest.raises(ValueError, match="which int32 cannot hold"):
            model.predict(bad, verbose=0)


def test_ids_that_fit_give_the_same_rows_whatever_their_integer_type():
    model = embedding_model()
    ids = np.array([[3, 1], [9, 0]])
    expected = model.predict(ids.astype(np.int32), verbose=0)
    for dtype in (np.int64, np.uint64, np.uint8, np.int16):
        np.testing.assert_array_equal(model.predict(ids.astype(dtype), verbose=0), expected)
    np.testing.assert_array_equal(model(ids.astype(np.int64)), expected)


# ----------------------------------------------------------------------------- class weights

def test_a_negative_class_weight_key_is_an_error_not_the_last_class():
    x, y = data()
    with pytest.raises(ValueError, match=r"class_weight key -1 is negative; keys are class indices from 0 to 2"):
        classifier().fit(x, y, class_weight={-1: 5.0}, verbose=0)


def test_class_weight_keys_beyond_the_output_classes_are_errors_without_allocating():
    x, y = data()
    model = classifier()
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"class_weight key 2000000000 is out of range: output '\w+' has 3 "
                                             r"classes, so keys lie in \[0, 2\]"):
            model.fit(x, y, class_weight={0: 1.0, 2 * 10 ** 9: 2.0}, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2 ** 20  # a table of 2e9 entries would be 16 GB
    with pytest.raises(ValueError, match="class_weight key 3 is out of range"):
        model.fit(x, y, class_weight={3: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="is not a class index"):
        model.fit(x, y, class_weight={"a": 1.0}, verbose=0)
    # a single sigmoid unit scores two classes
    binary = classifier(1, "binary_crossentropy")
    binary.fit(x, y % 2, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    with pytest.raises(ValueError, match="has 2 classes"):
        binary.fit(x, y % 2, class_weight={2: 1.0}, verbose=0)


def test_class_weights_weigh_as_sample_weights_do():
    x, y = data(n=64)
    weights = {0: 0.5, 2: 3.0}  # class 1 weighs 1.0, as in Keras
    fw.utils.set_random_seed(4)
    by_class = classifier().fit(x, y, class_weight=weights, epochs=2, verbose=0, shuffle=False).history["loss"]
    fw.utils.set_random_seed(4)
    per_sample = np.array([weights.get(int(c), 1.0) for c in y])
    by_sample = classifier().fit(x, y, sample_weight=per_sample, epochs=2, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(by_class, by_sample, rtol=1e-6)


# ----------------------------------------------------------------------------- float16

def test_float16_data_is_cast_to_the_model_dtype_everywhere():
    x, y = data()
    half = x.astype(np.float16)
    single = half.astype(np.float32)  # the same values
    fw.utils.set_random_seed(1)
    model = classifier()
    reference = [model.predict(single, verbose=0), model(single), model.evaluate(single, y, verbose=0)]
    got = [model.predict(half, verbose=0), model(half), model.evaluate(half, y.astype(np.float16), verbose=0)]
    np.testing.assert_allclose(got[0], reference[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], reference[1], rtol=1e-6)
    np.testing.assert_allclose(got[2], reference[2], rtol=1e-6)
    fw.utils.set_random_seed(2)
    first = classifier().fit(half, y, epochs=2, verbose=0).history["loss"]
    fw.utils.set_random_seed(2)
    second = classifier().fit(single, y, epochs=2, verbose=0).history["loss"]
    np.testing.assert_allclose(first, second, rtol=1e-6)


# ----------------------------------------------------------------------------- empty data

def test_evaluate_on_no_samples_is_a_clear_error_and_predict_returns_no_rows():
    model = classifier()
    empty_x, empty_y = np.zeros((0, 4), "float32"), np.zeros(0)
    with pytest.raises(ValueError, match=r"The data has no samples \(x and y have 0 rows\)"):
        model.evaluate(empty_x, empty_y, verbose=0)
    x, y = data()
    with pytest.raises(ValueError, match="no samples"):
        model.fit(x, y, validation_data=(empty_x, empty_y), verbose=0)
    for verbose in (0, 1):
        assert model.predict(empty_x, verbose=verbose).shape == (0, 3)
    assert model(empty_x).shape == (0, 3)

    def batches():
        yield x[:4], y[:4]
        yield empty_x, empty_y
    with pytest.raises(ValueError, match="has no samples"):
        model.evaluate(batches(), verbose=0)


# ----------------------------------------------------------------------------- check_data

def test_check_data_finds_targets_the_loss_cannot_use_before_any_training():
    x, y = data()
    model = classifier()
    before = [w.copy() for w in model.get_weights()]
    check_data(model, x, y)
    bad = y.astype("float32")
    bad[4] = np.nan
    with pytest.raises(ValueError, match=r"Output '\w+': the target of sample 4 is nan; targets must be finite"):
        check_data(model, x, bad)
    with pytest.raises(ValueError, match=r"the label of sample 2 is 3; with 3 classes a label is an integer in "
                                         r"\[0, 2\]"):
        check_data(model, x, np.where(np.arange(12) == 2, 3, y))
    with pytest.raises(ValueError, match=r"the label of sample 0 is 0.5"):
        check_data(model, x, np.r_[0.5, y[1:]])
    with pytest.raises(ValueError, match="Mismatched sample counts"):
        check_data(model, x, y[:-1])
    ignoring = fw.Sequential([fw.Input((4,)), layers.Dense(3, activation="softmax")])
    ignoring.compile("adam", fw.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    check_data(ignoring, x, np.r_[-1, y[1:]])  # the ignored label is allowed
    binary = classifier(1, "binary_crossentropy")
    with pytest.raises(ValueError, match=r"targets are probabilities in \[0, 1\]"):
        check_data(binary, x, y)  # labels 0, 1, 2 for a sigmoid
    check_data(binary, x, y % 2)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- sizes

def test_a_weight_beyond_memory_is_refused_naming_the_layer_and_bytes():
    with pytest.raises(SizeError) as info:
        fw.Sequential([fw.Input((4,)), layers.Dense(10 ** 12, name="huge")])
    message = str(info.value)
    assert message.startswith("Layer 'huge' (Dense): weight 'kernel' of shape (4, 1000000000000) (float32) needs "
                              "16,000,000,000,000 bytes (14.6 TiB), more than the ")
    assert f"{memory_limit():,} bytes" in message
    with pytest.raises(SizeError, match="Layer 'emb' \\(Embedding\\): weight 'embeddings'"):
        fw.Sequential([fw.Input((2,)), layers.Embedding(2 * 10 ** 12, 8, name="emb")])


def test_the_memory_limit_covers_the_arena_and_plan_buffers(monkeypatch):
    model = fw.Sequential([fw.Input((100,)), layers.Dense(100), layers.Dense(100)])  # 2 x 40 KB weights
    model.compile("sgd", "mse")
    monkeypatch.setenv("FRAMEWORK_MEMORY_LIMIT", "50000")  # each weight fits, both together do not
    with pytest.raises(SizeError, match=r"the parameter arena of 4 weights needs 80,800 bytes"):
        model.predict(np.zeros((1, 100), "float32"), verbose=0)
    with pytest.raises(SizeError, match=r"Layer 'd' \(Dense\): weight 'kernel' of shape \(100, 200\)"):
        fw.Sequential([fw.Input((100,)), layers.Dense(200, name="d")])
    monkeypatch.setenv("FRAMEWORK_MEMORY_LIMIT", "100000")  # the arena fits, a batch of 1000 rows does not
    with pytest.raises(SizeError, match="the plan's buffers"):
        model.predict(np.zeros((1000, 100), "float32"), batch_size=1000, verbose=0)
    monkeypatch.setenv("FRAMEWORK_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="FRAMEWORK_MEMORY_LIMIT must be a positive number of bytes"):
        memory_limit()


def test_symbolic_weights_run_no_initializer_and_count_parameters(monkeypatch):
    def refuse(self, shape, dtype=None):
        raise AssertionError("an initializer ran")
    monkeypatch.setattr(fw.initializers.GlorotUniform, "__call__", refuse)
    with symbolic_weights():
        model = fw.Sequential([fw.Input((30000,)), layers.Dense(30000)])  # 3.6 GB of float32 weights
    assert model.count_params() == 30000 * 30000 + 30000
    with pytest.raises(AssertionError, match="an initializer ran"):
        fw.Sequential([fw.Input((3,)), layers.Dense(2)])
