"""The training loop: compile, fit, evaluate, predict, *_on_batch, and model(x).

The loop owns batching (a seeded shuffle and a gather straight into the
plan's input buffers), runs the plan's bound steps, keeps streaming metrics
and fires callbacks with Keras's hook names and ``logs`` dicts.
"""
import math
import threading
import warnings

import numpy as np

from framework import backend, optimizers
from framework import callbacks as callbacks_module, losses as losses_module, metrics as metrics_module
from framework.callbacks import CallbackList, History, ProgbarLogger, clear_live_lines
from framework.graph.flattening import has_loss_terms
from framework.graph.shapes import format_shape
from framework.plan.cache import PlanCache
from framework.plan.compiler import LossSpec, compile_plan
from framework.training import data as data_adapter, parallel
from framework.training.inference import serving_rows
from framework.training.traced_loss import TracedLoss
from framework.training.batches import ArrayBatches, StreamBatches, fill_batch, is_stream, sample_shapes, source_views


class Trainer:
    """Mixed into Model: everything that runs a model on data."""

    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.compile_arguments = None  # compile()'s loss, loss_weights, metrics, weighted_metrics as given
        self.plan_cache = PlanCache()
        self.training_lock = threading.Lock()  # one fit at a time per model (fit refuses a second thread)
        self.evaluation_lock = threading.RLock()  # evaluations take turns (the metrics are the model's state)
        self._specs = None
        self._loss_totals = None
        self._compiled_trainable = None
        self._resume_epoch = None
        self.epochs_done = 0  # epochs completed by fit: saved with the model, so training resumes there

    # ----- compile -------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                auto_scale_loss=True):
        """Configure training: optimizer, loss(es), loss weights and metrics, as in Keras."""
        self.optimizer = optimizers.get(optimizer)
        for item in (loss.values() if _per_output_dict(loss) else loss if isinstance(loss, (list, tuple)) else [loss]):
            _trainable_loss(item)
        self.compile_arguments = dict(loss=loss, loss_weights=loss_weights, metrics=metrics,
                                      weighted_metrics=weighted_metrics)
        self.compiled = True
        self._specs = None
        self.plan_cache.clear()
        # as in Keras, which weights train is decided now: set layer.trainable before compile()
        self._compiled_trainable = list(self.trainable_weights) if self.built and self.outputs else None
        if getattr(self, "built", False) and self.outputs and not self.overrides_step("train_step"):
            self._training_setup()

    def _per_output(self, value, what):
        names = self.output_names
        if _per_output_dict(value):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"compile({what}=...): unknown output name(s) {unknown}; outputs are {names}")
            return [value.get(n) for n in names]
        if isinstance(value, (list, tuple)) and len(names) > 1 and what != "metrics-flat":
            if len(value) != len(names):
                raise ValueError(f"compile({what}=...): the model has {len(names)} outputs ({', '.join(names)}), "
                                 f"received a list of {len(value)}")
            return list(value)
        return [value] * len(names)

    def _training_setup(self):
        """Resolve losses and metrics per output once the output shapes are known."""
        if self._specs is not None:
            return self._specs
        cfg = self.compile_arguments
        names = self.output_names
        losses = [_trainable_loss(l) for l in self._per_output(cfg["loss"], "loss")]
        if all(l is None for l in losses) and not has_loss_terms(self):
            raise ValueError(f"Model '{self.name}' was compiled without a loss and none of its layers adds one "
                             "(add_loss); pass loss= to compile()")
        weights = self._per_output(1.0 if cfg["loss_weights"] is None else cfg["loss_weights"], "loss_weights")
        specs = []
        for i, (name, loss, weight) in enumerate(zip(names, losses, weights)):
            spec = LossSpec(loss, 1.0 if weight is None else weight)
            y_pred_shape = self.outputs[i].shape
            y_true_shape = spec.target_shape(y_pred_shape)
            for key in ("metrics", "weighted_metrics"):
                for ident in self._metric_list(cfg[key], i):
                    getattr(spec, key).append(self._make_metric(ident, loss, y_true_shape, y_pred_shape))
            taken = {m.name for m in spec.metrics}
            for metric in spec.weighted_metrics:
                if metric.name in taken:  # Keras 3 names the weighted twin 'weighted_<name>'
                    metric.name = "weighted_" + metric.name
            specs.append(spec)
        self._specs = specs
        return specs

    def _metric_list(self, metrics, index):
        """Metrics of output ``index``: a dict by output name, or (several outputs) a list with
        one entry per output, as Keras 3 pairs them; a single output takes the whole list."""
        if metrics is None:
            return []
        if _per_output_dict(metrics):
            chosen = metrics.get(self.output_names[index], [])
        elif len(self.outputs) > 1:
            if not isinstance(metrics, (list, tuple)) or len(metrics) != len(self.outputs):
                raise ValueError(
                    f"Model '{self.name}' has {len(self.outputs)} outputs ({', '.join(self.output_names)}); "
                    f"pass metrics as a dict by output name or a list with one entry (a metric or a list "
                    f"of metrics) per output, received {metrics!r}")
            chosen = metrics[index] or []
        else:
            chosen = metrics
        return list(chosen) if isinstance(chosen, (list, tuple)) else [chosen]

    def _make_metric(self, ident, loss, y_true_shape, y_pred_shape):
        """A fresh metric per output, resolved and named as Keras's compile does."""
        metric = metrics_module.compile_metric(ident, y_true_shape, y_pred_shape, loss=loss)
        if isinstance(ident, metrics_module.Metric) and len(self.outputs) > 1:
            metric = type(ident).from_config(ident.get_config())
        if isinstance(ident, str):
            metric.name = ident
        return metric

    def _require_compiled(self):
        if not self.compiled:
            raise ValueError(f"You must call compile() before using model '{self.name}' for training or "
                             "evaluation: model.compile(optimizer, loss, metrics)")

    # ----- arena and plans ---------------------------------------------------------------------
    def arena_dtype(self):
        """The dtype of the parameter arena and of the plans' buffers: the weights' own."""
        weights = self.weights
        return np.dtype(weights[0].dtype) if weights else backend.standardize_dtype()

    def parameter_arena(self):
        """The weights packed for training (``framework.plan.cache.ParameterArena``): the trainable
        ones (as compile() saw them) form one contiguous run, with gradients of the same layout."""
        if self.compiled and self._compiled_trainable is None:
            self._compiled_trainable = list(self.trainable_weights)  # built after compile()
        trainable = self._compiled_trainable if self.compiled else self.trainable_weights
        trained = {id(v) for v in trainable}
        return self.plan_cache.arena(trainable, [v for v in self.weights if id(v) not in trained],
                                     self.arena_dtype())

    def plan(self, mode, batch_size, training=None, input_shapes=None):
        """The plan for ``mode`` ('train', 'eval', 'predict') and ``batch_size``, compiled on first
        use. ``input_shapes``, the batch's sample shapes, choose the plan of a model declared with
        unknown sizes; ``training`` overrides the mode's training flag (``model(x, training=True)``).
        For one thread's use (training); inference from several threads uses ``plan_in_use``."""
        key = self._plan_key(mode, batch_size, training, input_shapes)
        with self.plan_cache.guard:
            plan = self.plan_cache.get(key)
            if plan is None:
                plan = self._compile_plan(key)
                self.plan_cache.put(key, plan)
            return plan

    def plan_in_use(self, mode, batch_size, training=None, input_shapes=None):
        """Context manager: a plan like ``plan()``'s that no other thread runs until the block ends."""
        key = self._plan_key(mode, batch_size, training, input_shapes)
        return self.plan_cache.checkout(key, lambda: self._compile_plan(key))

    def _plan_key(self, mode, batch_size, training, input_shapes):
        return mode, batch_size, training, self._known_shapes(input_shapes)

    def _compile_plan(self, key):
        mode, batch_size, training, shapes = key
        with self.plan_cache.guard:
            arena = self.parameter_arena()
            specs = self._training_setup() if mode != "predict" else None
            grad_views, step = {}, None
            if mode == "train":
                if arena.optimizer_step is None:
                    arena.optimizer_step = self.optimizer.bind(arena.params, arena.grads, segments=arena.segments)
                grad_views, step = arena.grad_views, arena.optimizer_step
            return compile_plan(self, mode, batch_size, self.arena_dtype(), specs, grad_views, step,
                                training=training, input_shapes=shapes)

    def _known_shapes(self, input_shapes):
        """None for a model whose sizes are all declared; else the batch's sample shapes, required."""
        if not getattr(self, "_unknown_sizes", False):
            return None
        if input_shapes is None:
            declared = ", ".join(format_shape(t.shape) for t in self.inputs)
            raise ValueError(f"Model '{self.name}' has inputs of unknown size ({declared}); its plans are made "
                             "for the shapes of a batch of data, so run it on data (fit, evaluate, predict, "
                             "model(x)) rather than asking for a plan by batch size alone")
        return tuple(tuple(int(d) for d in shape) for shape in input_shapes)

    def _output_shapes(self, xs):
        """The outputs' shapes for inputs ``xs``: as declared, or for a model with unknown sizes,
        traced at the sizes of ``xs`` (once per shape), so targets are checked exactly."""
        if not getattr(self, "_unknown_sizes", False):
            return [t.shape for t in self.outputs]
        key = sample_shapes(xs)
        if key not in self._traced_output_shapes:
            _, output_keys, _, tensors, _ = self.flat_graph(key)
            self._traced_output_shapes[key] = [tensors[k].shape for k in output_keys]
        return self._traced_output_shapes[key]

    # ----- data ------------------------------------------------------------------------------
    def _prepare(self, x, y=None, sample_weight=None, class_weight=None, need_targets=True):
        xs = data_adapter.adapt_inputs(self, x)
        if not need_targets and len(xs) == 1 and self.built:
            return xs, None, None
        if not getattr(self, "built", False) or not self.outputs:
            self.build_from_data(xs)
            xs = data_adapter.adapt_inputs(self, x)
        if not need_targets:
            data_adapter.check_sample_counts([("x", xs)])
            return xs, None, None
        specs = self._training_setup()
        target_shapes = [s.target_shape(shape) for s, shape in zip(specs, self._output_shapes(xs))]
        if y is None and all(s.loss is None and not s.metrics and not s.weighted_metrics for s in specs):
            y = _no_targets(xs, target_shapes)  # the losses come from add_loss alone
        if y is None:
            raise ValueError(f"Model '{self.name}' needs targets y for training and evaluation")
        loss_names = [getattr(s.loss, "name", None) for s in specs]
        ys = data_adapter.adapt_targets(y, self.output_names, target_shapes, loss_names)
        sws = data_adapter.sample_weights_per_output(sample_weight, class_weight, ys, self.output_names, self.outputs)
        data_adapter.check_sample_counts([("x", xs), ("y", ys), ("sample_weight", sws)])
        return xs, ys, sws

    def build_from_data(self, arrays):
        raise ValueError(f"Model '{self.name}' is not built")

    # ----- metrics state ---------------------------------------------------------------------
    def _all_metrics(self):
        specs = self._specs or []
        return [m for s in specs for m in s.metrics + s.weighted_metrics]

    @property
    def metrics(self):
        return self._all_metrics()

    @property
    def metrics_names(self):
        return list(self._result_names())

    def reset_metrics(self):
        self._loss_totals = None
        for m in self._all_metrics():
            m.reset_state()

    def _result_names(self):
        specs = self._training_setup()
        names = ["loss"]
        multi = len(specs) > 1
        if multi:
            names += [f"{n}_loss" for n, s in zip(self.output_names, specs) if s.loss is not None]
        for n, s in zip(self.output_names, specs):
            names += [f"{n}_{m.name}" if multi else m.name for m in s.metrics + s.weighted_metrics]
        return names

    def _track_loss(self, plan, total, count):
        t = self._loss_totals
        if t is None:
            t = self._loss_totals = [0.0, 0.0, [0.0] * len(plan.loss_values)]
        t[0] += total * count
        t[1] += count
        for i, v in enumerate(plan.loss_values):
            t[2][i] += v * count

    def _results(self):
        specs = self._specs
        t = self._loss_totals or [0.0, 0.0, [0.0] * len(specs)]
        count = t[1] or 1.0
        logs = {"loss": t[0] / count}
        multi = len(specs) > 1
        if multi:
            for n, s, v in zip(self.output_names, specs, t[2]):
                if s.loss is not None:
                    logs[f"{n}_loss"] = v / count
        for n, s in zip(self.output_names, specs):
            for m in s.metrics + s.weighted_metrics:
                logs[f"{n}_{m.name}" if multi else m.name] = _log_value(m.result())
        return logs

    # ----- fit -------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a History whose ``history`` dict holds the logs.

        ``x`` may be arrays (with ``y``), a generator yielding ``(x, y)`` or
        ``(x, y, sample_weight)`` batches, or a ``framework.utils.PyDataset``. One fit runs at a
        time on a model: a second thread's fit is refused (predict may run beside it).
        """
        if not self.training_lock.acquire(blocking=False):
            raise RuntimeError(f"Model '{self.name}' is already being trained by fit() in another thread; "
                               "train a model from one thread at a time (predict and evaluate may run beside it)")
        try:
            return self._fit(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
                             class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                             validation_batch_size, validation_freq)
        finally:  # an interrupted fit (Ctrl-C) leaves no half-drawn progress line
            self.training_lock.release()
            clear_live_lines()

    def _fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
             class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps, validation_batch_size,
             validation_freq):
        self._require_compiled()
        batch_size = _batch_size(batch_size)
        train, val = self._training_batches(x, y, sample_weight, class_weight, batch_size, shuffle,
                                            steps_per_epoch, validation_split, validation_data,
                                            validation_steps, validation_batch_size)
        train, val = parallel.current.shard_batches(self, train, val)  # data-parallel: this process's shards
        history = self.history = History()  # set first, as Keras: callbacks may read model.history
        cbs = self._callbacks(callbacks, history, verbose, epochs=epochs, steps=train.steps,
                              batch_size=getattr(train, "batch_size", None))
        self.stop_training = self._nan_reported = False
        self._resume_epoch = None
        cbs.on_train_begin()
        if self._resume_epoch is not None:  # a callback restored a backup (resume_from_epoch)
            initial_epoch = max(initial_epoch, self._resume_epoch)
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            seen = 0
            for step, (size, shapes, load) in enumerate(train.epoch()):
                plan = self.plan("train", size, input_shapes=shapes)
                cbs.on_train_batch_begin(step)
                load(plan)
                loss = plan.train_step()
                if not math.isfinite(loss):
                    self._report_nan(loss, epoch, step)
                self._track_loss(plan, loss, size)
                seen += 1
                cbs.on_train_batch_end(step, self._results())
                if self.stop_training:
                    break
            if seen == 0:
                warnings.warn(f"Epoch {epoch + 1}: the training data ran out (a generator without "
                              "steps_per_epoch is used up after one epoch); stopping", RuntimeWarning, stacklevel=2)
                break
            logs = self._results()
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._run_evaluation(val, cbs)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            self.epochs_done = epoch + 1
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        arena = self.plan_cache.current_arena()
        if epochs > initial_epoch and arena is not None:
            self.optimizer.finalize_variable_values(arena.params)  # EMA weights, as Keras
        cbs.on_train_end(logs)
        return history

    def _training_batches(self, x, y, sample_weight, class_weight, batch_size, shuffle, steps,
                          validation_split, validation_data, validation_steps, validation_batch_size):
        """The training batch source and the validation one (or None)."""
        val_batch = _batch_size(validation_batch_size or batch_size)
        if is_stream(x):
            if validation_split:
                raise ValueError("validation_split needs arrays; with a generator or PyDataset pass validation_data")
            train = StreamBatches(self, x, steps, shuffle, class_weight=class_weight, y=y, sample_weight=sample_weight,
                                  resume=True)
        else:
            xs, ys, sws = self._prepare(x, y, sample_weight, class_weight)
            n = len(xs[0])
            if validation_data is None and validation_split:
                if not 0 < validation_split < 1:
                    raise ValueError(f"validation_split must be in (0, 1), received {validation_split}")
                split = int(n * (1 - validation_split))
                if split == 0 or split == n:
                    raise ValueError(f"validation_split={validation_split} leaves no training or validation "
                                     f"samples out of {n}")
                head = lambda arrays: [None if a is None else a[:split] for a in arrays]  # noqa: E731
                tail = lambda arrays: [None if a is None else a[split:] for a in arrays]  # noqa: E731
                validation = ArrayBatches(tail(xs), tail(ys), tail(sws), val_batch, steps=validation_steps)
                return ArrayBatches(head(xs), head(ys), head(sws), batch_size, shuffle, steps), validation
            if n == 0:
                raise ValueError("fit() received no samples")
            train = ArrayBatches(xs, ys, sws, batch_size, shuffle, steps)
        if validation_data is None:
            return train, None
        if is_stream(validation_data):
            return train, StreamBatches(self, validation_data, validation_steps)
        xs, ys, sws = self._prepare(*_unpack_validation(validation_data))
        return train, ArrayBatches(xs, ys, sws, val_batch, steps=validation_steps)

    def _report_nan(self, loss, epoch, step):
        if not self._nan_reported:
            self._nan_reported = True
            warnings.warn(f"Loss became {loss} at epoch {epoch + 1}, batch {step + 1} of model '{self.name}'; "
                          "check the learning rate and the data for NaN/Inf values", RuntimeWarning, stacklevel=3)

    def _callbacks(self, callbacks, history=None, verbose="auto", **params):
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = [callbacks_module.get(c) for c in (callbacks or [])]
        if history is not None:
            cbs.append(history)
        if verbose and not any(isinstance(c, ProgbarLogger) for c in cbs):
            cbs.append(ProgbarLogger(verbose))
        params.update(verbose=verbose)
        return CallbackList(parallel.current.arrange_callbacks(self, cbs, history is not None), self, params)

    # ----- evaluate --------------------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on (x, y) (or a generator / PyDataset): a scalar, a list in
        ``metrics_names`` order, or a dict."""
        self._require_compiled()
        if is_stream(x):
            batches = StreamBatches(self, x, steps, y=y, sample_weight=sample_weight)
        else:
            xs, ys, sws = self._prepare(x, y, sample_weight)
            batches = ArrayBatches(xs, ys, sws, _batch_size(batch_size), steps=steps)
        cbs = self._callbacks(callbacks, None, verbose, steps=batches.steps)
        logs = self._run_evaluation(batches, cbs, in_fit=False)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _run_evaluation(self, batches, cbs, in_fit=True):
        self.reset_metrics()
        cbs.params["in_fit"] = in_fit
        penalty = self._penalty()
        cbs.on_test_begin()
        for step, (size, shapes, load) in enumerate(batches.epoch()):
            plan = self.plan("eval", size, input_shapes=shapes)
            cbs.on_test_batch_begin(step)
            load(plan)
            self._track_loss(plan, plan.eval_step() + penalty, size)
            cbs.on_test_batch_end(step, self._results())
        logs = self._results()
        cbs.on_test_end(logs)
        cbs.params["in_fit"] = False
        return logs

    def _penalty(self):
        """Regularization penalty of the current weights (added to reported losses)."""
        total = 0.0
        for v in self.trainable_weights:
            if v.regularizer is not None:
                total += float(v.regularizer(v.value))
        return total

    # ----- predict ---------------------------------------------------------------------------
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` (arrays, a generator or a PyDataset) in batches: an array, or a
        list/dict for several outputs."""
        batch_size = _batch_size(batch_size)
        if is_stream(x):
            batches = StreamBatches(self, x, steps, need_targets=False)
        else:
            xs, _, _ = self._prepare(x, need_targets=False)
            if len(xs[0]) <= batch_size and verbose == 0 and not callbacks and steps is None:
                return self._run_single_batch(xs, None)
            batches = ArrayBatches(xs, None, None, batch_size, steps=steps)
        cbs = self._callbacks(callbacks, None, verbose, steps=batches.steps)
        pieces = []
        cbs.on_predict_begin()
        for step, (size, shapes, load) in enumerate(batches.epoch()):
            cbs.on_predict_batch_begin(step)
            with self.plan_in_use("predict", serving_rows(self, size, batch_size), input_shapes=shapes) as plan:
                load(plan, count=size)
                plan.run_forward()
                pieces.append([o[:size].copy() for o in plan.outputs])
            cbs.on_predict_batch_end(step, {"outputs": self._structure_outputs(pieces[-1])})
        cbs.on_predict_end()
        if not pieces:
            raise ValueError("predict() received no batches")
        return self._structure_outputs([np.concatenate(parts) for parts in zip(*pieces)])

    def _structure_outputs(self, arrays):
        if self._output_kind == "single":
            return arrays[0]
        if self._output_kind == "dict":
            return dict(zip(self._output_keys, arrays))
        return arrays

    def call_on_arrays(self, inputs, training=False):
        """``model(x)`` on NumPy arrays: one batch of len(x), returned as NumPy."""
        xs, _, _ = self._prepare(inputs, need_targets=False)
        return self._run_single_batch(xs, True if training else None)

    def _run_single_batch(self, xs, training):
        """The lean path: one plan (of len(x)'s bucket size), no callbacks; outputs copied out."""
        n = len(xs[0])
        rows = serving_rows(self, n, max(n, SERVING_LIMIT), training)
        with self.plan_in_use("predict", rows, training=training, input_shapes=sample_shapes(xs)) as plan:
            fill_batch(plan, *source_views(xs, None, None), None, 0, count=n)
            plan.run_forward()
            return self._structure_outputs([o[:n].copy() for o in plan.outputs])

    # ----- single batches ----------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns this batch's loss (and metrics), as Keras 3.15."""
        self._require_compiled()
        self.reset_metrics()
        xs, ys, sws = self._prepare(x, y, sample_weight, class_weight)
        plan = self.plan("train", len(xs[0]), input_shapes=sample_shapes(xs))
        fill_batch(plan, *source_views(xs, ys, sws), None, 0)
        loss = plan.train_step()
        self._track_loss(plan, loss, len(xs[0]))
        return self._batch_logs(return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, without updating weights."""
        self._require_compiled()
        self.reset_metrics()
        xs, ys, sws = self._prepare(x, y, sample_weight)
        plan = self.plan("eval", len(xs[0]), input_shapes=sample_shapes(xs))
        fill_batch(plan, *source_views(xs, ys, sws), None, 0)
        self._track_loss(plan, plan.eval_step() + self._penalty(), len(xs[0]))
        return self._batch_logs(return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch."""
        return self.call_on_arrays(x, training=False)

    def _batch_logs(self, return_dict):
        logs = self._results()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # ----- weights -----------------------------------------------------------------------------
    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"Model '{self.name}' has {len(own)} weight arrays, received {len(weights)}")
        for var, value in zip(own, weights):
            if np.shape(value) != var.shape:
                raise ValueError(f"Weight '{var.path}' has shape {var.shape}, received {np.shape(value)}")
        for var, value in zip(own, weights):
            var.assign(value)

    def count_params(self):
        return int(sum(w.value.size for w in self.weights))

    def resume_from_epoch(self, epoch):
        """Continue the running fit at ``epoch`` (0-based): what a callback that restored a backup in
        ``on_train_begin`` calls (``BackupAndRestore``)."""
        self._resume_epoch = int(epoch)


def _per_output_dict(value):
    """A dict by output name (not a serialized object's ``{'class_name': ..., 'config': ...}``)."""
    return isinstance(value, dict) and "class_name" not in value


def _log_value(result):
    """A metric result for logs: a float, or an array for per-class / per-threshold results (as Keras)."""
    return float(result) if np.ndim(result) == 0 else np.asarray(result, dtype=float)


def _trainable_loss(identifier):
    """The loss object for compile, refusing early what a plan cannot differentiate."""
    if identifier is None:
        return None
    loss = losses_module.get(identifier)
    return loss if loss.has_plan_step() else TracedLoss(loss)


#: ``model(x)`` serves up to this many rows with the plan of a power-of-two bucket size (inference.py)
SERVING_LIMIT = 1024


def _no_targets(xs, target_shapes):
    """Zero targets for a model trained by its ``add_loss`` terms alone, as views taking no memory."""
    n = len(xs[0])
    targets = [np.broadcast_to(np.zeros((), backend.floatx()), (n,) + tuple(shape[1:])) for shape in target_shapes]
    return targets if len(targets) > 1 else targets[0]


def _batch_size(batch_size):
    if batch_size is None:
        return 32
    if int(batch_size) != batch_size or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
    return int(batch_size)


def _unpack_validation(validation_data):
    if isinstance(validation_data, (list, tuple)) and len(validation_data) in (2, 3):
        return tuple(validation_data) + (None,) * (3 - len(validation_data))
    raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
