"""Export to ONNX with the ``onnx`` package alone: ``export_onnx(model, "model.onnx")``.

graph_walk flattens the model and asks each layer's converter (one module per layer family:
core, reshaping, merging, conv, pooling, normalization, recurrent, attention) to add its nodes
to the graph (builder); writer checks the model and writes it. See docs/interop.md.
"""
from framework.export.errors import ExportError
from framework.export.onnx import attention, conv, core, merging, normalization, pooling, recurrent, reshaping
from framework.export.onnx.graph_walk import build_graph
from framework.export.onnx.registry import supported_names
from framework.export.onnx.writer import assemble, write

#: the converter modules, one per layer family; importing them registers their converters
FAMILIES = (core, reshaping, merging, conv, pooling, normalization, recurrent, attention)

#: the opset written by default (LayerNormalization needs 17)
DEFAULT_OPSET = 17


def export_onnx(model, filepath, opset_version=None):
    """Write ``model`` as an ONNX file for inference (float32, a dynamic batch axis named 'batch').

    Args:
        model: a built functional or Sequential model.
        filepath: the ``.onnx`` file to write.
        opset_version: the ONNX opset (17 or later; default 17).
    Returns:
        the path written.
    Raises:
        ExportError: before anything is written, naming each layer that cannot be exported.
    """
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < DEFAULT_OPSET:
        raise ExportError(f"opset_version {opset_version!r}: ONNX export needs opset {DEFAULT_OPSET} or later")
    if not getattr(model, "built", False) or not getattr(model, "inputs", None):
        raise ExportError(f"Model '{getattr(model, 'name', model)}' is not built: call it on data, fit it or "
                          "build(input_shape) before exporting")
    inputs, outputs, graph = build_graph(model, opset)
    return write(assemble(model.name, inputs, outputs, graph, opset), filepath)


__all__ = ["export_onnx", "ExportError", "supported_names", "DEFAULT_OPSET"]
