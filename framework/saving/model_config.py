"""Model configs: a model's topology and layer settings as plain data, and back.

A functional config lists each layer once (class name and ``get_config()``), with
its calls in this model: every call names the tensors it consumed as
``[layer_name, call_index, output_index]``. Calls are numbered per layer in the
model's execution order, so a layer called twice (shared weights) has calls 0 and 1.
Nested models appear as layers whose config is their own model config.

Rebuilding looks every class name up in a registry; nothing is imported. Models may nest at
most ``MAX_NESTING`` deep; a malformed config (a missing key, a wrong type) is a ValueError
naming where it was read from, never a KeyError or TypeError from inside.
"""
import json
import threading

import yaml

from framework.config.bounded_yaml import cut, load_yaml, short
from framework.graph.node import apply_layer
from framework.layers.core import Input
from framework.layers.serialization import MODELS, build_layer, layer_config, plain
from framework.ops import REGISTRY as OPS, Operation

FORMAT = "framework.model/1"
MAX_NESTING = 50  # models inside models; a config nesting deeper is refused before Python's stack runs out
_building = threading.local()


def model_config(model):
    """The config of a functional model or a Sequential."""
    if isinstance(model, MODELS.lookup("Sequential")):
        layers = [layer_config(layer) for layer in model.layers]
        config = {"name": model.name, "trainable": model.trainable, "layers": layers}
        if model.built and model.inputs:
            source = model.inputs[0].node.layer
            config["input"] = {"batch_shape": list(source.batch_shape), "dtype": source.dtype, "name": source.name}
        return config
    calls, numbering = {}, {}
    for node in model.graph_nodes():
        number = calls.setdefault(id(node.layer), 0)
        numbering[id(node)] = number
        calls[id(node.layer)] = number + 1

    def ref(tensor):
        return [tensor.node.layer.name, numbering.get(id(tensor.node), 0), tensor.index]

    layers = []
    for layer in model.layers:
        entry = layer_config(layer)
        entry["name"] = layer.name
        entry["calls"] = [{"inputs": [ref(t) for t in node.inputs],
                           **({"kwargs": node.call_kwargs} if node.call_kwargs else {}),
                           **({"positional": True} if node.positional else {})}
                          for node in model.graph_nodes() if node.layer is layer]
        layers.append(entry)
    config = {"name": model.name, "trainable": model.trainable, "layers": layers,
              "inputs": _structure(*model.input_structure, [ref(t) for t in model.inputs]),
              "outputs": _structure(*model.output_structure, [ref(t) for t in model.outputs])}
    ops = [{"class_name": type(node.layer).registered_name, "name": node.layer.name,
            "config": plain(node.layer.get_config()), "operands": node.layer.operand_config(),
            "calls": [{"inputs": [ref(t) for t in node.inputs]}]}
           for node in model.graph_nodes() if isinstance(node.layer, Operation)]
    if ops:  # framework.ops applied in the graph: each op node once, by registered op name
        config["ops"] = ops
    if model.loss_tensors:  # model.add_loss(tensor) terms of the graph
        config["losses"] = [ref(t) for t in model.loss_tensors]
    return config


def _structure(kind, keys, refs):
    if kind == "single":
        return refs[0]
    if kind == "dict":
        return dict(zip(keys, refs))
    return refs


def model_from_config(config, sequential=None):
    """Rebuild a model from ``model_config`` output (weights are freshly initialized)."""
    depth = getattr(_building, "depth", 0)
    if depth >= MAX_NESTING:
        raise ValueError(f"model config: models nested more than {MAX_NESTING} deep; refusing")
    _building.depth = depth + 1
    try:
        return _model_from_config(config, sequential)
    finally:
        _building.depth = depth


def _model_from_config(config, sequential):
    Model, Sequential = MODELS.lookup("Functional"), MODELS.lookup("Sequential")
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError(f"A model config is a mapping with 'layers'; received {type(config).__name__}")
    if sequential or (sequential is None and "inputs" not in config):
        model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
        if "input" in config:
            spec = config["input"]
            model.add(Input(batch_shape=tuple(spec["batch_shape"]), dtype=spec.get("dtype"), name=spec.get("name")))
        for i, entry in enumerate(config["layers"]):
            model.add(build_layer(entry, f"model config, layer {i}"))
        return model
    layers = {}
    for i, entry in enumerate(config["layers"]):
        if "name" not in entry:
            raise ValueError(f"model config, layer {i}: every layer needs a 'name'")
        layers[entry["name"]] = build_layer(entry, f"model config, layer '{entry['name']}'")
    for i, entry in enumerate(config.get("ops") or []):
        if not isinstance(entry, dict) or "name" not in entry or "class_name" not in entry:
            raise ValueError(f"model config, op {i}: expected 'class_name', 'name', 'config', 'operands', 'calls'")
        cls = OPS.lookup(entry["class_name"])
        try:
            layers[entry["name"]] = cls.from_operand_config(dict(entry.get("config") or {}), entry.get("operands", []))
        except (TypeError, KeyError) as e:
            raise ValueError(f"model config, op '{entry['name']}': invalid config for op {entry['class_name']!r}: "
                             f"{e}") from None
    produced = {}
    for name, layer in layers.items():
        if type(layer).__name__ == "InputLayer":
            produced[(name, 0)] = [layer.output]
    pending = [(entry["name"], k, call) for entry in config["layers"] + list(config.get("ops") or [])
               for k, call in enumerate(entry.get("calls", []))]
    while pending:
        progress = []
        for name, k, call in pending:
            refs = call["inputs"]
            if not all((r[0], r[1]) in produced for r in refs) or (k > 0 and (name, k - 1) not in produced):
                continue
            tensors = [produced[(r[0], r[1])][r[2]] for r in refs]
            layer = layers[name]
            outputs = apply_layer(layer, tensors, call.get("kwargs", {}), bool(call.get("positional", False)))
            produced[(name, k)] = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            progress.append((name, k, call))
        if not progress:
            missing = sorted({r[0] for _, _, call in pending for r in call["inputs"] if r[0] not in layers})
            raise ValueError("model config: calls cannot be connected" +
                             (f"; unknown layer names {missing}" if missing else " (a cycle or a missing call)"))
        pending = [p for p in pending if p not in progress]

    def resolve(structure):
        if isinstance(structure, dict):
            return {k: resolve(v) for k, v in structure.items()}
        if structure and isinstance(structure[0], list):
            return [resolve(s) for s in structure]
        name, k, index = structure
        if (name, k) not in produced:
            raise ValueError(f"model config: inputs/outputs name {name!r} call {k}, which the config never makes")
        return produced[(name, k)][index]

    model = Model(resolve(config["inputs"]), resolve(config["outputs"]), name=config.get("name"),
                  trainable=config.get("trainable", True))
    for term in config.get("losses") or []:
        model.add_loss(resolve(term))
    return model


def to_yaml(model):
    return yaml.safe_dump({"format": FORMAT, "class_name": layer_config(model)["class_name"],
                           "config": model_config(model)}, sort_keys=False)


def to_json(model, **kwargs):
    return json.dumps({"format": FORMAT, "class_name": layer_config(model)["class_name"],
                       "config": model_config(model)}, **kwargs)


def model_from_document(document, source):
    if not isinstance(document, dict) or "config" not in document or "class_name" not in document:
        raise ValueError(f"{source}: not a model config (expected 'class_name' and 'config' keys)")
    if document["class_name"] not in ("Functional", "Sequential"):
        raise ValueError(f"{source}: class_name must be 'Functional' or 'Sequential', "
                         f"received {short(document['class_name'])}")
    try:
        return model_from_config(document["config"], sequential=document["class_name"] == "Sequential")
    except KeyError as e:
        raise ValueError(f"{source}: malformed model config: missing key "
                         f"{short(e.args[0] if e.args else None)}") from None
    except (TypeError, IndexError, AttributeError) as e:
        raise ValueError(f"{source}: malformed model config ({type(e).__name__}: {cut(e, 300)})") from None
    except RecursionError:
        raise ValueError(f"{source}: the model config is nested too deeply to rebuild") from None


def model_from_yaml(text):
    """A model from ``model.to_yaml()`` text, read by the bounded safe YAML reader (no Python
    tags; limits on size, alias expansion and nesting: framework.config.bounded_yaml)."""
    return model_from_document(load_yaml(text, "model YAML"), "model YAML")


def model_from_json(text):
    """A model from ``model.to_json()`` text."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise ValueError("model JSON: nested too deeply to read") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"model JSON: not valid JSON ({cut(e)})") from None
    return model_from_document(document, "model JSON")
