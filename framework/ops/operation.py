"""Operation: one NumPy-like function, on arrays (a result now) or on symbolic tensors (a graph node).

An operation called with any symbolic tensor among its operands adds a node to the graph.
Its operands are of three kinds, kept in call order as *slots*: symbolic tensors (the node's
inputs), variables (layer weights: the node's ``weights``, so the plan compiler hands it their
values and gradient buffers like any layer's) and constants (Python numbers, arrays: cast to the
compute dtype when the plan is built). The compiler schedules an operation's node like a layer's:
``forward(ctx)`` and ``backward(ctx)`` return steps bound to buffers allocated once.

Every symbolic tensor keeps the batch axis first; an operation that would remove, move or
broadcast it is refused when the graph is built, naming the operation and the shapes.
"""
import numpy as np

from framework import backend
from framework.config.registry import Registry
from framework.graph.node import Node
from framework.graph.shapes import format_shape
from framework.graph.tensor import SymbolicTensor
from framework.variables import Variable, in_trace
from framework.utils.naming import snake_case, unique_name

TENSOR, WEIGHT, CONSTANT = "tensor", "weight", "constant"


class OpError(ValueError):
    """A symbolic operation that cannot be built: names the operation and the shapes."""


class Operation:
    """Base of every op. Subclasses give ``compute`` (arrays), ``output_spec`` (shapes) and the
    two emitters ``bind_forward`` / ``bind_backward``.

    Args:
        name: the node's name; derived from the class name when omitted.
    """

    has_graph = False
    #: True for an op without tensor operands whose output has the batch axis (random draws per sample)
    batched_source = False
    #: False for ops whose output has no gradient (comparisons, argmax, floor, ...): backward writes zeros
    differentiable = True

    def __init__(self, name=None):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.inbound_nodes = []
        self.weights = []
        self.slots = []

    # ----- calling --------------------------------------------------------------------------
    def __call__(self, *operands):
        if any(isinstance(x, SymbolicTensor) for x in operands) \
                or (any(isinstance(x, Variable) for x in operands) and in_trace()):
            return self.symbolic_call(operands)
        if TAPE and TAPE[0].wants(operands):  # a GradientTape records this op on its arrays
            return TAPE[0].record(self, operands)
        arrays = [x.value if isinstance(x, Variable) else x for x in operands]
        return self.compute(*arrays)

    def symbolic_call(self, operands):
        tensors, weights, slots = [], [], []
        for x in operands:
            if isinstance(x, SymbolicTensor):
                slots.append((TENSOR, len(tensors)))
                tensors.append(x)
            elif isinstance(x, Variable):
                slots.append((WEIGHT, len(weights)))
                weights.append(x)
            else:
                slots.append((CONSTANT, _constant(self, x)))
        self.slots, self.weights = slots, weights
        specs = [_spec(x) if kind != CONSTANT else (ref.shape, ref.dtype.name)
                 for (kind, ref), x in zip(slots, operands)]
        fixed = _fixed_batch(self, tensors)
        if fixed is not None:
            specs = _free_batch_axis(specs, [kind for kind, _ in slots], tensors, fixed)
        self.reduces_batch = False
        shape, dtype = self.output_spec([s for s, _ in specs], [d for _, d in specs])
        batched = (any(t.batched for t in tensors) or self.batched_source) and not self.reduces_batch
        if batched and fixed is not None and shape and shape[0] is None:
            shape = (fixed,) + tuple(shape[1:])
        if batched and (not shape or shape[0] not in (None, fixed)):
            raise OpError(f"Op '{self.name}' ({type(self).__name__}) on {_describe(specs)} gives "
                          f"{format_shape(shape) if shape else 'a scalar'}: inside a model every tensor keeps "
                          "the batch axis first (reduce or reshape the other axes)")
        output = Node(self, tensors, [shape], dtype).outputs[0]
        output.batched = batched
        return output

    def reapply(self, tensors):
        """The same operation (operands, constants and weights as recorded) on other tensors:
        how a graph is traced again at the sizes of a batch."""
        operands = []
        for kind, ref in self.slots:
            operands.append(tensors[ref] if kind == TENSOR else self.weights[ref] if kind == WEIGHT else ref)
        return type(self).from_config(self.get_config()).symbolic_call(operands)

    # ----- what subclasses give ---------------------------------------------------------------
    def compute(self, *arrays):
        """The result on NumPy arrays."""
        raise NotImplementedError

    def output_spec(self, shapes, dtypes):
        """(output shape, dtype name) from the operands' shapes (batch axis None) and dtypes."""
        raise NotImplementedError

    def bind_forward(self, xs, y, ctx):
        """Steps computing ``y`` from the operand arrays ``xs``."""
        raise NotImplementedError

    def bind_backward(self, xs, y, dy, dxs, ctx):
        """Steps writing each ``dxs[i]`` that is not None from ``dy`` (and ``xs``, ``y``)."""
        raise NotImplementedError(f"Op '{self.name}' ({type(self).__name__}) has no gradient")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def operand_config(self):
        """The recorded operands as plain data: ``{'tensor': i}`` or ``{'constant': values, 'dtype': name}``.
        An op applied to a variable directly cannot be saved (its variable belongs to no layer)."""
        out = []
        for kind, ref in self.slots:
            if kind == WEIGHT:
                raise ValueError(f"Op '{self.name}' ({type(self).__name__}) uses variable "
                                 f"'{self.weights[ref].path}' directly; a model config can only save ops on tensors "
                                 "and constants (use the variable inside a layer's call())")
            out.append({"tensor": ref} if kind == TENSOR else {"constant": ref.tolist(), "dtype": ref.dtype.name})
        return out

    @classmethod
    def from_operand_config(cls, config, operands):
        """An op rebuilt from ``get_config()`` and ``operand_config()``, ready for ``reapply``."""
        op = cls.from_config(config)
        op.slots = [(TENSOR, int(o["tensor"])) if "tensor" in o else
                    (CONSTANT, np.asarray(o["constant"], dtype=np.dtype(o["dtype"]))) for o in operands]
        return op

    # ----- the plan compiler's protocol ---------------------------------------------------------
    def operands(self, ctx):
        """The operand arrays of a node in a plan, in call order."""
        out = []
        for kind, ref in self.slots:
            if kind == TENSOR:
                out.append(ctx.inputs[ref])
            elif kind == WEIGHT:
                out.append(ctx.weights[ref])
            else:
                out.append(ref.astype(ctx.dtype) if ref.dtype.kind == "f" else ref)
        return out

    def forward(self, ctx):
        return self.bind_forward(self.operands(ctx), ctx.y, ctx)

    def backward(self, ctx):
        dxs = []
        for kind, ref in self.slots:
            dxs.append(ctx.d_inputs[ref] if kind == TENSOR else ctx.d_weights[ref] if kind == WEIGHT else None)
        if not self.differentiable:
            return [_fill_step(dx) for dx in dxs if dx is not None]
        return self.bind_backward(self.operands(ctx), ctx.y, ctx.dy, dxs, ctx)

    def output_views(self, ctx):
        return None

    def flops(self, input_shape, output_shape):
        return 0

    def count_params(self):
        """Ops own no weights (a variable an op reads belongs to a layer)."""
        return 0

    def fused_activation(self):
        return None

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


#: the recorder of gradient tapes (framework.training.tape installs it): ``wants(operands)`` and
#: ``record(op, operands)``; ops sit below training, so the tape reaches them through this hook
TAPE = []


def install_tape(recorder):
    TAPE[:] = [recorder]


#: every op class by its class name: how a model config names the ops it uses
REGISTRY = Registry("op", base=Operation)


def _constant(op, value):
    array = np.asarray(value)
    if array.dtype == object:
        raise OpError(f"Op '{op.name}' ({type(op).__name__}): an operand of type {type(value).__name__} is neither "
                      "a tensor, a variable nor a number/array")
    if array.dtype.kind == "f" or isinstance(value, float):
        array = array.astype(backend.floatx())
    return array


def _spec(x):
    return tuple(x.shape), np.dtype(x.dtype).name


def _fixed_batch(op, tensors):
    """The batch size the batched operands fix (a model input declared with ``batch_shape``), or None."""
    sizes = {t.shape[0] for t in tensors if t.batched and t.shape and t.shape[0] is not None}
    if len(sizes) > 1:
        raise OpError(f"Op '{op.name}' ({type(op).__name__}): operands of fixed batch sizes {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _free_batch_axis(specs, kinds, tensors, fixed):
    """Specs with the fixed batch axis read as the batch (None): of the batched tensors, and of constants
    of their rank whose first axis has the batch's size (``ops.zeros((x.shape[0], n))`` in a call())."""
    rank = max(len(t.shape) for t in tensors if t.batched)
    batched = iter([t.batched for t in tensors])
    out = []
    for (shape, dtype), kind in zip(specs, kinds):
        is_batched = next(batched) if kind == TENSOR else False
        per_sample = kind == CONSTANT and len(shape) == rank and shape[0] == fixed
        out.append(((None,) + tuple(shape[1:]), dtype) if is_batched or per_sample else (shape, dtype))
    return out


def _describe(specs):
    return ", ".join(format_shape(s) if s else "()" for s, _ in specs)


def _fill_step(array):
    return lambda: array.fill(0)


# ----- shapes and dtypes -------------------------------------------------------------------------
def broadcast_shapes(op, shapes):
    """NumPy broadcasting of shapes whose first axis may be the batch (None)."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis, sizes in enumerate(zip(*padded)):
        if any(d is None for d in sizes):
            if any(d not in (None, 1) for d in sizes):
                raise OpError(f"Op '{op.name}' ({type(op).__name__}): operands "
                              f"{', '.join(format_shape(s) for s in shapes)} would broadcast a known size "
                              "against the batch axis")
            out.append(None)
            continue
        big = max(sizes)
        if any(d not in (1, big) for d in sizes):
            raise OpError(f"Op '{op.name}' ({type(op).__name__}): operands "
                          f"{', '.join(format_shape(s) for s in shapes)} cannot be broadcast together")
        out.append(big)
    return tuple(out)


def result_dtype(dtypes, float_result=False):
    """Keras's promotion, simplified: any float operand gives the widest float, else the
    compute float when ``float_result``, else NumPy's integer/bool promotion."""
    floats = [d for d in dtypes if np.dtype(d).kind == "f"]
    if floats:
        return np.result_type(*floats).name
    if float_result:
        return backend.floatx()
    return np.result_type(*dtypes).name if dtypes else backend.floatx()


def normalize_axes(op, axis, rank, over_batch=False):
    """A sorted tuple of non-negative axes of a model's tensor; the batch axis (0) refused unless
    ``over_batch`` (a reduction to a batch statistic, where ``axis=None`` means every axis)."""
    if axis is None and over_batch:
        return tuple(range(rank))
    if axis is None:
        raise OpError(f"Op '{op.name}' ({type(op).__name__}) with axis=None on a rank-{rank} tensor would also "
                      f"reduce the batch axis; give the sample axes, e.g. axis={tuple(range(1, rank))}")
    axes = tuple(sorted({a % rank if -rank <= a < rank else _axis_error(op, a, rank)
                         for a in (axis if isinstance(axis, (list, tuple)) else [axis])}))
    if 0 in axes and not over_batch:
        raise OpError(f"Op '{op.name}' ({type(op).__name__}) over axis {axis!r} of a rank-{rank} tensor would "
                      "reduce or move the batch axis, which a model's tensors keep first")
    return axes


def _axis_error(op, axis, rank):
    raise OpError(f"Op '{op.name}' ({type(op).__name__}): axis {axis} is out of range for a tensor of rank {rank}")


# ----- gradient helpers ---------------------------------------------------------------------------
def reduce_to(src, dst):
    """A step writing into ``dst`` the sum of ``src`` over the axes ``dst`` was broadcast along."""
    lead = src.ndim - dst.ndim
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(dst.shape) if d == 1 and src.shape[lead + i] != 1)
    if not axes:
        return lambda: np.copyto(dst, src)
    view = dst.reshape((1,) * lead + dst.shape)
    return lambda: np.add.reduce(src, axis=axes, keepdims=True, out=view)


def needs_reduction(src, dst):
    return src.shape != dst.shape
