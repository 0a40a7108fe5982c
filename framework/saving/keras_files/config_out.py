"""This library's models as Keras 3 configs (``config.json`` of a ``.keras`` file).

Layers keep their class names and arguments (they are Keras's); what changes is the envelope:
every object gets Keras's ``module`` (``keras.layers``, ``keras.initializers``, ...) and
``registered_name``, a functional model lists its layers in Keras's order with their
``inbound_nodes`` (``__keras_tensor__`` arguments carrying ``keras_history``), and a Sequential
starts with its ``InputLayer``. ``unsupported(model)`` says why a model has no Keras config: a
layer Keras does not have (a user's class, a ``Lambda``), an op applied in the graph, a loss term
added to the graph.
"""
from framework.layers.core import InputLayer
from framework.layers.serialization import plain
from framework.ops import Operation
from framework.saving.keras_files.weight_paths import keras_class_name, keras_layer_order

#: keys of a layer config holding objects, and the Keras module of their kind
OBJECT_MODULES = (("_initializer", "keras.initializers"), ("_regularizer", "keras.regularizers"),
                  ("_constraint", "keras.constraints"))
WRAPPED = ("layer", "backward_layer")
#: layers whose Keras call takes its tensors one by one (``mha(query, value)``), not as a list
POSITIONAL_CALLS = ("MultiHeadAttention",)


def _obj(entry, module):
    if not isinstance(entry, dict) or "class_name" not in entry:
        return entry
    return {"module": module, "class_name": entry["class_name"], "config": entry.get("config") or {},
            "registered_name": None}


def _layer_config(layer):
    config = plain(layer.get_config())
    for key, value in list(config.items()):
        if key in WRAPPED and isinstance(value, dict) and "class_name" in value:
            config[key] = _entry(value)
        for suffix, module in OBJECT_MODULES:
            if key.endswith(suffix):
                config[key] = _obj(value, module)
    return config


def _entry(ours):
    """A nested ``{'class_name', 'config'}`` of this library (a wrapped layer) in Keras's envelope."""
    config = dict(ours["config"])
    for key, value in list(config.items()):
        if key in WRAPPED and isinstance(value, dict) and "class_name" in value:
            config[key] = _entry(value)
        for suffix, module in OBJECT_MODULES:
            if key.endswith(suffix):
                config[key] = _obj(value, module)
    return {"module": "keras.layers", "class_name": ours["class_name"], "config": config, "registered_name": None}


def unsupported(model):
    """Why Keras could not load ``model`` (a short phrase naming the layer), or None."""
    from framework.layers.serialization import REGISTRY
    for layer in model.layers:
        if isinstance(layer, Operation):
            return f"op '{layer.name}' applied in the graph (Keras has no config for framework.ops nodes)"
        if layer.has_graph:
            if type(layer).registered_name not in ("Functional", "Sequential"):
                return f"model '{layer.name}' of class {type(layer).__name__}"
            reason = unsupported(layer)
            if reason:
                return reason
            continue
        name = vars(type(layer)).get("registered_name")
        if name == "Lambda":
            return f"Lambda layer '{layer.name}' (Keras would need its Python code in the file, which this library never writes)"
        if name is None or name not in REGISTRY or REGISTRY.lookup(name) is not type(layer):
            return f"layer '{layer.name}' of class {type(layer).__name__}, which Keras does not have"
        reason = _own_functions(layer)
        if reason:
            return reason
    if model.has_graph and getattr(model, "loss_tensors", None):
        return "loss terms added to the graph with add_loss"
    if keras_class_name(model) == "Functional":
        for node in model.graph_nodes():
            if isinstance(node.layer, Operation):
                return f"op '{node.layer.name}' applied in the graph"
    return None


def _own_functions(layer):
    """A user's registered function where Keras expects one of its own (an activation), or None."""
    from framework import activations
    config = layer.get_config()
    for key, value in config.items():
        if key.endswith("activation") and value is not None and not (isinstance(value, str)
                                                                     and value in activations.REGISTRY):
            return f"layer '{layer.name}' whose {key} is the user's function {value!r}"
        if key in WRAPPED and isinstance(value, dict) and isinstance(value.get("config"), dict):
            inner = value["config"]
            for k, v in inner.items():
                if k.endswith("activation") and v is not None and not (isinstance(v, str) and v in activations.REGISTRY):
                    return f"layer '{layer.name}' whose inner {k} is the user's function {v!r}"
    return None


def _input_entry(layer, with_node_fields):
    entry = {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": list(layer.batch_shape), "dtype": layer.dtype, "sparse": False,
                        "ragged": False, "name": layer.name, "optional": False}, "registered_name": None}
    if with_node_fields:
        entry.update({"name": layer.name, "inbound_nodes": []})
    return entry


def model_entry(model, nested=False):
    """Keras's entry for ``model`` (``nested``: as a layer of another model, without its calls)."""
    if keras_class_name(model) == "Sequential":
        layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
        entries = [_input_entry(model.inputs[0].node.layer, False)] if model.built and model.inputs else []
        entries += [model_entry(layer, True) if layer.has_graph else
                    {"module": "keras.layers", "class_name": keras_class_name(layer),
                     "config": _layer_config(layer), "registered_name": None} for layer in layers]
        entry = {"module": "keras", "class_name": "Sequential",
                 "config": {"name": model.name, "trainable": model.trainable, "layers": entries},
                 "registered_name": None}
        if model.built and model.inputs:
            entry["build_config"] = {"input_shape": list(model.inputs[0].shape)}
        return entry
    numbering, counts = {}, {}
    for node in model.graph_nodes():
        numbering[id(node)] = counts.get(id(node.layer), 0)
        counts[id(node.layer)] = numbering[id(node)] + 1

    def tensor(t):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype,
                           "keras_history": [t.node.layer.name, numbering.get(id(t.node), 0), t.index]}}

    def ref(t):
        return [t.node.layer.name, numbering.get(id(t.node), 0), t.index]

    entries = []
    for layer in keras_layer_order(model):
        if isinstance(layer, InputLayer):
            entries.append(_input_entry(layer, True))
            continue
        entry = model_entry(layer, True) if layer.has_graph else \
            {"module": "keras.layers", "class_name": keras_class_name(layer), "config": _layer_config(layer),
             "registered_name": None}
        nodes = []
        for node in model.graph_nodes():
            if node.layer is layer:
                tensors = [tensor(t) for t in node.inputs]
                several = len(tensors) > 1 or getattr(layer, "num_inputs", 1) != 1
                positional = node.positional or keras_class_name(layer) in POSITIONAL_CALLS
                args = tensors if positional else [tensors] if several else tensors
                nodes.append({"args": args, "kwargs": plain(dict(node.call_kwargs or {}))})
        entry.update({"name": layer.name, "inbound_nodes": nodes})
        entries.append(entry)

    def structure(kind, keys, tensors):
        refs = [ref(t) for t in tensors]
        if kind == "single":
            return refs[0]
        return dict(zip(keys, refs)) if kind == "dict" else refs
    config = {"name": model.name, "trainable": model.trainable, "layers": entries,
              "input_layers": structure(*model.input_structure, model.inputs),
              "output_layers": structure(*model.output_structure, model.outputs)}
    entry = {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
             "registered_name": "Functional"}
    if not nested:
        entry["build_config"] = {"input_shape": None}
    return entry


def compile_entry(settings):
    """Keras's ``compile_config`` from this library's compile settings (``archive.compile_config``)."""
    def each(value, module):
        if isinstance(value, list):
            return [each(v, module) for v in value]
        if isinstance(value, dict) and "class_name" not in value:
            return {k: each(v, module) for k, v in value.items()}
        return _obj(value, module)
    return {"optimizer": _obj(settings["optimizer"], "keras.optimizers"),
            "loss": each(settings["loss"], "keras.losses"), "loss_weights": settings.get("loss_weights"),
            "metrics": each(settings.get("metrics"), "keras.metrics"),
            "weighted_metrics": each(settings.get("weighted_metrics"), "keras.metrics"),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}
