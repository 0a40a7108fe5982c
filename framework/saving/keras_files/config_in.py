"""Keras's model configs (``config.json`` of a ``.keras`` file, ``model_config`` of a legacy ``.h5``)
turned into this library's model configs, by name lookups only.

Every ``class_name`` is looked up in this library's registries (layers, initializers,
regularizers, constraints, optimizers, losses, metrics, schedules) or in the user's
``custom_objects``; ``module`` and ``registered_name`` are never imported or resolved. Refused,
with the place in the file (``config.json: layers[3] (class_name 'Lambda')``): ``Lambda`` layers
(their config carries Python bytecode or source), any class this library does not have, a
function given by module path, a mixed-precision dtype policy, and an argument this library's
class does not take unless its value is the one that leaves a feature off (``None``, ``False``,
or an option that only matters when another is on, such as ``renorm_momentum`` without
``renorm``). Keras records the mask computations of ``Embedding(mask_zero=True)`` and ``Masking``
as operations (``NotEqual``, ``Any``) feeding ``mask=`` arguments; masks propagate by themselves
here, so those operations and ``mask=`` / ``training=`` call arguments are dropped.
"""
import inspect

from framework import constraints, initializers, losses, metrics, optimizers, regularizers, schedules
from framework.config.bounded_yaml import short
from framework.config.registry import custom_object
from framework.layers.layer import Layer
from framework.layers.serialization import REGISTRY as LAYERS
from framework.saving.keras_files.refusal import KerasFileError

MODEL_CLASSES = ("Functional", "Model", "Sequential")
#: Keras operations that only compute masks for ``mask=`` arguments; dropped when used only there
MASK_OPS = ("NotEqual", "Any", "All", "LogicalAnd", "LogicalOr", "Cast")
#: arguments that only matter when another one is on: (argument, the one that switches it on)
DEPENDENT = {"renorm_clipping": "renorm", "renorm_momentum": "renorm", "ema_momentum": "use_ema",
             "ema_overwrite_frequency": "use_ema"}
#: keys of a Keras layer entry that are not arguments of the layer
ENTRY_KEYS = ("module", "class_name", "config", "registered_name", "build_config", "compile_config", "name",
              "inbound_nodes", "shared_object_id")
PLAIN_DTYPES = ("float16", "float32", "float64", "bfloat16", "int32", "int64", "uint8", "bool")
KINDS = (("_initializer", initializers.REGISTRY), ("_regularizer", regularizers.REGISTRY),
         ("_constraint", constraints.REGISTRY))


def model_document(entry, where):
    """``{'class_name', 'config'}`` of this library for Keras's model entry ``entry``."""
    if not isinstance(entry, dict) or entry.get("class_name") not in MODEL_CLASSES:
        name = entry.get("class_name") if isinstance(entry, dict) else entry
        raise KerasFileError(f"{where}: class_name {short(name)} is not a model (Functional or Sequential); "
                             "a model of a custom class is not loaded")
    config = entry.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise KerasFileError(f"{where}: 'config' must be a mapping with a 'layers' list")
    if entry["class_name"] == "Sequential":
        return {"class_name": "Sequential", "config": _sequential(config, entry, where)}
    return {"class_name": "Functional", "config": _functional(config, where)}


# ----- models ---------------------------------------------------------------------------------------
def _input_spec(config, where):
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    if not isinstance(shape, list) or not all(n is None or (isinstance(n, int) and n >= 0) for n in shape):
        raise KerasFileError(f"{where}: an input needs 'batch_shape' (a list of sizes or nulls), received "
                             f"{short(shape)}")
    dtype = config.get("dtype", "float32")
    if dtype not in PLAIN_DTYPES:
        raise KerasFileError(f"{where}: input dtype {short(dtype)} is not read")
    if config.get("sparse") or config.get("ragged"):
        raise KerasFileError(f"{where}: sparse and ragged inputs are not supported")
    return {"batch_shape": shape, "dtype": dtype, "name": config.get("name")}


def _sequential(config, entry, where):
    ours = {"name": config.get("name"), "trainable": bool(config.get("trainable", True)), "layers": []}
    for i, layer in enumerate(config["layers"]):
        here = f"{where}: layers[{i}] (class_name {short(_class(layer))})"
        if _class(layer) == "InputLayer":
            if i != 0:
                raise KerasFileError(f"{here}: an input layer is only read first in a Sequential")
            ours["input"] = _input_spec(layer.get("config") or {}, here)
            continue
        if i == 0 and isinstance(layer.get("config"), dict) and "batch_input_shape" in layer["config"]:
            ours["input"] = _input_spec({**layer["config"], "name": None}, here)  # tf.keras 2's first layer
        ours["layers"].append(layer_entry(layer, here))
    if "input" not in ours:
        shape = ((entry.get("build_config") or {}).get("input_shape"))
        if isinstance(shape, list):
            ours["input"] = _input_spec({"batch_shape": shape}, f"{where}: build_config")
    return ours


def _is_tensor(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _ref(value, where):
    history = value.get("config", {}).get("keras_history") if isinstance(value.get("config"), dict) else None
    if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in history[1:])):
        raise KerasFileError(f"{where}: a tensor's 'keras_history' must be [layer name, node index, tensor index], "
                             f"received {short(history)}")
    return list(history)


def _tensors_in(value):
    if _is_tensor(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors_in(v)]
    return []


def _call(node, where):
    """``(refs, kwargs, positional, mask refs)`` of one of Keras's inbound nodes."""
    if isinstance(node, list):  # tf.keras 2: [[name, node index, tensor index, kwargs], ...]
        refs, kwargs = [], {}
        for item in node:
            if not (isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str)):
                raise KerasFileError(f"{where}: an inbound node must list [layer name, node index, tensor index, "
                                     f"kwargs], received {short(item)}")
            refs.append(list(item[:3]))
            if len(item) == 4 and isinstance(item[3], dict):
                kwargs = dict(item[3])
        masks = [_ref(t, where) for t in _tensors_in(kwargs.pop("mask", None))]
        kwargs.pop("training", None)
        return refs, _plain_kwargs(kwargs, where), False, masks
    if not isinstance(node, dict) or not isinstance(node.get("args", []), list):
        raise KerasFileError(f"{where}: an inbound node must be {{'args': [...], 'kwargs': {{...}}}}, received "
                             f"{short(node)}")
    args, kwargs = node.get("args", []), dict(node.get("kwargs") or {})
    masks = [_ref(t, where) for t in _tensors_in(kwargs.pop("mask", None))]
    kwargs.pop("training", None)
    if len(args) == 1 and isinstance(args[0], list):
        items, positional = args[0], False
    else:
        items, positional = args, len(args) > 1
    for item in items:
        if not _is_tensor(item):
            raise KerasFileError(f"{where}: call argument {short(item)} is not a tensor; only calls on tensors "
                                 "are read")
    return [_ref(t, where) for t in items], _plain_kwargs(kwargs, where), positional, masks


def _plain_kwargs(kwargs, where):
    for key, value in kwargs.items():
        if _tensors_in(value):
            raise KerasFileError(f"{where}: call argument {key!r} holds a tensor; tensors given by keyword "
                                 "(other than mask) are not read")
    return {k: v for k, v in kwargs.items() if v is not None}


def _functional(config, where):
    entries = config["layers"]
    names, uses, calls = [], {}, {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise KerasFileError(f"{where}: layers[{i}] must be a mapping with a 'name'")
        names.append(entry["name"])
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise KerasFileError(f"{where}: layers[{i}]: 'inbound_nodes' must be a list")
        here = f"{where}: layers[{i}] (class_name {short(_class(entry))})"
        if _class(entry) in MASK_OPS and _class(entry) not in LAYERS:  # its arguments are never used
            calls[entry["name"]] = [([_ref(t, here) for t in _tensors_in(n)], {}, False, []) for n in nodes]
        else:
            calls[entry["name"]] = [_call(n, f"{here}, inbound_nodes[{k}]") for k, n in enumerate(nodes)]
        for refs, _, _, masks in calls[entry["name"]]:
            for ref in refs:
                uses.setdefault(ref[0], []).append(("arg", entry["name"]))
            for ref in masks:
                uses.setdefault(ref[0], []).append(("mask", entry["name"]))
    outputs = [r[0] for r in _structure_refs(config.get("output_layers"), f"{where}: output_layers")]
    dropped = {e["name"] for e in entries if _class(e) in MASK_OPS and _class(e) not in LAYERS}
    changed = True
    while changed:  # keep a mask op that feeds anything but masks and other dropped mask ops
        changed = False
        for name in sorted(dropped):
            if name in outputs or any(kind == "arg" and user not in dropped for kind, user in uses.get(name, [])):
                dropped.discard(name)
                changed = True
    layers = []
    for i, entry in enumerate(entries):
        if entry["name"] in dropped:
            continue
        here = f"{where}: layers[{i}] (class_name {short(_class(entry))})"
        if _class(entry) == "InputLayer":
            spec = _input_spec({**(entry.get("config") or {}), "name": entry["name"]}, here)
            ours = {"class_name": "InputLayer", "config": spec}
        else:
            ours = layer_entry(entry, here)
        ours["name"] = entry["name"]
        ours["calls"] = []
        for refs, kwargs, positional, _ in calls[entry["name"]]:
            for ref in refs:
                if ref[0] in dropped:
                    raise KerasFileError(f"{here}: reads the output of {ref[0]!r}, a mask operation")
            call = {"inputs": refs}
            if kwargs:
                call["kwargs"] = kwargs
            if positional:
                call["positional"] = True
            ours["calls"].append(call)
        layers.append(ours)
    return {"name": config.get("name"), "trainable": bool(config.get("trainable", True)), "layers": layers,
            "inputs": _structure(config.get("input_layers"), f"{where}: input_layers"),
            "outputs": _structure(config.get("output_layers"), f"{where}: output_layers")}


def _is_ref(value):
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _structure(value, where):
    if _is_ref(value):
        return list(value)
    if isinstance(value, list) and value and all(_is_ref(v) for v in value):
        return [list(v) for v in value]
    if isinstance(value, dict) and value and all(_is_ref(v) for v in value.values()):
        return {str(k): list(v) for k, v in value.items()}
    raise KerasFileError(f"{where}: expected [layer name, node index, tensor index], a list or a mapping of them; "
                         f"received {short(value)}")


def _structure_refs(value, where):
    structure = _structure(value, where)
    if isinstance(structure, dict):
        return list(structure.values())
    return [structure] if _is_ref(structure) else structure


# ----- layers and the objects inside them ------------------------------------------------------------
def _class(entry):
    return entry.get("class_name") if isinstance(entry, dict) else None


def layer_entry(entry, where):
    """``{'class_name', 'config'}`` of this library for one of Keras's layer entries."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise KerasFileError(f"{where}: expected a layer entry with 'class_name', received {short(entry)}")
    name = entry["class_name"]
    if name in MODEL_CLASSES:
        return model_document(entry, where)
    if name == "Lambda":
        raise KerasFileError(f"{where}: Lambda layers hold Python code (their 'function' is bytecode or source "
                             "text); code from a file is never run. Rebuild the model in Python with that layer, "
                             "then load the weights alone (model.load_weights)")
    cls = _layer_class(entry, where)
    config = entry.get("config")
    if not isinstance(config, dict):
        raise KerasFileError(f"{where}: 'config' must be a mapping, received {short(config)}")
    ours = {}
    for key, value in config.items():
        if key in ("layer", "backward_layer") and isinstance(value, dict):
            ours[key] = layer_entry(value, f"{where}, config.{key}")
        else:
            ours[key] = _value(key, value, f"{where}, config.{key}")
    ours = _accepted(cls, ours, where)
    result = {"class_name": name, "config": ours}
    if custom_object(name) is not None and name not in LAYERS:
        result["custom"] = True
    return result


def _layer_class(entry, where):
    name = entry["class_name"]
    own = custom_object(name)
    if isinstance(own, type) and issubclass(own, Layer):
        return own
    if name in LAYERS:
        return LAYERS.lookup(name)
    module = entry.get("module")
    raise KerasFileError(f"{where}: class_name {short(name)} is not a layer this library has"
                         + (f" (module {short(module)} is never imported)" if module else "")
                         + "; pass custom_objects={name: YourClass} for a class of your own")


def _value(key, value, where):
    if key == "dtype":
        return _dtype(value, where)
    if isinstance(value, dict) and "class_name" in value:
        for suffix, registry in KINDS:
            if key.endswith(suffix):
                return clean_object(value, registry, where)
        if key.endswith("activation"):
            return _function(value, where)
        raise KerasFileError(f"{where}: holds an object of class {short(value.get('class_name'))} where this "
                             "library expects plain values")
    return value


def _dtype(value, where):
    if value is None or isinstance(value, str):
        name = value
    elif isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        name = (value.get("config") or {}).get("name")
    else:
        raise KerasFileError(f"{where}: dtype {short(value)} is not a plain dtype policy")
    if name is not None and name not in PLAIN_DTYPES:
        raise KerasFileError(f"{where}: dtype policy {short(name)} (mixed precision, quantized) is not supported; "
                             "layers compute in one dtype here")
    return name


def _function(value, where):
    """An activation given as ``{'class_name': 'function', 'config': 'relu'}``: its name, looked up later."""
    if value.get("class_name") == "function" and isinstance(value.get("config"), str):
        return value["config"]
    raise KerasFileError(f"{where}: an activation of class {short(value.get('class_name'))} is not read; "
                         "activations are names of this library's functions")


def clean_object(value, registry, where):
    """Keras's serialized object (``{'module', 'class_name', 'config', 'registered_name'}``) as
    ``{'class_name', 'config'}`` of ``registry``'s class, unknown arguments checked."""
    if isinstance(value, str) or value is None:
        return value
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise KerasFileError(f"{where}: expected a name or {{'class_name', 'config'}}, received {short(value)}")
    name = value["class_name"]
    if name == "function":
        return _function(value, where)
    own = custom_object(name)
    if own is None and name not in registry:
        raise KerasFileError(f"{where}: class_name {short(name)} is not a {registry.kind} this library has"
                             + (f" (module {short(value.get('module'))} is never imported)" if value.get("module")
                                else ""))
    cls = own if own is not None else registry.lookup(name)
    config = value.get("config") or {}
    if not isinstance(config, dict):
        raise KerasFileError(f"{where}: 'config' of {name!r} must be a mapping")
    cleaned = {}
    for key, item in config.items():
        if isinstance(item, dict) and "class_name" in item:
            kind = schedules.REGISTRY if key == "learning_rate" else None
            if kind is None:
                raise KerasFileError(f"{where}, config.{key}: an object of class {short(item.get('class_name'))} "
                                     "is not read here")
            item = clean_object(item, kind, f"{where}, config.{key}")
        cleaned[key] = item
    return {"class_name": name, "config": _accepted(cls, cleaned, where) if isinstance(cls, type) else cleaned}


def accepted_arguments(cls):
    """The keyword arguments ``cls(...)`` takes, following ``**kwargs`` up the class hierarchy."""
    names = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if klass is Layer or not any(p.kind == p.VAR_KEYWORD for p in parameters):  # Layer takes no more
            return names - {"self"}
    return None  # **kwargs all the way up: anything goes


def _off(key, value, config):
    if value is None or value is False or value == [] or value == {}:
        return True
    return key in DEPENDENT and not config.get(DEPENDENT[key])


def _accepted(cls, config, where):
    allowed = accepted_arguments(cls)
    if allowed is None:
        return config
    kept = {}
    for key, value in config.items():
        if key in allowed:
            kept[key] = value
        elif not _off(key, value, config):
            raise KerasFileError(f"{where}: argument {key}={short(value)} is not supported by this library's "
                                 f"{cls.__name__}")
    return kept


# ----- compile settings ------------------------------------------------------------------------------
def compile_arguments(config, where):
    """``compile()``'s arguments from Keras's ``compile_config`` (or a legacy ``training_config``)."""
    if not isinstance(config, dict):
        raise KerasFileError(f"{where}: expected a mapping, received {short(config)}")
    optimizer = config.get("optimizer", config.get("optimizer_config"))
    arguments = {"optimizer": clean_object(optimizer, optimizers.REGISTRY, f"{where}: optimizer")}

    def each(value, registry, here):
        if isinstance(value, list):
            return [each(v, registry, f"{here}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict) and "class_name" not in value:
            return {k: each(v, registry, f"{here}.{k}") for k, v in value.items()}
        return clean_object(value, registry, here)
    arguments["loss"] = each(config.get("loss"), losses.REGISTRY, f"{where}: loss")
    for key in ("metrics", "weighted_metrics"):
        if config.get(key) is not None:
            arguments[key] = each(config[key], metrics.REGISTRY, f"{where}: {key}")
    if config.get("loss_weights") is not None:
        arguments["loss_weights"] = config["loss_weights"]
    return arguments
