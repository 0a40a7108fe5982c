"""Attention (Luong dot / concat) and the plan steps every attention layer shares: the combined
mask, the fused masked softmax and attention dropout. MultiHeadAttention is in
multi_head_attention.py.

Both compute ``softmax(scores) @ value`` with a fused, numerically stable masked
softmax (framework/kernels/attention.py); every matrix product is an
``np.matmul(..., out=)`` on views prepared at bind time. Masks are combined as
Keras combines them: the value (and key) masks carried by the inputs, an
explicit ``attention_mask`` (MultiHeadAttention), and the causal mask. A query
step with no key left to attend to gets all-zero attention weights, as Keras's
masked Softmax gives.
"""
import numpy as np

from framework.graph.node import Node
from framework.graph.tensor import is_symbolic
from framework.kernels.attention import (build_attention_mask, concat_scores, concat_scores_backward,
                                         masked_logits, masked_softmax_backward, normalize_rows,
                                         zero_masked_rows)
from framework.kernels.dropout import dropout_backward, dropout_forward
from framework.kernels.elementwise import add_inplace, flat
from framework.layers import eager
from framework.layers.layer import Layer
from framework.plan.global_batch import uniform_rows
from framework.plan.steps import matmul_step
from framework.utils.random import draw_seed

__all__ = ["Attention"]


# ----------------------------------------------------------------------------- shared steps

def _dummy(dtype, ndim):
    """A stand-in for an absent mask, so each kernel keeps one signature per dtype."""
    return np.ones((1,) * ndim, dtype=dtype)


def _bind_allowed(ctx, steps_q, steps_k, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
                  causal=False, window=0):
    """(allowed buffer (batch, Tq, Tk) or None, the step filling it or None)."""
    if all(m is None for m in (query_mask, value_mask, key_mask, attention_mask)) and not causal and not window:
        return None, None
    allowed = ctx.scratch("allowed", (ctx.batch_size, steps_q, steps_k))
    two, three = _dummy(ctx.dtype, 2), _dummy(ctx.dtype, 3)
    args = (query_mask if query_mask is not None else two, query_mask is not None,
            value_mask if value_mask is not None else two, value_mask is not None,
            key_mask if key_mask is not None else two, key_mask is not None,
            attention_mask if attention_mask is not None else three, attention_mask is not None,
            bool(causal), int(window or 0), allowed)
    return allowed, lambda: build_attention_mask(*args)


def _softmax_step(raw3, scale, allowed, heads, probs3):
    """probs3 = softmax(scale * raw3) over the allowed positions (see masked_logits)."""
    use_mask = allowed is not None
    allowed = allowed if use_mask else _dummy(raw3.dtype, 3)
    exp = np.exp

    def step():
        masked_logits(raw3, scale, allowed, use_mask, heads, probs3)
        exp(probs3, out=probs3)
        normalize_rows(probs3)
    return step


def _dropout_steps(ctx, layer, probs):
    """(the probabilities value is multiplied with, forward steps): dropout in training only."""
    if not (ctx.training and layer.dropout > 0):
        return probs, []
    draws = ctx.scratch("draws", probs.shape)
    dropped = ctx.scratch("dropped", probs.shape)
    p, u, d = flat(probs), flat(draws), flat(dropped)
    rate, generator = ctx.dtype.type(layer.dropout), layer.generator

    def step():
        uniform_rows(generator, draws)
        dropout_forward(p, u, rate, d)
    return dropped, [step]


def _dropout_backward_steps(ctx, layer, d_dropped):
    """(gradient of the undropped probabilities, steps)."""
    if not (ctx.training and layer.dropout > 0):
        return d_dropped, []
    d_probs = ctx.scratch("d_probs", d_dropped.shape)
    u, src, dst = flat(ctx.scratch("draws", d_dropped.shape)), flat(d_dropped), flat(d_probs)
    rate = ctx.dtype.type(layer.dropout)
    return d_probs, [lambda: dropout_backward(src, u, rate, dst)]


def _add_step(dst, src):
    dst, src = flat(dst), flat(src)
    return lambda: add_inplace(dst, src)


def _fill_zero_step(array):
    return lambda: array.fill(0)


def _require_rank3(layer, what, shape):
    if len(shape) != 3:
        raise ValueError(layer.shape_error((None, None, None), shape, f"{what} shape")
                         + f" ({what} must be (batch, steps, features))")


# ----------------------------------------------------------------------------- Attention

class Attention(Layer):
    """Dot-product (Luong) attention over ``[query, value]`` or ``[query, value, key]``.

    ``scores = query @ key^T`` ('dot', times a learned ``scale`` if use_scale) or
    ``concat_score_weight * sum(tanh(scale * (query + key)))`` ('concat'); the output
    is ``softmax(scores) @ value`` of shape (batch, Tq, value_dim).

    Args:
        use_scale: learn a scalar ``scale`` weight.
        score_mode: 'dot' or 'concat' ('concat' adds the weight ``concat_score_weight``).
        dropout: fraction of attention weights dropped in training.
        seed: seed of the dropout generator.

    Call arguments: ``return_attention_scores`` (also return the (batch, Tq, Tv) weights),
    ``use_causal_mask``, ``training``. Masks come from the inputs: the value's mask hides
    value steps; the query's mask zeroes masked query steps of the output and is the
    output's mask.
    """

    supports_masking = True
    SCORE_MODES = ("dot", "concat")

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in self.SCORE_MODES:
            raise ValueError(f"Layer '{self.name}' (Attention): score_mode must be one of "
                             f"{', '.join(self.SCORE_MODES)}, received {score_mode!r}")
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"Layer '{self.name}' (Attention): dropout must be in [0, 1), received {dropout!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        self.generator = np.random.default_rng(draw_seed() if seed is None else seed)

    # ----- calling ---------------------------------------------------------------------------
    def __call__(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        if mask is not None:
            raise NotImplementedError(
                f"Layer '{self.name}' (Attention): an explicit `mask` argument is not supported; masks come "
                "from the inputs (Embedding(mask_zero=True), Masking)")
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ValueError(f"Layer '{self.name}' (Attention) must be called on a list [query, value] or "
                             f"[query, value, key], received {type(inputs).__name__}"
                             + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else ""))
        flags = {}
        if use_causal_mask:
            flags["use_causal_mask"] = True
        if return_attention_scores:
            flags["return_attention_scores"] = True
        if training is not None:
            flags["training"] = bool(training)
        if is_symbolic(list(inputs)):
            return self._call_symbolic(list(inputs), flags)
        return eager.call_on_arrays(self, inputs, lambda ins: self._call_symbolic(ins, flags),
                                    tuple(sorted(flags.items())), bool(training))

    def _call_symbolic(self, tensors, flags):
        shapes = [t.shape for t in tensors]
        self._validate(shapes)
        if not self.built:
            self.build(shapes)
            self.built = True
            self.input_spec_shape = shapes
        node = Node(self, tensors, self._output_shapes(shapes, flags), self.output_dtype(tensors), flags)
        query_mask = tensors[0].mask
        node.outputs[0].mask = query_mask
        return node.outputs if len(node.outputs) > 1 else node.outputs[0]

    def _validate(self, shapes):
        for what, shape in zip(("query", "value", "key"), shapes):
            _require_rank3(self, what, shape)
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if key[1] != value[1]:
            raise ValueError(self.shape_error((None, value[1], key[2]), key, "key shape")
                             + " (key and value need the same number of steps)")
        if query[2] != key[2]:
            raise ValueError(self.shape_error((None, query[1], key[2]), query, "query shape")
                             + " (query and key need the same feature size)")

    def _output_shapes(self, shapes, flags):
        query, value = shapes[0], shapes[1]
        outputs = [(query[0], query[1], value[2])]
        if flags.get("return_attention_scores"):
            outputs.append((query[0], query[1], value[1]))
        return outputs

    def check_input_shape(self, input_shape):
        """No weight depends on the input sizes: any valid call is accepted (see _validate)."""

    def compute_output_shape(self, input_shape):
        return self._output_shapes(list(input_shape), {})[0]

    def compute_output_masks(self, input_masks):
        return input_masks[0]

    def build(self, input_shape):
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")

    def flops(self, input_shape, output_shape):
        query, value = input_shape[0], input_shape[1]
        per_pair = (3 * query[2]) if self.score_mode == "concat" else 2 * query[2]
        return query[1] * value[1] * (per_pair + 2 * value[2] + 5)

    # ----- plan ------------------------------------------------------------------------------
    def _parts(self, ctx):
        """Inputs, flags and the scalar weights as 1-element arrays."""
        query, value = ctx.inputs[0], ctx.inputs[1]
        key = ctx.inputs[2] if len(ctx.inputs) > 2 else value
        one = np.ones(1, dtype=ctx.dtype)
        weights = [w.reshape(1) for w in ctx.weights]
        scale = weights[0] if self.use_scale else one
        concat_weight = weights[-1] if self.score_mode == "concat" else None
        return query, value, key, scale, concat_weight

    def forward(self, ctx):
        kwargs = ctx.node.call_kwargs
        query, value, key, scale, concat_weight = self._parts(ctx)
        batch, steps_q, steps_v = ctx.batch_size, query.shape[1], value.shape[1]
        raw = ctx.scratch("raw", (batch, steps_q, steps_v))
        if self.score_mode == "dot":
            steps = [matmul_step(query, key.transpose(0, 2, 1), raw)]
            softmax_scale = scale
        else:
            steps = [lambda: concat_scores(query, key, scale, raw)]
            softmax_scale = concat_weight
        allowed, mask_step = _bind_allowed(ctx, steps_q, steps_v, value_mask=ctx.input_masks[1],
                                           causal=kwargs.get("use_causal_mask", False))
        if mask_step is not None:
            steps.append(mask_step)
        probs = ctx.outputs[1] if len(ctx.outputs) > 1 else ctx.scratch("probs", raw.shape)
        steps.append(_softmax_step(raw, softmax_scale, allowed, 1, probs))
        used, dropout_steps = _dropout_steps(ctx, self, probs)
        steps += dropout_steps
        steps.append(matmul_step(used, value, ctx.y))
        query_mask = ctx.input_masks[0]
        if query_mask is not None:
            y = ctx.y
            steps.append(lambda: zero_masked_rows(y, query_mask))
        return steps

    def backward(self, ctx):
        query, value, key, scale, concat_weight = self._parts(ctx)
        batch, steps_q, steps_v = ctx.batch_size, query.shape[1], value.shape[1]
        raw = ctx.scratch("raw", (batch, steps_q, steps_v))
        probs = ctx.outputs[1] if len(ctx.outputs) > 1 else ctx.scratch("probs", raw.shape)
        used = ctx.scratch("dropped", raw.shape) if (ctx.training and self.dropout > 0) else probs
        dy, steps = ctx.d_outputs[0], []
        query_mask = ctx.input_masks[0]
        if query_mask is not None:
            steps.append(lambda: zero_masked_rows(dy, query_mask))
        d_query, d_value = ctx.d_inputs[0], ctx.d_inputs[1]
        d_key = ctx.d_inputs[2] if len(ctx.inputs) > 2 else None
        if d_value is not None:
            steps.append(matmul_step(used.transpose(0, 2, 1), dy, d_value))
        d_used = ctx.scratch("d_used", raw.shape)
        steps.append(matmul_step(dy, value.transpose(0, 2, 1), d_used))
        d_probs, dropout_steps = _dropout_backward_steps(ctx, self, d_used)
        steps += dropout_steps
        if len(ctx.outputs) > 1:
            steps.append(_add_step(d_probs, ctx.d_outputs[1]))
        d_raw = ctx.scratch("d_raw", raw.shape)
        d_scale_weights = list(ctx.d_weights)
        if self.score_mode == "dot":
            softmax_scale = scale
            d_softmax_scale = d_scale_weights[0] if self.use_scale else None
        else:
            softmax_scale = concat_weight
            d_softmax_scale = d_scale_weights[-1]
        want = d_softmax_scale is not None
        d_soft = d_softmax_scale.reshape(1) if want else np.zeros(1, ctx.dtype)
        steps.append(lambda: masked_softmax_backward(probs, d_probs, raw, softmax_scale, d_raw, d_soft, want))
        key_is_value = len(ctx.inputs) == 2
        key_target = d_value if key_is_value else d_key
        if self.score_mode == "dot":
            if d_query is not None:
                steps.append(matmul_step(d_raw, key, d_query))
            if key_target is not None:
                if key_is_value:
                    private = ctx.scratch("d_key", key.shape)
                    steps += [matmul_step(d_raw.transpose(0, 2, 1), query, private), _add_step(key_target, private)]
                else:
                    steps.append(matmul_step(d_raw.transpose(0, 2, 1), query, key_target))
        else:
            steps += self._concat_backward(ctx, query, key, scale, d_raw, d_query, key_target, key_is_value)
        return steps

    def _concat_backward(self, ctx, query, key, scale, d_raw, d_query, key_target, key_is_value):
        want = self.use_scale and ctx.d_weights[0] is not None
        d_scale = ctx.d_weights[0].reshape(1) if want else np.zeros(1, ctx.dtype)
        dq = d_query if d_query is not None else ctx.scratch("d_query", query.shape)
        dk = key_target if (key_target is not None and not key_is_value) else ctx.scratch("d_key", key.shape)
        steps = [lambda: concat_scores_backward(query, key, scale, d_raw, dq, dk, d_scale, want)]
        if key_is_value and key_target is not None:
            steps.append(_add_step(key_target, dk))
        return steps

    def get_config(self):
        config = super().get_config()
        config.update({"use_scale": self.use_scale, "score_mode": self.score_mode, "dropout": self.dropout,
                       "seed": self.seed})
        return config


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (Attention,)
