"""The model's flattened graph (nested models inlined, as the plan compiler sees it in inference mode)
walked layer call by layer call into an ``OnnxGraph``. Every call is checked before any is converted,
so a model with several unsupported layers names them all at once."""
from onnx import helper

from framework.export.errors import ExportError
from framework.export.onnx.builder import INPUT_TYPES, LAST, LayerContext, OnnxGraph, Value
from framework.export.onnx.registry import CONVERTERS, MASK_READERS, supported_names
from framework.graph.flattening import flatten_model

BATCH = "batch"


def _describe(entry):
    """'layer 'name' (Class)' for a layer call; an op says which layer's call() traced it."""
    layer = entry.layer
    name = getattr(layer, "name", None) or type(layer).__name__
    if entry.traced_by is not None:
        owner = entry.traced_by.layer
        return (f"layer '{owner.name}' ({type(owner).__name__}), whose call() is made of framework.ops "
                f"(op {type(layer).__name__})")
    return f"layer '{name}' ({type(layer).__name__})"


def check_convertible(entries, tensors):
    """Raise ExportError naming every layer call that cannot be converted (class or mask)."""
    problems = []
    for entry in entries:
        cls = type(entry.layer)
        if cls not in CONVERTERS or entry.traced_by is not None:
            problems.append(f"{_describe(entry)} has no ONNX converter")
        elif cls in MASK_READERS and any(getattr(tensors[k], "mask", None) is not None for k in entry.in_keys):
            problems.append(f"{_describe(entry)} reads a mask (from Embedding(mask_zero=True) or Masking), "
                            "which ONNX cannot carry; export a model without the mask")
    seen, unique = set(), []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    if unique:
        raise ExportError("Cannot export to ONNX (nothing was written): " + "; ".join(unique)
                          + ". Layers that export: " + ", ".join(supported_names()))


def _unique_names(names):
    taken, result = set(), []
    for name in names:
        candidate, k = name, 1
        while candidate in taken:
            k += 1
            candidate = f"{name}_{k}"
        taken.add(candidate)
        result.append(candidate)
    return result


def _dims(shape, dynamic_batch=True):
    """ONNX dims of a Keras shape: the batch axis is the symbol 'batch', other unknown sizes unnamed."""
    dims = [None if d is None else int(d) for d in shape]
    if dims and (dims[0] is None or dynamic_batch):
        dims[0] = BATCH
    return dims


def build_graph(model, opset):
    """(graph inputs, graph outputs, OnnxGraph) of ``model``; raises ExportError before anything is written."""
    input_keys, output_keys, entries, tensors, _ = flatten_model(model, None, training=False)
    check_convertible(entries, tensors)
    names = _unique_names([str(n) for n in model.input_names] + [str(n) for n in model.output_names])
    input_names, output_names = names[:len(input_keys)], names[len(input_keys):]
    graph = OnnxGraph(reserved=names)
    values, graph_inputs = {}, []
    for key, name in zip(input_keys, input_names):
        tensor = tensors[key]
        if tensor.dtype not in INPUT_TYPES:
            raise ExportError(f"Input '{name}' has dtype {tensor.dtype}; ONNX export takes inputs of "
                              f"{', '.join(INPUT_TYPES)}")
        fixed_batch = tensor.shape[0] is not None
        graph_inputs.append(helper.make_tensor_value_info(name, INPUT_TYPES[tensor.dtype],
                                                          _dims(tensor.shape, not fixed_batch)))
        values[key] = Value(name, LAST, tuple(tensor.shape))
    for entry in entries:
        ctx = LayerContext(graph, entry.layer, [values[k] for k in entry.in_keys],
                           [tuple(tensors[k].shape) for k in entry.out_keys], opset,
                           entry.node.call_kwargs)
        CONVERTERS[type(entry.layer)](entry.layer, ctx)
        for i, (key, value) in enumerate(zip(entry.out_keys, ctx.outputs)):
            if value is None:
                raise ctx.fail(f"its output {i} has no ONNX form (only some of its outputs are supported)")
            values[key] = value
    graph_outputs = []
    for key, name in zip(output_keys, output_names):
        value = values[key]
        graph.nodes.append(helper.make_node("Identity", [graph.in_layout(value, LAST)], [name],
                                            name=graph.fresh(f"{name}/output")))
        element = INPUT_TYPES["float32"]
        graph_outputs.append(helper.make_tensor_value_info(name, element, _dims(tensors[key].shape)))
    return graph_inputs, graph_outputs, graph
