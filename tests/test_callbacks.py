"""The Keras 3 training callbacks: EarlyStopping, ReduceLROnPlateau, LearningRateScheduler,
CSVLogger, TerminateOnNaN, LambdaCallback, the Callback base and the callbacks registry.

Most tests drive the hooks on scripted loss curves through a ``CallbackList`` (the object fit
uses) with a fake model whose ``get_weights`` returns an array stamped with the current epoch,
so the epoch whose weights EarlyStopping restores can be read back. A few end-to-end tests fit a
real model.

Elsewhere: the order of the hooks fit / evaluate / predict call, History and ProgbarLogger in
tests/test_training.py; ModelCheckpoint and BackupAndRestore (they write model files) in
tests/test_saving.py."""
import csv
import math
import operator
import warnings

import numpy as np
import pytest

import framework as fw
from framework import callbacks as cbm
from framework.callbacks import (CSVLogger, Callback, CallbackList, EarlyStopping, LambdaCallback,
                                 LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN)
from helpers import linear_regression_data, linear_regression_model


# ----------------------------------------------------------------------------- fakes and drivers

class FakeOptimizer:
    def __init__(self, learning_rate):
        self._lr = float(learning_rate)

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._lr = float(value)


class ScheduledOptimizer(FakeOptimizer):
    """Like a Keras optimizer built with a LearningRateSchedule: readable, not settable."""

    @property
    def learning_rate(self):
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its "
                        "`learning_rate` constructor argument, hence its learning rate is not settable.")


class FakeModel:
    """stop_training, an optimizer, and weights stamped with the epoch they belong to."""

    def __init__(self, learning_rate=1.0, metrics=()):
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.stamp = -1
        self.restored = []
        self.metrics = list(metrics)

    def get_weights(self):
        return [np.full((2,), float(self.stamp))]

    def set_weights(self, weights):
        self.restored.append(int(weights[0][0]))
        self.stamp = int(weights[0][0])


def drive(callback, values, monitor="val_loss", model=None, extra=None):
    """Run epochs with ``logs = {monitor: value}`` until stop_training; return (model, epochs run, logs)."""
    model = model or FakeModel()
    cbs = CallbackList([callback], model, {"epochs": len(values), "steps": 1, "verbose": 0})
    model.stop_training = False
    cbs.on_train_begin()
    run, all_logs = [], []
    logs = {}
    for epoch, value in enumerate(values):
        model.stamp = epoch  # the weights "trained" during this epoch
        cbs.on_epoch_begin(epoch)
        logs = {monitor: value, **(extra or {})}
        cbs.on_epoch_end(epoch, logs)
        run.append(epoch)
        all_logs.append(logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model, run, all_logs


# ----------------------------------------------------------------------------- EarlyStopping

def test_early_stopping_patience_counts_epochs_without_improvement():
    es = EarlyStopping(patience=2)
    model, run, _ = drive(es, [1.0, 0.9, 0.95, 0.93, 0.8])
    assert run == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and model.stop_training
    assert es.best == 0.9 and es.best_epoch == 1 and es.wait == 2
    assert model.restored == []  # restore_best_weights=False


def test_early_stopping_patience_0_never_stops_at_epoch_0():
    es = EarlyStopping(monitor="loss", patience=0)
    _, run, _ = drive(es, [1.0, 0.5, 0.6, 0.1], monitor="loss")
    assert run == [0, 1, 2] and es.stopped_epoch == 2
    es = EarlyStopping(monitor="loss", patience=0)
    _, run, _ = drive(es, [1.0, 1.0, 0.1], monitor="loss")  # equal is not an improvement
    assert run == [0, 1] and es.stopped_epoch == 1


def test_early_stopping_restores_the_best_epochs_weights_when_it_stops(capsys):
    es = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    model, run, _ = drive(es, [1.0, 0.5, 0.7, 0.6, 0.1])
    assert run == [0, 1, 2, 3]
    assert capsys.readouterr().out == ("Epoch 4: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 2.\n")
    assert model.restored == [1] and es.best_epoch == 1
    np.testing.assert_array_equal(es.best_weights[0], [1.0, 1.0])


def test_early_stopping_restores_at_train_end_even_without_stopping():
    # Keras 3: restore_best_weights applies at on_train_end whenever a best was recorded
    es = EarlyStopping(patience=10, restore_best_weights=True)
    model, run, _ = drive(es, [1.0, 0.5, 0.7, 0.6])
    assert run == [0, 1, 2, 3] and es.stopped_epoch == 0 and not model.stop_training
    assert model.restored == [1]
    es = EarlyStopping(patience=10, restore_best_weights=True)
    model, _, _ = drive(es, [1.0, 0.5, 0.4])  # best is the last epoch: restored all the same
    assert model.restored == [2]


def test_early_stopping_min_delta():
    es = EarlyStopping(min_delta=0.1, patience=1)
    _, run, _ = drive(es, [1.0, 0.95, 0.5])  # 0.95 beats 1.0 by less than 0.1
    assert run == [0, 1] and es.stopped_epoch == 1
    es = EarlyStopping(min_delta=-0.1, patience=1)  # the absolute value is used
    _, run, _ = drive(es, [1.0, 0.85, 0.8, 0.5])
    assert run == [0, 1, 2] and es.stopped_epoch == 2 and es.best == 0.85
    assert es.get_config()["min_delta"] == 0.1


def test_early_stopping_mode_max_and_auto():
    es = EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    _, run, _ = drive(es, [0.5, 0.6, 0.6, 0.55, 0.9], monitor="val_accuracy")
    assert run == [0, 1, 2, 3] and es.best == 0.6
    # auto: the compiled metric's direction decides (accuracies up, regression errors down)
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    model = FakeModel(metrics=[fw.metrics.BinaryAccuracy(name="accuracy")])
    _, run, _ = drive(es, [0.5, 0.6, 0.55, 0.9], monitor="val_accuracy", model=model)
    assert es.monitor_op is operator.gt and run == [0, 1, 2]
    es = EarlyStopping(monitor="mean_absolute_error", patience=1)
    model = FakeModel(metrics=[fw.metrics.MeanAbsoluteError()])
    drive(es, [1.0], monitor="mean_absolute_error", model=model)
    assert es.monitor_op is operator.lt
    es = EarlyStopping(monitor="val_loss")
    drive(es, [1.0])
    assert es.monitor_op is operator.lt


def test_early_stopping_auto_mode_unknown_metric_is_an_error():
    es = EarlyStopping(monitor="val_f1")
    with pytest.raises(ValueError, match="mode='max'"):
        drive(es, [0.5, 0.6], monitor="val_f1")


def test_early_stopping_unknown_mode_falls_back_to_auto():
    with pytest.warns(UserWarning, match="EarlyStopping mode maximum is unknown, fallback to auto mode"):
        es = EarlyStopping(mode="maximum")
    assert es.mode == "auto"


def test_early_stopping_baseline():
    # improvements that do not beat the baseline do not reset the wait counter
    es = EarlyStopping(patience=2, baseline=0.5, restore_best_weights=True)
    model, run, _ = drive(es, [0.9, 0.8, 0.85, 0.3])
    assert run == [0, 1, 2] and es.stopped_epoch == 2
    assert model.restored == [1]  # the best epoch is restored even though it missed the baseline
    # beating the baseline resets the counter
    es = EarlyStopping(patience=2, baseline=0.5)
    _, run, _ = drive(es, [0.9, 0.4, 0.45, 0.46, 0.47])
    assert run == [0, 1, 2, 3] and es.stopped_epoch == 3
    # Keras quirk kept: an improvement always returns before the patience check
    es = EarlyStopping(patience=1, baseline=0.5)
    _, run, _ = drive(es, [0.9, 0.8, 0.7, 0.6])
    assert run == [0, 1, 2, 3] and es.stopped_epoch == 0 and es.wait == 4


def test_early_stopping_start_from_epoch():
    es = EarlyStopping(monitor="loss", patience=0)
    _, run, _ = drive(es, [1.0, 2.0, 3.0, 4.0, 5.0], monitor="loss")
    assert run == [0, 1]
    es = EarlyStopping(monitor="loss", patience=0, start_from_epoch=2, restore_best_weights=True)
    model, run, _ = drive(es, [0.1, 2.0, 3.0, 4.0, 5.0], monitor="loss")
    assert run == [0, 1, 2, 3] and es.stopped_epoch == 3
    assert model.restored == [2]  # warm-up epochs are never candidates, even the lowest one


def test_early_stopping_nan_is_not_an_improvement():
    es = EarlyStopping(patience=2)
    _, run, _ = drive(es, [1.0, math.nan, math.nan, 0.1])
    assert run == [0, 1, 2] and es.best == 1.0


def test_early_stopping_missing_key_warns_with_available_keys():
    es = EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="Early stopping conditioned on metric `val_loss` which is not available. "
                                         "Available metrics are: loss,mae"):
        model, run, _ = drive(es, [1.0, 2.0, 3.0], monitor="loss", extra={"mae": 0.0})
    assert run == [0, 1, 2] and not model.stop_training


def test_early_stopping_is_reusable_across_fits():
    es = EarlyStopping(monitor="loss", patience=1)
    drive(es, [0.1, 0.2], monitor="loss")
    # a stale best of 0.1 would stop this run at epoch 1; Keras 3 resets it in on_train_begin
    _, run, _ = drive(es, [0.5, 0.4, 0.45, 0.9], monitor="loss")
    assert run == [0, 1, 2] and es.stopped_epoch == 2


# ----------------------------------------------------------------------------- ReduceLROnPlateau

def test_reduce_lr_patience_and_logs(capsys):
    rl = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=0, verbose=1)
    model, _, logs = drive(rl, [1.0] * 5, monitor="loss")
    assert capsys.readouterr().out == ("\nEpoch 3: ReduceLROnPlateau reducing learning rate to 0.5.\n"
                                       "\nEpoch 5: ReduceLROnPlateau reducing learning rate to 0.25.\n")
    # logs carry the rate the epoch trained with (written before any change)
    assert [l["learning_rate"] for l in logs] == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert model.optimizer.learning_rate == 0.25


def test_reduce_lr_improvement_resets_wait():
    rl = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=0)
    model, _, _ = drive(rl, [1.0, 1.0, 0.9, 0.9, 0.8, 0.8], monitor="loss")
    assert model.optimizer.learning_rate == 1.0


def test_reduce_lr_cooldown():
    rl = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=2, min_delta=0)
    model, _, logs = drive(rl, [1.0] * 6, monitor="loss")
    # reductions at the end of epochs 1, 3 and 5: each followed by 2 cooldown epochs (the second of
    # which already counts again)
    assert [l["learning_rate"] for l in logs] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert model.optimizer.learning_rate == 0.125


def test_reduce_lr_min_lr():
    rl = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_lr=0.05, min_delta=0)
    model, _, logs = drive(rl, [1.0] * 5, monitor="loss")
    assert [l["learning_rate"] for l in logs] == pytest.approx([1.0, 1.0, 0.1, 0.05, 0.05])
    assert model.optimizer.learning_rate == 0.05


def test_reduce_lr_min_delta():
    rl = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=0.1)
    model, _, logs = drive(rl, [1.0, 0.95, 0.8, 0.75], monitor="loss")
    # 0.95 is within min_delta of 1.0: reduce; 0.8 improves by more than 0.1: no change; 0.75: reduce
    assert [l["learning_rate"] for l in logs] == [1.0, 1.0, 0.5, 0.5]
    assert model.optimizer.learning_rate == 0.25
    rl = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)  # default min_delta=1e-4
    model, _, _ = drive(rl, [1.0, 0.99995], monitor="loss")
    assert model.optimizer.learning_rate == 0.5


def test_reduce_lr_mode_max():
    rl = ReduceLROnPlateau(monitor="val_acc", factor=0.5, patience=1, mode="max", min_delta=0)
    model, _, _ = drive(rl, [0.5, 0.6, 0.6, 0.7], monitor="val_acc")
    assert model.optimizer.learning_rate == 0.5
    assert rl.best == 0.7


def test_reduce_lr_factor_and_missing_key():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    rl = ReduceLROnPlateau(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="Available metrics are: loss,learning_rate."):
        model, _, logs = drive(rl, [1.0, 2.0], monitor="loss")
    assert logs[0]["learning_rate"] == 1.0 and model.optimizer.learning_rate == 1.0


def test_reduce_lr_on_an_optimizer_with_a_schedule_raises_type_error():
    model = FakeModel()
    model.optimizer = ScheduledOptimizer(0.5)
    rl = ReduceLROnPlateau(monitor="loss", patience=1, min_delta=0)
    with pytest.raises(TypeError, match="not settable"):
        drive(rl, [1.0, 1.0], monitor="loss", model=model)


def test_reduce_lr_is_reusable_across_fits():
    rl = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=0)
    drive(rl, [0.1], monitor="loss")
    model, _, _ = drive(rl, [0.5, 0.4], monitor="loss")  # best restarts: 0.5 then 0.4 both improve
    assert model.optimizer.learning_rate == 1.0


# ----------------------------------------------------------------------------- LearningRateScheduler

def test_scheduler_two_argument_schedule():
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr if epoch < 2 else lr * 0.5

    model, _, logs = drive(LearningRateScheduler(schedule), [0.0] * 4, monitor="loss")
    assert seen == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 0.5)]
    assert [l["learning_rate"] for l in logs] == [1.0, 1.0, 0.5, 0.25]
    assert model.optimizer.learning_rate == 0.25


def test_scheduler_one_argument_schedule():
    model, _, logs = drive(LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)), [0.0] * 3, monitor="loss")
    assert [l["learning_rate"] for l in logs] == [0.1, 0.05, 0.1 / 3]


def test_scheduler_requires_a_float(capsys):
    with pytest.raises(ValueError, match="should be a float. Got: 1"):
        drive(LearningRateScheduler(lambda epoch, lr: 1), [0.0], monitor="loss")
    drive(LearningRateScheduler(lambda epoch, lr: np.float32(0.5), verbose=1), [0.0], monitor="loss")
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.5." in capsys.readouterr().out


# ----------------------------------------------------------------------------- CSVLogger

def _text(path):
    return path.read_bytes().decode()  # read_text() would turn the csv module's \r\n into \n


EPOCH_LOGS = [{"val_loss": 0.25, "loss": 0.5, "mae": 1.5}, {"val_loss": 0.125, "loss": 0.375, "mae": 1.0}]


def _log_epochs(logger, epochs, first=0, model=None):
    cbs = CallbackList([logger], model or FakeModel(), {})
    cbs.on_train_begin()
    for i, logs in enumerate(epochs):
        cbs.on_epoch_begin(first + i)
        cbs.on_epoch_end(first + i, dict(logs))
    cbs.on_train_end()


def test_csv_logger_exact_text(tmp_path):
    path = tmp_path / "log.csv"
    _log_epochs(CSVLogger(path), EPOCH_LOGS)
    assert path.read_bytes() == (b"epoch,loss,mae,val_loss\r\n"
                                 b"0,0.5,1.5,0.25\r\n"
                                 b"1,0.375,1.0,0.125\r\n")


def test_csv_logger_append_continues_without_header(tmp_path):
    path = tmp_path / "log.csv"
    _log_epochs(CSVLogger(str(path)), EPOCH_LOGS[:1])
    _log_epochs(CSVLogger(str(path), append=True), EPOCH_LOGS[1:], first=1)
    assert _text(path) == "epoch,loss,mae,val_loss\r\n0,0.5,1.5,0.25\r\n1,0.375,1.0,0.125\r\n"
    # without append the file starts over
    _log_epochs(CSVLogger(str(path)), EPOCH_LOGS[1:], first=5)
    assert _text(path) == "epoch,loss,mae,val_loss\r\n5,0.375,1.0,0.125\r\n"


def test_csv_logger_append_to_missing_or_empty_file_writes_header(tmp_path):
    path = tmp_path / "new.csv"
    _log_epochs(CSVLogger(path, append=True), EPOCH_LOGS[:1])
    path2 = tmp_path / "empty.csv"
    path2.write_text("")
    _log_epochs(CSVLogger(path2, append=True), EPOCH_LOGS[:1])
    assert _text(path) == _text(path2) == "epoch,loss,mae,val_loss\r\n0,0.5,1.5,0.25\r\n"


def test_csv_logger_separator_missing_keys_and_arrays(tmp_path):
    path = tmp_path / "log.tsv"
    _log_epochs(CSVLogger(path, separator="\t"),
                [{"loss": 0.5, "note": "ok", "vec": np.array([1, 2])}, {"loss": 0.25}])
    assert _text(path) == ('epoch\tloss\tnote\tvec\r\n'
                                '0\t0.5\tok\t"""[1, 2]"""\r\n'
                                '1\t0.25\tNA\tNA\r\n')


def test_csv_logger_keys_come_from_the_first_epoch(tmp_path):
    # as Keras: columns are fixed at the first epoch; later extra keys are not written
    path = tmp_path / "log.csv"
    _log_epochs(CSVLogger(path), [{"loss": 0.5}, {"loss": 0.25, "val_loss": 0.125}])
    assert _text(path) == "epoch,loss\r\n0,0.5\r\n1,0.25\r\n"


def test_csv_logger_flushes_each_epoch(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    cbs = CallbackList([logger], FakeModel(), {})
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"loss": 0.5})
    assert _text(path) == "epoch,loss\r\n0,0.5\r\n"  # readable before training ends
    cbs.on_train_end()
    assert logger.csv_file.closed


# ----------------------------------------------------------------------------- TerminateOnNaN

def _batches(callback, losses, model=None):
    model = model or FakeModel()
    cbs = CallbackList([callback], model, {})
    ran = []
    for batch, loss in enumerate(losses):
        cbs.on_train_batch_begin(batch)
        cbs.on_train_batch_end(batch, {"loss": loss})
        ran.append(batch)
        if model.stop_training:
            break
    return model, ran


def test_terminate_on_nan_stops_after_the_bad_batch(capsys):
    model, ran = _batches(TerminateOnNaN(), [0.5, 0.4, math.nan, 0.3])
    assert ran == [0, 1, 2] and model.stop_training
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"
    model, ran = _batches(TerminateOnNaN(), [0.5, math.inf, 0.3])
    assert ran == [0, 1]
    model, ran = _batches(TerminateOnNaN(), [0.5, 0.4])
    assert ran == [0, 1] and not model.stop_training


def test_terminate_on_nan_raise_error():
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        _batches(TerminateOnNaN(raise_error=True), [0.5, -math.inf])


# ----------------------------------------------------------------------------- LambdaCallback and the base

def test_lambda_callback_call_order_and_arguments():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, logs)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch, logs)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, logs)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs)),
        on_train_end=lambda logs: calls.append(("train_end", logs)),
        on_test_end=lambda logs: calls.append(("test_end", logs)),  # any hook, by keyword
    )
    cbs = CallbackList([cb], FakeModel(), {})
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_begin(0)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    cbs.on_test_end({"loss": 2.0})
    cbs.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    cbs.on_train_end({"loss": 1.0})
    assert calls == [("train_begin", {}), ("epoch_begin", 0, {}), ("batch_begin", 0, {}),
                     ("batch_end", 0, {"loss": 1.0}), ("test_end", {"loss": 2.0}),
                     ("epoch_end", 0, {"loss": 1.0, "val_loss": 2.0}), ("train_end", {"loss": 1.0})]


def test_lambda_callback_in_fit():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_train_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: calls.append("train_end"))
    model = linear_regression_model()
    x, y = linear_regression_data(8)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y), callbacks=[cb])
    assert calls == ["train_begin",
                     "epoch_begin 0", "batch_end 0 ['loss']", "batch_end 1 ['loss']",
                     "epoch_end 0 ['loss', 'val_loss']",
                     "epoch_begin 1", "batch_end 0 ['loss']", "batch_end 1 ['loss']",
                     "epoch_end 1 ['loss', 'val_loss']", "train_end"]


def test_subclass_sees_model_params_and_on_batch_end_alias():
    seen = {}

    class Probe(Callback):
        def on_train_begin(self, logs=None):
            seen["model"], seen["params"], seen["stop"] = self.model, dict(self.params), self.model.stop_training

        def on_batch_end(self, batch, logs=None):  # Keras's alias of on_train_batch_end
            seen.setdefault("batches", []).append(batch)

    model = linear_regression_model()
    model.fit(*linear_regression_data(12), batch_size=4, epochs=1, verbose=0, callbacks=[Probe()])
    assert seen["model"] is model and seen["stop"] is False
    assert seen["params"]["epochs"] == 1 and seen["params"]["steps"] == 3
    assert seen["batches"] == [0, 1, 2]


def test_registry_names_and_configs(tmp_path):
    for name in ("EarlyStopping", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN",
                 "LambdaCallback", "History", "ProgbarLogger"):
        assert name in cbm.REGISTRY
    assert isinstance(cbm.get("EarlyStopping"), EarlyStopping)
    objects = [EarlyStopping(monitor="val_accuracy", min_delta=0.01, patience=3, mode="max", baseline=0.5,
                             restore_best_weights=True, start_from_epoch=2),
               ReduceLROnPlateau(monitor="loss", factor=0.2, patience=4, cooldown=1, min_lr=1e-5),
               CSVLogger(str(tmp_path / "a.csv"), separator=";", append=True), TerminateOnNaN()]
    for obj in objects:
        config = cbm.serialize(obj)
        assert config["class_name"] == type(obj).__name__
        assert all(isinstance(v, (str, int, float, bool, type(None))) for v in config["config"].values())
        clone = cbm.deserialize(config)
        assert type(clone) is type(obj) and clone.get_config() == obj.get_config()
        assert cbm.get(config).get_config() == obj.get_config()
    assert cbm.serialize(objects[0])["config"] == {
        "monitor": "val_accuracy", "min_delta": 0.01, "patience": 3, "verbose": 0, "mode": "max",
        "baseline": 0.5, "restore_best_weights": True, "start_from_epoch": 2}
    with pytest.raises(ValueError, match="cannot be serialized"):
        cbm.serialize(LambdaCallback(on_epoch_end=print))
    with pytest.raises(ValueError, match="Unknown callback 'EarlyStoping'. Did you mean 'EarlyStopping'"):
        cbm.get("EarlyStoping")


# ----------------------------------------------------------------------------- end to end

def test_fit_early_stopping_restores_the_best_epoch():
    # validation targets are 0.3 x the training targets: starting from zero weights, validation loss
    # falls while the weights pass 0.3 x the solution, then rises
    model = linear_regression_model(lr=0.02)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    x, y = linear_regression_data(64)
    xv, yv = linear_regression_data(32, seed=1)
    yv = 0.3 * yv
    per_epoch = []
    recorder = LambdaCallback(on_epoch_end=lambda epoch, logs: per_epoch.append(model.get_weights()))
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, batch_size=16, epochs=50, verbose=0, shuffle=False, validation_data=(xv, yv),
                        callbacks=[recorder, es])
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert 0 < best < len(val) - 1
    assert es.best_epoch == best and es.stopped_epoch == len(val) - 1 == best + 2
    for restored, expected in zip(model.get_weights(), per_epoch[best]):
        np.testing.assert_array_equal(restored, expected)
    assert not np.array_equal(per_epoch[-1][0], per_epoch[best][0])
    assert model.evaluate(xv, yv, verbose=0) == pytest.approx(val[best], rel=1e-5)


def test_fit_early_stopping_auto_mode_from_compiled_metrics():
    model = linear_regression_model(metrics=["mae", "accuracy"])
    x, y = linear_regression_data(16)
    es_mae, es_acc = EarlyStopping(monitor="val_mae", patience=100), EarlyStopping(monitor="accuracy", patience=100)
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[es_mae, es_acc])
    assert es_mae.monitor_op is operator.lt and es_acc.monitor_op is operator.gt


def test_fit_early_stopping_auto_mode_multi_output_names():
    inp = fw.Input((4,))
    label = fw.layers.Dense(2, activation="softmax", name="label")(inp)
    value = fw.layers.Dense(1, name="value")(inp)
    model = fw.Model(inp, [label, value])
    model.compile("sgd", ["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], ["mae"]])
    x, _ = linear_regression_data(16)
    ys = [np.arange(16) % 2, x[:, :1]]
    names = ["val_label_accuracy", "value_mae", "val_value_loss", "label_loss", "val_loss"]
    stoppers = [EarlyStopping(monitor=name, patience=100) for name in names]
    model.fit(x, ys, epochs=1, verbose=0, validation_data=(x, ys), callbacks=stoppers)
    assert [es.monitor_op for es in stoppers] == [operator.gt] + [operator.lt] * 4


def test_fit_csv_logger_matches_history(tmp_path):
    path = tmp_path / "train.csv"
    model = linear_regression_model(metrics=["mae"])
    x, y = linear_regression_data(40)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_split=0.25,
                        callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [int(r["epoch"]) for r in rows] == history.epoch == [0, 1, 2]
    for key, values in history.history.items():
        assert [float(r[key]) for r in rows] == values  # repr round-trips exactly


def test_fit_reduce_lr_changes_the_optimizer():
    model = linear_regression_model(lr=0.1)
    x, y = linear_regression_data(16)
    rl = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_delta=100.0)  # nothing counts as better
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[rl])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.01])
    assert model.optimizer.learning_rate == pytest.approx(0.001)
    # the reduced rate is what the next epoch trains with: a frozen rate freezes the weights
    model.optimizer.learning_rate = 0.0
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_learning_rate_scheduler_keras_docstring_example():
    # keras.callbacks.LearningRateScheduler's docstring: SGD(0.01), 15 epochs -> 0.00607
    model = fw.Sequential([fw.Input((20,)), fw.layers.Dense(10)])
    model.compile(fw.optimizers.SGD(), loss="mse")
    assert round(model.optimizer.learning_rate, 5) == 0.01

    def scheduler(epoch, lr):
        return lr if epoch < 10 else lr * math.exp(-0.1)

    history = model.fit(np.arange(100).reshape(5, 20).astype("float32") / 100, np.zeros((5, 10), "float32"),
                        epochs=15, callbacks=[LearningRateScheduler(scheduler)], verbose=0)
    assert round(model.optimizer.learning_rate, 5) == 0.00607
    assert len(history.history["learning_rate"]) == 15


def test_fit_terminate_on_nan():
    model = linear_regression_model()
    x, y = linear_regression_data(16)
    x[4, 0] = np.nan  # the second batch of 4, unshuffled
    batches = []
    spy = LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fit's own NaN warning
        history = model.fit(x, y, batch_size=4, epochs=5, verbose=0, shuffle=False,
                            callbacks=[TerminateOnNaN(), spy])
    assert batches == [0, 1] and history.epoch == [0]
    assert math.isnan(history.history["loss"][0])
