"""Elementwise fusion: chains of elementwise ops become one Numba kernel forward and one backward.

``fuse_elementwise(input_keys, output_keys, entries, tensors, loss_keys)`` rewrites a flattened graph
(``framework.graph.flattening``) for a plan: a *group* is a tree of elementwise entries in which every
intermediate tensor has exactly one use, by a member of the group, and is neither a model output nor
a loss term; every member produces the group's result shape and a float dtype (a comparison's boolean
output may feed a ``Where``'s condition), its operands are full-shape, a trailing-suffix broadcast
(bias ``(C,)``/``(1, C)`` against ``(N, C)``), a leading-prefix broadcast (``(N, 1)``) or a single
value; tensors carrying a mask are left alone, and members come from the same traced layer. A group
of two ops or more, or a single op with a broadcast operand (a lone bias add: NumPy would take a
broadcast iteration buffer forward and a separate reduction backward), is replaced by ONE entry whose
node's layer is a ``FusedElementwise`` op holding the program; the user's nodes are not touched.

What fuses: op classes with a ``fused_formula`` (framework/ops/elementwise.py, creation.py) and the
merge layers ``Add``, ``Subtract``, ``Multiply``, ``Average`` (``a + b`` of two tensors of one shape:
a residual add). Formulas marked ``fused_libm`` (exp, log, log1p, sin, cos, softplus, power, erf,
exact GELU) call scalar libm functions, 10-40x slower here than NumPy's vectorized loops, so they end
a group unless ``MODE == "all"``. ``MODE`` comes from ``FRAMEWORK_FUSE``: ``0`` (off), ``1`` (default),
``all``.
"""
import math
import os
from collections import Counter

import numpy as np

from framework.graph.flattening import Entry
from framework.graph.node import Node
from framework.layers import merging
from framework.ops.elementwise import Where
from framework.ops.fusion_codegen import Instr, backward_source, compiled, forward_source
from framework.ops.operation import CONSTANT, TENSOR, WEIGHT, Operation

#: "0": no fusion; "1": fuse ops with fast formulas; "all": also the libm-bound ones
MODE = os.environ.get("FRAMEWORK_FUSE", "1")


# ----- merge layers as formulas --------------------------------------------------------------------
class _MergeFormula:
    """The formula of a merge layer of ``n`` inputs (left to right, as its NumPy steps)."""

    differentiable, fused_libm = True, False

    def __init__(self, layer, n):
        names = [f"{{{k}}}" for k in range(n)]
        kind = type(layer).__name__
        if kind in ("Add", "Average"):
            total = names[0]
            for name in names[1:]:
                total = f"({total} + {name})"
            self.forward = total if kind == "Add" else f"({total} / F({float(n)!r}))"
            self.partials = ("{g}" if kind == "Add" else f"({{g}} / F({float(n)!r}))",) * n
        elif kind == "Subtract":
            self.forward, self.partials = "({0} - {1})", ("{g}", "(-{g})")
        else:  # Multiply: the gradient of input k is dy times the others, in order
            product = names[0]
            for name in names[1:]:
                product = f"({product} * {name})"
            self.forward = product
            self.partials = tuple("({g} * " + " * ".join(names[:k] + names[k + 1:]) + ")" for k in range(n))


_MERGES = (merging.Add, merging.Subtract, merging.Multiply, merging.Average)


# ----- one entry as a group member ---------------------------------------------------------------
class _Member:
    """A fusable entry: its formula and operands ``(kind, ref, key)`` (key: a tensor's key, else None)."""

    def __init__(self, entry, forward, partials, constants, differentiable, operands):
        self.entry, self.forward, self.partials = entry, forward, partials
        self.constants, self.differentiable, self.operands = constants, differentiable, operands
        self.broadcast = False  # an operand is broadcast along some axes (a bias, a row statistic)


def _member(entry, tensors):
    """The entry as a group member, or None when it cannot be fused."""
    layer = entry.layer
    if len(entry.out_keys) != 1 or entry.node.call_kwargs.get("training") is not None:
        return None
    out = tensors[entry.out_keys[0]]
    if getattr(out, "mask", None) is not None or any(getattr(tensors[k], "mask", None) is not None
                                                     for k in entry.in_keys):
        return None
    formula = vars(type(layer)).get("fused_formula")  # the class's own: a subclass may compute otherwise
    if isinstance(layer, Operation) and formula is not None:
        if getattr(layer, "fused_libm", False) and MODE != "all":
            return None
        forward, partials = formula
        constants = tuple(getattr(layer, "fused_constants", tuple)())
        operands = [(kind, ref, entry.in_keys[ref] if kind == TENSOR else None) for kind, ref in layer.slots]
        member = _Member(entry, forward, partials, constants, layer.differentiable, operands)
    elif type(layer) in _MERGES and not layer.weights:
        formula = _MergeFormula(layer, len(entry.in_keys))
        operands = [(TENSOR, i, key) for i, key in enumerate(entry.in_keys)]
        member = _Member(entry, formula.forward, formula.partials, (), True, operands)
    else:
        return None
    if not _shape_ok(out.shape) or not (_is_float(out.dtype) or out.dtype == "bool" and not member.partials):
        return None
    for position, (kind, ref, key) in enumerate(member.operands):
        condition = isinstance(layer, Where) and position == 0
        if kind == TENSOR:
            shape, dtype = tensors[key].shape, tensors[key].dtype
        elif kind == WEIGHT:
            shape, dtype = tuple(layer.weights[ref].shape), np.dtype(layer.weights[ref].dtype).name
        else:
            shape, dtype = ref.shape, ref.dtype.name
            dtype = "float64" if ref.dtype.kind in "iu" else dtype
        if not (_is_float(dtype) or (condition and dtype == "bool")) or not _shape_ok(shape):
            return None
        kind = broadcast_kind(shape, out.shape)
        if kind is None:
            return None
        member.broadcast = member.broadcast or kind in ("suffix", "prefix")
    return member


def _is_float(dtype):
    return str(dtype).startswith("float")


def _shape_ok(shape):
    return all(d is not None for d in tuple(shape)[1:])


def broadcast_kind(shape, out):
    """How an operand of ``shape`` reaches a result of ``out``: 'full', 'suffix', 'prefix', 'one' or None."""
    shape, out = tuple(shape), tuple(out)
    if None not in shape and math.prod(shape) == 1:
        return "one"
    if len(shape) > len(out):
        return None
    stripped = shape
    while stripped and stripped[0] == 1:
        stripped = stripped[1:]
    if stripped == out[len(out) - len(stripped):]:
        return "full" if len(stripped) == len(out) else "suffix"
    padded = (1,) * (len(out) - len(shape)) + shape
    last = max(k for k, d in enumerate(padded) if d != 1)
    if padded[:last + 1] == out[:last + 1]:
        return "prefix"
    return None


# ----- the pass ------------------------------------------------------------------------------------
def fuse_elementwise(input_keys, output_keys, entries, tensors, loss_keys):
    """The flattened graph with each fusable group replaced by one ``FusedElementwise`` entry."""
    if MODE == "0":
        return input_keys, output_keys, entries, tensors, loss_keys
    members = [_member(entry, tensors) for entry in entries]
    uses = Counter(key for entry in entries for key in entry.in_keys)
    pinned = set(input_keys) | set(output_keys) | set(loss_keys)
    consumer = {key: index for index, entry in enumerate(entries) for key in entry.in_keys}
    root = {}  # entry index -> index of its group's root entry
    for index in reversed(range(len(entries))):
        member = members[index]
        if member is None:
            continue
        key = entries[index].out_keys[0]
        boolean = tensors[key].dtype == "bool"
        user = consumer.get(key)
        if uses[key] == 1 and key not in pinned and user in root and _joins(member, members[user], key, tensors):
            root[index] = root[user]
        elif not boolean:
            root[index] = index
    groups = {}
    for index, top in root.items():
        groups.setdefault(top, []).append(index)
    fused = {top: _fused_entry(sorted(group), members, tensors) for top, group in groups.items()
             if len(group) > 1 or members[top].broadcast}
    absorbed = {index for top, group in groups.items() if top in fused for index in group if index != top}
    new_entries = [fused.get(index, entry) for index, entry in enumerate(entries) if index not in absorbed]
    return input_keys, output_keys, new_entries, tensors, loss_keys


def _joins(member, user, key, tensors):
    """Whether ``member``'s output ``key`` can be computed inside ``user``'s kernel."""
    if member.entry.traced_by is not user.entry.traced_by:
        return False
    if tuple(tensors[key].shape) != tuple(tensors[user.entry.out_keys[0]].shape):
        return False
    if tensors[key].dtype == "bool":  # only as a Where's condition
        position = [k for k, (_, _, operand) in enumerate(user.operands) if operand == key]
        return position == [0] and isinstance(user.entry.layer, Where)
    return True


def _fused_entry(group, members, tensors):
    """One entry computing the group (entry indices, root last) with a FusedElementwise op."""
    by_key = {members[index].entry.out_keys[0]: index for index in group}
    top = members[group[-1]]
    out_key = top.entry.out_keys[0]
    out_shape = tuple(tensors[out_key].shape)
    slots, weights, in_keys, kinds, program, params = [], [], [], [], [], []
    tensor_slot, weight_slot = {}, {}

    def leaf(kind, value, shape):
        slots.append((kind, value))
        kinds.append(broadcast_kind(shape, out_shape))
        return ("x", len(slots) - 1)

    def visit(member):
        refs = []
        for kind, ref, key in member.operands:
            if kind == TENSOR and key in by_key:
                refs.append(visit(members[by_key[key]]))
            elif kind == TENSOR:
                if key not in tensor_slot:
                    tensor_slot[key] = leaf(TENSOR, len(in_keys), tensors[key].shape)
                    in_keys.append(key)
                refs.append(tensor_slot[key])
            elif kind == WEIGHT:
                variable = member.entry.layer.weights[ref]
                if id(variable) not in weight_slot:
                    weight_slot[id(variable)] = leaf(WEIGHT, len(weights), variable.shape)
                    weights.append(variable)
                refs.append(weight_slot[id(variable)])
            else:
                refs.append(leaf(CONSTANT, ref, ref.shape))
        first = len(params)
        params.extend(float(c) for c in member.constants)
        partials = tuple(member.partials) if member.differentiable else ()
        program.append(Instr(member.forward, partials, tuple(refs), tuple(range(first, len(params)))))
        return ("t", len(program) - 1)

    visit(top)
    flops = 0
    for index in group:
        entry = members[index].entry
        ins = [tuple(tensors[k].shape) for k in entry.in_keys]
        flops += entry.layer.flops(ins[0] if len(ins) == 1 else ins, tuple(tensors[entry.out_keys[0]].shape))
    names = ", ".join(members[index].entry.layer.name for index in group)
    op = FusedElementwise(program, slots, weights, kinds, params, flops, name=f"fused({names})")
    node = Node(op, [tensors[k] for k in in_keys], [out_shape], tensors[out_key].dtype)
    return Entry(node, in_keys, [out_key], traced_by=top.entry.traced_by, training=top.entry.training)


# ----- the fused op --------------------------------------------------------------------------------
class FusedElementwise(Operation):
    """Several elementwise ops run as one Numba kernel each way (made by ``fuse_elementwise`` for a
    plan; never part of a user's graph, never saved). Slots are the group's external operands."""

    def __init__(self, program, slots, weights, kinds, params, flops=0, name=None):
        super().__init__(name=name)
        self.program, self.slots, self.weights = list(program), list(slots), list(weights)
        self.kinds, self.params, self._flops = list(kinds), list(params), flops

    def get_config(self):
        raise NotImplementedError("FusedElementwise belongs to a plan only; save the model, not the plan")

    def flops(self, input_shape, output_shape):
        return self._flops

    def _layout(self, xs, y):
        """(rows, inner, read mode per operand, ints): see framework.ops.fusion_codegen."""
        total = y.size
        sizes = [x.size for x in xs]
        suffix = [n for n, kind in zip(sizes, self.kinds) if kind == "suffix" and 1 < n < total]
        prefix = [n for n, kind in zip(sizes, self.kinds) if kind == "prefix" and 1 < n < total]
        inner = min(suffix) if suffix else total // max(prefix) if prefix else total
        rows = total // inner if inner else 0
        modes, ints = [], []
        for n, kind in zip(sizes, self.kinds):
            if n == total:
                mode, extra = "i", 0
            elif n == 1:
                mode, extra = "0", 0
            elif kind == "suffix":
                mode, extra = ("j", 0) if n == inner else ("mod", n)
            else:
                mode, extra = ("r", 0) if n == rows else ("div", total // n)
            modes.append(mode)
            ints.append(extra)
        return rows, inner, modes, np.array(ints or [0], dtype=np.int64)

    def _flat_inputs(self, xs, ctx):
        """1-D operands, constants cast once; a non-contiguous view is copied into scratch first."""
        flats, steps = [], []
        for s, x in enumerate(xs):
            if self.slots[s][0] == CONSTANT:
                x = np.ascontiguousarray(x, dtype=bool if x.dtype == bool else ctx.dtype)
            elif not x.flags.c_contiguous:
                copy = ctx.scratch(f"operand{s}", x.shape, x.dtype)
                steps.append(_copy(copy, x))
                x = copy
            flats.append(x.reshape(-1))
        return flats, steps

    def bind_forward(self, xs, y, ctx):
        flats, steps = self._flat_inputs(xs, ctx)
        rows, inner, modes, ints = self._layout(xs, y)
        run = compiled(forward_source(self.program, modes, len(self.params), y.dtype.name))
        params = np.array(self.params or [0.0], dtype=y.dtype)
        target, after = _writable(y, ctx, "result")
        args = (rows, inner, params, ints, target) + tuple(flats)
        return steps + [lambda: run(*args)] + after

    def bind_backward(self, xs, y, dy, dxs, ctx):
        wanted = [dx is not None for dx in dxs]
        if not any(wanted):
            return []
        flats, steps = self._flat_inputs(xs, ctx)
        rows, inner, modes, ints = self._layout(xs, y)
        source, accumulators = backward_source(self.program, modes, wanted, len(self.params), y.dtype.name)
        run = compiled(source)
        params = np.array(self.params or [0.0], dtype=y.dtype)
        outs, after = [], []
        for s, dx in enumerate(dxs):
            if dx is not None:
                target, copy_back = _writable(dx, ctx, f"gradient{s}")
                outs.append(target)
                after += copy_back
        accs = [ctx.scratch(f"accumulator{s}", (dxs[s].size,), np.float64) for s in accumulators]
        gradient = dy if dy.flags.c_contiguous else None
        if gradient is None:
            gradient = ctx.scratch("incoming", dy.shape, dy.dtype)
            steps.append(_copy(gradient, dy))
        args = (rows, inner, params, ints, gradient.reshape(-1)) + tuple(flats) + tuple(outs) + tuple(accs)
        return steps + [lambda: run(*args)] + after


def _copy(dst, src):
    return lambda: np.copyto(dst, src)


def _writable(array, ctx, name):
    """(a 1-D array the kernel writes, steps copying it into ``array`` when that is not contiguous)."""
    if array.flags.c_contiguous:
        return array.reshape(-1), []
    buffer = ctx.scratch(name, array.shape, array.dtype)
    return buffer.reshape(-1), [_copy(array, buffer)]
