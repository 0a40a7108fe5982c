"""Callbacks that set the learning rate during training: ``ReduceLROnPlateau`` and
``LearningRateScheduler``."""
import warnings

import numpy as np

from framework.callbacks.callback import REGISTRY, Callback, _print_msg
from framework.callbacks.monitor_callback import _check_mode, _MonitorMixin


@REGISTRY.register("ReduceLROnPlateau")
class ReduceLROnPlateau(_MonitorMixin, Callback):
    """Multiply the learning rate by ``factor`` when a monitored quantity stops improving.

    At each ``on_epoch_end`` the current learning rate is written to ``logs['learning_rate']``
    (before any change, so it is the rate the epoch trained with). In cooldown the counter
    drops by one and ``wait`` is reset; an improvement (by more than ``min_delta``) resets
    ``wait``; otherwise, outside cooldown, ``wait`` grows and at ``wait >= patience`` the
    rate becomes ``max(lr * factor, min_lr)`` (only while ``lr > float32(min_lr)``), then
    ``cooldown`` epochs follow.

    Args:
        monitor: the logs key to watch.
        factor: new_lr = lr * factor; must be < 1.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: 'min', 'max' or 'auto' (as EarlyStopping).
        min_delta: threshold for an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound on the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor = monitor
        self.mode = _check_mode("ReduceLROnPlateau", mode, "{owner} mode '{mode}' is unknown, fallback to auto mode.")
        self.best = None
        self.min_delta = abs(min_delta)
        self.monitor_op = None
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def get_config(self):
        return {"monitor": self.monitor, "factor": self.factor, "patience": self.patience,
                "verbose": self.verbose, "mode": self.mode, "min_delta": abs(self.min_delta),
                "cooldown": self.cooldown, "min_lr": self.min_lr}

    def _reset(self):
        self.cooldown_counter = 0
        self.wait = 0
        self.best = None  # re-usable across fits (keras-team/keras#22967)

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = {} if logs is None else logs
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(list(logs.keys()))}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(self.model.optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0


@REGISTRY.register("LearningRateScheduler")
class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch from ``schedule``.

    ``schedule(epoch, lr)`` gets the epoch index (from 0) and the current rate; a one-argument
    ``schedule(epoch)`` is used when the two-argument call raises TypeError (as Keras). The
    result must be a float (int is refused, as Keras). ``logs['learning_rate']`` is set at
    ``on_epoch_end``.

    Args:
        schedule: the function.
        verbose: 1 prints the rate set each epoch.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def get_config(self):
        raise ValueError("LearningRateScheduler holds a Python function and cannot be serialized")

    def _update_optimizer_lr(self, optimizer, epoch):
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:  # new API
            learning_rate = float(optimizer.learning_rate)
            learning_rate = self.schedule(epoch, learning_rate)
        except TypeError:  # old API, schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        learning_rate = self._update_optimizer_lr(self.model.optimizer, epoch)
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
