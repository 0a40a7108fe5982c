"""Nodes: one application of a layer to symbolic inputs.

A layer applied twice has two nodes and one set of weights; the compiler
turns each node into forward and backward steps.
"""
from framework.graph.tensor import SymbolicTensor


class Node:
    """``layer`` applied to ``inputs`` (a list of SymbolicTensors), producing ``outputs``."""

    def __init__(self, layer, inputs, output_shapes, dtype, call_kwargs=None):
        self.layer = layer
        self.inputs = list(inputs)
        self.call_kwargs = dict(call_kwargs or {})
        self.outputs = [SymbolicTensor(shape, dtype, node=self, index=i, name=layer.name)
                        for i, shape in enumerate(output_shapes)]
        self.subgraphs = {}  # training mode -> the nodes a traced call() made (framework.graph.subgraph)
        self.positional = False  # the layer was called with its inputs one by one: layer(a, b)
        layer.inbound_nodes.append(self)

    @property
    def parents(self):
        return [t.node for t in self.inputs]

    def __repr__(self):
        return f"<Node {self.layer.name} in={[t.shape for t in self.inputs]} out={[t.shape for t in self.outputs]}>"


def apply_layer(layer, tensors, call_kwargs, positional=False):
    """Call ``layer`` on a list of tensors with a node's recorded ``call_kwargs``, as the
    original call did: a lone tensor for a one-input layer, the list otherwise, the tensors one
    by one when ``positional``. An operation (``framework.ops``) re-applies itself with its
    recorded constants (``reapply``)."""
    if hasattr(layer, "reapply"):
        return layer.reapply(tensors)
    if positional:
        return layer(*tensors, **call_kwargs)
    several = len(tensors) > 1 or getattr(layer, "num_inputs", 1) != 1
    return layer(tensors if several else tensors[0], **call_kwargs)


def topological_order(output_tensors):
    """Nodes reachable from the outputs, each after all of its parents."""
    order, state = [], {}
    stack = [(t.node, False) for t in reversed(output_tensors)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            if state.get(id(node)) != "done":
                state[id(node)] = "done"
                order.append(node)
            continue
        if id(node) in state:
            continue
        state[id(node)] = "open"
        stack.append((node, True))
        for parent in reversed(node.parents):
            if id(parent) not in state:
                stack.append((parent, False))
    return order
