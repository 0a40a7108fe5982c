"""Training API: compile / fit / evaluate / predict / *_on_batch, log names, sample and
class weights, validation, callbacks, progress output, and clear errors on bad input."""
import io
import math
import re
import warnings

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.callbacks import HOOKS, Callback, History, ProgbarLogger
from framework.layers import Concatenate, Dense, Dropout
from gradcheck import float64_mode


def _data(n=20, features=3, outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = rng.standard_normal((n, outputs)).astype(np.float32)
    return x, y


def _regressor(features=3, outputs=2, **compile_kwargs):
    model = fw.Sequential([fw.Input((features,)), Dense(outputs)])
    compile_kwargs.setdefault("optimizer", "sgd")
    compile_kwargs.setdefault("loss", "mse")
    model.compile(**compile_kwargs)
    return model


def _classifier(features=4, classes=3, loss="sparse_categorical_crossentropy", metrics=("accuracy",)):
    model = fw.Sequential([fw.Input((features,)), Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return model


def _mse(model, x, y):
    return float(np.mean((model.predict(x, verbose=0) - y) ** 2))


# ----------------------------------------------------------------------------- compile / fit basics

def test_fit_reduces_loss_and_returns_history():
    fw.utils.set_random_seed(0)
    x, _ = _data(64)
    y = x @ np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 1.0]], dtype=np.float32)
    model = _regressor(optimizer=fw.optimizers.SGD(0.05))
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert isinstance(history, History) and model.history is history and history.model is model
    assert history.params["epochs"] == 5 and history.params["steps"] == 4
    assert history.epoch == [0, 1, 2, 3, 4]
    assert list(history.history) == ["loss"]
    losses = history.history["loss"]
    assert len(losses) == 5 and all(isinstance(v, float) for v in losses)
    assert losses[-1] < losses[0] * 0.5


def test_compile_default_optimizer_is_rmsprop():
    model = fw.Sequential([fw.Input((3,)), Dense(1)])
    model.compile(loss="mse")
    assert isinstance(model.optimizer, fw.optimizers.RMSprop)


def test_compile_accepts_objects():
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    opt = fw.optimizers.Adam(learning_rate=0.01)
    model.compile(optimizer=opt, loss=fw.losses.MeanAbsoluteError(), metrics=[fw.metrics.MeanSquaredError()])
    assert model.optimizer is opt
    x, y = _data(8)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert logs["loss"] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-5)
    assert logs["mean_squared_error"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5)


def test_default_batch_size_is_32():
    counter = _Recorder()
    model = _regressor()
    x, y = _data(100)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[counter])
    assert counter.names().count("on_train_batch_end") == math.ceil(100 / 32)
    counter.calls.clear()
    model.evaluate(x, y, verbose=0, callbacks=[counter])
    assert counter.names().count("on_test_batch_end") == math.ceil(100 / 32)
    counter.calls.clear()
    model.predict(x, verbose=0, callbacks=[counter])
    assert counter.names().count("on_predict_batch_end") == math.ceil(100 / 32)


def test_partial_last_batch_and_predict_batch_size():
    model = _regressor()
    x, y = _data(10)
    expected = model(x)
    for batch_size in (1, 3, 4, 10, 64):
        np.testing.assert_allclose(model.predict(x, batch_size=batch_size, verbose=0), expected, rtol=1e-6)
    loss = model.evaluate(x, y, batch_size=3, verbose=0)
    assert loss == pytest.approx(np.mean((expected - y) ** 2), rel=1e-5)


def test_evaluate_return_forms():
    model = _classifier()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((12, 4)).astype(np.float32), rng.integers(0, 3, 12)
    as_list = model.evaluate(x, y, verbose=0)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert isinstance(as_list, list) and len(as_list) == 2
    assert list(as_dict) == ["loss", "accuracy"]
    assert as_list == pytest.approx([as_dict["loss"], as_dict["accuracy"]])
    scalar = _regressor().evaluate(*_data(6), verbose=0)
    assert isinstance(scalar, float)


def test_predict_without_compile():
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    x, _ = _data(5)
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x), rtol=1e-6)


def test_shuffle_false_equals_consecutive_train_on_batch():
    x, y = _data(12)
    fw.utils.set_random_seed(4)
    a = _regressor(optimizer=fw.optimizers.SGD(0.1))
    fw.utils.set_random_seed(4)
    b = _regressor(optimizer=fw.optimizers.SGD(0.1))
    c_weights = [w.copy() for w in a.get_weights()]
    a.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    for start in (0, 5, 10):
        b.train_on_batch(x[start:start + 5], y[start:start + 5])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    # with shuffling the batches differ and so do the weights
    fw.utils.set_random_seed(4)
    c = _regressor(optimizer=fw.optimizers.SGD(0.1))
    c.set_weights(c_weights)
    c.fit(x, y, batch_size=5, epochs=1, shuffle=True, verbose=0)
    assert not np.allclose(c.get_weights()[0], a.get_weights()[0])


def test_initial_epoch():
    model = _regressor()
    recorder = _Recorder()
    history = model.fit(*_data(8), epochs=4, initial_epoch=2, verbose=0, callbacks=[recorder])
    assert history.epoch == [2, 3]
    assert len(history.history["loss"]) == 2
    assert [c[1] for c in recorder.calls if c[0] == "on_epoch_begin"] == [2, 3]


def test_inputs_as_booleans_and_integers():
    model = fw.Sequential([fw.Input((4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    xb = rng.integers(0, 2, (32, 4)).astype(bool)
    yi = xb[:, :1].astype(np.int64)
    history = model.fit(xb, yi, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    xi = rng.integers(-3, 4, (16, 4))
    np.testing.assert_allclose(model.predict(xi, verbose=0), model(xi.astype(np.float32)), rtol=1e-6)
    assert isinstance(model.evaluate(xi, (xi[:, 0] > 0).astype(bool), verbose=0), list)


def test_python_lists_as_data():
    model = _regressor(features=2, outputs=1)
    history = model.fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [1.0, 2.0, 3.0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_float64_data_into_a_float32_model():
    model = _regressor()
    x, y = _data(8)
    loss64 = model.evaluate(x.astype(np.float64), y.astype(np.float64), verbose=0)
    assert loss64 == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


# ----------------------------------------------------------------------------- *_on_batch

def test_on_batch_methods():
    with float64_mode():
        model = fw.Sequential([fw.Input((3,)), Dense(2)])
        model.compile(optimizer=fw.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        x, y = (a.astype(np.float64) for a in _data(6))
        before = model.get_weights()
        pred = x @ before[0] + before[1]
        model.reset_metrics()
        result = model.test_on_batch(x, y)
        assert result == pytest.approx([np.mean((pred - y) ** 2), np.mean(np.abs(pred - y))], rel=1e-10)
        for w0, w1 in zip(before, model.get_weights()):
            np.testing.assert_array_equal(w0, w1)  # test_on_batch never updates
        model.reset_metrics()
        logs = model.train_on_batch(x, y, return_dict=True)
        assert list(logs) == ["loss", "mae"]
        assert logs["loss"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-10)  # loss before the update
        after = model.get_weights()
        grad_k = x.T @ (2 * (pred - y) / pred.size)
        np.testing.assert_allclose(after[0], before[0] - 0.1 * grad_k, rtol=1e-10)
        out = model.predict_on_batch(x)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, x @ after[0] + after[1], rtol=1e-10)


def test_on_batch_scalar_without_metrics():
    model = _regressor()
    x, y = _data(4)
    assert isinstance(model.train_on_batch(x, y), float)
    assert isinstance(model.test_on_batch(x, y), float)


def test_on_batch_results_are_the_batchs_own_like_keras():
    """Keras 3.15 (keras-team/keras#22617): *_on_batch reset the metrics first; each result is its batch's."""
    with float64_mode():
        model = _regressor()
        x, y = (a.astype(np.float64) for a in _data(10))
        k, b = model.get_weights()
        err = (x @ k + b - y) ** 2
        assert model.test_on_batch(x[:4], y[:4]) == pytest.approx(err[:4].mean(), rel=1e-10)
        assert model.test_on_batch(x[4:], y[4:]) == pytest.approx(err[4:].mean(), rel=1e-10)
        first = model.train_on_batch(x[:4], y[:4])
        assert first == pytest.approx(err[:4].mean(), rel=1e-10)  # the loss before this step's update
        k, b = model.get_weights()
        assert model.train_on_batch(x[4:], y[4:]) == pytest.approx(((x[4:] @ k + b - y[4:]) ** 2).mean(),
                                                                    rel=1e-10)


# ----------------------------------------------------------------------------- metrics and names

def test_accuracy_resolves_to_sparse_categorical():
    model = _classifier()
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((30, 4)).astype(np.float32), rng.integers(0, 3, 30)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    assert logs["accuracy"] == pytest.approx(np.mean(pred.argmax(1) == y))
    loss = -np.mean(np.log(pred[np.arange(30), y]))
    assert logs["loss"] == pytest.approx(loss, rel=1e-5)


def test_accuracy_resolves_to_categorical_for_one_hot():
    model = _classifier(loss="categorical_crossentropy")
    rng = np.random.default_rng(3)
    x, labels = rng.standard_normal((30, 4)).astype(np.float32), rng.integers(0, 3, 30)
    logs = model.evaluate(x, fw.utils.to_categorical(labels, 3), verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(np.mean(model.predict(x, verbose=0).argmax(1) == labels))


def test_accuracy_resolves_to_binary_for_one_unit():
    model = fw.Sequential([fw.Input((4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "acc"])
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 2, (40, 1))
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "acc"]
    expected = np.mean((model.predict(x, verbose=0) > 0.5) == y)
    assert logs["accuracy"] == pytest.approx(expected) and logs["acc"] == pytest.approx(expected)


def test_sparse_labels_as_column_or_flat():
    model = _classifier()
    rng = np.random.default_rng(16)
    x, y = rng.standard_normal((12, 4)).astype(np.float32), rng.integers(0, 3, 12)
    flat = model.evaluate(x, y, verbose=0)
    column = model.evaluate(x, y.reshape(-1, 1), verbose=0)
    floats = model.evaluate(x, y.astype(np.float32), verbose=0)
    assert flat == pytest.approx(column) and flat == pytest.approx(floats)


def test_log_names_single_output_with_validation():
    model = fw.Sequential([fw.Input((4,)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", fw.metrics.SparseCategoricalAccuracy(name="my_acc")])
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((20, 4)).astype(np.float32), rng.integers(0, 3, 20)
    seen = {}

    class Keys(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["batch"] = list(logs)

        def on_epoch_end(self, epoch, logs=None):
            seen["epoch"] = list(logs)

    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, callbacks=[Keys()])
    expected = ["loss", "accuracy", "my_acc", "val_loss", "val_accuracy", "val_my_acc"]
    assert sorted(history.history) == sorted(expected)
    assert sorted(seen["epoch"]) == sorted(expected)
    assert sorted(seen["batch"]) == sorted(["loss", "accuracy", "my_acc"])
    assert history.history["accuracy"] == pytest.approx(history.history["my_acc"])


def test_log_names_multi_output():
    a = fw.Input((4,), name="features")
    h = Dense(5, activation="relu")(a)
    reg = Dense(1, name="price")(h)
    cls = Dense(3, activation="softmax", name="kind")(h)
    model = fw.Model(a, [reg, cls])
    model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"],
                  metrics=[["mae"], ["accuracy"]], loss_weights=[0.5, 2.0])
    rng = np.random.default_rng(6)
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y_reg, y_cls = rng.standard_normal((24, 1)).astype(np.float32), rng.integers(0, 3, 24)
    history = model.fit(x, [y_reg, y_cls], epochs=1, batch_size=8, verbose=0,
                        validation_data=(x, [y_reg, y_cls]))
    expected = ["loss", "price_loss", "kind_loss", "price_mae", "kind_accuracy"]
    assert sorted(history.history) == sorted(expected + ["val_" + k for k in expected])
    logs = model.evaluate(x, {"price": y_reg, "kind": y_cls}, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(expected)
    # the total is the weighted sum of the per-output losses
    assert logs["loss"] == pytest.approx(0.5 * logs["price_loss"] + 2.0 * logs["kind_loss"], rel=1e-5)
    p_reg, p_cls = model.predict(x, verbose=0)
    assert logs["price_loss"] == pytest.approx(np.mean((p_reg - y_reg) ** 2), rel=1e-5)
    assert logs["price_mae"] == pytest.approx(np.mean(np.abs(p_reg - y_reg)), rel=1e-5)
    assert logs["kind_loss"] == pytest.approx(-np.mean(np.log(p_cls[np.arange(24), y_cls])), rel=1e-5)
    assert logs["kind_accuracy"] == pytest.approx(np.mean(p_cls.argmax(1) == y_cls))


def test_multi_output_dicts_by_output_name():
    a = fw.Input((3,))
    model = fw.Model(a, {"left": Dense(1)(a), "right": Dense(2)(a)})
    model.compile(optimizer="sgd", loss={"left": "mse", "right": "mae"}, loss_weights={"left": 1.0, "right": 3.0},
                  metrics={"right": ["mse"]})
    x, y = _data(10, outputs=3)
    logs = model.evaluate(x, {"left": y[:, :1], "right": y[:, 1:]}, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(["loss", "left_loss", "right_loss", "right_mse"])
    pred = model.predict(x, verbose=0)
    assert logs["right_loss"] == pytest.approx(np.mean(np.abs(pred["right"] - y[:, 1:])), rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["left_loss"] + 3.0 * logs["right_loss"], rel=1e-5)


def test_unknown_output_name_in_compile():
    a = fw.Input((3,))
    model = fw.Model(a, [Dense(1, name="o1")(a), Dense(1, name="o2")(a)])
    with pytest.raises(ValueError, match="o3"):
        model.compile(optimizer="sgd", loss={"o1": "mse", "o3": "mse"})
        model.evaluate(np.zeros((2, 3)), [np.zeros((2, 1))] * 2, verbose=0)


# ----------------------------------------------------------------------------- weights

def test_sample_weight_in_evaluate_follows_keras_reduction():
    """Keras's 'sum_over_batch_size': sum(w * per-sample loss) / number of samples."""
    with float64_mode():
        model = _regressor()
        x, y = (a.astype(np.float64) for a in _data(10))
        w = np.array([0, 1, 2, 0, 1, 3, 0, 0, 1, 1], dtype=np.float64)
        per_sample = np.mean((model.predict(x, verbose=0) - y) ** 2, axis=1)
        loss = model.evaluate(x, y, sample_weight=w, verbose=0)
        assert loss == pytest.approx(np.sum(w * per_sample) / 10, rel=1e-10)
        loss = model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0)
        batches = [slice(0, 4), slice(4, 8), slice(8, 10)]
        expected = sum(np.sum(w[s] * per_sample[s]) for s in batches) / 10
        assert loss == pytest.approx(expected, rel=1e-10)


def test_weighted_metrics_use_sample_weight_and_metrics_do_not():
    model = _regressor()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    rng = np.random.default_rng(17)
    x, y = rng.standard_normal((10, 3)).astype(np.float32), rng.standard_normal((10, 2)).astype(np.float32)
    w = rng.uniform(0, 2, 10)
    logs = model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    per_sample = np.abs(model.predict(x, verbose=0) - y).mean(axis=1)
    assert sorted(logs) == ["loss", "mae", "weighted_mae"]
    assert logs["mae"] == pytest.approx(per_sample.mean(), rel=1e-5)
    assert logs["weighted_mae"] == pytest.approx(np.sum(w * per_sample) / np.sum(w), rel=1e-5)


def test_sample_weight_in_fit_scales_the_gradient():
    with float64_mode():
        model = _regressor(optimizer=fw.optimizers.SGD(0.5))
        x, y = (a.astype(np.float64) for a in _data(6))
        w = np.array([1.0, 0.0, 2.0, 0.5, 0.0, 1.0])
        k, b = model.get_weights()
        r = x @ k + b - y
        d = 2 * w[:, None] * r / r.size
        model.fit(x, y, sample_weight=w, batch_size=6, epochs=1, shuffle=False, verbose=0)
        k1, b1 = model.get_weights()
        np.testing.assert_allclose(k1, k - 0.5 * x.T @ d, rtol=1e-10)
        np.testing.assert_allclose(b1, b - 0.5 * d.sum(0), rtol=1e-10)


def test_class_weight_equals_matching_sample_weight():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 3, 40)
    class_weight = {0: 1.0, 1: 4.0, 2: 0.25}
    results = []
    for kwargs in ({"class_weight": class_weight},
                   {"sample_weight": np.array([class_weight[int(c)] for c in y])},
                   {}):
        fw.utils.set_random_seed(8)
        model = _classifier(metrics=())
        model.fit(x, y, batch_size=10, epochs=2, verbose=0, **kwargs)
        results.append(model.get_weights())
    for a, b in zip(results[0], results[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(results[0][0], results[2][0])


def test_class_weight_with_one_hot_targets():
    rng = np.random.default_rng(9)
    x, labels = rng.standard_normal((30, 4)).astype(np.float32), rng.integers(0, 3, 30)
    y = fw.utils.to_categorical(labels, 3)
    weights = []
    for kwargs in ({"class_weight": {0: 2.0, 1: 1.0, 2: 0.0}},
                   {"sample_weight": np.array([2.0, 1.0, 0.0])[labels]}):
        fw.utils.set_random_seed(10)
        model = _classifier(loss="categorical_crossentropy", metrics=())
        model.fit(x, y, batch_size=30, epochs=1, verbose=0, **kwargs)
        weights.append(model.get_weights()[0])
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-6, atol=1e-7)


def test_class_weight_missing_classes_default_to_one():
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((30, 4)).astype(np.float32), rng.integers(0, 3, 30)
    weights = []
    for kwargs in ({"class_weight": {1: 3.0}}, {"sample_weight": np.where(y == 1, 3.0, 1.0)}):
        fw.utils.set_random_seed(13)
        model = _classifier(metrics=())
        model.fit(x, y, batch_size=30, epochs=1, verbose=0, **kwargs)
        weights.append(model.get_weights()[0])
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-6, atol=1e-7)


def test_class_weight_together_with_sample_weight_is_an_error():
    rng = np.random.default_rng(14)
    x, y = rng.standard_normal((10, 4)).astype(np.float32), rng.integers(0, 3, 10)
    model = _classifier(metrics=())
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 3.0}, sample_weight=np.ones(10), verbose=0)


def test_epoch_logs_are_sample_weighted_means_reset_each_epoch():
    """With a zero learning rate each epoch's loss is the full-data loss, partial last batch included."""
    with float64_mode():
        model = _regressor(optimizer=fw.optimizers.SGD(0.0))
        model.compile(optimizer=fw.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
        x, y = (a.astype(np.float64) for a in _data(10))
        history = model.fit(x, y, batch_size=4, epochs=3, verbose=0)
        pred = model.predict(x, verbose=0)
        assert history.history["loss"] == pytest.approx([np.mean((pred - y) ** 2)] * 3, rel=1e-12)
        assert history.history["mae"] == pytest.approx([np.mean(np.abs(pred - y))] * 3, rel=1e-12)


def test_frozen_nested_model_is_not_trained():
    x_in = fw.Input((3,))
    inner = fw.Model(x_in, Dense(2)(x_in))
    inner.trainable = False
    a = fw.Input((3,))
    outer = fw.Model(a, Dense(1, name="head")(inner(a)))
    outer.compile(optimizer="sgd", loss="mse")
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 2
    frozen, head = inner.get_weights(), outer.get_layer("head").get_weights()
    x, y = _data(16, outputs=1)
    outer.fit(x, y, epochs=2, verbose=0)
    for a_, b_ in zip(frozen, inner.get_weights()):
        np.testing.assert_array_equal(a_, b_)
    assert not np.allclose(head[0], outer.get_layer("head").get_weights()[0])


def test_fit_with_dict_inputs_and_validation_split():
    u, v = fw.Input((2,), name="u"), fw.Input((1,), name="v")
    model = fw.Model([u, v], Dense(1)(Concatenate()([u, v])))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(15)
    xu, xv, y = rng.standard_normal((10, 2)), rng.standard_normal((10, 1)), rng.standard_normal(10)
    history = model.fit({"v": xv, "u": xu}, y, epochs=1, batch_size=4, validation_split=0.2, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(
        model.evaluate([xu[8:], xv[8:]], y[8:], verbose=0), rel=1e-5)


# ----------------------------------------------------------------------------- validation

def test_validation_split_uses_the_last_samples():
    model = _regressor(optimizer=fw.optimizers.SGD(0.01))
    x, y = _data(20)
    recorder = _Recorder()
    history = model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2, verbose=0, callbacks=[recorder],
                        shuffle=False)
    # 16 training samples -> 4 batches per epoch; 4 validation samples -> 1 test batch
    assert recorder.names().count("on_train_batch_end") == 8
    assert recorder.names().count("on_test_batch_end") == 2
    val = model.evaluate(x[16:], y[16:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val, rel=1e-5)
    assert history.history["val_loss"][-1] != pytest.approx(model.evaluate(x[:4], y[:4], verbose=0), rel=1e-3)


def test_validation_data_matches_evaluate():
    model = _classifier()
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((24, 4)).astype(np.float32), rng.integers(0, 3, 24)
    xv, yv = rng.standard_normal((9, 4)).astype(np.float32), rng.integers(0, 3, 9)
    history = model.fit(x, y, epochs=2, batch_size=8, validation_data=(xv, yv), verbose=0)
    logs = model.evaluate(xv, yv, verbose=0, return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(logs["loss"], rel=1e-5)
    assert history.history["val_accuracy"][-1] == pytest.approx(logs["accuracy"])
    # validation leaves the training metrics of the epoch alone
    assert history.history["loss"][-1] != pytest.approx(history.history["val_loss"][-1])


def test_validation_data_with_sample_weights():
    with float64_mode():
        model = _regressor(optimizer=fw.optimizers.SGD(0.0))
        x, y = (a.astype(np.float64) for a in _data(8))
        w = np.linspace(0, 2, 8)
        history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, w))
        assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x, y, sample_weight=w, verbose=0),
                                                               rel=1e-10)


def test_bad_validation_split():
    model = _regressor()
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(*_data(10), validation_split=1.5, verbose=0)


# ----------------------------------------------------------------------------- callbacks

class _Recorder(Callback):
    """Records every hook call as (name, batch-or-epoch index?)."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.models = set()

    def names(self):
        return [c[0] for c in self.calls]


def _recording_hook(name):
    def hook(self, *args, logs=None):
        self.models.add(id(self.model))
        self.calls.append((name,) + tuple(a for a in args if isinstance(a, int)))
    return hook


for _hook in HOOKS:
    setattr(_Recorder, _hook, _recording_hook(_hook))


def test_callback_hook_sequence_for_fit_with_validation():
    model = _regressor()
    x, y = _data(10)
    recorder = _Recorder()
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x[:6], y[:6]), validation_batch_size=4,
              verbose=0, callbacks=[recorder])
    expected = [("on_train_begin",)]
    for epoch in range(2):
        expected.append(("on_epoch_begin", epoch))
        for batch in range(3):
            expected += [("on_train_batch_begin", batch), ("on_train_batch_end", batch)]
        expected.append(("on_test_begin",))
        for batch in range(2):
            expected += [("on_test_batch_begin", batch), ("on_test_batch_end", batch)]
        expected += [("on_test_end",), ("on_epoch_end", epoch)]
    expected.append(("on_train_end",))
    assert recorder.calls == expected
    assert recorder.models == {id(model)}


def test_callback_hook_sequence_for_evaluate_and_predict():
    model = _regressor()
    x, y = _data(10)
    recorder = _Recorder()
    model.evaluate(x, y, batch_size=6, verbose=0, callbacks=[recorder])
    assert recorder.calls == [("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
                              ("on_test_batch_begin", 1), ("on_test_batch_end", 1), ("on_test_end",)]
    recorder.calls.clear()
    model.predict(x, batch_size=4, verbose=0, callbacks=[recorder])
    assert recorder.calls == [("on_predict_begin",)] + [
        (hook, b) for b in range(3) for hook in ("on_predict_batch_begin", "on_predict_batch_end")
    ] + [("on_predict_end",)]
    assert recorder.model is model


def test_callback_logs_and_params():
    model = _regressor()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = _data(10)
    seen = {}

    class Inspect(Callback):
        def on_train_begin(self, logs=None):
            seen["params"] = dict(self.params)
            seen["model"] = self.model

        def on_epoch_end(self, epoch, logs=None):
            seen.setdefault("epoch_logs", []).append(dict(logs))

        def on_test_end(self, logs=None):
            seen["test_logs"] = dict(logs)

        def on_train_end(self, logs=None):
            seen["train_end"] = dict(logs or {})

    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[Inspect()],
                        validation_data=(x, y))
    assert seen["model"] is model
    assert seen["params"]["epochs"] == 2 and seen["params"]["steps"] == 3
    assert seen["epoch_logs"][-1]["loss"] == pytest.approx(history.history["loss"][-1])
    assert seen["test_logs"]["loss"] == pytest.approx(history.history["val_loss"][-1])
    assert seen["train_end"]["loss"] == pytest.approx(history.history["loss"][-1])


def test_stop_training_from_a_batch():
    model = _regressor()
    recorder = _Recorder()

    class StopAtBatch1(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    history = model.fit(*_data(20), batch_size=4, epochs=5, verbose=0, callbacks=[StopAtBatch1(), recorder])
    assert recorder.names().count("on_train_batch_end") == 2
    assert history.epoch == [0]
    assert recorder.names()[-1] == "on_train_end"


def test_stop_training_from_epoch_end():
    model = _regressor()

    class StopAfter2(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    history = model.fit(*_data(8), epochs=10, verbose=0, callbacks=[StopAfter2()])
    assert history.epoch == [0, 1]
    # a later fit starts afresh
    assert model.fit(*_data(8), epochs=3, verbose=0).epoch == [0, 1, 2]


def test_learning_rate_changed_by_a_callback():
    model = _regressor(optimizer=fw.optimizers.SGD(0.1))

    class Freeze(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.optimizer.learning_rate = 0.0

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.after_first = [w.copy() for w in self.model.get_weights()]

    freeze = Freeze()
    before = model.get_weights()
    model.fit(*_data(16), batch_size=4, epochs=3, verbose=0, callbacks=[freeze])
    assert not np.allclose(before[0], freeze.after_first[0])
    for a, b in zip(freeze.after_first, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- progress output

def test_verbose_0_prints_nothing(capsys):
    model = _regressor()
    x, y = _data(10)
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def _printed_lines(text):
    """Lines printed, less the notice of a process's first (compiling) step."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("First step:")]


def _epoch_lines(text):
    return [line for line in text.splitlines() if re.match(r"\s*Epoch \d+/\d+", line)]


def test_verbose_2_prints_one_line_per_epoch(capsys):
    model = _regressor()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = _data(40)
    model.fit(x, y, epochs=3, batch_size=4, verbose=2, validation_split=0.25)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    lines = _epoch_lines(text)
    assert len(lines) == 3
    assert [re.match(r"\s*Epoch (\d+)/3", line).group(1) for line in lines] == ["1", "2", "3"]
    assert all("loss" in line and "mae" in line and "val_loss" in line for line in lines)
    assert len(_printed_lines(text)) == 3
    assert "\r" not in text


def test_verbose_1_without_a_terminal_prints_plain_lines(capsys):
    model = _regressor()
    x, y = _data(40)
    model.fit(x, y, epochs=2, batch_size=4, verbose=1)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert len(_epoch_lines(text)) == 2
    assert len(_printed_lines(text)) == 2
    assert "\r" not in text
    # "auto" is 1
    model.fit(x, y, epochs=1, batch_size=4)
    captured = capsys.readouterr()
    assert len(_epoch_lines(captured.out + captured.err)) == 1 and "\r" not in captured.out + captured.err


def test_verbose_1_evaluate_prints_one_line(capsys):
    model = _regressor()
    model.evaluate(*_data(10), verbose=1)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "loss" in text and "\r" not in text
    assert len(_printed_lines(text)) == 1


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_on_a_terminal_draws_a_live_bar(capsys):
    stream = _FakeTerminal()
    model = _regressor()
    model.fit(*_data(40), epochs=2, batch_size=4, verbose=1, callbacks=[ProgbarLogger(1, stream=stream)])
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "\r" in text
    captured = capsys.readouterr()
    assert "Epoch" not in captured.out + captured.err  # the given logger replaces the default one


# ----------------------------------------------------------------------------- errors

def test_fit_before_compile_is_a_clear_error():
    model = fw.Sequential([fw.Input((3,)), Dense(1)])
    x, y = _data(4, outputs=1)
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y), lambda: model.test_on_batch(x, y)):
        with pytest.raises((ValueError, RuntimeError), match="compile"):
            call()


def test_fit_before_compile_raises_value_error_like_keras():
    model = fw.Sequential([fw.Input((3,)), Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(*_data(4, outputs=1), verbose=0)


def test_compile_without_loss():
    model = fw.Sequential([fw.Input((3,)), Dense(1)])
    with pytest.raises(ValueError, match="loss"):  # at compile time, or at the latest in fit
        model.compile(optimizer="sgd")
        model.fit(*_data(4, outputs=1), verbose=0)


def test_mismatched_sample_counts_name_x_y_and_counts():
    model = _regressor()
    x, y = _data(10)
    with pytest.raises(ValueError) as info:
        model.fit(x, y[:7], verbose=0)
    msg = str(info.value)
    assert re.search(r"\bx\b", msg) and re.search(r"\by\b", msg) and "10" in msg and "7" in msg
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(x, y, sample_weight=np.ones(9), verbose=0)


def test_mismatched_sample_counts_between_inputs():
    a, b = fw.Input((2,), name="a"), fw.Input((2,), name="b")
    model = fw.Model([a, b], Dense(1)(Concatenate()([a, b])))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError) as info:
        model.fit([np.zeros((5, 2)), np.zeros((4, 2))], np.zeros((5, 1)), verbose=0)
    assert "5" in str(info.value) and "4" in str(info.value)


def test_wrong_feature_shape_names_input_and_shapes():
    model = fw.Sequential([fw.Input((3,), name="pixels"), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError) as info:
        model.fit(np.zeros((6, 5)), np.zeros((6, 2)), verbose=0)
    msg = str(info.value)
    assert "pixels" in msg and "(3,)" in msg and "(6, 5)" in msg
    with pytest.raises(ValueError, match="pixels"):
        model.predict(np.zeros((6, 3, 1)), verbose=0)


def test_wrong_target_shape_names_output_and_shapes():
    model = _regressor()
    with pytest.raises(ValueError) as info:
        model.fit(np.zeros((6, 3)), np.zeros((6, 5)), verbose=0)
    msg = str(info.value)
    assert "(None, 2)" in msg and "(6, 5)" in msg


def test_one_hot_targets_with_sparse_loss_hint():
    model = _classifier()
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        model.fit(np.zeros((6, 4)), np.zeros((6, 3, 3)), verbose=0)


@pytest.mark.parametrize("kind,kwargs", [
    ("optimizer", {"optimizer": "adamw_typo", "loss": "mse"}),
    ("loss", {"optimizer": "sgd", "loss": "mean_squared_eror"}),
    ("metric", {"optimizer": "sgd", "loss": "mse", "metrics": ["accurasy"]}),
])
def test_unknown_names_list_valid_choices(kind, kwargs):
    model = fw.Sequential([fw.Input((3,)), Dense(2)])
    with pytest.raises(ValueError) as info:
        model.compile(**kwargs)
        model.fit(*_data(4), verbose=0)
    msg = str(info.value)
    assert kind in msg.lower()
    known = {"optimizer": ["adam", "sgd", "rmsprop"], "loss": ["mse", "mean_squared_error", "huber"],
             "metric": ["accuracy", "mae"]}[kind]
    assert all(name in msg for name in known), msg


def test_dict_inputs_with_a_wrong_key():
    a, b = fw.Input((2,), name="first"), fw.Input((2,), name="second")
    model = fw.Model([a, b], Dense(1)(Concatenate()([a, b])))
    model.compile(optimizer="sgd", loss="mse")
    bad = {"first": np.zeros((3, 2)), "secnd": np.zeros((3, 2))}
    for call in (lambda: model.fit(bad, np.zeros((3, 1)), verbose=0), lambda: model.predict(bad, verbose=0)):
        with pytest.raises(ValueError) as info:
            call()
        msg = str(info.value)
        assert "secnd" in msg and "second" in msg


def test_wrong_number_of_inputs_in_a_list():
    a, b = fw.Input((2,), name="first"), fw.Input((2,), name="second")
    model = fw.Model([a, b], Dense(1)(Concatenate()([a, b])))
    with pytest.raises(ValueError, match="2"):
        model.predict([np.zeros((3, 2))] * 3, verbose=0)


def test_string_data_is_rejected():
    model = _regressor()
    with pytest.raises((TypeError, ValueError)):
        model.fit(np.array([["a", "b", "c"]]), np.zeros((1, 2)), verbose=0)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_nan_loss_warns_with_epoch_and_batch():
    model = _regressor()
    x, y = _data(40)
    x[21, 0] = np.nan  # batch 2 (0-based) of the first epoch with batch_size 8
    with pytest.warns(RuntimeWarning) as record:
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    messages = [str(r.message) for r in record
                if issubclass(r.category, RuntimeWarning) and "encountered in" not in str(r.message)]
    assert len(messages) == 1, messages  # reported once, not for every batch
    msg = messages[0].lower()
    assert "nan" in msg and re.search(r"epoch 1\b", msg) and re.search(r"batch (2|3)\b", msg), msg


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_diverging_training_warns():
    model = _regressor(optimizer=fw.optimizers.SGD(1e30))
    x, y = _data(64)
    with pytest.warns(RuntimeWarning, match="(?i)epoch"):
        model.fit(x * 1e3, y, batch_size=8, epochs=2, verbose=0)


def test_no_warning_for_healthy_training():
    model = _regressor()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(*_data(16), epochs=2, verbose=0)


def test_bad_batch_size():
    model = _regressor()
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(*_data(8), batch_size=0, verbose=0)


def test_dropout_model_trains_and_predicts_deterministically():
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((4,)), Dense(16, activation="relu"), Dropout(0.5), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x, y = _data(32, features=4, outputs=1)
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
