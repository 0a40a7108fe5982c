"""GradientTape: gradients on demand, for custom training steps and loops.

Inside ``with GradientTape() as tape:`` the tape records what computes on NumPy arrays:

- a model (or a layer, through its one-layer model) called on arrays runs a compiled *tape plan*:
  the model's training plan without loss or optimizer, whose backward starts from gradients the
  tape writes into the plan's output buffers (``compile_plan(external_seeds=True)``). The forward
  runs in the plan and keeps its activations there until the gradient is taken, so a model in a
  custom step costs what it costs in ``fit``;
- ops (``framework.ops``), built-in losses and NumPy operators on recorded arrays run one at a
  time as one-node steps, each op's forward and backward bound to the arrays at hand.

What the tape returns for a recorded computation is a ``TapeArray`` (an ``np.ndarray`` that knows
the record that made it). ``tape.gradient(target, sources)`` walks the records backwards from the
target, running each record's backward, and returns the gradient of each source: a variable (the
weights the plans train, or any variable an op used), or an array the tape watched
(``tape.watch(x)``) or recorded. Gradients are new arrays the caller owns: a later step never writes
them. The gradients of a model's weights are views of one new flat buffer per ``gradient`` call, laid out
like the model's parameter arena (one copy of the plan's gradients), which ``optimizer.apply`` recognizes
and updates from in place (``framework.optimizers.applying``). A gradient taken while an outer tape
records is differentiable again for one model call's output with respect to its input (a gradient
penalty); other nested cases are refused.
"""
import contextlib
import threading
import weakref

import numpy as np

from framework import backend, ops
from framework.graph.subgraph import placeholder
from framework.graph.tensor import apply_operator
from framework.losses import loss as loss_module
from framework.ops import operation
from framework.plan import handed_gradients
from framework.plan.compiler import compile_plan
from framework.plan.context import StepContext
from framework.training import bound_losses, data as data_adapter
from framework.training.batches import fill_batch, sample_shapes, source_views
from framework.variables import Variable

_state = threading.local()


def _stack():
    tapes = getattr(_state, "tapes", None)
    if tapes is None:
        tapes = _state.tapes = []
    return tapes


def recording_tapes():
    """The tapes recording on this thread now, innermost last."""
    tapes = getattr(_state, "tapes", None)
    return [tape for tape in tapes if tape._recording] if tapes else []


class TapeArray(np.ndarray):
    """An array a gradient tape recorded (a model's output, an op's result). It computes like any
    NumPy array; while a tape records, NumPy operators on it are recorded as the ops they are."""

    def __array_finalize__(self, obj):
        self._record = None  # views and copies are new values: untracked unless a tape records them

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        function = _UFUNC_OPS.get(ufunc.__name__)
        if method == "__call__" and not kwargs and _tracked_by_any(inputs):
            if function is None:
                raise TypeError(f"np.{ufunc.__name__} on a value a GradientTape records has no gradient rule; "
                                "use the framework.ops function of that name")
            return function(*inputs)
        plain = [np.asarray(x) if isinstance(x, TapeArray) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, TapeArray) else o for o in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        name = func.__name__
        if name in _FUNCTION_OPS and _tracked_by_any(args):
            return getattr(ops, name)(*args, **kwargs)
        plain_types = tuple(np.ndarray if t is TapeArray else t for t in types)
        return super().__array_function__(func, plain_types, _plain(args), _plain(kwargs))

    def _inplace(name):
        def operator(self, other):
            if _tracked_by_any([self, other]):  # a recorded value is never changed in place: a new one
                return _UFUNC_OPS[name](self, other)
            getattr(np, name)(np.asarray(self), other, out=np.asarray(self), casting="same_kind")
            return self
        return operator

    __iadd__, __isub__ = _inplace("add"), _inplace("subtract")
    __imul__, __itruediv__ = _inplace("multiply"), _inplace("divide")
    del _inplace

    def __getitem__(self, index):
        if _tracked_by_any([self]):
            return apply_operator("getitem", self, index)
        return np.asarray(self)[index]


def _plain(value):
    if isinstance(value, TapeArray):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_UFUNC_OPS = {
    "add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply, "divide": ops.divide,
    "true_divide": ops.divide, "negative": ops.negative, "power": ops.power, "exp": ops.exp, "log": ops.log,
    "log1p": ops.log1p, "sqrt": ops.sqrt, "square": ops.square, "absolute": ops.abs, "maximum": ops.maximum,
    "minimum": ops.minimum, "tanh": ops.tanh, "sin": ops.sin, "cos": ops.cos, "matmul": ops.matmul,
    "less": ops.less, "less_equal": ops.less_equal, "greater": ops.greater, "greater_equal": ops.greater_equal,
    "equal": ops.equal, "not_equal": ops.not_equal, "sign": ops.sign, "floor": ops.floor,
}
_FUNCTION_OPS = ("sum", "mean", "max", "min", "reshape", "transpose", "concatenate", "stack", "expand_dims",
                 "squeeze", "clip", "where", "dot", "matmul", "square", "sqrt", "exp", "log", "tanh", "abs")


def _tapes_tracking(values):
    """The recording tapes that track one of ``values`` (arrays, or lists and tuples of them)."""
    tapes = recording_tapes()
    return [tape for tape in tapes if any(tape._tracks(v) for v in _leaves(values))] if tapes else []


def _tracked_by_any(values):
    return bool(_tapes_tracking(values))


def _leaves(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from _leaves(v)
        elif isinstance(v, dict):  # in the order _restructure rebuilds it
            yield from _leaves(v.values())
        else:
            yield v


class _Record:
    """One recorded computation: its differentiable inputs (None where not tracked), its outputs,
    and ``backward(d_outputs) -> (d_inputs, [(variable, gradient)])``; it joins every tape in ``tapes``
    and marks its outputs as made by it. It holds its tapes weakly: a tape holds its records, and a
    tape dropped without a gradient (its model calls' plans still held) must be freed at once, not when
    the garbage collector finds the cycle (until then every new model call compiled a plan of its own).

    Args:
        inputs, outputs, backward, tapes: as above.
    """

    #: True when ``backward`` returns its gradients in new arrays no one else holds (the tape keeps them uncopied)
    owns_gradients = False
    #: True when ``backward`` also takes the ids of the variables the gradient asks for (a model call's
    #: record, which then leaves out the weights' gradients when none of its weights is asked for)
    takes_wanted = False

    def __init__(self, inputs, outputs, backward, tapes):
        self.inputs, self.outputs, self.backward, self.tapes = inputs, outputs, backward, weakref.WeakSet(tapes)
        for value in outputs:
            value._record = self
        for tape in self.tapes:
            tape._records.append(self)

    def release(self):
        """No tape holds this record any more: its outputs are plain values again, and it keeps nothing."""
        for value in self.outputs:
            if value._record is self:
                value._record = None
        self.inputs, self.outputs, self.backward = [], [], None
        self.__dict__.pop("originals", None)


class GradientTape:
    """Records computations on arrays so their gradients can be taken, as TensorFlow's tape.

    Args:
        persistent: when True, ``gradient`` may be called several times (the tape keeps its records
            and the plans it ran until it is deleted or ``reset()``); otherwise once.
        watch_accessed_variables: accepted for TensorFlow compatibility; variables a recorded
            computation reads are always watched.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = watch_accessed_variables
        self._records = []
        self._watched = {}
        self._aliases = {}
        self._held = []  # (plan cache, plan) of model calls, released after the gradient
        self._recording = False
        self._used = False

    # ----- recording ------------------------------------------------------------------------------
    def __enter__(self):
        if self._recording:
            raise RuntimeError("This GradientTape is already recording")
        _stack().append(self)
        self._recording = True
        return self

    def __exit__(self, *exc):
        self._recording = False
        _stack().remove(self)
        return False

    @contextlib.contextmanager
    def stop_recording(self):
        """Context manager: computations inside it are not recorded."""
        was, self._recording = self._recording, False
        try:
            yield
        finally:
            self._recording = was

    def watch(self, tensor):
        """Record gradients with respect to ``tensor`` (an array, a list of them, or variables).
        Models and ops given the array are recorded. NumPy's own operators on a plain array cannot be
        (``x * 2`` is NumPy's): use ops, or the ``TapeArray`` view this returns, whose operators are."""
        views = []
        for value in _leaves([tensor]):
            if isinstance(value, Variable):
                views.append(value)
                continue  # variables are always watched
            if not isinstance(value, np.ndarray):
                raise TypeError(f"GradientTape.watch: expected a NumPy array or a variable, received "
                                f"{type(value).__name__}")
            view = value.view(TapeArray)
            self._watched[id(value)] = value
            self._watched[id(view)] = view
            self._aliases[id(view)] = value  # the view is the array: one gradient for both
            for outer in recording_tapes():  # an outer tape watching the array sees the view as the array too
                if outer is not self and outer._tracks(value):
                    outer._watched[id(view)] = view
                    outer._aliases[id(view)] = outer._aliases.get(id(value), value)
            views.append(view)
        return views[0] if len(views) == 1 and not isinstance(tensor, (list, tuple)) else views

    def reset(self):
        """Forget every record and release the plans they hold. A record no other tape holds lets go of its
        values at once (they and it refer to each other: left to the garbage collector, a model call's record
        would keep its inputs, such as a training step's batch, until the next collection)."""
        for record in self._records:
            record.tapes.discard(self)
            if not record.tapes:
                record.release()
        self._records = []
        self._watched = {}
        self._aliases = {}
        self._release()

    def _tracks(self, value):
        if isinstance(value, TapeArray) and value._record is not None and self in value._record.tapes:
            return True
        return isinstance(value, np.ndarray) and self._watched.get(id(value)) is value

    # ----- gradients ------------------------------------------------------------------------------
    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """The gradient of ``target`` (a recorded array; several are summed) with respect to each
        of ``sources`` (a variable or array, or a list/tuple/dict of them), in the same structure.
        A source the target does not depend on gets None (``unconnected_gradients='zero'``: zeros)."""
        if self._recording:
            raise RuntimeError("GradientTape.gradient was called inside the tape's own `with` block; call it "
                               "after the block (or inside tape.stop_recording())")
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape gives gradients once; use "
                               "GradientTape(persistent=True) to take several")
        outer = recording_tapes()
        if outer and any(tape._records and set(tape._records) & set(self._records) for tape in outer):
            return self._recorded_gradient(target, sources, output_gradients)
        self._used = True
        targets = list(target) if isinstance(target, (list, tuple)) else [target]
        seeds = list(output_gradients) if isinstance(output_gradients, (list, tuple)) else \
            [output_gradients] * len(targets)
        grads, var_grads = {}, {}
        wanted = {id(source) for source in _leaves([sources]) if isinstance(source, Variable)}
        for value, seed in zip(targets, seeds):
            if not self._tracks(value):
                continue
            ones = np.ones(value.shape, dtype=_float(value))  # a tracked value is an array
            _accumulate(grads, self._aliases.get(id(value), value),
                        ones if seed is None else ones * np.asarray(seed, dtype=ones.dtype), owned=True)
        for record in reversed(self._records):
            d_outputs = [grads[id(o)][1] if id(o) in grads else None for o in record.outputs]
            if all(d is None for d in d_outputs):
                continue
            d_inputs, d_vars = record.backward(d_outputs, wanted) if record.takes_wanted else record.backward(d_outputs)
            for source, d in zip(record.inputs, d_inputs):
                if source is not None and d is not None:
                    _accumulate(grads, self._aliases.get(id(source), source), d, owned=record.owns_gradients)
            for var, d in d_vars:
                _accumulate(var_grads, var, d, owned=record.owns_gradients)
        flat = type(sources) in (list, tuple) and not any(type(s) in (list, tuple, dict) for s in sources)
        result = [self._result(s, grads, var_grads, unconnected_gradients) for s in
                  (sources if flat else _leaves([sources]))]
        if not self.persistent:
            self.reset()
        if flat:  # a list of variables, as a training step gives: its gradients in a list (or tuple)
            return result if type(sources) is list else tuple(result)
        return _restructure(sources, iter(result))

    def _recorded_gradient(self, target, sources, output_gradients):
        """The gradient of a model's output with respect to its input, taken while an outer tape records
        (a gradient penalty): the model's input-gradient model runs as a recorded model call, so the outer
        tape can differentiate the gradient again (framework.models.double_backward)."""
        record = getattr(target, "_record", None)
        model = getattr(record, "model", None)
        leaves = list(_leaves([sources]))
        if model is None or len(record.inputs) != 1 or not INPUT_GRADIENT_MODEL:
            raise NotImplementedError("A second derivative (a gradient taken while an outer GradientTape records it) "
                                      "is available for the output of one model call with respect to that "
                                      "call's input, as a gradient penalty takes it")
        source = record.originals[0]
        if any(self._aliases.get(id(s), s) is not source for s in leaves):
            raise NotImplementedError(f"A second derivative through model '{model.name}' is available with respect "
                                      "to the input of its call only (tape.gradient(prediction, [inputs]))")
        self._used = True
        seed = np.ones(np.shape(target), dtype=_float(target)) if output_gradients is None else \
            np.broadcast_to(np.asarray(output_gradients, dtype=_float(target)), np.shape(target)).copy()
        gradient = INPUT_GRADIENT_MODEL[0](model, record.training)([source, seed], training=record.training)
        if not self.persistent:
            self.reset()
        return _restructure(sources, iter([gradient] * len(leaves)))

    def _result(self, source, grads, var_grads, unconnected):
        table = var_grads if isinstance(source, Variable) else grads
        entry = table.get(id(self._aliases.get(id(source), source)))
        if entry is not None:
            return entry[1]
        if unconnected == "zero":
            return np.zeros(np.shape(source.value if isinstance(source, Variable) else source),
                            dtype=_float(source.value if isinstance(source, Variable) else source))
        return None

    def _release(self):
        held, self._held = self._held, []
        for cache, plan in held:
            plan.tape_holds -= 1
            if plan.tape_holds == 0:
                cache.release(plan)

    def __del__(self):
        try:
            self._release()
        except Exception:  # interpreter shutdown
            pass


def _accumulate(table, key_object, gradient, owned=False):
    """Add ``gradient`` to ``key_object``'s entry; the first is copied unless ``owned`` (a new array no one
    else holds, which the entry may keep and add to in place)."""
    entry = table.get(id(key_object))
    if entry is None:
        table[id(key_object)] = (key_object, gradient if owned else np.array(gradient, copy=True))
    else:
        entry[1][...] += gradient


def _float(value):
    dtype = np.asarray(value).dtype
    return dtype if dtype.kind == "f" else np.dtype("float64")


def _restructure(sources, values):
    if isinstance(sources, dict):
        return {k: _restructure(v, values) for k, v in sources.items()}
    if isinstance(sources, (list, tuple)):
        return type(sources)(_restructure(v, values) for v in sources)
    return next(values)


# ----- what the tape records ----------------------------------------------------------------------
def _recording_for(operands):
    """The recording tapes that track one of ``operands`` (or see a variable among them)."""
    tapes = recording_tapes()
    if not tapes:
        return []
    return [tape for tape in tapes
            if any(tape._tracks(v) or (isinstance(v, Variable) and v.trainable) for v in _leaves(operands))]


class _OpRecorder:
    """Installed into ``framework.ops.operation``: runs an op on recorded arrays as a one-node step."""

    @staticmethod
    def wants(operands):
        return bool(_recording_for(operands))

    @staticmethod
    def record(op, operands):
        tapes = _recording_for(operands)
        stand_ins, tracked = [], []
        for value in operands:
            if isinstance(value, np.ndarray) and any(t._tracks(value) for t in tapes):
                tensor = placeholder("taped", value.shape, value.dtype)
                tensor.batched = False
                stand_ins.append(tensor)
                tracked.append(value)
            else:
                stand_ins.append(value)
        out = op.symbolic_call(stand_ins)
        dtype = np.dtype(out.dtype)
        y = np.empty(out.shape, dtype=dtype)
        floats = [v.dtype for v in tracked if v.dtype.kind == "f"]
        compute = np.result_type(*floats) if floats else backend.standardize_dtype()
        ctx = StepContext(out.node, [np.require(np.asarray(v), requirements="C") for v in tracked], [y],
                          [v.value for v in op.weights], True, len(y) if y.ndim else 1, compute,
                          lambda shape, dt: np.zeros(shape, dt))
        for step in op.forward(ctx):
            step()
        result = y.view(TapeArray)

        def backward(d_outputs):
            ctx.d_outputs = [np.asarray(d_outputs[0], dtype=y.dtype).reshape(y.shape) if y.dtype.kind == "f"
                             else np.zeros_like(y)]
            ctx.d_inputs = [np.zeros(v.shape, dtype=_float(v)) for v in ctx.inputs]
            ctx.d_weights = [np.zeros_like(v.value) if v.trainable else None for v in op.weights]
            for step in op.backward(ctx):
                step()
            return list(ctx.d_inputs), [(v, d) for v, d in zip(op.weights, ctx.d_weights) if d is not None]

        _Record(tracked, [result], backward, tapes)
        return result


def record_model_call(model, inputs, training):
    """``model(x)`` on arrays while a tape records: the model's tape plan runs the forward, and its
    backward becomes the record's. Returns the outputs as recorded arrays (the model's structure)."""
    tapes = recording_tapes()
    originals = data_adapter.structure_to_list(inputs, data_adapter.model_input_names(model), "x") \
        if model.built else None
    xs, _, _ = model._prepare(inputs, need_targets=False)
    originals = originals or xs
    tracked = [x if any(t._tracks(x) for t in tapes) else None for x in originals]
    n = len(xs[0])
    shapes = sample_shapes(xs)
    needs_inputs = any(t is not None for t in tracked)
    cache = model.plan_cache
    if not model.compiled:  # packed again (its plans dropped) when layers were frozen or unfrozen since
        model.parameter_arena()
    key = ("tape", n, bool(training), model._known_shapes(shapes), needs_inputs)
    plan = cache.acquire(key, lambda: _tape_plan(model, n, bool(training), key[3], needs_inputs))
    plan.tape_holds = len(tapes)  # every recording tape holds the plan; the last to let go releases it
    for tape in tapes:
        tape._held.append((cache, plan))
    fill_batch(plan, *source_views(xs, None, None), None, 0, count=n)
    plan.measured_forward()
    outputs = [o.copy().view(TapeArray) for o in plan.outputs]
    terms = [np.asarray(term(), dtype=plan.dtype).view(TapeArray) for term in plan.loss_terms]
    trained_variables, trained_layout, arena_grads = plan.tape_trained, plan.tape_layout, plan.tape_grads

    def backward(d_outputs, wanted):
        for buffer, d in zip(plan.output_grads + plan.term_grads, d_outputs):
            if d is None:
                buffer.fill(0)
            elif buffer.ndim == 0 or np.ndim(d) == 0:
                buffer.fill(float(d))
            else:
                np.copyto(buffer, d, casting="unsafe")
        if plan.input_backward is not None and not any(id(v) in wanted for v in trained_variables):
            plan.measured_backward(plan.input_backward)  # the input's gradient alone: no weight's is asked for
            return [g.copy() if t is not None else None for g, t in zip(plan.input_backward_grads, tracked)], []
        # nothing holds the run lent last: lend it again, else copy
        lend = plan.second_backward is not None and (plan.lent.array is None or plan.lent.free())
        plan.measured_backward(plan.second_backward if lend else plan.backward)
        d_inputs = [g.copy() if t is not None else None for g, t in zip(plan.input_grads or [None] * len(tracked),
                                                                           tracked)]
        grads = handed_gradients.lend(plan.own_grads, plan.lent) if lend else \
            handed_gradients.copy_for_caller(arena_grads, plan.copied)  # the caller's, laid out like the arena's run
        return d_inputs, list(zip(trained_variables, handed_gradients.views_of(grads, trained_layout)))

    record = _Record(tracked, outputs + terms, backward, tapes)
    record.owns_gradients = record.takes_wanted = True
    record.model, record.training, record.originals = model, bool(training), originals
    model.__dict__["_tape_losses"] = terms  # model.losses inside the tape: the recorded terms
    return model._structure_outputs(outputs)


def record_penalties(variables):
    """The sum of the regularization penalties of ``variables``, recorded by the tapes recording now
    (each regularizer's kernel gives its value and its gradient at once)."""
    total, grads = 0.0, []
    for var in variables:
        grad = np.zeros_like(var.value)
        total += float(var.regularizer.bind(var.value, grad)())
        grads.append((var, grad))
    value = np.asarray(total, dtype=variables[0].value.dtype).view(TapeArray)
    tapes = recording_tapes()
    if tapes:
        def backward(d_outputs):
            scale = float(np.asarray(d_outputs[0]))
            return [], [(var, grad * scale) for var, grad in grads]
        _Record([], [value], backward, tapes)
    return value


def _tape_plan(model, n, training, shapes, needs_inputs):
    """The model's training plan seeded by a tape, with two backwards. ``second_backward`` writes the
    weights' gradients into the plan's own flat run, ``own_grads``, laid out as the arena's: the record
    lends that run to the caller itself (no copy) whenever the caller has let go of what it lent last. The
    other, ``backward``, writes them into the arena's run, ``tape_grads``, which is copied for a caller that
    still holds the lent run (framework.plan.handed_gradients). ``tape_trained`` lists the weights the plan
    trains and ``tape_layout`` their (start, stop, shape) in either run (found once, when the plan is
    built); ``optimizer.apply`` reads the views it hands out in place."""
    arena = model.parameter_arena()
    segments = dict(zip(arena.trainable_ids, arena.segments))
    own = np.zeros_like(arena.grads)
    own_views = {key: own[start:stop].reshape(arena.grad_views[key].shape) for key, (start, stop) in segments.items()}
    plan = compile_plan(model, "train", n, model.arena_dtype(), [], arena.grad_views, None, training=training,
                        input_gradients=needs_inputs, input_shapes=shapes, external_seeds=True,
                        second_grad_views=own_views, input_backward=needs_inputs and bool(arena.grad_views))
    plan.tape_grads, plan.own_grads = arena.grads, own
    plan.tape_trained = [v for v in model.weights if id(v) in arena.grad_views]
    plan.tape_layout = [(*segments[id(v)], v.shape) for v in plan.tape_trained]
    return plan


def _loss_on_taped(loss, y_true, y_pred, sample_weight, tapes):
    """A built-in loss on recorded arrays, recorded by ``tapes`` (those tracking one of its operands): its
    kernel writes the value and d(y_pred) at once (bound once per shapes, ``framework.training.bound_losses``);
    the record scales d(y_pred) by the incoming gradient."""
    operands = [y_true, y_pred] + ([] if sample_weight is None else [sample_weight])
    value, d_pred = bound_losses.evaluate(loss, y_true, y_pred, sample_weight)
    result = value.view(TapeArray)
    tracked = [v for v in operands if isinstance(v, np.ndarray) and any(t._tracks(v) for t in tapes)]

    def backward(d_outputs):
        scale = np.asarray(d_outputs[0], dtype=d_pred.dtype)
        return [np.multiply(d_pred, scale).reshape(v.shape) if v is y_pred else np.zeros(v.shape, _float(v))
                for v in tracked], []

    _Record(tracked, [result], backward, tapes).owns_gradients = True  # new arrays at every call
    return result


#: ``input_gradient_model(model, training)`` (framework.models.double_backward installs it: models sit above)
INPUT_GRADIENT_MODEL = []


def install_input_gradient_model(function):
    INPUT_GRADIENT_MODEL[:] = [function]


operation.install_tape(_OpRecorder)
loss_module.install_tape_call(_tapes_tracking, _loss_on_taped)
