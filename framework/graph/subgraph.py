"""Subgraphs: the nodes a layer's ``call()`` made when it was traced on stand-in inputs.

A layer written with ``call()`` (framework.ops and other layers inside) is traced once per call:
its inputs are stand-ins (``Placeholder`` nodes), and the nodes its ``call()`` adds between them
and its outputs form a ``Subgraph`` kept on the layer's node. The compiler inlines a subgraph like
a nested model, so its ops and layers get buffers, forward steps and a derived backward.
"""
from framework.graph.node import Node, topological_order
from framework.graph.shapes import format_shape
from framework.graph.tensor import SymbolicTensor


class Placeholder:
    """The source of a stand-in input of a traced call (never part of a plan).

    Args:
        name: the name of the input it stands for.
    """

    has_graph = False

    def __init__(self, name):
        self.name = name
        self.inbound_nodes = []
        self.weights = []


def stand_in(tensor):
    """A tensor of ``tensor``'s shape and dtype made by a ``Placeholder`` (its mask carried along)."""
    stand = placeholder(tensor.name, tensor.shape, tensor.dtype)
    stand.mask = tensor.mask
    return stand


def placeholder(name, shape, dtype):
    """A tensor of ``shape`` (batch axis first, as None) and ``dtype`` that a ``Placeholder`` makes."""
    return Node(Placeholder(name), [], [shape], dtype).outputs[0]


class Subgraph:
    """The nodes between stand-in ``inputs`` and the ``outputs`` a traced ``call()`` returned.

    Args:
        owner: the layer whose ``call()`` was traced (named in errors).
        inputs: the stand-in tensors, one per tensor the layer was called on.
        outputs: the symbolic tensors ``call()`` returned.
        loss_tensors: the terms ``call()`` gave ``add_loss`` (their sums join the loss).
        updates: the variable updates ``call()`` made (nodes run although nothing reads them);
            by default those recorded with ``loss_tensors`` (its ``updates``).
    """

    def __init__(self, owner, inputs, outputs, loss_tensors=(), updates=None):
        updates = list(getattr(loss_tensors, "updates", ()) if updates is None else updates)
        for t in list(outputs) + list(loss_tensors):
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"Layer '{owner.name}' ({type(owner).__name__}): call() returned "
                                f"{type(t).__name__}, not a tensor computed from its inputs (use framework.ops)")
        for t in outputs:
            if not t.batched:
                raise ValueError(f"Layer '{owner.name}' ({type(owner).__name__}): call() returned "
                                 f"'{t.name}' {format_shape(t.shape)}, a statistic over the batch; a layer's outputs "
                                 "keep the batch axis (give such a value to add_loss())")
        self.inputs, self.outputs, self.loss_tensors = list(inputs), list(outputs), list(loss_tensors)
        self.updates = updates
        nodes = topological_order(self.outputs + self.loss_tensors + self.updates)
        stand_ins = {id(t.node) for t in self.inputs}
        for node in nodes:
            if not node.inputs and id(node) not in stand_ins and not hasattr(node.layer, "reapply"):
                raise ValueError(f"Layer '{owner.name}' ({type(owner).__name__}): call() used tensor "
                                 f"'{node.outputs[0].name}' {format_shape(node.outputs[0].shape)}, which is not "
                                 "among the inputs it was called on; pass it as an input")
        self._nodes = [n for n in nodes if id(n) not in stand_ins]

    def graph_nodes(self):
        """Nodes in execution order, stand-ins excluded."""
        return self._nodes
