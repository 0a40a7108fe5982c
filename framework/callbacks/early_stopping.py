"""Callbacks that stop training early: ``EarlyStopping`` when a monitored value stops
improving, ``TerminateOnNaN`` when the loss is NaN or infinite."""
import warnings

import numpy as np

from framework.callbacks.callback import REGISTRY, Callback, _print_msg
from framework.callbacks.monitor_callback import _check_mode, _MonitorMixin


@REGISTRY.register("EarlyStopping")
class EarlyStopping(_MonitorMixin, Callback):
    """Stop training when a monitored quantity has stopped improving (Keras 3 semantics).

    At each ``on_epoch_end`` (from epoch ``start_from_epoch`` on) ``wait`` grows by one; an
    improvement over the best value so far (by more than ``min_delta``) records the new best
    and resets ``wait`` to 0 only if it also improves on ``baseline`` (when given). Without an
    improvement, once ``wait >= patience`` and ``epoch > 0``, training stops
    (``model.stop_training = True``, ``stopped_epoch = epoch``). With
    ``restore_best_weights=True`` the best epoch's weights are restored at ``on_train_end``,
    whether or not this callback stopped training.

    Args:
        monitor: the logs key to watch, e.g. 'val_loss', 'loss', 'val_accuracy'.
        min_delta: smallest change counted as an improvement (its absolute value is used).
        patience: epochs without improvement before stopping.
        verbose: 1 prints when stopping and restoring.
        mode: 'min', 'max' or 'auto' ('loss' minimizes, compiled metrics follow their direction,
            accuracies maximize; anything else is an error asking for mode).
        baseline: a value to beat; until it is beaten ``wait`` is never reset.
        restore_best_weights: restore the weights of the best epoch at the end of training.
        start_from_epoch: epochs to skip before monitoring starts (warm-up).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch
        self.mode = _check_mode("EarlyStopping", mode, "{owner} mode {mode} is unknown, fallback to auto mode.")
        self.monitor_op = None

    def get_config(self):
        return {"monitor": self.monitor, "min_delta": abs(self.min_delta), "patience": self.patience,
                "verbose": self.verbose, "mode": self.mode, "baseline": self.baseline,
                "restore_best_weights": self.restore_best_weights, "start_from_epoch": self.start_from_epoch}

    def on_train_begin(self, logs=None):
        # allow instances to be re-used (Keras resets best too since keras-team/keras#20533)
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()  # delayed until the model's metrics are built
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # the first monitored epoch's weights are the best so far
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # only restart waiting if both the previous best and the baseline are beaten
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(list(logs.keys()))}", stacklevel=2)
        return value


@REGISTRY.register("TerminateOnNaN")
class TerminateOnNaN(Callback):
    """Stop training when a batch's ``logs['loss']`` is NaN or infinite.

    Checked in ``on_batch_end`` (called by the default ``on_train_batch_end``), so fit stops
    after that batch; the epoch still ends (validation, ``on_epoch_end``) and ``on_train_end``
    runs. With ``raise_error=True`` a RuntimeError is raised at once instead.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def get_config(self):
        return {"raise_error": self.raise_error}

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   "Terminating training immediately.")
            _print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
