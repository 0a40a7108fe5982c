"""The compiler: a model's graph becomes a Plan of bound steps over buffers
allocated once per (mode, batch size).

Forward: each entry's layer binds its callables to input, output and scratch
buffers. Losses bind next and are the first writers of the output gradients.
Backward walks the entries in reverse; the first consumer of a tensor writes
its gradient buffer, later consumers write a private buffer that one add step
folds in. Weight gradients of a shared layer are accumulated the same way.
"""
import numpy as np

from framework.kernels.elementwise import add_inplace, flat, scale_inplace
from framework.plan import background_compile
from framework.plan.buffers import Allocator
from framework.plan.context import StepContext
from framework.plan.masking import MaskBuffers, bind_row_weights, loss_normalizes, masked_output, row_buffer
from framework.plan.plan import Plan

MODES = ("train", "eval", "predict")


class LossSpec:
    """What training attaches to one model output: loss, weight, metrics."""

    def __init__(self, loss=None, weight=1.0, metrics=(), weighted_metrics=()):
        self.loss = loss
        self.weight = float(weight)
        self.metrics = list(metrics)
        self.weighted_metrics = list(weighted_metrics)

    def target_shape(self, output_shape):
        """Shape of this output's target buffer: like the output, or without classes if sparse."""
        return output_shape if self.loss is None else self.loss.target_shape(output_shape)


def compile_plan(model, mode, batch_size, dtype, specs=None, grad_views=None, optimizer_step=None,
                 training=None, input_gradients=False, input_shapes=None, external_seeds=False,
                 second_grad_views=None, input_backward=False):
    """Build a Plan. ``model``: anything with ``flat_graph(input_shapes, training)`` returning its layer
    calls as ``framework.graph.flattening.flatten_model`` makes them (the compiler imports
    nothing of the graph or the layers: it calls what it is given). ``specs``: one LossSpec per output (train/eval); ``grad_views``:
    id(variable) -> gradient view for the variables this plan trains; ``training``
    overrides the mode's training flag (``model(x, training=True)``); ``input_gradients``
    makes a train plan also compute d(loss)/d(inputs) into ``plan.input_grads``;
    ``input_shapes`` gives the sample shape of each input of a model declared with
    unknown sizes (see framework.graph.flattening). ``external_seeds`` (train mode, no specs): the
    backward starts from gradients the caller writes into ``plan.output_grads`` (one per output) and
    ``plan.term_grads`` (one per ``add_loss`` term, filled with d(target)/d(term)), as a gradient
    tape drives it (framework.training.tape). ``second_grad_views`` (train mode): like ``grad_views``, for a
    second backward, ``plan.second_backward``, that writes the weights' gradients there instead; it shares
    every other buffer with the first (the two never run at once). ``input_backward`` (train mode, with
    ``input_gradients``): also ``plan.input_backward``, a backward computing the inputs' gradients alone
    (into ``plan.input_backward_grads``), no weight's, over buffers of the first where their shapes allow
    (a gradient tape asked for an input's gradient and none of the weights': a GAN's generator step through
    its discriminator)."""
    if mode not in MODES:
        raise ValueError(f"Unknown plan mode {mode!r}; valid choices: {', '.join(MODES)}")
    compiler = _Compiler(model, mode, batch_size, dtype, specs, grad_views or {}, optimizer_step)
    compiler.training = (mode == "train") if training is None else bool(training)
    compiler.input_gradients = bool(input_gradients)
    compiler.input_shapes = input_shapes
    compiler.external_seeds = bool(external_seeds) and mode == "train"
    compiler.second_grad_views = second_grad_views
    compiler.emit_input_backward = bool(input_backward) and compiler.input_gradients
    plan = compiler.build()
    if mode == "train":  # a cold process: a forked child compiles the kernels from the other end
        background_compile.maybe_start(plan)
    return plan


class _Compiler:
    def __init__(self, model, mode, batch_size, dtype, specs, grad_views, optimizer_step):
        self.model = model
        self.mode = mode
        self.batch = int(batch_size)
        self.dtype = np.dtype(dtype)
        self.specs = specs or []
        self.grad_views = grad_views
        self.optimizer_step = optimizer_step
        self.training = mode == "train"
        self.input_gradients = False
        self.input_shapes = None
        self.alloc = Allocator(reuse=(mode == "predict"))
        self.plan = Plan(mode, self.batch, self.dtype)
        self.pending_adds = []
        self.grads = {}
        self.masks = MaskBuffers(self.batch, self.dtype, self.new)
        self.external_seeds = False
        self.second_grad_views = None
        self.taken = None    # while the first backward is emitted: the buffers it allocates, in order
        self.replayed = None  # while the second is: those same buffers, handed out again in that order
        self.replay_failed = False
        self.emit_input_backward = False  # also a backward of the inputs' gradients alone (compile_plan)
        self.pooled = None  # while the input backward is emitted: (shape, zeroed) -> the first's buffers left

    # ----- helpers ---------------------------------------------------------------------------
    def shape_of(self, key):
        tensor = self.tensors[key]
        return (self.batch,) + tuple(tensor.shape[1:]) if tensor.batched else tuple(tensor.shape)

    def dtype_of(self, key):
        name = self.tensors[key].dtype
        return np.dtype(name) if not name.startswith("float") else self.dtype

    def new(self, shape, dtype=None, zero=False):
        return self.alloc.allocate(tuple(shape), dtype or self.dtype, zero=zero)

    def new_gradient(self, shape, zero=False):
        """A buffer for a tensor's or a weight's gradient in the backward (``new`` otherwise; the second
        backward of ``_emit_backwards`` is handed the first one's, in order)."""
        if self.pooled is not None:
            free = self.pooled.get((tuple(shape), zero))
            return free.pop() if free else self.new(shape, zero=zero)
        if self.replayed:
            buffer, _ = self.replayed.pop(0)
            if buffer.shape == tuple(shape):
                if zero:
                    buffer.fill(0)
                return buffer
            self.replayed, self.replay_failed = None, True  # it asked for other buffers: no second backward
        buffer = self.new(shape, zero=zero)
        if self.taken is not None:
            self.taken.append((buffer, zero))
        return buffer

    # ----- build -------------------------------------------------------------------------
    def build(self):
        self.input_keys, self.output_keys, self.entries, self.tensors, self.loss_keys = \
            self.model.flat_graph(self.input_shapes, self.training)
        self.buffers = {}
        for key in self.input_keys:
            self._check_fixed_batch(self.tensors[key])
            self.buffers[key] = self.new(self.shape_of(key), self.dtype_of(key))
        self._plan_liveness()
        fused = self._choose_fusions() if self.mode != "predict" else {}
        self.contexts = []
        for index, entry in enumerate(self.entries):
            self.contexts.append(self._emit_forward(entry, fused.get(index)))
            self._release_dead(index)
        plan = self.plan
        plan.inputs = [self.buffers[k] for k in self.input_keys]
        plan.outputs = [self.buffers[k] for k in self.output_keys]
        if self.mode != "predict":
            self._bind_losses_and_metrics()
            plan.loss_weights = [spec.weight for spec in self.specs]
            plan.loss_values = [0.0] * len(self.specs)
        if self.mode == "train":
            self._emit_backwards()
            self._bind_regularizers()
            plan.optimizer_step = self.optimizer_step
            plan.constraint_steps = self._bind_constraints()
        for ctx in self.contexts:
            ctx.sealed = True
        plan.nbytes = self.alloc.nbytes
        plan.blocks = self.alloc.blocks
        plan.snapshot = [(v, v.version) for e in self.entries for v in e.layer.weights]
        plan.bind_row_views()
        return plan

    def _check_fixed_batch(self, tensor):
        fixed = tensor.shape[0] if tensor.batched and tensor.shape else None
        if fixed is not None and fixed != self.batch:
            raise ValueError(f"Input '{tensor.name}' has a fixed batch size of {fixed} (Input(batch_shape=...)), but "
                             f"this call runs batches of {self.batch} rows: pass batch_size={fixed} and a multiple of "
                             f"{fixed} samples")

    # ----- liveness (predict plans) ------------------------------------------------------------
    def _plan_liveness(self):
        self.last_use = {}
        for index, entry in enumerate(self.entries):
            for key in entry.in_keys:
                self.last_use[key] = index
        self.keep = set(self.input_keys) | set(self.output_keys) | set(self.loss_keys)
        self.root = {}
        self.live_refs = {}

    def _release_dead(self, index):
        if not self.alloc.reuse:
            return
        for key in set(self.entries[index].in_keys) | set(self.entries[index].out_keys):
            if key in self.keep or self.last_use.get(key, -1) > index:
                continue
            root = self.root.get(key, key)
            self.live_refs[root] -= 1
            if self.live_refs[root] == 0 and root not in self.keep:
                self.alloc.release(self.buffers[root])
        for buf in self.contexts[index].scratch_buffers():
            self.alloc.release(buf)

    # ----- forward -------------------------------------------------------------------------
    def _emit_forward(self, entry, logits_shape):
        layer = entry.layer
        imposed = self.training if entry.training is None else entry.training
        training = entry.node.call_kwargs.get("training", imposed)  # the call's own argument first, as Keras
        inputs = [self.buffers[k] for k in entry.in_keys]
        ctx = StepContext(entry.node, inputs, None, [v.value for v in layer.weights], training,
                          self.batch, self.dtype, self.new)
        ctx.activation = entry.activation
        views = layer.output_views(ctx)
        if views is not None:
            outputs = list(views)
            for key, view in zip(entry.out_keys, outputs):
                root = self.root.get(entry.in_keys[0], entry.in_keys[0])
                self.root[key] = root
                self.live_refs[root] = self.live_refs.get(root, 0) + 1
        else:
            outputs = [self.new(self.shape_of(k), self.dtype_of(k)) for k in entry.out_keys]
            for key in entry.out_keys:
                self.live_refs[key] = 1
        for key, buf in zip(entry.out_keys, outputs):
            self.buffers[key] = buf
        ctx.outputs = outputs
        in_tensors = [self.tensors[k] for k in entry.in_keys]
        ctx.input_masks = [self.masks.of(k, t) for k, t in zip(entry.in_keys, in_tensors)]
        ctx.output_masks = [self.masks.started(in_tensors, k, self.tensors[k]) for k in entry.out_keys]
        if logits_shape is not None:
            ctx.logits = self.new(logits_shape)
        steps = [] if views is not None else list(layer.forward(ctx))
        self.plan.forward.extend(steps)
        self.plan.forward_owners.extend([layer] * len(steps))
        in_shape = [self.tensors[k].shape for k in entry.in_keys]
        out_shape = [self.tensors[k].shape for k in entry.out_keys]
        self.plan.describe.append({
            "layer": layer, "node": entry.node, "traced_by": entry.traced_by,
            "bytes": sum(b.nbytes for b in outputs if views is None) + sum(b.nbytes for b in ctx.scratch_buffers()),
            "flops": self.batch * layer.flops(in_shape[0] if len(in_shape) == 1 else in_shape,
                                              out_shape[0] if len(out_shape) == 1 else out_shape),
        })
        for folded in entry.absorbed:  # an activation layer run in this layer's epilogue: its own row
            self.plan.describe.append({"layer": folded.layer, "node": folded.node, "traced_by": folded.traced_by,
                                       "bytes": 0, "flops": self.batch * folded.layer.flops(out_shape[0],
                                                                                            out_shape[0])})
        return ctx

    def _choose_fusions(self):
        """Entry index -> logits shape, where an output's loss absorbs the final activation."""
        fused = {}
        consumed = {k for e in self.entries for k in e.in_keys}
        producer = {k: i for i, e in enumerate(self.entries) for k in e.out_keys}
        for key, spec in zip(self.output_keys, self.specs):
            loss = spec.loss
            index = producer.get(key)
            if loss is None or index is None or key in consumed or self.output_keys.count(key) > 1:
                continue
            entry = self.entries[index]
            activation = getattr(loss, "fusable_activation", None)
            own = entry.layer.fused_activation() if entry.activation is None else entry.activation.name
            if activation and len(entry.out_keys) == 1 and own == activation:
                fused[index] = self.shape_of(key)
        return fused

    # ----- losses and metrics --------------------------------------------------------------------
    def _bind_losses_and_metrics(self):
        plan = self.plan
        producer_ctx = {k: self.contexts[i] for i, e in enumerate(self.entries) for k in e.out_keys}
        for key, spec in zip(self.output_keys, self.specs):
            y_pred = self.buffers[key]
            target = self.new(self.batch_shape(spec.target_shape(self.tensors[key].shape)))
            weights = self.new((self.batch,))
            weights.fill(1)
            plan.targets.append(target)
            plan.sample_weights.append(weights)
            mask = self.masks.of(key, self.tensors[key])
            if spec.loss is None:
                plan.loss_steps.append(None)
            else:
                d_pred = self._gradient_target(key) if self.mode == "train" else self.new(y_pred.shape)
                ctx = producer_ctx.get(key)
                logits = ctx.logits if ctx is not None else None
                if mask is None:
                    bound = spec.loss.bind(y_pred, target, weights, d_pred, logits=logits)
                else:
                    bound = self._masked_loss(spec.loss, mask, weights, y_pred, target, d_pred, logits)
                plan.loss_steps.append(_weighted(bound, d_pred, spec.weight, self.mode == "train"))
            ones = self.new((self.batch,))
            ones.fill(1)
            if mask is not None:
                y_pred, target, _, _ = masked_output(y_pred, mask, target, None, None)
                ones, weights = (self._masked_metric_weights(w, mask) for w in (ones, weights))
            for metric in spec.metrics:
                plan.metric_steps.append(_bind_metric(metric, target, y_pred, ones))
            for metric in spec.weighted_metrics:
                plan.metric_steps.append(_bind_metric(metric, target, y_pred, weights))
        if self.external_seeds:  # the caller seeds the outputs' gradients (a tape)
            plan.output_grads = [self._gradient_target(key) for key in self.output_keys]
        self._bind_loss_terms()
        # two losses on one tensor: the second wrote a private gradient; fold it in first thing
        plan.backward.extend(_add_step(dst, src) for dst, src in self.pending_adds)
        plan.backward_owners.extend([None] * len(self.pending_adds))
        self.pending_adds = []

    def _bind_loss_terms(self):
        """``add_loss`` terms: each adds the sum of its tensor to the step's loss; in training, the
        gradient of that sum (ones) seeds the term's gradient buffer before the backward runs."""
        for key in self.loss_keys:
            self.plan.loss_terms.append(_sum_step(self.buffers[key]))
            if self.external_seeds:
                self.plan.term_grads.append(self._gradient_target(key))
            elif self.mode == "train":
                self.plan.backward.append(_fill_step(self._gradient_target(key), 1))
                self.plan.backward_owners.append(None)

    def _masked_metric_weights(self, sample_weight, mask):
        """Per-step metric weights (sample weight times mask), refreshed before the metric updates."""
        rows = row_buffer(self.new, mask)
        self.plan.metric_steps.append(bind_row_weights(sample_weight, mask, rows, normalize=False))
        return rows

    def _masked_loss(self, loss, mask, weights, y_pred, target, d_pred, logits):
        """The loss scored per step over real steps only (Keras's mask handling)."""
        rows = row_buffer(self.new, mask)
        weigh = bind_row_weights(weights, mask, rows, loss_normalizes(loss))
        y_rows, t_rows, d_rows, l_rows = masked_output(y_pred, mask, target, d_pred, logits)
        bound = loss.bind(y_rows, t_rows, rows, d_rows, logits=l_rows)

        def step():
            weigh()
            return bound()
        return step

    def batch_shape(self, shape):
        return (self.batch,) + tuple(shape[1:])

    def _gradient_target(self, key):
        """Where the next writer of key's gradient writes: the buffer, or a private one plus an add."""
        if key not in self.grads:
            self.grads[key] = self.new_gradient(self.shape_of(key))
            return self.grads[key]
        private = self.new_gradient(self.shape_of(key))
        self.pending_adds.append((flat(self.grads[key]), flat(private)))
        return private

    # ----- backward ------------------------------------------------------------------------
    def _emit_backwards(self):
        """The backward, and with ``second_grad_views`` a second one writing the weights' gradients there:
        emitted again from the same start, it is handed the buffers the first allocated, in the same order.
        With ``emit_input_backward``, one more from the same start training no weight, whose gradient buffers are
        the first's of the same shape and kind (a zeroed one for a zeroed one) while any are left."""
        if self.second_grad_views is None and not self.emit_input_backward:
            self._emit_backward()
            return
        plan = self.plan
        start = (list(plan.backward), list(plan.backward_owners), dict(self.grads))
        self.taken = []
        self._emit_backward()
        first = (plan.backward, plan.backward_owners, self.grad_views, plan.input_grads, self.grads)
        taken, self.taken = self.taken, None
        if self.second_grad_views is not None:
            plan.backward, plan.backward_owners, self.grads = list(start[0]), list(start[1]), dict(start[2])
            self.grad_views, self.replayed = self.second_grad_views, list(taken)
            self._emit_backward()
            same_buffers = not self.replay_failed and not self.replayed
            plan.second_backward = plan.backward if same_buffers else None  # else the first backward alone serves
            self.replayed = None
        if self.emit_input_backward:
            plan.backward, plan.backward_owners, self.grads = list(start[0]), list(start[1]), dict(start[2])
            self.grad_views, self.pooled = {}, {}
            for buffer, zero in taken:
                self.pooled.setdefault((buffer.shape, zero), []).append(buffer)
            self._emit_backward()
            plan.input_backward, plan.input_backward_grads = plan.backward, plan.input_grads
            self.pooled = None
        plan.backward, plan.backward_owners, self.grad_views, plan.input_grads, self.grads = first

    def _emit_backward(self):
        needs_grad = {k: self.input_gradients for k in self.input_keys}
        trains = []
        for entry in self.entries:
            has_trained = any(id(v) in self.grad_views for v in entry.layer.weights)
            trains.append(has_trained)
            flows = has_trained or any(needs_grad.get(k, False) for k in entry.in_keys)
            for key in entry.out_keys:
                needs_grad[key] = flows
        weights_written = set()
        for index in reversed(range(len(self.entries))):
            entry, ctx = self.entries[index], self.contexts[index]
            if not (trains[index] or any(needs_grad.get(k, False) for k in entry.in_keys)):
                continue
            ctx.d_outputs = [self.grads[k] if k in self.grads else self._zeros(k) for k in entry.out_keys]
            self.pending_adds = []
            ctx.d_inputs = [self._gradient_target(k) if needs_grad.get(k, False) else None
                            for k in entry.in_keys]
            ctx.d_weights = []
            for var in entry.layer.weights:
                view = self.grad_views.get(id(var)) if trains[index] else None
                if view is not None and id(var) in weights_written:
                    private = self.new_gradient(view.shape)
                    self.pending_adds.append((flat(view), flat(private)))
                    view = private
                elif view is not None:
                    weights_written.add(id(var))
                ctx.d_weights.append(view)
            steps = list(entry.layer.backward(ctx)) + [_add_step(dst, src) for dst, src in self.pending_adds]
            self.plan.backward.extend(steps)
            self.plan.backward_owners.extend([entry.layer] * len(steps))
        for var_id, view in self.grad_views.items():
            if var_id not in weights_written:
                view.fill(0)
                if self.grad_views is self.second_grad_views:  # handed to callers, who may write it
                    self.plan.backward.append(_fill_step(view, 0))
                    self.plan.backward_owners.append(None)
        if self.input_gradients:
            self.plan.input_grads = [self.grads[k] if k in self.grads else self._zeros(k) for k in self.input_keys]

    def _zeros(self, key):
        self.grads[key] = self.new_gradient(self.shape_of(key), zero=True)
        return self.grads[key]

    def _bind_constraints(self):
        """Constraint steps for trained weights, run after every optimizer update."""
        steps, seen = [], set()
        for entry in self.entries:
            for var in entry.layer.weights:
                if var.constraint is not None and id(var) in self.grad_views and id(var) not in seen:
                    seen.add(id(var))
                    steps.append(var.constraint.bind(var.value))
        return steps

    def _bind_regularizers(self):
        seen = set()
        for entry in self.entries:
            for var in entry.layer.weights:
                view = self.grad_views.get(id(var))
                if var.regularizer is None or view is None or id(var) in seen:
                    continue
                seen.add(id(var))
                self.plan.penalties.append(var.regularizer.bind(var.value, view))


def _bind_metric(metric, target, y_pred, weights):
    """The metric's kernel step, or for a metric wrapping a user's Python function, an
    eager update on the same buffers (correct, but it allocates)."""
    try:
        return metric.bind(target, y_pred, weights)
    except NotImplementedError:
        return lambda: metric.update_state(target, y_pred, weights)


def _sum_step(array):
    if array.ndim == 0:
        return lambda: float(array)
    return lambda: float(array.sum())


def _fill_step(array, value):
    return lambda: array.fill(value)


def _add_step(dst, src):
    def step():
        add_inplace(dst, src)
    return step


def _weighted(bound_loss, d_pred, weight, scale_gradient):
    """A loss step returning the unweighted value; the gradient is scaled by the loss weight."""
    if weight == 1.0 or not scale_gradient:
        return bound_loss
    d_flat = flat(d_pred)
    factor = d_pred.dtype.type(weight)

    def step():
        value = bound_loss()
        scale_inplace(d_flat, factor)
        return value
    return step
