"""The recurrent-layer base: arguments, calls with states and masks, shapes, config, and the
per-node run of a sequence in a plan. The cells are in simple_rnn.py, lstm.py and gru.py.

Keras 3 arguments, defaults, weight shapes and gate orders (LSTM i, f, c, o;
GRU z, r, h), so Keras weights load with ``set_weights`` and give the same
outputs. How a sequence runs in a plan (framework/kernels/recurrent.py has the
cells):

- forward: the inputs are copied time-major (reversed for ``go_backwards``,
  input dropout applied), all steps' input projections are ONE product
  ``(T*batch, in) @ kernel``; then per step one product ``h_{t-1} @
  recurrent_kernel`` and one fused kernel for the gate math.
- backward: per step one fused kernel (gate gradients, written over the saved
  gates) and one product ``dgates @ recurrent_kernel^T``; the weight gradients
  are one product each over all steps.

Initial states and an explicit mask are extra inputs of the node:
``LSTM(...)(x, initial_state=[h, c], mask=m)`` records inputs ``[x, h, c, m]``
and ``{'mask': True}`` in the node's call arguments, so a model config rebuilt
from YAML calls ``layer([x, h, c, m], mask=True)``; a list ``[x, h, c]`` is
``x`` with its initial states (Keras 2's convention).
"""
import numpy as np

from framework import activations, constraints, initializers, regularizers
from framework.graph.node import Node
from framework.graph.shapes import format_shape
from framework.graph.tensor import Mask, SymbolicTensor, is_symbolic
from framework.kernels import recurrent as K
from framework.layers import eager
from framework.layers.layer import Layer
from framework.plan.global_batch import uniform_rows
from framework.plan.steps import matmul_step
from framework.utils.random import draw_seed


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, calls with states and masks, shapes,
    config, and the plan's sequence handling. Subclasses set GATES and STATES and provide
    the per-step cell steps (``_cell_forward`` / ``_cell_backward``)."""

    supports_masking = True
    #: gate blocks in the kernel's columns (SimpleRNN 1, GRU 3, LSTM 4)
    GATES = 1
    #: names of the recurrent states, in Keras's order
    STATES = ("h",)

    def _setup(self, args):
        """Check and store the constructor's arguments (``args``: its ``locals()``)."""
        kind, units = type(self).__name__, args["units"]
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Layer '{self.name}' ({kind}): units must be a positive integer, received {units!r}")
        if args["activity_regularizer"] is not None:
            raise NotImplementedError(f"Layer '{self.name}' ({kind}): activity_regularizer is not supported yet")
        if args["stateful"]:
            raise NotImplementedError(
                f"Layer '{self.name}' ({kind}): stateful=True is not supported yet (states are not carried "
                "between batches); pass the states explicitly with initial_state=[...] and return_state=True")
        for argument in ("dropout", "recurrent_dropout"):
            if not 0 <= float(args[argument]) < 1:
                raise ValueError(f"Layer '{self.name}' ({kind}): {argument} must be in [0, 1), "
                                 f"received {args[argument]!r}")
        self.units = int(units)
        self.activation = self._elementwise(args["activation"], "activation")
        self.recurrent_activation = self._elementwise(args.get("recurrent_activation", "linear"),
                                                      "recurrent_activation")
        self.use_bias = bool(args["use_bias"])
        for name in ("kernel", "recurrent", "bias"):
            setattr(self, f"{name}_regularizer", args[f"{name}_regularizer"])
            setattr(self, f"{name}_constraint", constraints.get(args[f"{name}_constraint"]))
        self.kernel_initializer = args["kernel_initializer"]
        self.recurrent_initializer = args["recurrent_initializer"]
        self.bias_initializer = args["bias_initializer"]
        self.dropout = float(args["dropout"])
        self.recurrent_dropout = float(args["recurrent_dropout"])
        self.seed = args["seed"]
        self.generator = np.random.default_rng(draw_seed() if self.seed is None else self.seed)
        self.return_sequences = bool(args["return_sequences"])
        self.return_state = bool(args["return_state"])
        self.go_backwards = bool(args["go_backwards"])
        self.stateful = False
        self.unroll = bool(args["unroll"])
        self.zero_output_for_mask = bool(args["zero_output_for_mask"])

    def _elementwise(self, activation, argument):
        fn = activations.get(activation)
        if isinstance(fn, activations.FunctionActivation):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): {argument} must be a built-in elementwise "
                             f"activation (its kernel runs inside the recurrence); received the function {fn.name!r}")
        if fn.kind is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): {argument} must be an elementwise "
                             f"activation; received {fn.name!r}")
        return fn

    # ----- weights and shapes --------------------------------------------------------------------
    def _check_sequence_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) != 3:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expected 3-D input (batch, timesteps, "
                             f"features), received shape {format_shape(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs a known feature axis, received "
                             f"shape {format_shape(input_shape)}")

    def build(self, input_shape):
        self._check_sequence_shape(input_shape)
        width = self.GATES * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer, self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(), self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def _bias_shape(self):
        return (self.GATES * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def check_input_shape(self, input_shape):
        self._check_sequence_shape(input_shape)
        if input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(self.shape_error((None, None, self.kernel.shape[0]), input_shape))

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * len(self.STATES)
        return output

    def compute_output_masks(self, input_masks):
        mask = input_masks[0] if self.return_sequences else None
        return [mask] + [None] * len(self.STATES) if self.return_state else mask

    def flops(self, input_shape, output_shape):
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        steps, features = shape[1] or 1, shape[2]
        return 2 * steps * (features + self.units) * self.GATES * self.units

    # ----- calling ---------------------------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, mask=None, training=None, **kwargs):
        if is_symbolic(inputs):
            return self._call_symbolic(inputs, initial_state=initial_state, mask=mask, training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Layer '{self.name}' got unexpected call argument(s) {', '.join(sorted(kwargs))}")
        if mask is None:  # an array from a masking layer carries its mask, as Keras's tensors do
            mask = getattr(inputs[0] if isinstance(inputs, (list, tuple)) else inputs, "_keras_mask", None)
        return self._call_eager_arrays(inputs, initial_state, mask, bool(training))

    def _call_symbolic(self, inputs, initial_state=None, mask=None, training=None, **kwargs):
        kind = type(self).__name__
        if kwargs:
            raise TypeError(f"Layer '{self.name}' ({kind}) got unexpected call argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        x, extra = tensors[0], tensors[1:]
        if mask is True:  # a rebuilt config: the mask is the list's last tensor
            if not extra:
                raise ValueError(f"Layer '{self.name}' ({kind}): mask=True needs the mask as the last tensor "
                                 "of the input list")
            mask = extra.pop()
        elif mask is not None and not isinstance(mask, SymbolicTensor):
            raise TypeError(f"Layer '{self.name}' ({kind}): mask must be a symbolic tensor of shape "
                            f"(batch, timesteps), received {type(mask).__name__}")
        if initial_state is not None:
            if extra:
                raise ValueError(f"Layer '{self.name}' ({kind}): pass initial states either in the input list "
                                 "or as initial_state, not both")
            extra = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        self._check_sequence_shape(x.shape)
        self._check_states(extra, x.shape)
        if mask is not None:
            self._check_mask(mask, x.shape)
        self._maybe_build(x.shape)
        output_shape = self.compute_output_shape(x.shape)
        shapes = output_shape if isinstance(output_shape, list) else [output_shape]
        call_kwargs = {} if training is None else {"training": bool(training)}
        if mask is not None:
            call_kwargs["mask"] = True
        node = Node(self, [x] + extra + ([mask] if mask is not None else []), shapes,
                    self.output_dtype([x]), call_kwargs)
        sequence_mask = x.mask if mask is None else Mask((None, x.shape[1]))
        node.outputs[0].mask = sequence_mask if self.return_sequences else None
        return node.outputs if len(node.outputs) > 1 else node.outputs[0]

    def _check_states(self, states, input_shape):
        kind = type(self).__name__
        if states and len(states) != len(self.STATES):
            raise ValueError(f"Layer '{self.name}' ({kind}) expects {len(self.STATES)} initial state(s) "
                             f"({', '.join(self.STATES)}), received {len(states)}")
        for name, state in zip(self.STATES, states):
            if not isinstance(state, SymbolicTensor):
                raise TypeError(f"Layer '{self.name}' ({kind}): initial state {name} must be a symbolic tensor, "
                                f"received {type(state).__name__}")
            if len(state.shape) != 2 or state.shape[1] != self.units:
                raise ValueError(self.shape_error((input_shape[0], self.units), state.shape,
                                                  f"initial state {name} of shape"))

    def _check_mask(self, mask, input_shape):
        if len(mask.shape) != 2 or (mask.shape[1] is not None and input_shape[1] is not None
                                    and mask.shape[1] != input_shape[1]):
            raise ValueError(self.shape_error((input_shape[0], input_shape[1]), mask.shape, "mask of shape"))

    def _call_eager_arrays(self, inputs, initial_state, mask, training):
        """Run on NumPy arrays through a one-layer model's plan (states and mask as extra inputs)."""
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if initial_state is not None:
            arrays += list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if mask is not None:
            arrays.append(mask)
        masked = mask is not None
        return eager.call_on_arrays(self, arrays, lambda tensors: self(tensors, mask=True if masked else None),
                                    flags=masked, training=training, keep_kinds="fb")

    # ----- plan emitters -----------------------------------------------------------------------------
    def forward(self, ctx):
        run = ctx.saved["recurrent"] = _Run(self, ctx)
        steps = run.begin_forward()
        steps.append(matmul_step(run.xs2d, run.kernel, run.gates2d))
        for s in range(run.steps):
            steps.extend(self._cell_forward(run, s))
        steps.extend(run.end_forward())
        return steps

    def backward(self, ctx):
        run = ctx.saved["recurrent"]
        run.bind_backward(ctx)
        steps = run.begin_backward()
        for s in reversed(range(run.steps)):
            steps.extend(self._cell_backward(run, s))
        steps.extend(run.end_backward())
        return steps

    # defaults for one state (h); the LSTM adds its cell state c
    def _extra_initial_slots(self, run):
        return []

    def _final_states(self, run):
        return [run.hs[run.steps]]

    def _extra_state_grads(self, run, d_states):
        return []

    def _product_gradients(self, run):
        """dU = H_prev^T @ dgates over all steps and rows at once."""
        if run.d_recurrent is None:
            return []
        h2d = run.weight_rows(run.h_prod.reshape(-1, run.units))
        return [matmul_step(h2d.T, run.weight_rows(run.gates2d), run.d_recurrent)]

    def _initial_state_grads(self, run, d_inputs):
        return run.initial_h_grad(run.gates[0], run.recurrent_kernel.T, d_inputs[0])

    # ----- config ----------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "units": self.units, "activation": activations.serialize(self.activation),
        })
        if self.GATES > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config.update({
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(initializers.get(self.kernel_initializer)),
            "recurrent_initializer": initializers.serialize(initializers.get(self.recurrent_initializer)),
            "bias_initializer": initializers.serialize(initializers.get(self.bias_initializer)),
            "kernel_regularizer": regularizers.serialize(regularizers.get(self.kernel_regularizer)),
            "recurrent_regularizer": regularizers.serialize(regularizers.get(self.recurrent_regularizer)),
            "bias_regularizer": regularizers.serialize(regularizers.get(self.bias_regularizer)),
            "activity_regularizer": None,
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
        })
        return config


class _Run:
    """The buffers and views of one recurrent node in one plan (kept on the StepContext
    between forward and backward). Time-major, in processing order:

    xs (T, B, in) inputs (after input dropout); hs (T+1, B, units) states, hs[0] the
    initial state; gates (T, B, G*units) input projections, then saved gates, then gate
    gradients; h_prod: the states as the recurrent product sees them (hs, or after
    recurrent dropout).
    """

    def __init__(self, layer, ctx):
        self.layer, self.ctx = layer, ctx
        dtype = ctx.dtype
        x = ctx.inputs[0]
        batch, steps, features = x.shape
        units, width = layer.units, layer.GATES * layer.units
        self.batch, self.steps, self.units = batch, steps, units
        explicit_mask = getattr(ctx.node, "call_kwargs", {}).get("mask") is True
        self.n_states = len(ctx.inputs) - 1 - int(explicit_mask)
        self.zero_start = self.n_states == 0
        self.mask_input = ctx.inputs[-1] if explicit_mask else None
        if explicit_mask:  # copied as 1.0/0.0 of the compute dtype, as an implicit mask arrives
            started = ctx.output_masks[0] if ctx.output_masks else None
            self.mask = started if started is not None else ctx.scratch("mask", (batch, steps))
        else:
            mask = ctx.input_masks[0]
            self.mask = mask if mask is not None else np.zeros((0, 0), dtype)
        self.x = x
        self.kernel, self.recurrent_kernel = ctx.weights[0], ctx.weights[1]
        self.bias = ctx.weights[2] if layer.use_bias else np.zeros(layer._bias_shape(), dtype)
        self.xs = ctx.scratch("xs", (steps, batch, features))
        self.xs2d = self.xs.reshape(steps * batch, features)
        self.hs = ctx.scratch("hs", (steps + 1, batch, units))
        self.gates = ctx.scratch("gates", (steps, batch, width))
        self.gates2d = self.gates.reshape(steps * batch, width)
        self.rec = ctx.scratch("rec", (batch, width))
        self.training = bool(ctx.training)
        self.dropping = self.training and layer.dropout > 0
        self.rec_dropping = self.training and layer.recurrent_dropout > 0
        self.rate = dtype.type(layer.dropout)
        self.rec_rate = dtype.type(layer.recurrent_dropout)
        empty = np.zeros((0, 0), dtype)
        self.draws = ctx.scratch("draws", (batch, features)) if self.dropping else empty
        self.rec_draws = ctx.scratch("rec_draws", (batch, units)) if self.rec_dropping else empty
        if self.rec_dropping:
            self.h_prod = ctx.scratch("h_prod", (steps, batch, units))
        else:
            self.h_prod = self.hs[:steps]
        self.codes = (layer.activation.kind, layer.recurrent_activation.kind)
        self.params = np.array([layer.activation.params, layer.recurrent_activation.params], dtype)
        self.empty_dy = np.zeros((0, 0, 0), dtype)

    def time_index(self, s):
        """The input (mask) time index of processing step s."""
        return self.steps - 1 - s if self.layer.go_backwards else s

    # ----- forward ----------------------------------------------------------------------------------
    def begin_forward(self):
        ctx, layer = self.ctx, self.layer
        x, xs, draws, rate, reverse = self.x, self.xs, self.draws, self.rate, layer.go_backwards
        generator = layer.generator
        dropping, rec_dropping, rec_draws = self.dropping, self.rec_dropping, self.rec_draws
        copy_mask = self.mask_input is not None
        mask_in, mask_out = self.mask_input, self.mask
        initial = [ctx.inputs[1 + i] for i in range(self.n_states)]
        state_slots = self.initial_slots()

        def prepare_sequence():
            if dropping:
                uniform_rows(generator, draws)
            if rec_dropping:
                uniform_rows(generator, rec_draws)
            K.sequence_to_steps(x, xs, reverse, draws, rate)
            if copy_mask:
                K.copy_mask(mask_in, mask_out)
            if initial:
                for slot, value in zip(state_slots, initial):
                    np.copyto(slot, value)
            else:
                for slot in state_slots:
                    slot.fill(0)
        return [prepare_sequence]

    def initial_slots(self):
        """Where the initial states go: hs[0] (and the LSTM's cs[0]); zeroed when none is given,
        with the first product input under recurrent dropout."""
        slots = [self.hs[0]] + self.layer._extra_initial_slots(self)
        if self.zero_start and self.rec_dropping:
            slots.append(self.h_prod[0])
        return slots

    def recurrent_product(self, s, weights, out, h_in=None):
        """(steps, result): ``h_in @ weights`` for step s into ``out``, h_in defaulting to h_prod[s]
        (made first from hs[s] under recurrent dropout). With no initial state, step 0's product
        is of zeros: no steps, and a zero buffer as the result."""
        if s == 0 and self.zero_start:
            return [], np.zeros(out.shape, out.dtype)
        steps = []
        if h_in is None:
            h_in = self.h_prod[s]
            if self.rec_dropping:
                h, draws, rate = self.hs[s], self.rec_draws, self.rec_rate

                def recurrent_dropout():
                    K.dropout_scale(h, draws, rate, h_in)
                steps.append(recurrent_dropout)
        steps.append(matmul_step(h_in, weights, out))
        return steps, out

    def weight_rows(self, array2d):
        """The rows of a (T*B, k) view that enter the recurrent kernel's gradient: step 0's are
        zero without an initial state, so they are left out."""
        return array2d[self.batch:] if self.zero_start else array2d

    def end_forward(self):
        ctx, layer = self.ctx, self.layer
        y, hs, steps = ctx.outputs[0], self.hs, self.steps
        mask, reverse = self.mask, layer.go_backwards
        zero_masked = layer.zero_output_for_mask and mask.shape[0] != 0
        finals = list(zip(layer._final_states(self), ctx.outputs[1:]))
        sequences = layer.return_sequences
        last = hs[steps]

        def write_outputs():
            if sequences:
                K.sequence_output(hs, y, mask, reverse, zero_masked)
            else:
                np.copyto(y, last)
            for src, dst in finals:
                np.copyto(dst, src)
        return [write_outputs]

    # ----- backward ---------------------------------------------------------------------------------
    def bind_backward(self, ctx):
        self.ctx = ctx
        batch, units = self.batch, self.units
        self.dh_rec = ctx.scratch("dh_rec", (batch, units))
        self.carry = ctx.scratch("carry", (batch, units))
        layer = self.layer
        dy = ctx.d_outputs[0]
        self.dy_masked = None
        if layer.return_sequences:
            if layer.zero_output_for_mask and self.mask.shape[0] != 0:
                self.dy_masked = ctx.scratch("dy_masked", dy.shape)
                self.dy = self.dy_masked
            else:
                self.dy = dy
        else:
            self.dy = self.empty_dy
        trained = ctx.d_weights
        self.d_kernel = trained[0]
        self.d_recurrent = trained[1]
        if layer.use_bias and trained[2] is not None:
            self.d_bias = trained[2]
        else:
            self.d_bias = ctx.scratch("d_bias_unused", layer._bias_shape())

    def begin_backward(self):
        ctx, layer = self.ctx, self.layer
        dy, carry, d_bias = ctx.d_outputs[0], self.carry, self.d_bias
        d_states = ctx.d_outputs[1:] if layer.return_state else []
        sequences = layer.return_sequences
        masked_copy, mask, reverse = self.dy_masked, self.mask, layer.go_backwards
        dh_rec = self.dh_rec
        extra = layer._extra_state_grads(self, d_states)

        def start_backward():
            if sequences:
                carry.fill(0)
                if masked_copy is not None:
                    K.mask_sequence_grad(dy, mask, reverse, masked_copy)
            else:
                np.copyto(carry, dy)
            if d_states:
                np.add(carry, d_states[0], out=carry)
            for dst, src in extra:
                if src is None:
                    dst.fill(0)
                else:
                    np.copyto(dst, src)
            d_bias.fill(0)
            dh_rec.fill(0)
        return [start_backward]

    def recurrent_grad(self, dgates_next, recurrent_kernel_t, s):
        """Steps forming dh_rec = dgates_{s+1} @ U^T (through the recurrent dropout) before step s."""
        if s == self.steps - 1:
            return []
        steps = [matmul_step(dgates_next, recurrent_kernel_t, self.dh_rec)]
        if self.rec_dropping:
            dh, draws, rate = self.dh_rec, self.rec_draws, self.rec_rate
            steps.append(lambda: K.dropout_scale_inplace(dh, draws, rate))
        return steps

    def end_backward(self):
        ctx, layer = self.ctx, self.layer
        steps = []
        product_grads = layer._product_gradients(self)
        d_initial = ctx.d_inputs[1:1 + self.n_states]
        if any(d is not None for d in d_initial):
            steps.extend(layer._initial_state_grads(self, d_initial))
        if self.d_kernel is not None:
            steps.append(matmul_step(self.xs2d.T, self.gates2d, self.d_kernel))
        steps.extend(product_grads)
        dx = ctx.d_inputs[0]
        if dx is not None:
            dxs = ctx.scratch("dxs", self.xs.shape)
            dxs2d = dxs.reshape(self.xs2d.shape)
            steps.append(matmul_step(self.gates2d, self.kernel.T, dxs2d))
            reverse, draws, rate = layer.go_backwards, self.draws, self.rate
            steps.append(lambda: K.steps_to_sequence(dxs, dx, reverse, draws, rate))
        if self.mask_input is not None and ctx.d_inputs[-1] is not None:
            d_mask = ctx.d_inputs[-1]
            steps.append(lambda: d_mask.fill(0))
        return steps

    def initial_h_grad(self, dgates0, recurrent_kernel_t, d_h0):
        """d_h0 = dgates_0 @ U^T (through the recurrent dropout) + carry."""
        steps = [matmul_step(dgates0, recurrent_kernel_t, d_h0)]
        carry, draws, rate, dropping = self.carry, self.rec_draws, self.rec_rate, self.rec_dropping

        def add_carry():
            if dropping:
                K.dropout_scale_inplace(d_h0, draws, rate)
            np.add(d_h0, carry, out=d_h0)
        steps.append(add_carry)
        return steps
