"""The ONNX graph under construction, and what a converter sees of one layer call.

Every tensor of the Keras graph becomes a ``Value``: an ONNX tensor name plus its layout. Keras
tensors are channels_last; a convolution wants channels first (NCHW). A value of rank 3 or more
may therefore be held in either layout, 'last' (as Keras) or 'first' (channel axis moved to 1):
a converter asks for its inputs in the layout it needs (``LayerContext.input(i, layout)``), a
transpose is added only when the value is held in the other one (and made once per value and
layout), and the converter says in which layout it wrote its outputs. Consecutive
channel-first-friendly layers (convolutions, pooling, batch normalization, activations, merges)
thus hand NCHW tensors to each other; transposes appear only at the boundaries.
"""
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from framework.export.errors import ExportError

LAST, FIRST, ANY = "last", "first", "any"


def to_first(rank):
    """The permutation taking a channels_last tensor of ``rank`` to channels first."""
    return (0, rank - 1) + tuple(range(1, rank - 1))


def to_last(rank):
    """The permutation taking a channels-first tensor of ``rank`` back to channels_last."""
    return (0,) + tuple(range(2, rank)) + (1,)


def axis_in_layout(axis, rank, layout):
    """Where the Keras (channels_last) ``axis`` of a tensor of ``rank`` sits in ``layout``."""
    axis = axis + rank if axis < 0 else axis
    if layout != FIRST or rank < 3 or axis == 0:
        return axis
    return 1 if axis == rank - 1 else axis + 1


def shape_in_layout(shape, layout):
    """A Keras shape (channels_last) as held in ``layout``."""
    shape = tuple(shape)
    if layout != FIRST or len(shape) < 3:
        return shape
    return tuple(shape[i] for i in to_first(len(shape)))


@dataclass
class Value:
    """One tensor of the Keras graph in the ONNX graph: its name there, its layout and Keras shape."""

    name: str
    layout: str
    shape: tuple

    @property
    def rank(self):
        return len(self.shape)


class OnnxGraph:
    """Nodes and initializers (constants and weights) of the graph being built, with unique names.

    Args:
        reserved: names already taken (the graph's inputs and outputs).
    """

    def __init__(self, reserved=()):
        self.nodes = []
        self.initializers = []
        self._names = set(reserved)
        self._cache = {}

    def fresh(self, hint):
        """An unused tensor or node name built from ``hint``."""
        base = "".join(c if c.isalnum() or c in "_/.:-" else "_" for c in str(hint)) or "t"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def node(self, op_type, inputs, hint, outputs=1, **attributes):
        """Add a node; its output name (or list of names when ``outputs`` > 1)."""
        names = [self.fresh(f"{hint}/{op_type}" + (f":{i}" if outputs > 1 else "")) for i in range(outputs)]
        attributes = {k: v for k, v in attributes.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh(f"{hint}/{op_type}_node"),
                                           **attributes))
        return names if outputs > 1 else names[0]

    def constant(self, array, hint, dtype=np.float32):
        """An initializer holding ``array`` (cast to ``dtype``); its name."""
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(array, dtype=dtype)), name))
        return name

    def cached(self, key, make):
        """``make()`` once per ``key`` (a weight transformed one way, a value transposed once)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def in_layout(self, value, layout):
        """The name of ``value`` held in ``layout`` (a transpose added, once, if needed)."""
        if layout == ANY or value.rank < 3 or value.layout == layout:
            return value.name
        perm = to_first(value.rank) if layout == FIRST else to_last(value.rank)
        return self.cached(("layout", value.name, layout),
                           lambda: self.node("Transpose", [value.name], f"{value.name}/to_{layout}", perm=list(perm)))


class LayerContext:
    """What a converter sees of one layer call: its inputs, shapes and the graph to add to.

    Args:
        graph: the ``OnnxGraph`` being built.
        layer: the layer called.
        inputs: the ``Value`` of each input tensor.
        output_shapes: the Keras shape of each output tensor.
        opset: the ONNX opset the graph is written for.
        call_kwargs: the options the layer was called with (``use_causal_mask``...).
    """

    def __init__(self, graph, layer, inputs, output_shapes, opset, call_kwargs=None):
        self.graph = graph
        self.opset = opset
        self.call_kwargs = dict(call_kwargs or {})
        self.layer = layer
        self.inputs = inputs
        self.output_shapes = output_shapes
        self.outputs = [None] * len(output_shapes)

    # ----- inputs ---------------------------------------------------------------------------
    def input(self, i=0, layout=LAST):
        """The ONNX name of input ``i`` in ``layout`` ('last', 'first' or 'any': as it is held)."""
        return self.graph.in_layout(self.inputs[i], layout)

    def layout(self, i=0):
        """The layout input ``i`` is held in."""
        value = self.inputs[i]
        return value.layout if value.rank >= 3 else LAST

    def input_shape(self, i=0):
        return self.inputs[i].shape

    def output_shape(self, i=0):
        return self.output_shapes[i]

    # ----- building -------------------------------------------------------------------------
    def op(self, op_type, inputs, outputs=1, **attributes):
        """Add a node named after the layer; its output name(s)."""
        return self.graph.node(op_type, inputs, self.layer.name, outputs, **attributes)

    def const(self, array, hint="const", dtype=np.float32):
        return self.graph.constant(array, f"{self.layer.name}/{hint}", dtype)

    def ints(self, values, hint="shape"):
        """An int64 constant (shapes, axes, pads)."""
        return self.graph.constant(np.asarray(values, dtype=np.int64).reshape(-1), f"{self.layer.name}/{hint}",
                                   np.int64)

    def weight(self, variable, transform=None, tag="", hint=None):
        """A weight as an initializer, ``transform``ed (a NumPy function) once however often the layer is called."""
        def make():
            value = variable.numpy()
            return self.graph.constant(transform(value) if transform else value,
                                       hint or getattr(variable, "path", None) or f"{self.layer.name}/weight")
        return self.graph.cached(("weight", id(variable), tag), make)

    def set_output(self, name, layout=LAST, i=0):
        """Output ``i`` of the layer is ONNX tensor ``name``, held in ``layout``."""
        shape = self.output_shapes[i]
        self.outputs[i] = Value(name, layout if len(shape) >= 3 else LAST, tuple(shape))

    def fail(self, reason):
        """An ExportError naming the layer and its class."""
        return ExportError(f"Layer '{self.layer.name}' ({type(self.layer).__name__}) cannot be exported to ONNX: "
                           f"{reason}")


#: ONNX element types of the model inputs this exporter accepts (floats are exported as float32)
INPUT_TYPES = {"float16": TensorProto.FLOAT, "float32": TensorProto.FLOAT, "float64": TensorProto.FLOAT,
               "int32": TensorProto.INT32, "int64": TensorProto.INT64}
