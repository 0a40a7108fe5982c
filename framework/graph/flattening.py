"""Flatten a model's graph into entries the compiler can emit, one per layer call.

A model is any layer whose ``has_graph`` is true: it offers ``inputs``, ``outputs`` and
``graph_nodes()``; a node whose layer traced its ``call()`` carries a ``Subgraph`` that offers
the same three. Both are inlined: their inner nodes become entries whose tensors are
named by (scope, tensor id), so a model applied twice yields two independent
runs of entries over one set of weights.

A model declared with unknown sizes (``Input((None,))``, ``Input((None, None, 3))``)
is flattened for the sizes of one batch: its layers are applied again to inputs of
those shapes (``retrace``), which gives every tensor of the plan a concrete shape.
The nodes made that way belong to the plan only; the layers and the model's own
graph are left as they were.
"""
from dataclasses import dataclass, field

from framework.graph.node import apply_layer, topological_order
from framework.graph.shapes import format_shape, sample_shapes_match
from framework.graph.tensor import SymbolicTensor


@dataclass
class Entry:
    """One layer or op call of a flattened graph: its node, and the keys of the tensors it reads and writes.
    ``traced_by`` is the node of the layer whose traced ``call()`` made it (None at the model's level);
    ``training`` the mode a model called with ``training=`` imposes on it (Keras: ``base(x, training=False)``
    keeps the base's BatchNormalization in inference mode while the outer model trains)."""

    node: object
    in_keys: list
    out_keys: list
    shapes: dict = field(default_factory=dict)
    traced_by: object = None
    training: object = None  # a nested model's call(training=...) imposed on the layers inside it (None: none)
    activation: object = None  # an activation layer's function folded into this layer's epilogue (None: none)
    absorbed: tuple = ()  # the entries of the activation layers folded in (summary() still lists them)

    @property
    def layer(self):
        return self.node.layer


def flatten_model(model, input_shapes=None, training=False):
    """(input_keys, output_keys, entries, tensors, loss_keys) where tensors maps key -> SymbolicTensor
    and loss_keys are the tensors of the ``add_loss`` terms of the model and of traced calls.

    ``input_shapes``: the sample shape of each input (no batch axis) for a model with
    unknown sizes; the graph is then traced again at those sizes. ``training``: the plan's
    mode, which picks the trace of a layer whose ``call()`` branches on it.
    """
    tensors = {}
    entries = []
    input_keys = []
    retrace = input_shapes is not None
    sources = [_concrete_input(t, shape) for t, shape in zip(model.inputs, input_shapes)] if retrace \
        else model.inputs
    for t in sources:
        key = ((), id(t))
        tensors[key] = t
        input_keys.append(key)
    made, loss_keys = [], []
    try:
        output_keys = _expand(model, input_keys, (), entries, tensors, made if retrace else None, None,
                              bool(training), loss_keys)
    finally:
        for node in made:  # the plan keeps its nodes; the layers forget them
            node.layer.inbound_nodes.remove(node)
    return input_keys, output_keys, entries, tensors, loss_keys


def has_loss_terms(model):
    """True when the model's graph (nested models and traced calls included) has ``add_loss`` terms."""
    if getattr(model, "loss_tensors", None):
        return True
    for node in model.graph_nodes():
        if node.layer.has_graph and has_loss_terms(node.layer):
            return True
        if any(has_loss_terms(graph) for graph in node.subgraphs.values()):
            return True
    return False


def outputs_use_batch_statistics(model):
    """True when a statistic over the batch (a tensor without the batch axis, from an op reducing
    it) feeds one of the model's outputs or a variable update (``framework.ops.updates``), in its
    graph, nested models or traced calls: padding a batch with extra rows would change them."""
    return _statistic_feeds(_ends(model))


def _ends(graph):
    return list(graph.outputs) + list(getattr(graph, "updates", None) or getattr(graph, "_update_tensors", []))


def _statistic_feeds(outputs):
    for node in topological_order(outputs):
        if any(not t.batched for t in node.outputs):
            return True
        if node.layer.has_graph and _statistic_feeds(_ends(node.layer)):
            return True
        if any(_statistic_feeds(_ends(graph)) for graph in node.subgraphs.values()):
            return True
    return False


def _trace_for(node, training):
    """The subgraph of a traced node for the plan's mode (the node's own ``training=`` first)."""
    graphs = node.subgraphs
    if len(graphs) == 1:
        return next(iter(graphs.values()))
    return graphs[bool(node.call_kwargs.get("training", training))]


def _concrete_input(tensor, shape):
    """A stand-in for input ``tensor`` with the sizes of one batch."""
    batch_shape = (None,) + tuple(int(d) for d in shape)
    if not sample_shapes_match(tensor.shape, batch_shape):
        raise ValueError(f"Input '{tensor.name}' expects samples of shape {format_shape(tensor.shape[1:])}, "
                         f"received {format_shape(batch_shape[1:])}")
    return SymbolicTensor(batch_shape, tensor.dtype, node=tensor.node, index=tensor.index, name=tensor.name)


def _expand(model, input_keys, scope, entries, tensors, made, traced_by, training, loss_keys, imposed=None):
    env = {id(t): key for t, key in zip(model.inputs, input_keys)}
    for node in model.graph_nodes():
        in_keys = [env[id(t)] for t in node.inputs]
        inner = bool(node.call_kwargs["training"]) if node.call_kwargs.get("training") is not None else imposed
        if node.layer.has_graph:
            out_keys = _expand(node.layer, in_keys, scope + (id(node),), entries, tensors, made, traced_by, training,
                               loss_keys, inner)
        elif node.subgraphs:  # a traced call(): its nodes, at the sizes of the batch when retracing
            traced = node if made is None else _apply_again(node, [tensors[k] for k in in_keys], made)
            mode = training if imposed is None else imposed
            out_keys = _expand(_trace_for(traced, mode), in_keys, scope + (id(node),), entries, tensors, None,
                               traced_by or traced, training, loss_keys, inner)
        else:
            emitted = node if made is None else _apply_again(node, [tensors[k] for k in in_keys], made)
            out_keys = [(scope, id(t)) for t in emitted.outputs]
            for t, key in zip(emitted.outputs, out_keys):
                tensors[key] = t
            entries.append(Entry(emitted, in_keys, out_keys, traced_by=traced_by, training=imposed))
        for t, key in zip(node.outputs, out_keys):
            env[id(t)] = key
    loss_keys.extend(env[id(t)] for t in getattr(model, "loss_tensors", ()))
    return [env[id(t)] for t in model.outputs]


def _apply_again(node, inputs, made):
    """The node's layer called on ``inputs`` as the node called it; the new node is added to ``made``."""
    layer = node.layer
    before = len(layer.inbound_nodes)
    outputs = apply_layer(layer, inputs, node.call_kwargs, node.positional)
    made.extend(layer.inbound_nodes[before:])
    first = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    return first.node
