"""Building from checked specs: the model, the optimizer, losses, metrics and callbacks as new objects.

Validation builds them once (in a sandbox) to find what their constructors refuse and
what does not fit the shapes; ``RunConfig`` builds them again for the run.
"""
import inspect
import os
from pathlib import Path

from framework import activations, callbacks, losses, optimizers
from framework.layers.core import Input
from framework.models import Model, Sequential
from framework.runs.catalog import argument_kind, find
from framework.runs.confinement import OUTPUT_PATH_ARGUMENTS
from framework.runs.messages import error_text
from framework.runs.specs import FAILED, Entry
from framework.training.data import model_input_names

_TUPLE_ARGUMENTS = ("input_shape", "target_shape", "dims", "kernel_size", "strides", "pool_size",
                    "dilation_rate", "size", "cropping", "noise_shape")


def instantiate(entry, extra=None):
    """The object an Entry describes (nested initializers, regularizers, schedules built too)."""
    kind, name, obj = entry.kind, entry.name, entry.obj
    args = dict(entry.args)
    if kind == "layer":
        for arg, value in list(args.items()):
            sub = argument_kind(arg)
            if sub is not None and isinstance(value, dict) and len(value) == 1:
                args[arg] = _nested(sub, value)
            elif arg in _TUPLE_ARGUMENTS and isinstance(value, list):
                args[arg] = tuple(value)
    if kind == "optimizer" and isinstance(args.get("learning_rate"), dict):
        args["learning_rate"] = _nested("schedule", args["learning_rate"])
    args.update(extra or {})
    if kind == "activation":
        return activations.get({"class_name": name, "config": args}) if args else activations.get(name)
    if not args:
        if kind == "loss":
            return losses.get(name)
        if kind == "optimizer":
            return optimizers.get(name)
        if kind == "callback":
            return callbacks.get(name)
    return obj(**args)


def _nested(kind, value):
    name, args = next(iter(value.items()))
    return instantiate(Entry((), kind, name, find(kind, name) if kind != "activation" else None, args or {}))


def _metric_object(entry):
    if entry.obj is None or (not entry.args and isinstance(entry.name, str)):
        return entry.name  # compile resolves names ('accuracy' from the shapes, as Keras)
    return instantiate(entry)


def structure(spec, build):
    """Build the objects of a per-output spec ({'all'|'by_output'|'per_output': ...})."""
    if spec is None:
        return None

    def each(value):
        return [build(e) for e in value] if isinstance(value, list) else build(value)

    if "all" in spec:
        return each(spec["all"])
    if "by_output" in spec:
        return {k: each(v) for k, v in spec["by_output"].items()}
    return [each(v) for v in spec["per_output"]]


def build_model(model_spec, report, front=None):
    """The model a checked spec describes, or None after reporting what failed (at the entry's line).

    ``front(input name, declared sample shape)`` (None for a Sequential's input), when given, returns
    ``(sample shape, layers)``: the model then takes inputs of that shape through those layers first
    (a run's data options, ``framework.runs.preprocessing``)."""

    def make(entry, extra=None):
        try:
            return instantiate(entry, extra)
        except Exception as e:  # a constructor refusing its arguments
            report(entry.path, f"invalid arguments for layer {entry.name}: {error_text(e)}")
            return None

    if model_spec["form"] == "sequential":
        kwargs = {"name": model_spec["name"]} if model_spec["name"] else {}
        model = Sequential(**kwargs)
        broken = False
        declared = model_spec["input_shape"]
        if front is not None:
            declared = declared if declared is not None else _declared_input_shape(model_spec["layers"][0])
            shape, first_layers = front(None, declared)
            model.add(Input(tuple(shape)))
            for layer in first_layers:
                model.add(layer)
        elif declared is not None:
            model.add(Input(tuple(declared)))
        for entry in model_spec["layers"]:
            layer = None if entry is None else make(entry)
            if layer is None:
                broken = True
                continue
            if broken:
                continue
            try:
                model.add(layer)
            except Exception as e:
                report(entry.path, error_text(e))
                broken = True
        if broken:
            return None
        if not model.built:
            report(("model",), "the model has no input shape: give model.input_shape")
            return None
        return model

    tensors, layers, model_inputs = {}, {}, {}
    for name, item in model_spec["inputs"].items():
        shape, first_layers = front(name, tuple(item["shape"])) if front is not None else (item["shape"], [])
        tensors[name] = model_inputs[name] = Input(tuple(shape), dtype=item["dtype"], name=name)
        for layer in first_layers:
            tensors[name] = layer(tensors[name])
    for node in model_spec["nodes"]:
        if node is None:
            continue
        if node.entry is not None:
            layer = make(node.entry, {"name": node.name})
        else:
            layer = layers.get(node.reuse)
        layers[node.name] = layer if layer is not None else FAILED
        inputs = [tensors.get(n, FAILED) for n in node.inputs]
        if layer is None or layer is FAILED or any(t is FAILED for t in inputs):
            tensors[node.name] = FAILED
            continue
        try:
            out = layer(inputs if node.as_list else inputs[0])
        except Exception as e:
            report(node.path, error_text(e))
            tensors[node.name] = FAILED
            continue
        if isinstance(out, (list, tuple)):
            report(node.path, f"layer {type(layer).__name__} has several outputs; nodes take one")
            tensors[node.name] = FAILED
            continue
        tensors[node.name] = out
    outputs = [tensors.get(name, FAILED) for name in model_spec["outputs"]]
    if any(t is FAILED for t in outputs):
        return None
    ins = [model_inputs[name] for name in model_spec["inputs"]]
    try:
        return Model(inputs=ins if len(ins) > 1 else ins[0],
                     outputs=outputs if model_spec["output_list"] else outputs[0],
                     **({"name": model_spec["name"]} if model_spec["name"] else {}))
    except Exception as e:
        report(("model",), error_text(e))
        return None


def _declared_input_shape(entry):
    """The sample shape a Sequential's first layer declares (``input_shape`` or ``input_dim``)."""
    args = entry.args
    return tuple(args["input_shape"]) if args.get("input_shape") is not None else (args["input_dim"],)


def compile_args(spec):
    """Keyword arguments for ``model.compile`` from a checked compile spec, as new objects."""
    args = {"optimizer": instantiate(spec["optimizer"])}
    if "loss" in spec:
        args["loss"] = structure(spec["loss"], instantiate)
    for key in ("metrics", "weighted_metrics"):
        if key in spec:
            args[key] = structure(spec[key], _metric_object)
    if "loss_weights" in spec:
        args["loss_weights"] = spec["loss_weights"]
    return args


def output_paths(entry, output):
    """Relative file paths a callback writes go inside the run's output folder (validation has
    refused absolute and escaping ones unless they came from the command line)."""
    if entry.kind != "callback":
        return {}
    args = {**_default_paths(entry.obj), **entry.args}  # TensorBoard's log_dir="logs" too, when not given
    return {k: os.fspath(Path(output) / v) for k, v in args.items()
            if k in OUTPUT_PATH_ARGUMENTS and isinstance(v, str) and not Path(v).is_absolute()}


def _default_paths(cls):
    """A callback class's default values of its file arguments (``log_dir="logs"``)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters if p.name in OUTPUT_PATH_ARGUMENTS and isinstance(p.default, str)}


def model_signature(model):
    """The model's input names and shapes, output names and output shapes (without the batch axis),
    its number of layers, parameters and the bytes its weights take (from their shapes)."""
    weights = model.weights
    return {"inputs": [(name, tuple(t.shape[1:])) for name, t in zip(model_input_names(model), model.inputs)],
            "outputs": list(model.output_names),
            "output_shapes": [tuple(t.shape[1:]) for t in model.outputs],
            "layers": len(model.layers),
            "parameters": sum(int(w.value.size) for w in weights),
            "weight_bytes": sum(int(w.value.nbytes) for w in weights)}
