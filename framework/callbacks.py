"""Callbacks with Keras's hook names; ``History`` is returned by fit and the
progress bar is the ``ProgbarLogger`` callback built on tqdm. The Keras 3
training callbacks (``EarlyStopping``, ``ReduceLROnPlateau``,
``LearningRateScheduler``, ``CSVLogger``, ``TerminateOnNaN``,
``LambdaCallback``) follow ``keras/src/callbacks/*.py``."""
import collections
import collections.abc
import csv
import operator
import os
import sys
import warnings

import numpy as np

from framework.config.registry import Registry

REGISTRY = Registry("callback")

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
         "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class: override any hook; ``self.model`` and ``self.params`` are set by fit.

    As in Keras, ``on_batch_begin`` / ``on_batch_end`` are backwards-compatible aliases:
    the default ``on_train_batch_begin`` / ``on_train_batch_end`` call them.
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    def get_config(self):
        """Constructor arguments as plain values (for configs); Keras callbacks have no config,
        so this is the framework's own, defined by each registered callback."""
        raise NotImplementedError(f"{type(self).__name__} has no get_config(); define one to serialize it")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class CallbackList:
    """Calls a hook on every callback; hooks nobody overrides cost nothing per batch.

    As Keras's CallbackList, every callback receives a ``logs`` dict (``{}`` when the
    caller gives none), positionally for epoch/train/test/predict begin/end hooks and as
    ``logs=`` for batch hooks. A hook counts as overridden when the class or the instance
    (``LambdaCallback``) defines it; overriding ``on_batch_begin`` / ``on_batch_end``
    counts for ``on_train_batch_begin`` / ``on_train_batch_end``.
    """

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        self.model = model
        self.params = params
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._bind_hooks()

    def _bind_hooks(self):
        for hook in HOOKS + _ALIAS_HOOKS:
            alias = _ALIASES.get(hook)
            overriding = [getattr(cb, hook) for cb in self.callbacks
                          if _overrides(cb, hook) or (alias is not None and _overrides(cb, alias))]
            setattr(self, hook, _fan_out(hook, overriding))

    def append(self, callback):
        callback.set_model(self.model)
        callback.set_params(self.params)
        self.callbacks.append(callback)
        self._bind_hooks()

    def __iter__(self):
        return iter(self.callbacks)


_ALIAS_HOOKS = ("on_batch_begin", "on_batch_end")
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _overrides(cb, hook):
    """True when ``cb.hook`` is not Callback's default (a subclass method or an instance attribute)."""
    method = getattr(cb, hook, None)
    if method is None:
        return False
    return getattr(method, "__func__", None) is not getattr(Callback, hook, None)


def _fan_out(hook, methods):
    if not methods:
        return _noop
    if hook.endswith(("batch_begin", "batch_end")):
        def call(batch, logs=None):
            logs = {} if logs is None else logs
            for method in methods:
                method(batch, logs=logs)
    elif hook in ("on_epoch_begin", "on_epoch_end"):
        def call(epoch, logs=None):
            logs = {} if logs is None else logs
            for method in methods:
                method(epoch, logs)
    else:
        def call(logs=None):
            logs = {} if logs is None else logs
            for method in methods:
                method(logs)
    return call


def _noop(*args, **kwargs):
    pass


@REGISTRY.register("History")
class History(Callback):
    """Records epoch logs: ``history.history['loss']`` etc., and ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def get_config(self):
        return {}


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


@REGISTRY.register("ProgbarLogger")
class ProgbarLogger(Callback):
    """Progress display. verbose=1: a live tqdm bar per epoch with loss and metrics
    (a plain line per epoch when output is not a terminal); verbose=2: one line per epoch."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.bar = None

    def get_config(self):
        return {"verbose": self.verbose}

    def _live(self):
        stream = self.stream or sys.stderr
        return self.verbose == 1 and hasattr(stream, "isatty") and stream.isatty()

    def _open(self, total, desc):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total, desc=desc, file=self.stream or sys.stderr, leave=True,
                        dynamic_ncols=True, unit="step", mininterval=0.1,
                        bar_format="{desc} {n_fmt}/{total_fmt} |{bar:20}| {elapsed}<{remaining}{postfix}")

    def _print(self, text):
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self._live():
            self._open(self.params.get("steps"), f"Epoch {epoch + 1}/{self.params.get('epochs')}:")

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n == self.bar.total or batch % 8 == 0:
                self.bar.set_postfix_str(format_logs(logs or {}), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            self._print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {format_logs(logs or {})}")

    def on_test_begin(self, logs=None):
        if self._live() and not self.params.get("in_fit"):
            self._open(self.params.get("steps"), "Evaluate:")

    def on_test_batch_end(self, batch, logs=None):
        if self.bar is not None and not self.params.get("in_fit"):
            self.bar.update(1)

    def on_test_end(self, logs=None):
        if self.params.get("in_fit"):
            return
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            self._print(format_logs(logs or {}))

    def on_predict_begin(self, logs=None):
        if self._live():
            self._open(self.params.get("steps"), "Predict:")

    def on_predict_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)

    def on_predict_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _print_msg(message):
    """Keras's ``io_utils.print_msg``: a line on stdout."""
    print(message, file=sys.stdout, flush=True)


# Keras's Metric._direction of its built-in metric classes (looked up by class name along the MRO)
_UP_METRICS = frozenset((
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "AUC", "Precision", "Recall",
    "PrecisionAtRecall", "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity",
    "F1Score", "FBetaScore", "R2Score", "CosineSimilarity"))
_DOWN_METRICS = frozenset((
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
    "RootMeanSquaredError", "LogCoshError", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge"))


def _metric_direction(metric):
    """'up' / 'down' / None: Keras's ``Metric._direction`` (accuracies up, errors and losses down)."""
    direction = getattr(metric, "_direction", None)
    if direction is not None:
        return direction
    for cls in type(metric).__mro__:
        if cls.__name__ in _UP_METRICS:
            return "up"
        if cls.__name__ in _DOWN_METRICS:
            return "down"
    fn = getattr(metric, "_fn", None)
    if fn is not None:
        # Keras: a MeanMetricWrapper around a loss function is minimized
        from framework import losses, metrics
        name = getattr(fn, "__name__", None)
        if name and getattr(losses, name, None) is fn:
            return "down"
        cls = getattr(metrics, "_FUNCTIONS", {}).get(fn)
        if cls is not None and cls is not type(metric):
            return _metric_direction(cls())
    return None


class _MonitorMixin:
    """Keras's ``MonitorCallback`` logic: the comparison from ``mode`` (or, in 'auto' mode, from
    the monitored name: 'loss' minimizes, a compiled metric follows its direction) and
    ``_is_improvement(value, reference) = op(value - min_delta, reference)`` with ``min_delta``
    negated when minimizing. Set up lazily at the first ``on_epoch_end``."""

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            self.monitor_op = self._auto_monitor_op()
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but the direction of "
                    "that metric cannot be determined automatically (known: 'loss', '<output>_loss' and the "
                    "compiled metrics, with or without 'val_'). Pass mode='max' in order to monitor based on "
                    "the highest metric value, or pass mode='min' in order to use the lowest value.")
        if self.monitor_op is operator.lt:
            self.min_delta *= -1

    def _auto_monitor_op(self):
        metric_name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
        op = operator.lt if metric_name == "loss" else None
        model = self.model
        outputs = list(getattr(model, "output_names", None) or []) if model is not None else []
        if len(outputs) > 1 and metric_name.endswith("_loss") and metric_name[:-5] in outputs:
            op = operator.lt  # a per-output loss of a multi-output model
        try:
            compiled = list(getattr(model, "metrics", None) or [])
        except Exception:
            compiled = []
        for m in compiled:
            names = {m.name} | ({f"{o}_{m.name}" for o in outputs} if len(outputs) > 1 else set())
            if metric_name in names:
                direction = _metric_direction(m)
                if direction == "up":
                    op = operator.gt
                elif direction is not None:
                    op = operator.lt
        return op

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))


def _check_mode(owner, mode, message):
    if mode not in ("auto", "min", "max"):
        warnings.warn(message.format(owner=owner, mode=mode), stacklevel=3)
        return "auto"
    return mode


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


@REGISTRY.register("CSVLogger")
class CSVLogger(Callback):
    """Stream epoch logs to a CSV file: ``epoch`` first, then the first epoch's keys sorted.

    Values are written by Python's ``csv`` module (floats as ``repr``), missing keys as ``NA``,
    1-D iterables as ``"[a, b]"``; rows end with ``\\r\\n`` (the csv 'excel' dialect) and the file
    is flushed after each epoch. ``append=True`` continues an existing file, writing the header
    only when the file is empty or absent.

    Args:
        filename: path of the CSV file.
        separator: the field delimiter.
        append: append to an existing file instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def get_config(self):
        return {"filename": self.filename, "separator": self.sep, "append": self.append}

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            is_zero_dim_ndarray = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not is_zero_dim_ndarray:
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            # validation metrics the model is expected to produce (Keras checks model.metrics_names)
            try:
                expected = list(getattr(self.model, "metrics_names", None) or [])
            except Exception:
                expected = []
            for name in expected:
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)

        if not self.writer:
            class CustomDialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + (self.keys or []),
                                         dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()

        row = collections.OrderedDict({"epoch": epoch})
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


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


@REGISTRY.register("LambdaCallback")
class LambdaCallback(Callback):
    """A callback from plain functions, called positionally as Keras does:
    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``, ``on_train_batch_begin(batch, logs)``,
    ``on_train_batch_end(batch, logs)`` (``logs`` passed by keyword for batch hooks). Any
    other hook is given by keyword with its Callback name, e.g. ``on_test_end=fn``.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin
        if on_train_end is not None:
            self.on_train_end = on_train_end
        if on_train_batch_begin is not None:
            self.on_train_batch_begin = on_train_batch_begin
        if on_train_batch_end is not None:
            self.on_train_batch_end = on_train_batch_end

    def get_config(self):
        raise ValueError("LambdaCallback holds Python functions and cannot be serialized")


def serialize(callback):
    """``{'class_name': registered name, 'config': callback.get_config()}``."""
    return REGISTRY.serialize(callback, Callback)


def deserialize(config):
    """A callback from ``serialize``'s output or a registered name (registry names only)."""
    if isinstance(config, str):
        return get(config)
    return REGISTRY.from_config_dict(config)


def get(identifier):
    """A callback from an instance, a registered name (default arguments) or a config dict."""
    if isinstance(identifier, Callback):
        return identifier
    if isinstance(identifier, str):
        return REGISTRY.lookup(identifier)()
    if isinstance(identifier, dict):
        return REGISTRY.from_config_dict(identifier)
    raise ValueError(f"Could not interpret callback {identifier!r}; valid names: {', '.join(REGISTRY.names())}")


@REGISTRY.register("ModelCheckpoint")
class ModelCheckpoint(_MonitorMixin, Callback):
    """Save the model (or only its weights) during training.

    Args:
        filepath: where to save; may name ``{epoch}`` (1-based) and log keys with format specs,
            e.g. ``"ckpt/model-{epoch:02d}-{val_loss:.3f}.fw"``. Saves are atomic.
        monitor, mode: what "best" means for ``save_best_only`` (as EarlyStopping).
        save_best_only: save only when the monitored value improves on the best so far.
        save_weights_only: write ``model.save_weights`` files instead of whole models.
        save_freq: ``"epoch"``, or a number of batches between saves.
        initial_value_threshold: the value the monitored quantity must beat before the first save.
        verbose: 1 prints a line per save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive integer, received {save_freq!r}")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _check_mode("ModelCheckpoint", mode, "ModelCheckpoint mode {mode} is unknown, fallback to auto mode.")
        self.save_freq, self.initial_value_threshold = save_freq, initial_value_threshold
        self.best, self.monitor_op, self.min_delta = initial_value_threshold, None, 0.0
        self._epoch, self._batches = 0, 0

    def get_config(self):
        return {"filepath": self.filepath, "monitor": self.monitor, "verbose": self.verbose,
                "save_best_only": self.save_best_only, "save_weights_only": self.save_weights_only,
                "mode": self.mode, "save_freq": self.save_freq, "initial_value_threshold": self.initial_value_threshold}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill in filepath {self.filepath!r} ({e!r}); available "
                             f"fields: epoch, batch, {', '.join(logs) or 'no logs'}") from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available; available: "
                              f"{','.join(logs)}", stacklevel=3)
                return
            if self.monitor_op is None:
                self._set_monitor_op()
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    _print_msg(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best}")
                return
            if self.verbose > 0:
                _print_msg(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {current}, "
                           f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            _print_msg(f"Epoch {epoch + 1}: saving model to {path}")
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)


@REGISTRY.register("BackupAndRestore")
class BackupAndRestore(Callback):
    """Back up the whole training state so an interrupted ``fit`` resumes where it stopped.

    At the start of ``fit`` a backup in ``backup_dir`` is restored (weights, optimizer state,
    random generators, epochs done) and training continues at the next epoch, giving the
    same result as an uninterrupted run. The backup is deleted when ``fit`` completes.

    Args:
        backup_dir: folder for the backup file.
        save_freq: ``"epoch"`` or a number of batches between backups (a mid-epoch backup
            resumes at the start of that epoch).
        delete_checkpoint: delete the backup when training finishes.
    """

    FILENAME = "backup.fw"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive integer, received {save_freq!r}")
        self.backup_dir, self.save_freq, self.delete_checkpoint = os.fspath(backup_dir), save_freq, delete_checkpoint
        self._batches = 0

    @property
    def path(self):
        return os.path.join(self.backup_dir, self.FILENAME)

    def get_config(self):
        return {"backup_dir": self.backup_dir, "save_freq": self.save_freq,
                "delete_checkpoint": self.delete_checkpoint}

    def on_train_begin(self, logs=None):
        if os.path.exists(self.path):
            from framework.saving.archive import restore_checkpoint
            restore_checkpoint(self.model, self.path)
            self.model._resume_epoch = self.model._epochs_done

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self.model.save(self.path)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self.model.save(self.path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.path) and not getattr(self.model, "_interrupted", False):
            os.remove(self.path)
