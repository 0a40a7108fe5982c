"""Converters of SimpleRNN, LSTM, GRU and Bidirectional over them: ONNX's RNN, LSTM and GRU operators
(time-major, ``layout=0``), weights transposed to (gates * units, features) and gates reordered:
Keras's LSTM is i, f, c, o, ONNX's i, o, f, c; GRU is z, r, h in both (``linear_before_reset`` is
Keras's ``reset_after``). The recurrent bias input of ONNX is zero except for GRU's reset_after bias.
"""
import numpy as np

from framework.export.onnx.builder import LAST
from framework.export.onnx.registry import converts
from framework.layers.gru import GRU
from framework.layers.lstm import LSTM
from framework.layers.simple_rnn import SimpleRNN
from framework.layers.wrappers import Bidirectional

_OPS = {SimpleRNN: "RNN", LSTM: "LSTM", GRU: "GRU"}
#: ONNX's gate blocks in Keras's numbering
_GATE_ORDER = {SimpleRNN: [0], LSTM: [0, 3, 1, 2], GRU: [0, 1, 2]}
#: recurrent activations ONNX runtimes implement without parameters
_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
_END = 2**62


def _blocks(array, order, units):
    """The gate blocks of ``array``'s first axis put in ``order``."""
    return np.concatenate([array[g * units:(g + 1) * units] for g in order], axis=0)


def _activations(ctx, cell):
    """ONNX's activation list of one direction: gates, then candidate (and LSTM's output)."""
    names = []
    kinds = {SimpleRNN: ["activation"], GRU: ["recurrent_activation", "activation"],
             LSTM: ["recurrent_activation", "activation", "activation"]}[type(cell)]
    for kind in kinds:
        fn = getattr(cell, kind)
        if fn.name not in _ACTIVATIONS:
            raise ctx.fail(f"{kind} {fn.name!r} of '{cell.name}' has no ONNX recurrent form; supported: "
                           f"{', '.join(_ACTIVATIONS)}")
        names.append(_ACTIVATIONS[fn.name])
    return names


def _weights(ctx, cell):
    """W, R and B of one direction, each with a leading direction axis of 1."""
    cls, units = type(cell), cell.units
    order = _GATE_ORDER[cls]
    w = ctx.weight(cell.kernel, lambda k: _blocks(k.T, order, units)[None], "onnx")
    r = ctx.weight(cell.recurrent_kernel, lambda k: _blocks(k.T, order, units)[None], "onnx")
    if not cell.use_bias:
        return w, r, None

    def bias(b):
        if b.ndim == 2:  # GRU reset_after: input bias, recurrent bias
            return np.concatenate([_blocks(b[0], order, units), _blocks(b[1], order, units)])[None]
        return np.concatenate([_blocks(b, order, units), np.zeros_like(b)])[None]
    return w, r, ctx.weight(cell.bias, bias, "onnx")


def _recurrence(ctx, cells, direction):
    """One ONNX recurrent node over the input for ``cells`` (one, or forward and backward): Y, Y_h[, Y_c]."""
    first = cells[0]
    cls = type(first)
    for cell in cells[1:]:
        if type(cell) is not cls or cell.units != first.units or cell.use_bias != first.use_bias or \
                getattr(cell, "reset_after", None) != getattr(first, "reset_after", None):
            raise ctx.fail("the forward and backward layers differ in class, units, use_bias or reset_after")
    parts = [_weights(ctx, cell) for cell in cells]
    if len(cells) == 1:
        w, r, b = parts[0]
    else:
        w, r = (ctx.op("Concat", [p[i] for p in parts], axis=0) for i in (0, 1))
        b = None if parts[0][2] is None else ctx.op("Concat", [p[2] for p in parts], axis=0)
    x = ctx.op("Transpose", [ctx.input(0, LAST)], perm=[1, 0, 2])  # (steps, batch, features)
    attributes = {"hidden_size": first.units, "direction": direction,
                  "activations": [a for cell in cells for a in _activations(ctx, cell)]}
    if cls is GRU:
        attributes["linear_before_reset"] = int(first.reset_after)
    outputs = 3 if cls is LSTM else 2
    inputs = [x, w, r] + ([] if b is None else [b])
    return ctx.op(_OPS[cls], inputs, outputs=outputs, **attributes)


def _sequence(ctx, y, direction_index):
    """Y (steps, directions, batch, units) of one direction as (batch, steps, units)."""
    one = ctx.op("Gather", [y, ctx.ints([direction_index], "direction")], axis=1)  # (steps, 1, batch, units)
    return ctx.op("Squeeze", [ctx.op("Transpose", [one], perm=[2, 0, 1, 3]), ctx.ints([2], "axes")])


def _state(ctx, state, direction_index):
    """Y_h or Y_c (directions, batch, units) of one direction as (batch, units)."""
    return ctx.op("Squeeze", [ctx.op("Gather", [state, ctx.ints([direction_index], "direction")], axis=0),
                              ctx.ints([0], "axes")])


def _reverse_time(ctx, sequence):
    """(batch, steps, units) with the steps in reverse order."""
    return ctx.op("Slice", [sequence, ctx.ints([-1], "starts"), ctx.ints([-_END], "ends"), ctx.ints([1], "axes"),
                            ctx.ints([-1], "steps")])


@converts(SimpleRNN, LSTM, GRU, reads_mask=True)
def recurrent(layer, ctx):
    """One direction; go_backwards runs ONNX's 'reverse' direction, whose Y is in time order while
    Keras gives the steps in the order processed, so the sequence is reversed back."""
    results = _recurrence(ctx, [layer], "reverse" if layer.go_backwards else "forward")
    if layer.return_sequences:
        y = _sequence(ctx, results[0], 0)
        y = _reverse_time(ctx, y) if layer.go_backwards else y
    else:
        y = _state(ctx, results[1], 0)
    ctx.set_output(y, LAST)
    if layer.return_state:
        for i, state in enumerate(results[1:]):
            ctx.set_output(_state(ctx, state, 0), LAST, i + 1)


_MERGES = {"sum": "Add", "mul": "Mul"}


@converts(Bidirectional, reads_mask=True)
def bidirectional(layer, ctx):
    forward, backward = layer.forward_layer, layer.backward_layer
    if type(forward) not in _OPS:
        raise ctx.fail(f"it wraps {type(forward).__name__}; supported: SimpleRNN, LSTM, GRU")
    if forward.go_backwards:
        raise ctx.fail("its forward layer has go_backwards=True")
    results = _recurrence(ctx, [forward, backward], "bidirectional")
    if layer.return_sequences:
        halves = [_sequence(ctx, results[0], d) for d in (0, 1)]
    else:
        halves = [_state(ctx, results[1], d) for d in (0, 1)]
    mode = layer.merge_mode
    if mode is None:
        merged = halves
    elif mode == "concat":
        merged = [ctx.op("Concat", halves, axis=-1)]
    elif mode == "ave":
        merged = [ctx.op("Mul", [ctx.op("Add", halves), ctx.const(0.5, "half")])]
    else:
        merged = [ctx.op(_MERGES[mode], halves)]
    for i, y in enumerate(merged):
        ctx.set_output(y, LAST, i)
    if layer.return_state:
        states = [_state(ctx, s, d) for d in (0, 1) for s in results[1:]]
        for i, state in enumerate(states):
            ctx.set_output(state, LAST, len(merged) + i)
