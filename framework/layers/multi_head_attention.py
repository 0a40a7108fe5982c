"""MultiHeadAttention: four projections around per-head masked-softmax attention.

The shared steps (combined mask, masked softmax, dropout) are in attention.py.
Tensor call arguments (``value``, ``key``, ``attention_mask``) become inputs of
the node; which one is which is stored as plain data in the node's call
arguments, so a model config rebuilds the same call.
"""
import math

import numpy as np

from framework import activations, constraints, initializers, regularizers
from framework.graph.node import Node
from framework.graph.tensor import is_symbolic
from framework.kernels.attention import masked_softmax_backward
from framework.layers import eager
from framework.layers.attention import (_add_step, _bind_allowed, _dropout_backward_steps, _dropout_steps,
                                        _fill_zero_step, _require_rank3, _softmax_step)
from framework.layers.layer import Layer
from framework.plan.steps import matmul_step
from framework.utils.random import draw_seed

__all__ = ["MultiHeadAttention"]


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
        return eager.call_on_arrays(self, tensors, lambda ins: self._call_symbolic(ins, flags), frozen,
                                    bool(training))

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

    def compute_output_masks(self, input_masks):
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
LAYERS = (MultiHeadAttention,)
