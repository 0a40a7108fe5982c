"""Converter of MultiHeadAttention as a MatMul / Softmax subgraph over (batch, steps, features) inputs:
the four projections as MatMuls with the Keras kernels reshaped, ``softmax(q k^T / sqrt(key_dim)) v``
per head, the causal mask (``use_causal_mask=True``) made from the scores' shape with Trilu, and the
attention scores as a second output when the layer was called with ``return_attention_scores``."""
import math

import numpy as np
from onnx import numpy_helper

from framework.export.onnx.builder import LAST
from framework.export.onnx.registry import converts
from framework.layers.multi_head_attention import MultiHeadAttention

_ROLES = ("query", "value", "key", "attention_mask")


def _project(ctx, x, kernel, bias, heads, size, tag):
    """(batch, steps, dim) -> (batch, heads, steps, size)."""
    w = ctx.weight(kernel, lambda k: k.reshape(k.shape[0], -1), tag)
    y = ctx.op("MatMul", [x, w])
    if bias is not None:
        y = ctx.op("Add", [y, ctx.weight(bias, lambda b: b.reshape(-1), tag)])
    y = ctx.op("Reshape", [y, ctx.ints([0, 0, heads, size])])
    return ctx.op("Transpose", [y], perm=[0, 2, 1, 3])


def _causal(ctx, scores):
    """scores where j <= i, the lowest float32 elsewhere (Trilu over a matrix of ones of the scores' size)."""
    size = ctx.op("Slice", [ctx.op("Shape", [scores]), ctx.ints([2], "starts"), ctx.ints([4], "ends")])
    ones = ctx.op("ConstantOfShape", [size], value=_one())
    allowed = ctx.op("Cast", [ctx.op("Trilu", [ones], upper=0)], to=9)  # TensorProto.BOOL
    return ctx.op("Where", [allowed, scores, ctx.const(np.finfo(np.float32).min, "masked")])


def _one():
    return numpy_helper.from_array(np.ones(1, np.float32), "one")


@converts(MultiHeadAttention, reads_mask=True)
def multi_head_attention(layer, ctx):
    roles = list(ctx.call_kwargs.get("input_roles") or _ROLES[:len(ctx.inputs)])
    if "attention_mask" in roles:
        raise ctx.fail("an attention_mask input is not exported (use_causal_mask=True is)")
    if layer.sliding_window:
        raise ctx.fail("sliding_window is not exported")
    index = {role: i for i, role in enumerate(roles)}
    query = ctx.input(index["query"], LAST)
    value = ctx.input(index["value"], LAST)
    key = ctx.input(index["key"], LAST) if "key" in index else value
    h, kd, vd = layer.num_heads, layer.key_dim, layer.value_dim
    bias = (lambda b: b) if layer.use_bias else (lambda b: None)
    q = _project(ctx, query, layer.query_kernel, bias(layer.query_bias), h, kd, "q")
    k = _project(ctx, key, layer.key_kernel, bias(layer.key_bias), h, kd, "k")
    v = _project(ctx, value, layer.value_kernel, bias(layer.value_bias), h, vd, "v")
    scores = ctx.op("MatMul", [q, ctx.op("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = ctx.op("Mul", [scores, ctx.const(1.0 / math.sqrt(kd), "scale")])
    if ctx.call_kwargs.get("use_causal_mask"):
        scores = _causal(ctx, scores)
    probs = ctx.op("Softmax", [scores], axis=-1)  # (batch, heads, T, S)
    context = ctx.op("Transpose", [ctx.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    context = ctx.op("Reshape", [context, ctx.ints([0, 0, h * vd])])
    y = ctx.op("MatMul", [context, ctx.weight(layer.output_kernel, lambda w: w.reshape(h * vd, -1), "o")])
    if layer.use_bias:
        y = ctx.op("Add", [y, ctx.weight(layer.output_bias, lambda b: b.reshape(-1), "o")])
    out_dims = ctx.output_shape()[2:]
    if len(out_dims) > 1:
        y = ctx.op("Reshape", [y, ctx.ints([0, 0] + list(out_dims))])
    ctx.set_output(y, LAST)
    if len(ctx.output_shapes) > 1:
        ctx.set_output(probs, LAST, 1)
