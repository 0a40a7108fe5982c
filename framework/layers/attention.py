"""Attention layers: Attention (Luong dot / concat) and MultiHeadAttention.

Both compute ``softmax(scores) @ value`` with a fused, numerically stable masked
softmax (framework/kernels/attention.py); every matrix product is an
``np.matmul(..., out=)`` on views prepared at bind time. Masks are combined as
Keras combines them: the value (and key) masks carried by the inputs, an
explicit ``attention_mask`` (MultiHeadAttention), and the causal mask. A query
step with no key left to attend to gets all-zero attention weights, as Keras's
masked Softmax gives.

Tensor call arguments (``value``, ``key``, ``attention_mask``) become inputs of
the node; which one is which is stored as plain data in the node's call
arguments, so a model config rebuilds the same call.
"""
import math

import numpy as np

from framework import activations, backend, constraints, initializers, regularizers
from framework.graph.node import Node
from framework.graph.tensor import is_symbolic
from framework.kernels.attention import (build_attention_mask, concat_scores, concat_scores_backward,
                                         masked_logits, masked_softmax_backward, normalize_rows,
                                         zero_masked_rows)
from framework.kernels.dropout import dropout_backward, dropout_forward
from framework.kernels.elementwise import add_inplace, flat
from framework.layers.core import Input, matmul_step
from framework.layers.layer import Layer
from framework.utils.random import draw_seed

__all__ = ["Attention", "MultiHeadAttention"]


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
    rate, generator, dtype = ctx.dtype.type(layer.dropout), layer.generator, ctx.dtype

    def step():
        generator.random(dtype=dtype, out=u)
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


def _call_on_arrays(layer, arrays, call, flags, training):
    """Run ``call(input tensors)`` on NumPy arrays through a cached one-layer model."""
    from framework.models.functional import Model
    arrays = [np.asarray(a) for a in arrays]
    key = (tuple((a.shape[1:], a.dtype.name) for a in arrays), flags)
    cache = layer.__dict__.setdefault("_eager_models", {})
    if key not in cache:
        ins = [Input(a.shape[1:], dtype=a.dtype.name if a.dtype.kind == "f" else backend.floatx()) for a in arrays]
        cache[key] = Model(ins, call(ins))
        layer._inbound_nodes.pop()
    return cache[key](arrays if len(arrays) > 1 else arrays[0], training=training)


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
        return _call_on_arrays(self, inputs, lambda ins: self._call_symbolic(ins, flags),
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

    def compute_mask(self, input_masks):
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


# ----------------------------------------------------------------------------- MultiHeadAttention

#: the roles a MultiHeadAttention node's inputs can play, in their order in the node
_ROLES = ("query", "value", "key", "attention_mask")


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017), as ``keras.layers.MultiHeadAttention``.

    Query (batch, T, dim), value (batch, S, dim_v) and key (default: value) are projected
    to ``num_heads`` heads of ``key_dim`` (query, key) and ``value_dim`` (value) features;
    each head computes ``softmax(q k^T / sqrt(key_dim)) v``; the heads are concatenated and
    projected to ``output_shape`` (default: the query's last axis).

    Args:
        num_heads, key_dim: heads and the size of each query/key head.
        value_dim: size of each value head (default key_dim).
        dropout: fraction of attention weights dropped in training.
        use_bias: biases on the four projections.
        output_shape: int or tuple: the output's trailing shape (default (dim,)).
        attention_axes: only None (attention over the steps axis) is supported.
        sliding_window: if set, step i attends only to steps j with |i - j| < sliding_window.
        kernel_initializer='glorot_uniform', bias_initializer='zeros', kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: for the four projections.
        seed: seed of the dropout generator.

    Weights, in Keras's order: query/kernel (dim, heads, key_dim), query/bias (heads, key_dim),
    key/kernel, key/bias, value/kernel (dim_v, heads, value_dim), value/bias (heads, value_dim),
    attention_output/kernel (heads, value_dim, *output_shape), attention_output/bias (output_shape).

    Call: ``mha(query, value, key=None, attention_mask=None, return_attention_scores=False,
    training=None, use_causal_mask=False)``. ``attention_mask`` is a (batch, T, S) tensor
    (nonzero = may attend); it is ANDed with the masks the query, value and key carry and with
    the causal mask. The output keeps the query's mask. Scores are (batch, heads, T, S).
    """

    supports_masking = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, use_gate=False,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = self._positive(num_heads, "num_heads")
        self.key_dim = self._positive(key_dim, "key_dim")
        self.value_dim = self._positive(value_dim, "value_dim") if value_dim else self.key_dim
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"Layer '{self.name}' (MultiHeadAttention): dropout must be in [0, 1), "
                             f"received {dropout!r}")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        if output_shape:
            output_shape = [output_shape] if isinstance(output_shape, (int, np.integer)) else list(output_shape)
            output_shape = [self._positive(d, "output_shape") for d in output_shape]
        self.output_shape_arg = output_shape or None
        self.attention_axes = self._check_axes(attention_axes)
        self.sliding_window = None if sliding_window is None else self._positive(sliding_window, "sliding_window")
        if activity_regularizer is not None:
            raise NotImplementedError(f"Layer '{self.name}': activity_regularizer is not supported yet")
        if use_gate:
            raise NotImplementedError(f"Layer '{self.name}' (MultiHeadAttention): use_gate=True is not supported yet")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self.generator = np.random.default_rng(draw_seed() if seed is None else seed)

    def _positive(self, value, what):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"Layer '{self.name}' (MultiHeadAttention): {what} must be a positive integer, "
                             f"received {value!r}")
        return int(value)

    def _check_axes(self, axes):
        if axes is None:
            return None
        listed = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
        if [int(a) for a in listed] not in ([1], [-2]):
            raise NotImplementedError(
                f"Layer '{self.name}' (MultiHeadAttention): attention_axes={axes!r} is not supported; only "
                "attention over the steps axis of (batch, steps, features) inputs (attention_axes=None)")
        return [int(a) for a in listed]

    # ----- calling ---------------------------------------------------------------------------
    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
                 attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False,
                 input_roles=None):
        for name, given in (("query_mask", query_mask), ("value_mask", value_mask), ("key_mask", key_mask)):
            if given is not None:
                raise NotImplementedError(
                    f"Layer '{self.name}' (MultiHeadAttention): an explicit {name} is not supported; masks come "
                    "from the inputs (Embedding(mask_zero=True), Masking) or use attention_mask")
        roles, tensors = self._arrange(query, value, key, attention_mask, input_roles)
        flags = {}
        if input_roles is not None or "attention_mask" in roles:
            flags["input_roles"] = list(roles)
        if use_causal_mask:
            flags["use_causal_mask"] = True
        if return_attention_scores:
            flags["return_attention_scores"] = True
        if training is not None:
            flags["training"] = bool(training)
        if is_symbolic(tensors):
            return self._call_symbolic(tensors, flags)
        if any(is_symbolic(t) for t in tensors):
            raise TypeError(f"Layer '{self.name}' (MultiHeadAttention): mix of symbolic tensors and arrays")
        frozen = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(flags.items()))
        return _call_on_arrays(self, tensors, lambda ins: self._call_symbolic(ins, flags), frozen, bool(training))

    def _arrange(self, query, value, key, attention_mask, input_roles):
        """(roles, tensors): the node's inputs in _ROLES order (a list first argument is already arranged)."""
        if isinstance(query, (list, tuple)):
            if value is not None or key is not None or attention_mask is not None:
                raise ValueError(f"Layer '{self.name}' (MultiHeadAttention): give the inputs either as a list "
                                 "or as query, value, key, attention_mask arguments, not both")
            tensors = list(query)
            roles = list(input_roles) if input_roles is not None else list(_ROLES[:len(tensors)])
            if len(roles) != len(tensors) or roles[:2] != ["query", "value"] or not set(roles) <= set(_ROLES) \
                    or len(set(roles)) != len(roles):
                raise ValueError(f"Layer '{self.name}' (MultiHeadAttention): cannot match inputs to roles {roles}; "
                                 f"expected [query, value] followed by key and/or attention_mask")
            return roles, tensors
        if value is None:
            raise ValueError(f"Layer '{self.name}' (MultiHeadAttention) needs query and value: mha(query, value)")
        given = {"query": query, "value": value, "key": key, "attention_mask": attention_mask}
        roles = [r for r in _ROLES if given[r] is not None]
        return roles, [given[r] for r in roles]

    @staticmethod
    def _roles(call_kwargs, count):
        return list(call_kwargs.get("input_roles") or _ROLES[:count])

    def _call_symbolic(self, tensors, flags):
        roles = self._roles(flags, len(tensors))
        shapes = dict(zip(roles, (t.shape for t in tensors)))
        self._validate(shapes)
        if not self.built:
            self.build(shapes["query"], shapes["value"], shapes.get("key"))
            self.built = True
        else:
            self._check_built_for(shapes)
        node = Node(self, tensors, self._output_shapes(shapes, flags), self.output_dtype(tensors), flags)
        node.outputs[0].mask = tensors[0].mask
        return node.outputs if len(node.outputs) > 1 else node.outputs[0]

    def _validate(self, shapes):
        for what in ("query", "value", "key"):
            if what in shapes:
                _require_rank3(self, what, shapes[what])
        query, value = shapes["query"], shapes["value"]
        key = shapes.get("key", value)
        if key[1] != value[1]:
            raise ValueError(self.shape_error((None, value[1], key[2]), key, "key shape")
                             + " (key and value need the same number of steps)")
        if "attention_mask" in shapes:
            expected = (None, query[1], value[1])
            if tuple(shapes["attention_mask"][1:]) != expected[1:]:
                raise ValueError(self.shape_error(expected, shapes["attention_mask"], "attention_mask shape")
                                 + " (batch, query steps, value steps)")

    def _check_built_for(self, shapes):
        expected = {"query": self.query_kernel.shape[0], "value": self.value_kernel.shape[0],
                    "key": self.key_kernel.shape[0]}
        for what, size in expected.items():
            shape = shapes.get(what, shapes["value"] if what == "key" else None)
            if shape[-1] != size:
                raise ValueError(self.shape_error((None, None, size), shape, f"{what} shape"))

    def _out_dims(self, query_shape):
        return tuple(self.output_shape_arg) if self.output_shape_arg else (query_shape[-1],)

    def _output_shapes(self, shapes, flags):
        query, value = shapes["query"], shapes["value"]
        outputs = [tuple(query[:2]) + self._out_dims(query)]
        if flags.get("return_attention_scores"):
            outputs.append((query[0], self.num_heads, query[1], value[1]))
        return outputs

    def check_input_shape(self, input_shape):
        """Checked per call in _check_built_for."""

    def compute_output_shape(self, input_shape):
        shapes = list(input_shape) if isinstance(input_shape, list) else [input_shape, input_shape]
        return self._output_shapes(dict(zip(_ROLES, shapes)), {})[0]

    def compute_mask(self, input_masks):
        return input_masks[0]

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None and isinstance(query_shape, list):
            query_shape, value_shape, key_shape = (list(query_shape) + [None])[:3]
        key_shape = value_shape if key_shape is None else key_shape
        heads, kd, vd = self.num_heads, self.key_dim, self.value_dim
        out_dims = self._out_dims(query_shape)
        self.query_kernel, self.query_bias = self._projection("query", (query_shape[-1], heads, kd), (heads, kd))
        self.key_kernel, self.key_bias = self._projection("key", (key_shape[-1], heads, kd), (heads, kd))
        self.value_kernel, self.value_bias = self._projection("value", (value_shape[-1], heads, vd), (heads, vd))
        self.output_kernel, self.output_bias = self._projection("attention_output", (heads, vd) + out_dims, out_dims)
        self.input_spec_shape = [tuple(query_shape), tuple(value_shape), tuple(key_shape)]

    def _projection(self, name, kernel_shape, bias_shape):
        kernel = self.add_weight(f"{name}/kernel", kernel_shape, self.kernel_initializer, self.kernel_regularizer,
                                 constraint=self.kernel_constraint)
        bias = None
        if self.use_bias:
            bias = self.add_weight(f"{name}/bias", bias_shape, self.bias_initializer, self.bias_regularizer,
                                   constraint=self.bias_constraint)
        return kernel, bias

    def flops(self, input_shape, output_shape):
        shapes = dict(zip(_ROLES, input_shape if isinstance(input_shape, list) else [input_shape]))
        query, value = shapes["query"], shapes["value"]
        key = shapes.get("key", value)
        t, s, h, kd, vd = query[1], value[1], self.num_heads, self.key_dim, self.value_dim
        out = math.prod(self._out_dims(query))
        projections = 2 * h * (t * query[2] * kd + s * key[2] * kd + s * value[2] * vd + t * vd * out)
        return projections + 2 * h * t * s * (kd + vd) + 5 * h * t * s

    # ----- plan ------------------------------------------------------------------------------
    def _bind(self, ctx):
        """Views shared by forward and backward (made once per plan)."""
        roles = self._roles(ctx.node.call_kwargs, len(ctx.inputs))
        index = {role: i for i, role in enumerate(roles)}
        b = _Bound()
        b.index = index
        b.query = ctx.inputs[index["query"]]
        b.value = ctx.inputs[index["value"]]
        b.key = ctx.inputs[index["key"]] if "key" in index else b.value
        b.batch, b.t, b.s = ctx.batch_size, b.query.shape[1], b.value.shape[1]
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        weights = list(ctx.weights)
        if not self.use_bias:
            weights = [weights[0], None, weights[1], None, weights[2], None, weights[3], None]
        b.weights = weights
        b.q = ctx.scratch("q", (b.batch, b.t, h, kd))
        b.k = ctx.scratch("k", (b.batch, b.s, h, kd))
        b.v = ctx.scratch("v", (b.batch, b.s, h, vd))
        b.context = ctx.scratch("context", (b.batch, b.t, h, vd))
        b.raw = ctx.scratch("raw", (b.batch, h, b.t, b.s))
        scores_out = len(ctx.outputs) > 1
        b.probs = ctx.outputs[1] if scores_out else ctx.scratch("probs", b.raw.shape)
        b.scores_out = scores_out
        b.out_width = math.prod(ctx.y.shape[2:])
        b.scale = np.array([1.0 / math.sqrt(kd)], dtype=ctx.dtype)
        return b

    def _d_weights(self, ctx):
        d = list(ctx.d_weights)
        if not self.use_bias:
            d = [d[0], None, d[1], None, d[2], None, d[3], None]
        return d

    def forward(self, ctx):
        b = self._bind(ctx)
        kwargs = ctx.node.call_kwargs
        wq, bq, wk, bk, wv, bv, wo, bo = b.weights
        steps = []
        for x, w, bias, out in ((b.query, wq, bq, b.q), (b.key, wk, bk, b.k), (b.value, wv, bv, b.v)):
            steps += _dense_steps(x, w, bias, out)
        steps.append(matmul_step(_heads(b.q), _heads(b.k).transpose(0, 1, 3, 2), b.raw))
        masks = ctx.input_masks
        attention_mask = ctx.inputs[b.index["attention_mask"]] if "attention_mask" in b.index else None
        allowed, mask_step = _bind_allowed(
            ctx, b.t, b.s, query_mask=masks[b.index["query"]], value_mask=masks[b.index["value"]],
            key_mask=masks[b.index["key"]] if "key" in b.index else None, attention_mask=attention_mask,
            causal=kwargs.get("use_causal_mask", False), window=self.sliding_window or 0)
        if mask_step is not None:
            steps.append(mask_step)
        steps.append(_softmax_step(_rows3(b.raw), b.scale, allowed, self.num_heads, _rows3(b.probs)))
        used, dropout_steps = _dropout_steps(ctx, self, b.probs)
        steps += dropout_steps
        steps.append(matmul_step(used, _heads(b.v), _heads(b.context)))
        steps += _dense_steps(b.context, wo, bo, ctx.y)
        return steps

    def backward(self, ctx):
        b = self._bind(ctx)
        h = self.num_heads
        wq, bq, wk, bk, wv, bv, wo, bo = b.weights
        dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo = self._d_weights(ctx)
        used = ctx.scratch("dropped", b.probs.shape) if (ctx.training and self.dropout > 0) else b.probs
        d_context = ctx.scratch("d_context", b.context.shape)
        steps = _dense_backward_steps(b.context, wo, ctx.d_outputs[0], d_context, dwo, dbo)
        d_used = ctx.scratch("d_used", b.raw.shape)
        steps.append(matmul_step(_heads(d_context), _heads(b.v).transpose(0, 1, 3, 2), d_used))
        d_v = ctx.scratch("d_v", b.v.shape)
        steps.append(matmul_step(used.transpose(0, 1, 3, 2), _heads(d_context), _heads(d_v)))
        d_probs, dropout_steps = _dropout_backward_steps(ctx, self, d_used)
        steps += dropout_steps
        if b.scores_out:
            steps.append(_add_step(d_probs, ctx.d_outputs[1]))
        d_raw = ctx.scratch("d_raw", b.raw.shape)
        probs3, d_probs3, raw3, d_raw3 = _rows3(b.probs), _rows3(d_probs), _rows3(b.raw), _rows3(d_raw)
        scale, unused = b.scale, np.zeros(1, ctx.dtype)
        steps.append(lambda: masked_softmax_backward(probs3, d_probs3, raw3, scale, d_raw3, unused, False))
        d_q = ctx.scratch("d_q", b.q.shape)
        d_k = ctx.scratch("d_k", b.k.shape)
        steps.append(matmul_step(d_raw, _heads(b.k), _heads(d_q)))
        steps.append(matmul_step(d_raw.transpose(0, 1, 3, 2), _heads(b.q), _heads(d_k)))
        d_in = ctx.d_inputs
        index = b.index
        dx_query = d_in[index["query"]]
        dx_value = d_in[index["value"]]
        steps += _dense_backward_steps(b.query, wq, d_q, dx_query, dwq, dbq)
        steps += _dense_backward_steps(b.value, wv, d_v, dx_value, dwv, dbv)
        if "key" in index:
            steps += _dense_backward_steps(b.key, wk, d_k, d_in[index["key"]], dwk, dbk)
        else:  # the key is the value: its gradient adds to the value's
            private = ctx.scratch("d_key_input", b.value.shape) if dx_value is not None else None
            steps += _dense_backward_steps(b.key, wk, d_k, private, dwk, dbk)
            if private is not None:
                steps.append(_add_step(dx_value, private))
        if "attention_mask" in index and d_in[index["attention_mask"]] is not None:
            steps.append(_fill_zero_step(d_in[index["attention_mask"]]))
        return steps

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
            "dropout": self.dropout, "use_bias": self.use_bias, "use_gate": False,
            "output_shape": self.output_shape_arg, "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        })
        return config


class _Bound:
    """Plain holder for the views one MultiHeadAttention node binds."""


def _heads(array):
    """(batch, steps, heads, dim) -> a (batch, heads, steps, dim) view."""
    return array.transpose(0, 2, 1, 3)


def _rows3(array):
    """(batch, heads, Tq, Tk) -> a (batch * heads, Tq, Tk) view (C-contiguous buffers only)."""
    return array.reshape(-1, array.shape[-2], array.shape[-1])


def _rows2(array, width=None):
    """(rows, width) view of a C-contiguous buffer: leading two axes are (batch, steps)."""
    rows = array.shape[0] * array.shape[1]
    return array.reshape(rows, -1 if width is None else width)


def _dense_steps(x, kernel, bias, out):
    """out = x @ kernel (+ bias) on (batch * steps) rows, kernel flattened to 2-D."""
    x2, out2 = _rows2(x), _rows2(out)
    w2 = kernel.reshape(x2.shape[1], out2.shape[1])
    steps = [matmul_step(x2, w2, out2)]
    if bias is not None:
        steps.append(activations.linear.bind_bias_forward(out2, bias.reshape(-1), out2))
    return steps


def _dense_backward_steps(x, kernel, d_out, d_x, d_kernel, d_bias):
    """Gradients of _dense_steps (written): bias, kernel and input, each only where wanted."""
    x2, d_out2 = _rows2(x), _rows2(d_out)
    w2 = kernel.reshape(-1, d_out2.shape[1])
    steps = []
    if d_bias is not None:
        steps.append(activations.linear.bind_backward_bias_grad(d_out2, d_out2, d_out2, d_out2,
                                                                 d_bias.reshape(-1)))
    if d_kernel is not None:
        steps.append(matmul_step(x2.T, d_out2, d_kernel.reshape(w2.shape)))
    if d_x is not None:
        steps.append(matmul_step(d_out2, w2.T, _rows2(d_x)))
    return steps


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (Attention, MultiHeadAttention)
