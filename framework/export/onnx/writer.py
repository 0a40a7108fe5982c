"""The ONNX model assembled from the built graph, checked with ``onnx.checker``, and written to a
temporary file that is renamed into place (a failed export leaves no file)."""
import os
import tempfile
from importlib import metadata
from pathlib import Path

import onnx
from onnx import helper

from framework.export.errors import ExportError

#: ONNX refuses protobuf messages of 2 GiB or more
MAX_BYTES = 2**31 - 1


def _version():
    try:
        return metadata.version("framework")
    except metadata.PackageNotFoundError:
        return "unknown"


def assemble(name, graph_inputs, graph_outputs, graph, opset):
    """A checked ``onnx.ModelProto``."""
    proto = helper.make_graph(graph.nodes, str(name), graph_inputs, graph_outputs, initializer=graph.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(proto, opset_imports=opsets, producer_name="framework", producer_version=_version(),
                              ir_version=helper.find_min_ir_version_for(opsets))
    size = model.ByteSize()
    if size > MAX_BYTES:
        raise ExportError(f"Model '{name}' is {size} bytes as ONNX; a single ONNX file holds less than 2 GiB")
    onnx.checker.check_model(model, full_check=True)
    return model


def write(model, filepath):
    """Write ``model`` to ``filepath`` atomically; the path written."""
    path = Path(filepath)
    if path.is_dir():
        raise ExportError(f"export: {path} is a folder; give a file name such as {path / 'model.onnx'}")
    if not path.parent.exists():
        raise ExportError(f"export: folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(model.SerializeToString())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
