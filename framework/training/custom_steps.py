"""Custom training steps: ``train_step``, ``test_step`` and ``predict_step`` overrides, run by ``fit``,
``evaluate`` and ``predict`` as Keras runs them.

A model class that overrides one of the step methods gets the loop of this module for that method:
the data is cut into batches (arrays: ``batch_size`` rows, shuffled with the seeded generator as the
built-in loop does; a generator or ``PyDataset``: its batches as they come), each batch reaches the
step as Keras gives it (``x``, ``(x, y)`` or ``(x, y, sample_weight)``), and the dict the step returns is
the batch's logs: callbacks, ``History``, the progress bar, validation (through ``test_step``),
``steps_per_epoch`` and ``stop_training`` work as in the built-in loop. The metrics in
``model.metrics`` are reset at the start of every epoch and of every evaluation. A model that does
not override a step runs the built-in compiled loop unchanged.

The default steps (what ``super().train_step(data)`` runs) use the gradient tape, ``compute_loss``,
``optimizer.apply`` and ``compute_metrics``, as Keras's do.
"""
import math

import numpy as np

from framework.callbacks import History
from framework.metrics import Mean, Metric
from framework.plan.buffers import LentArray
from framework.training.batches import is_stream
from framework.training.dataset_adapters import DatasetBatches, is_dataset, refuse_targets, to_numpy, \
    warn_shuffle_ignored
from framework.training.tape import GradientTape, record_penalties, recording_tapes
from framework.utils.data import unpack_x_y_sample_weight
from framework.utils.random import global_generator



class CustomSteps:
    """Mixed into Model before the built-in loops: the step methods, ``compute_loss``,
    ``compute_metrics`` and the Keras 3 ``metrics`` list, and the loops that run overridden steps."""

    # ----- the steps (Keras's defaults) ----------------------------------------------------------
    def train_step(self, data):
        """One optimization step on ``data``; returns the logs (a dict of metric results)."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        self._loss_tracker.update_state(float(loss), sample_weight=_rows(x))
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        """Loss and metrics on ``data``; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        self._loss_tracker.update_state(float(loss), sample_weight=_rows(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The model's outputs for the inputs of ``data``."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    # ----- losses and metrics ----------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled losses of ``y`` and ``y_pred`` (weighted by ``loss_weights``), plus the
        ``add_loss`` terms of the model's last call and the weights' regularization penalties.
        Inside a ``GradientTape`` every part is recorded, so its gradient can be taken."""
        total = None
        specs = self._training_setup() if self.compiled_loss_given() else []
        ys = _per_output(y, len(specs), getattr(self, "output_names", None))
        preds = _per_output(y_pred, len(specs), getattr(self, "output_names", None))
        for spec, target, pred in zip(specs, ys, preds):
            if spec.loss is not None:
                term = spec.loss(target, pred, sample_weight)
                total = _plus(total, term if spec.weight == 1.0 else term * spec.weight)
        for term in self.losses:
            total = _plus(total, term)
        return 0.0 if total is None else total

    def compiled_loss_given(self):
        """True when ``compile`` was given a loss."""
        arguments = self.compile_arguments or {}
        loss = arguments.get("loss")
        return self.compiled and loss is not None and loss != [] and loss != {}

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with ``y`` and ``y_pred``; returns every metric's result."""
        specs = self._specs or []
        ys = _per_output(y, len(specs), getattr(self, "output_names", None))
        preds = _per_output(y_pred, len(specs), getattr(self, "output_names", None))
        for spec, target, pred in zip(specs, ys, preds):
            for metric in spec.metrics:
                metric.update_state(np.asarray(target), np.asarray(pred))
            for metric in spec.weighted_metrics:
                metric.update_state(np.asarray(target), np.asarray(pred), sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """``{name: result}`` of every metric in ``self.metrics``."""
        return _plain_logs({m.name: m.result() for m in self.metrics})

    @property
    def losses(self):
        """The ``add_loss`` terms of the model's last call and its weights' regularization penalties.
        Inside a ``GradientTape`` they are recorded values, so ``loss + sum(model.losses)`` has a gradient."""
        if "_tape_losses" not in self.__dict__ and not recording_tapes():
            return super().losses
        regularized = [v for v in self.trainable_weights if v.regularizer is not None]
        return list(self.__dict__.get("_tape_losses", ())) + ([record_penalties(regularized)] if regularized else [])

    @property
    def _loss_tracker(self):
        tracker = self.__dict__.get("_loss_tracker_metric")
        if tracker is None:
            tracker = self.__dict__["_loss_tracker_metric"] = Mean(name="loss")
        return tracker

    @property
    def metrics(self):
        """The metrics ``fit`` resets every epoch, as Keras 3 lists them: the loss tracker and the
        compiled metrics (after ``compile``), then the ``Metric`` objects the model keeps in its
        attributes. A subclass overrides this property to list its own trackers."""
        found = ([self._loss_tracker] + self._all_metrics()) if self.compiled else []
        for key, value in vars(self).items():
            if isinstance(value, Metric) and not key.startswith("_") and all(value is not m for m in found):
                found.append(value)
        return found

    def reset_metrics(self):
        super().reset_metrics()
        for metric in self.metrics:
            metric.reset_state()

    # ----- dispatch ----------------------------------------------------------------------------------
    def overrides_step(self, name):
        """True when the model's class overrides the step ``name`` ('train_step', ...)."""
        return getattr(type(self), name) is not getattr(CustomSteps, name)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        if not self.overrides_step("train_step"):
            return super().fit(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                               shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch,
                               validation_steps, validation_batch_size, validation_freq)
        if not self.training_lock.acquire(blocking=False):
            raise RuntimeError(f"Model '{self.name}' is already being trained by fit() in another thread")
        try:
            return _custom_fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                               validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                               steps_per_epoch, validation_steps, validation_batch_size, validation_freq)
        finally:
            self.training_lock.release()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        with self.evaluation_lock:  # evaluations from several threads take turns, each exact
            return self._evaluate(x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict)

    def _evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict):
        if not self.overrides_step("test_step"):
            return super().evaluate(x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict)
        batches = _Batches(x, y, sample_weight, batch_size, False, steps)
        cbs = self._callbacks(callbacks, None, verbose, steps=batches.steps)
        logs = _custom_evaluate(self, batches, cbs, in_fit=False)
        return logs if return_dict else _log_list(logs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        if not self.overrides_step("predict_step"):
            return super().predict(x, batch_size, verbose, steps, callbacks)
        batches = _Batches(x, None, None, batch_size, False, steps)
        cbs = self._callbacks(callbacks, None, verbose, steps=batches.steps)
        pieces = []
        cbs.on_predict_begin()
        for step, data in enumerate(batches.epoch()):
            cbs.on_predict_batch_begin(step)
            pieces.append(self.predict_step(data))
            cbs.on_predict_batch_end(step, {"outputs": pieces[-1]})
        cbs.on_predict_end()
        if not pieces:
            raise ValueError("predict() received no batches")
        return _concatenate(pieces)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        if not self.overrides_step("train_step"):
            return super().train_on_batch(x, y, sample_weight, class_weight, return_dict)
        _refuse_class_weight(class_weight)
        logs = _plain_logs(self.train_step(_pack(x, y, sample_weight)))
        return logs if return_dict else _log_list(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        if not self.overrides_step("test_step"):
            return super().test_on_batch(x, y, sample_weight, return_dict)
        logs = _plain_logs(self.test_step(_pack(x, y, sample_weight)))
        return logs if return_dict else _log_list(logs)

    def predict_on_batch(self, x):
        if not self.overrides_step("predict_step"):
            return super().predict_on_batch(x)
        return self.predict_step(x)


# ----- the loops -------------------------------------------------------------------------------------
def _custom_fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
                class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                validation_batch_size, validation_freq):
    _refuse_class_weight(class_weight)
    if model.optimizer is None:
        raise ValueError(f"Model '{model.name}' overrides train_step but was not compiled: call compile() "
                         "(with the optimizer its train_step uses) before fit()")
    train = _Batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, resume=True)
    val = None
    if validation_data is None and validation_split:
        train, val = train.split(validation_split, validation_batch_size or batch_size, validation_steps)
    elif validation_data is not None:
        val = _Batches(*_validation(validation_data), validation_batch_size or batch_size, False, validation_steps)
    history = model.history = History()
    cbs = model._callbacks(callbacks, history, verbose, epochs=epochs, steps=train.steps,
                           batch_size=None if train.stream else train.batch_size)
    model.stop_training = False
    cbs.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        for metric in model.metrics:
            metric.reset_state()
        cbs.on_epoch_begin(epoch)
        epoch_logs, seen = {}, 0
        for step, data in enumerate(train.epoch()):
            cbs.on_train_batch_begin(step)
            epoch_logs = _plain_logs(model.train_step(data))
            seen += 1
            cbs.on_train_batch_end(step, epoch_logs)
            if model.stop_training:
                break
        if seen == 0:
            break
        logs = dict(epoch_logs)
        if val is not None and (epoch + 1) % validation_freq == 0:
            val_logs = _custom_evaluate(model, val, cbs)
            logs.update({"val_" + k: v for k, v in val_logs.items()})
        model.epochs_done = epoch + 1
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return history


def _custom_evaluate(model, batches, cbs, in_fit=True):
    for metric in model.metrics:
        metric.reset_state()
    cbs.params["in_fit"] = in_fit
    cbs.on_test_begin()
    logs = {}
    for step, data in enumerate(batches.epoch()):
        cbs.on_test_batch_begin(step)
        logs = _plain_logs(model.test_step(data))
        cbs.on_test_batch_end(step, logs)
    cbs.on_test_end(logs)
    cbs.params["in_fit"] = False
    return logs


class _Batches:
    """Batches as a custom step receives them: ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` slices of
    arrays (lists and dicts of arrays sliced alike), or what a generator / PyDataset / dataset yields (its
    tensors made NumPy arrays; a dataset's epochs follow Keras's rules, see ``dataset_adapters.py``).

    Args:
        x, y, sample_weight: the data, as given to fit / evaluate / predict.
        batch_size: rows per batch (default 32).
        shuffle: a new seeded order every epoch (arrays).
        steps: batches per epoch (default: all of the data; a generator: until it ends).
        resume: a dataset's epochs continue where the last one stopped (training with steps).
    """

    def __init__(self, x, y, sample_weight, batch_size, shuffle, steps, resume=False):
        self.stream = is_stream(x)
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = int(batch_size or 32)
        self.shuffle = shuffle
        if self.stream:
            refuse_targets(x, y, sample_weight)
            self.source = DatasetBatches(x, steps, resume) if is_dataset(x) else None
            if shuffle and self.source is not None:
                warn_shuffle_ignored(x)
            self.steps = self.source.steps if self.source is not None else int(steps) if steps is not None \
                else (len(x) if hasattr(x, "__len__") else None)
            return
        self.n = _rows(x)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None and _rows(value) != self.n:
                raise ValueError(f"x has {self.n} samples but {name} has {_rows(value)}")
        if self.n == 0:
            raise ValueError("The data has no samples")
        full = math.ceil(self.n / self.batch_size)
        self.steps = full if steps is None else min(int(steps), full)

    def split(self, fraction, val_batch_size, val_steps):
        if self.stream:
            raise ValueError("validation_split needs arrays; with a generator or PyDataset pass validation_data")
        if not 0 < fraction < 1:
            raise ValueError(f"validation_split must be in (0, 1), received {fraction}")
        cut = int(self.n * (1 - fraction))
        if cut in (0, self.n):
            raise ValueError(f"validation_split={fraction} leaves no training or validation samples of {self.n}")
        head = _Batches(*(_take(a, slice(0, cut)) for a in (self.x, self.y, self.sample_weight)),
                        self.batch_size, self.shuffle, None)
        tail = _Batches(*(_take(a, slice(cut, None)) for a in (self.x, self.y, self.sample_weight)),
                        val_batch_size, False, val_steps)
        return head, tail

    def epoch(self):
        if self.stream and self.source is not None:
            yield from self.source.epoch()
            return
        if self.stream:
            source = iter(self.x) if not hasattr(self.x, "__getitem__") or not hasattr(self.x, "__len__") \
                else (self.x[i] for i in range(len(self.x)))
            for step, batch in enumerate(source):
                if self.steps is not None and step >= self.steps:
                    break
                yield to_numpy(batch)
            if hasattr(self.x, "on_epoch_end"):
                self.x.on_epoch_end()
            return
        order = global_generator().permutation(self.n) if self.shuffle else None
        arrays = _GatheredRows()
        for step in range(self.steps):
            rows = slice(step * self.batch_size, min((step + 1) * self.batch_size, self.n))
            if order is None:  # slices: views, no copy
                yield _pack(_take(self.x, rows), _take(self.y, rows), _take(self.sample_weight, rows))
            else:
                index = order[rows]
                yield _pack(*(arrays.take(slot, value, index)
                              for slot, value in enumerate((self.x, self.y, self.sample_weight))))


def _plus(total, term):
    return term if total is None else total + term


class _GatheredRows:
    """Shuffled rows of arrays gathered for the step, into an array gathered for an earlier batch that the
    step has let go of (``LentArray``), else into a new one. The loop still holds the last batch while it
    asks for the next, so each input keeps two such arrays in turn. A step that keeps its batch keeps it
    intact. Lists and dicts of arrays are gathered into new arrays."""

    KEPT = 2  # arrays kept per input

    def __init__(self):
        self.kept = {}  # (slot, i) -> LentArray

    def take(self, slot, value, index):
        if type(value) is not np.ndarray:
            return _take(value, index)
        shape = (len(index),) + value.shape[1:]
        for i in range(self.KEPT):
            lent = self.kept.setdefault((slot, i), LentArray())
            if lent.array is None or lent.array.shape != shape or lent.array.dtype != value.dtype:
                return lent.renew(lambda: np.take(value, index, axis=0))  # none yet, or of another shape
            if lent.free():
                np.take(value, index, axis=0, out=lent.array)
                return lent.array
        return np.take(value, index, axis=0)  # every kept array is held: a new one


def _take(value, index):
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _take(v, index) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_take(v, index) for v in value)
    return np.asarray(value)[index]


def _rows(value):
    if isinstance(value, dict):
        value = next(iter(value.values()))
    if isinstance(value, (list, tuple)):
        value = value[0]
    return len(value)


def _pack(x, y, sample_weight):
    if y is None and sample_weight is None:
        return x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def _validation(data):
    if isinstance(data, tuple) and len(data) in (2, 3):
        return data if len(data) == 3 else (data[0], data[1], None)
    if is_stream(data):
        return data, None, None
    raise ValueError("validation_data must be (x, y), (x, y, sample_weight), a dataset, a generator or a PyDataset")


def _per_output(value, count, names):
    if count <= 1:
        return [value]
    if isinstance(value, dict):
        return [value[n] for n in names]
    return list(value)


def _plain_logs(logs):
    """A step's logs as plain numbers (nested dicts flattened, as Keras's ``compile_metrics``)."""
    if logs is None:
        return {}
    if not isinstance(logs, dict):
        raise TypeError(f"train_step/test_step must return a dict of logs, returned {type(logs).__name__}")
    out = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            out.update(_plain_logs(value))
            continue
        array = np.asarray(value)
        out[key] = float(array) if array.ndim == 0 else np.array(array)
    return out


def _log_list(logs):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _concatenate(pieces):
    first = pieces[0]
    if isinstance(first, dict):
        return {k: np.concatenate([np.asarray(p[k]) for p in pieces]) for k in first}
    if isinstance(first, (list, tuple)):
        return [np.concatenate([np.asarray(p[i]) for p in pieces]) for i in range(len(first))]
    return np.concatenate([np.asarray(p) for p in pieces])


def _refuse_class_weight(class_weight):
    if class_weight is not None:
        raise ValueError("class_weight with an overridden train_step: weight the samples in the step "
                         "(pass sample_weight to fit), the step receives them in its data")
