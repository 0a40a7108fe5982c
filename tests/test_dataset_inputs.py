"""fit / evaluate / predict on a tf.data.Dataset, a PyTorch DataLoader and any re-iterable object of
batches, with Keras 3's epoch rules; results equal the same batches given as arrays. TensorFlow and
PyTorch are optional extras (``pip install -e .[tf,torch]``): their tests are skipped without them."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.training.batches import is_stream
from framework.training.dataset_adapters import to_numpy

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, before its import


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow", reason="tensorflow is optional: pip install -e .[tf]")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is optional: pip install -e .[torch]")


def data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, rng.integers(0, 3, n).astype("int64")


def classifier():
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def two_inputs():
    """Inputs 'a' and 'b' by name, one output named 'out'."""
    fw.utils.set_random_seed(0)
    a, b = fw.Input((4,), name="a"), fw.Input((2,), name="b")
    merged = layers.Concatenate()([layers.Dense(5)(a), b])
    model = fw.Model({"a": a, "b": b}, layers.Dense(1, name="out")(merged))
    model.compile(optimizer="sgd", loss="mse")
    return model


def assert_same_weights(first, second):
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def assert_same_history(first, second):
    assert first.history.keys() == second.history.keys()
    for key in first.history:
        np.testing.assert_allclose(first.history[key], second.history[key], rtol=1e-6, atol=1e-6)


def trained_on_arrays(x, y, epochs=3, **kwargs):
    model = classifier()
    history = model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, **kwargs)
    return model, history


# ----- tf.data ---------------------------------------------------------------------------------------
def test_tf_dataset_fit_evaluate_predict_equal_arrays(tf):
    x, y = data()
    by_arrays, expected = trained_on_arrays(x, y)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = classifier()
    history = model.fit(dataset, epochs=3, verbose=0)  # finite: iterated again every epoch, no .repeat()
    assert_same_history(expected, history)
    assert_same_weights(by_arrays, model)
    np.testing.assert_allclose(model.evaluate(dataset, verbose=0),
                               by_arrays.evaluate(x, y, batch_size=16, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict(dataset, verbose=0), by_arrays.predict(x, verbose=0), rtol=1e-6)
    # predict on batches that carry targets ignores them; on batches of x alone it reads x
    np.testing.assert_allclose(model.predict(tf.data.Dataset.from_tensor_slices(x).batch(7), verbose=0),
                               by_arrays.predict(x, verbose=0), rtol=1e-6)


def test_tf_dataset_evaluate_with_steps_reads_the_first_batches(tf):
    x, y = data()
    model = classifier()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    np.testing.assert_allclose(model.evaluate(dataset, steps=2, verbose=0),
                               model.evaluate(x[:32], y[:32], batch_size=16, verbose=0), rtol=1e-6)
    assert model.predict(dataset.repeat(), steps=3, verbose=0).shape == (48, 3)


def test_repeated_dataset_with_steps_per_epoch_continues_across_epochs(tf):
    x, y = data()
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 100, 16)]  # 7 batches, the last of 4 rows

    def endless():
        while True:
            yield from batches

    by_generator = classifier()
    expected = by_generator.fit(endless(), epochs=3, steps_per_epoch=5, verbose=0)
    model = classifier()
    history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat(), epochs=3,
                        steps_per_epoch=5, verbose=0)
    assert_same_history(expected, history)  # epoch 2 starts at batch 5, not at batch 0
    assert_same_weights(by_generator, model)


def test_steps_per_epoch_smaller_than_a_finite_dataset_continues_then_starts_over(tf):
    x, y = data(96)  # 6 batches: epochs of 3 take batches 0-2, 3-5, then 0-2 again
    by_arrays, _ = trained_on_arrays(np.concatenate([x, x[:48]]), np.concatenate([y, y[:48]]), epochs=1)
    model = classifier()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # used up exactly at an epoch's end: no 'ran out' warning
        history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=3, steps_per_epoch=3,
                            shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 3
    assert_same_weights(by_arrays, model)


def test_dict_inputs_by_name_and_sample_weights(tf):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(64, 4)), rng.normal(size=(64, 2))
    y, weights = rng.normal(size=(64, 1)), rng.uniform(0, 2, 64)
    by_arrays = two_inputs()
    expected = by_arrays.fit({"b": b, "a": a}, {"out": y}, sample_weight=weights, batch_size=16, epochs=2,
                             shuffle=False, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices(({"b": b, "a": a}, {"out": y}, weights)).batch(16)
    model = two_inputs()
    assert_same_history(expected, model.fit(dataset, epochs=2, verbose=0))
    assert_same_weights(by_arrays, model)
    np.testing.assert_allclose(model.predict(dataset, verbose=0), by_arrays.predict({"a": a, "b": b}, verbose=0),
                               rtol=1e-6)


def test_validation_data_as_a_dataset_with_validation_steps(tf):
    x, y = data()
    x_val, y_val = data(64, seed=3)
    _, expected = trained_on_arrays(x, y, validation_data=(x_val[:32], y_val[:32]), validation_batch_size=16)
    model = classifier()
    validation = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(16)
    history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=3, verbose=0,
                        validation_data=validation, validation_steps=2)
    assert_same_history(expected, history)
    # an infinite validation dataset with validation_steps is read on from where the last run stopped
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=2, verbose=0,
              validation_data=validation.repeat(), validation_steps=3)


def test_class_weight_and_batch_size_with_a_dataset(tf):
    x, y = data()
    class_weight = {0: 1.0, 1: 2.0, 2: 0.5}
    by_arrays, expected = trained_on_arrays(x, y, epochs=2, class_weight=class_weight)
    model = classifier()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    # batch_size is ignored with a dataset, which makes its own batches (as Keras)
    history = model.fit(dataset, epochs=2, batch_size=5, class_weight=class_weight, verbose=0)
    assert_same_history(expected, history)
    assert_same_weights(by_arrays, model)


def test_tf_dataset_errors(tf):
    x, y = data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = classifier()
    with pytest.raises(ValueError, match="never ends.*steps_per_epoch"):
        model.fit(dataset.repeat(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="never ends"):
        model.evaluate(dataset.repeat(), verbose=0)
    with pytest.raises(ValueError, match="never ends"):
        model.predict(dataset.repeat(), verbose=0)
    with pytest.raises(ValueError, match="never ends.*validation_steps"):
        model.fit(dataset, epochs=1, verbose=0, validation_data=dataset.repeat())
    with pytest.raises(ValueError, match="tf.data.Dataset.*do not pass y"):
        model.fit(dataset, y, verbose=0)
    with pytest.raises(ValueError, match="tf.data.Dataset.*do not pass sample_weight"):
        model.evaluate(dataset, sample_weight=np.ones(len(x)), verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit(dataset, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="holds no batches"):
        model.fit(dataset.take(0), verbose=0)
    with pytest.raises(ValueError, match="Input .* expects samples of shape"):  # forgot .batch(): samples of (4,)
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)), verbose=0)
    with pytest.warns(RuntimeWarning, match="holds only 7 batches; using 7"):
        model.fit(dataset, steps_per_epoch=50, verbose=0)
    unknown_size = dataset.filter(lambda a, b: True)  # cardinality unknown: running out is found on the way
    with pytest.warns(RuntimeWarning, match="ran out of data after 7 of the 9 steps"):
        history = model.fit(unknown_size, epochs=2, steps_per_epoch=9, verbose=0)
    assert len(history.history["loss"]) == 2  # the next epoch started the dataset again


def test_tf_tensors_become_numpy_without_a_copy(tf):
    tensor = tf.constant(np.arange(6.0).reshape(3, 2))
    array = to_numpy(tensor)
    assert isinstance(array, np.ndarray) and not array.flags.owndata  # a view of the tensor's buffer
    np.testing.assert_array_equal(array, np.arange(6.0).reshape(3, 2))
    with pytest.raises(TypeError, match="RaggedTensor, not a dense eager tensor"):
        to_numpy(tf.ragged.constant([[1.0], [2.0, 3.0]]))


# ----- PyTorch -----------------------------------------------------------------------------------------
def test_torch_dataloader_fit_evaluate_predict_equal_arrays(torch):
    x, y = data()
    by_arrays, expected = trained_on_arrays(x, y, validation_data=(x, y), validation_batch_size=16)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                         batch_size=16)
    model = classifier()
    history = model.fit(loader, epochs=3, validation_data=loader, verbose=0)
    assert_same_history(expected, history)
    assert_same_weights(by_arrays, model)
    np.testing.assert_allclose(model.evaluate(loader, verbose=0), by_arrays.evaluate(x, y, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict(loader, verbose=0), by_arrays.predict(x, verbose=0), rtol=1e-6)


def test_torch_tensors_become_numpy_without_a_copy(torch):
    tensor = torch.arange(6.0, requires_grad=True).reshape(3, 2)  # needs detaching first
    array = to_numpy(tensor)
    assert isinstance(array, np.ndarray) and np.shares_memory(array, tensor.detach().numpy())
    converted = to_numpy([tensor, {"k": torch.ones(2, dtype=torch.bfloat16)}])  # NumPy has no bfloat16
    assert isinstance(converted, list) and converted[1]["k"].dtype == np.float32


def test_torch_errors(torch):
    x, y = data()
    samples = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    model = classifier()
    with pytest.raises(TypeError, match="torch Dataset .*wrap it in torch.utils.data.DataLoader"):
        model.fit(samples, verbose=0)
    with pytest.raises(ValueError, match="torch DataLoader.*do not pass y"):
        model.fit(torch.utils.data.DataLoader(samples, batch_size=16), y, verbose=0)


# ----- any re-iterable object of batches ----------------------------------------------------------------
class Batches:
    """Iterated afresh each epoch (not an iterator, not a PyDataset); counts the passes."""

    def __init__(self, x, y):
        self.x, self.y, self.passes = x, y, 0

    def __iter__(self):
        self.passes += 1
        for i in range(0, len(self.x), 16):
            yield self.x[i:i + 16], self.y[i:i + 16]


def test_iterable_of_batches_is_iterated_again_every_epoch():
    x, y = data()
    by_arrays, expected = trained_on_arrays(x, y)
    batches = Batches(x, y)
    model = classifier()
    assert_same_history(expected, model.fit(batches, epochs=3, verbose=0))
    assert batches.passes == 3
    assert_same_weights(by_arrays, model)


def test_steps_resume_across_training_epochs_and_restart_every_validation():
    x, y = data(64)  # 4 batches a pass
    train, validation = Batches(x, y), Batches(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classifier().fit(train, epochs=4, steps_per_epoch=2, validation_data=validation, validation_steps=1,
                         shuffle=False, verbose=0)
    assert train.passes == 2  # epochs 1-2 read the first pass, epochs 3-4 the second
    assert validation.passes == 4  # every validation reads the first batch again
    with pytest.raises(ValueError, match="steps must be a positive integer, received 1.5"):
        classifier().fit(train, steps_per_epoch=1.5, verbose=0)


def test_what_counts_as_a_stream_of_batches():
    x, y = data()
    assert is_stream(Batches(x, y)) and is_stream(iter([(x, y)]))
    for value in (x, [x, x], (x, y), {"a": x}, "text", fw.utils.PyDataset):
        assert not is_stream(value)  # arrays, lists, tuples and dicts are data, not batches
    model = classifier()  # so a list of arrays is still x as arrays
    model.fit([x], y, verbose=0, epochs=1)


def test_importing_framework_imports_neither_tensorflow_nor_torch():
    code = ("import sys, framework; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'torch'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


# ----- a custom train_step receives dataset batches ------------------------------------------------------
class Regression(fw.Model):
    """train_step as Keras's guide writes it; records what each batch was."""

    seen = []

    def train_step(self, data):
        x, y = data
        type(self).seen.append((type(data).__name__, type(x).__name__, type(y).__name__))
        with fw.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        self._loss_tracker.update_state(float(loss))
        return {"loss": self._loss_tracker.result()}


def regression():
    fw.utils.set_random_seed(0)
    inputs = fw.Input((4,))
    model = Regression(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("source", ["tf", "torch"])
def test_custom_train_step_receives_dataset_batches_as_numpy(source, request):
    library = request.getfixturevalue(source)
    x, _ = data(64)
    y = x.sum(axis=1, keepdims=True)
    by_arrays = regression()
    expected = by_arrays.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    if source == "tf":
        dataset = library.data.Dataset.from_tensor_slices((x, y)).batch(16)
    else:
        dataset = library.utils.data.DataLoader(
            library.utils.data.TensorDataset(library.tensor(x), library.tensor(y)), batch_size=16)
    Regression.seen = []
    model = regression()
    history = model.fit(dataset, epochs=2, verbose=0)
    assert Regression.seen == [("tuple", "ndarray", "ndarray")] * 8  # 4 batches, each epoch from the start
    assert_same_history(expected, history)
    assert_same_weights(by_arrays, model)
    if source == "tf":  # with steps_per_epoch an infinite dataset is read on across epochs
        Regression.seen = []
        model.fit(dataset.repeat(), epochs=2, steps_per_epoch=3, verbose=0)
        assert len(Regression.seen) == 6
        with pytest.raises(ValueError, match="never ends"):
            model.fit(dataset.repeat(), verbose=0)


# ----- Keras's guide training_with_built_in_methods.py: its dataset statements, data made small ----------
def guide_compiled_model(keras):
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    return model


@pytest.fixture
def guide_data():
    """MNIST-shaped data, small: 512 training, 128 validation and 128 test samples."""
    rng = np.random.default_rng(0)
    x = rng.random((768, 784)).astype("float32")
    y = rng.integers(0, 10, 768).astype("float32")
    return (x[:512], y[:512]), (x[512:640], y[512:640]), (x[640:], y[640:])


def test_guide_training_and_evaluation_from_tf_data_datasets(tf, guide_data, capsys):
    keras = fw
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = guide_data
    model = guide_compiled_model(keras)
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(64)
    test_dataset = tf.data.Dataset.from_tensor_slices((x_test, y_test))
    test_dataset = test_dataset.batch(64)
    history = model.fit(train_dataset, epochs=3)
    assert len(history.history["loss"]) == 3 and "Epoch 3/3" in capsys.readouterr().out
    assert model.history.params["steps"] == 8  # 512 / 64: the dataset's cardinality
    result = model.evaluate(test_dataset)
    logs = dict(zip(model.metrics_names, result))
    assert set(logs) == {"loss", "sparse_categorical_accuracy"} and np.isfinite(logs["loss"])

    model = guide_compiled_model(keras)
    history = model.fit(train_dataset, epochs=3, steps_per_epoch=2)  # the guide's 100 of 782 batches
    assert len(history.history["loss"]) == 3

    val_dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(64)
    model = guide_compiled_model(keras)
    history = model.fit(train_dataset, epochs=1, validation_data=val_dataset)
    assert "val_sparse_categorical_accuracy" in history.history
    model = guide_compiled_model(keras)
    history = model.fit(train_dataset, epochs=1, validation_data=val_dataset, validation_steps=1)
    first_batch = model.evaluate(x_val[:64], y_val[:64], verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], first_batch[0], rtol=1e-6)


def test_guide_sample_weights_in_a_dataset(tf, guide_data):
    keras = fw
    (x_train, y_train), _, _ = guide_data
    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train, sample_weight))
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(64)
    model = guide_compiled_model(keras)
    history = model.fit(train_dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_guide_multi_input_multi_output_dataset_of_dicts(tf):
    keras = fw
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")
    x1 = keras.layers.Conv2D(3, 3)(image_input)
    x1 = keras.layers.GlobalMaxPooling2D()(x1)
    x2 = keras.layers.Conv1D(3, 3)(timeseries_input)
    x2 = keras.layers.GlobalMaxPooling1D()(x2)
    x = keras.layers.concatenate([x1, x2])
    score_output = keras.layers.Dense(1, name="score_output")(x)
    class_output = keras.layers.Dense(5, name="class_output")(x)
    model = keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=[keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()])
    rng = np.random.default_rng(0)
    img_data = rng.random(size=(40, 32, 32, 3))
    ts_data = rng.random(size=(40, 20, 10))
    score_targets = rng.random(size=(40, 1))
    class_targets = rng.random(size=(40, 5))
    train_dataset = tf.data.Dataset.from_tensor_slices(
        (
            {"img_input": img_data, "ts_input": ts_data},
            {"score_output": score_targets, "class_output": class_targets},
        )
    )
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(16)
    history = model.fit(train_dataset, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "score_output_loss", "class_output_loss"}


def test_guide_using_a_pytorch_dataloader(torch, guide_data):
    keras = fw
    (x_train, y_train), (x_val, y_val), _ = guide_data

    class ExampleTorchDataset(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x = x
            self.y = y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, idx):
            return self.x[idx], self.y[idx]

    train_torch_dataset = ExampleTorchDataset(x_train, y_train)
    val_torch_dataset = ExampleTorchDataset(x_val, y_val)
    train_dataloader = torch.utils.data.DataLoader(train_torch_dataset, batch_size=32, shuffle=True)
    val_dataloader = torch.utils.data.DataLoader(val_torch_dataset, batch_size=32, shuffle=True)
    model = guide_compiled_model(keras)
    history = model.fit(train_dataloader, validation_data=val_dataloader, epochs=1, verbose=0)
    assert "val_loss" in history.history
    loss, accuracy = model.evaluate(val_dataloader, verbose=0)
    # shuffled batches, the same samples: the loss over the epoch equals the arrays'
    np.testing.assert_allclose(loss, model.evaluate(x_val, y_val, verbose=0)[0], rtol=1e-5)

    class BatchTorchDataset(torch.utils.data.Dataset):  # a dataset of whole batches, batch_size=None
        def __len__(self):
            return 4

        def __getitem__(self, idx):
            return x_train[idx * 32:(idx + 1) * 32], y_train[idx * 32:(idx + 1) * 32]

    history = model.fit(torch.utils.data.DataLoader(BatchTorchDataset(), batch_size=None), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_shuffle_true_with_a_dataset_is_ignored_with_keras_warning():
    x, y = data(32)
    rng = np.random.default_rng(0)
    for model, batches in ((classifier(), Batches(x, y)),
                           (regression(), Batches(rng.random((32, 4)), rng.random((32, 1))))):
        with pytest.warns(UserWarning, match=r"`shuffle=True` was passed, but will be ignored since the data `x` was "
                                             r"provided as an iterable of batches \(Batches\)"):
            model.fit(batches, verbose=0)
