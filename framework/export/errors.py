"""The error every exporter raises for a model it cannot write."""


class ExportError(ValueError):
    """A model (or one of its layers) that cannot be written in the requested format; nothing was written.

    Args:
        message: what cannot be exported, naming the layer and its class, and what is supported.
    """
