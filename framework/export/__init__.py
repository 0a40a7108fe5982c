"""Models out to other formats: ``export_model(model, filepath, format="onnx")``.

Each format lives in its own subpackage and is imported only when asked for, so an optional
dependency (the ``onnx`` package) is needed only by those who export.
"""
from pathlib import Path

from framework.export.errors import ExportError

#: the formats ``Model.export`` writes
FORMATS = ("onnx",)


def _format_for(filepath, format):
    if format is None:
        if Path(str(filepath)).suffix.lower() == ".onnx":
            return "onnx"
        raise ExportError(f"export('{filepath}'): give the format, format='onnx' (the one format this library "
                          "exports; Keras's default 'tf_saved_model' needs TensorFlow and is not available)")
    if format not in FORMATS:
        raise ExportError(f"export('{filepath}'): format {format!r} is not supported; valid formats: "
                          f"{', '.join(repr(f) for f in FORMATS)}")
    return format


def export_model(model, filepath, format=None, verbose=True, input_signature=None, **options):
    """Write ``model`` for inference in another runtime (Keras's ``Model.export`` arguments).

    Args:
        model: a built functional or Sequential model.
        filepath: the file to write.
        format: 'onnx' (None: taken from a '.onnx' file name).
        verbose: print where the file went.
        input_signature: not supported (the model's own input shapes are used); must be None.
        **options: format options; for 'onnx': ``opset_version`` (17 or later, default 17).
    Returns:
        the path written.
    """
    format = _format_for(filepath, format)
    if input_signature is not None:
        raise ExportError("export(): input_signature is not supported; the model's own inputs are exported "
                          "(with a dynamic batch axis)")
    try:
        from framework.export.onnx import export_onnx  # the optional onnx package, only when exporting
    except ImportError as error:
        if getattr(error, "name", None) != "onnx":
            raise
        raise ImportError("Exporting to ONNX needs the 'onnx' package: pip install 'framework[onnx]' "
                          "(or pip install onnx)") from None
    path = export_onnx(model, filepath, **options)
    if verbose:
        print(f"Saved the ONNX model to {path}")
    return path
