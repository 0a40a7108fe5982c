"""Where Keras 3 keeps each layer's variables in ``model.weights.h5``.

Keras's saving code walks the model: a model's ``layers`` list, each layer named by the snake case
of its class name, numbered when repeated (``dense``, ``dense_1``, ... per class, in the order of
``model.layers``; names are never the layers' own), its own variables under ``vars/0``,
``vars/1``, ... (trainable then non-trainable, as ``layer.weights`` orders them) and the layers it
keeps under their attribute names: a recurrent layer's variables are in ``cell/vars``, a
``Bidirectional``'s in ``forward_layer/...`` and ``backward_layer/...``, a ``TimeDistributed``'s in
``layer/...``, a ``MultiHeadAttention``'s in ``query_dense``, ``key_dense``, ``value_dense`` and
``output_dense``. A nested model is a layer whose layers are under ``<name>/layers/``. A layer met
a second time (shared by two models) is skipped, its number still taken.

``model.layers`` of a functional Keras model is in Keras's graph order: layers by decreasing depth
(the longest path to an output), ties in order of first visit of a depth-first walk from the
outputs. ``keras_layer_order`` computes that order for a model of this library, so a file written
here is read by Keras and a file Keras wrote is read here without its config.
"""
import re

from framework.layers.core import InputLayer

RECURRENT = ("LSTM", "GRU", "SimpleRNN")
ATTENTION_PARTS = ("query_dense", "key_dense", "value_dense", "output_dense")


def snake_case(name):
    """Keras's rule for the names of saved layers: ``Conv2DTranspose`` -> ``conv2d_transpose``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_class_name(layer):
    """The class name Keras gives this layer: its registered name (``Functional`` for a model)."""
    if layer.has_graph:
        return "Sequential" if type(layer).registered_name == "Sequential" else "Functional"
    return vars(type(layer)).get("registered_name") or type(layer).__name__


def variable_groups(layer):
    """``[(path inside the layer's group, [variables])]`` for a layer that is not a model."""
    name = keras_class_name(layer)
    weights = list(layer.weights)
    if name in RECURRENT:
        return [("cell/vars", weights)]
    if name == "Bidirectional":
        return ([(f"forward_layer/{p}", v) for p, v in variable_groups(layer.forward_layer)] +
                [(f"backward_layer/{p}", v) for p, v in variable_groups(layer.backward_layer)])
    if name == "TimeDistributed":
        return [(f"layer/{p}", v) for p, v in variable_groups(layer.layer)]
    if name == "MultiHeadAttention":
        per = len(weights) // 4
        return [(f"{part}/vars", weights[i * per:(i + 1) * per]) for i, part in enumerate(ATTENTION_PARTS)]
    return [("vars", weights)]


def keras_layer_order(model):
    """``model.layers`` as Keras orders them (see the module docstring); a Sequential's layers
    without its input layer, as Keras's ``Sequential.layers``."""
    if keras_class_name(model) == "Sequential":
        return [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    input_nodes = [t.node for t in model.inputs]
    members = {id(n) for n in list(model.graph_nodes()) + input_nodes}
    first_visit, order, finished = {}, [], set()
    for tensor in model.outputs:  # depth-first from the outputs; first visits number the layers
        stack = [(tensor.node, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if id(node) not in finished:
                    finished.add(id(node))
                    order.append(node)
                continue
            if id(node) in finished or id(node) not in members:
                continue
            first_visit.setdefault(id(node.layer), len(first_visit))
            stack.append((node, True))
            for parent in reversed(node.inputs):
                if id(parent.node) not in finished:
                    stack.append((parent.node, False))
    node_depth, layer_depth = {}, {}
    for node in reversed(order):  # consumers before producers
        d = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        node_depth[id(node)] = layer_depth[id(node.layer)] = d
        for parent in node.inputs:
            if id(parent.node) in members:
                node_depth[id(parent.node)] = max(node_depth.get(id(parent.node), 0), d + 1)
    layers = {id(node.layer): node.layer for node in order}
    for node in input_nodes:  # an input no output needs: depth 0, ahead of its depth's layers
        if id(node.layer) not in layers:
            layers[id(node.layer)] = node.layer
            layer_depth[id(node.layer)], first_visit[id(node.layer)] = 0, -1
    return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_visit[id(layer)]))


def layer_groups(model, orders=None, prefix="layers", seen=None):
    """``[(h5 group path, layer)]``: every layer of ``model`` once, a nested model followed by its own
    layers (under ``<path>/layers``). ``orders`` maps ``id(model)`` (nested models too) to its layers
    in another order: a ``.keras`` file's config order, which is Keras's own."""
    seen = set() if seen is None else seen
    used, found = {}, []
    for layer in (orders or {}).get(id(model)) or keras_layer_order(model):
        base = snake_case(keras_class_name(layer))
        number = used.get(base)
        used[base] = 0 if number is None else number + 1
        key = f"{prefix}/{base}" if number is None else f"{prefix}/{base}_{number + 1}"
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        found.append((key, layer))
        if layer.has_graph:
            found += layer_groups(layer, orders, f"{key}/layers", seen)
    return found


def walk(model, orders=None):
    """``[(h5 group path, layer, [variables])]`` of Keras 3's layout, one entry per group that holds
    variables (see ``layer_groups`` for ``orders``)."""
    return [(f"{path}/{sub}", layer, variables) for path, layer in layer_groups(model, orders)
            if not layer.has_graph for sub, variables in variable_groups(layer) if variables]
