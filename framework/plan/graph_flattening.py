"""Flatten a model's graph into entries the compiler can emit, one per layer call.

Nested models are inlined: their inner nodes become entries whose tensors are
named by (scope, tensor id), so a model applied twice yields two independent
runs of entries over one set of weights.
"""
from dataclasses import dataclass, field


@dataclass
class Entry:
    node: object
    in_keys: list
    out_keys: list
    shapes: dict = field(default_factory=dict)

    @property
    def layer(self):
        return self.node.layer


def flatten_model(model):
    """(input_keys, output_keys, entries, tensors) where tensors maps key -> SymbolicTensor."""
    tensors = {}
    entries = []
    input_keys = []
    for t in model.inputs:
        key = ((), id(t))
        tensors[key] = t
        input_keys.append(key)
    output_keys = _expand(model, input_keys, (), entries, tensors)
    return input_keys, output_keys, entries, tensors


def _expand(model, input_keys, scope, entries, tensors):
    from framework.models.functional import Model
    env = {id(t): key for t, key in zip(model.inputs, input_keys)}
    for node in model.graph_nodes():
        in_keys = [env[id(t)] for t in node.inputs]
        if isinstance(node.layer, Model):
            out_keys = _expand(node.layer, in_keys, scope + (id(node),), entries, tensors)
        else:
            out_keys = [(scope, id(t)) for t in node.outputs]
            for t, key in zip(node.outputs, out_keys):
                tensors[key] = t
            entries.append(Entry(node, in_keys, out_keys))
        for t, key in zip(node.outputs, out_keys):
            env[id(t)] = key
    return [env[id(t)] for t in model.outputs]
