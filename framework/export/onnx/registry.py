"""Which converter writes which layer class: exact classes only (a subclass may compute something else)."""

#: layer class -> converter(layer, ctx); filled by the family modules of this package
CONVERTERS = {}

#: layer classes that read a mask (a mask reaching them is refused: ONNX has no Keras masks)
MASK_READERS = set()


def converts(*classes, reads_mask=False):
    """Register the decorated function as the converter of ``classes``."""
    def register(function):
        for cls in classes:
            CONVERTERS[cls] = function
            if reads_mask:
                MASK_READERS.add(cls)
        return function
    return register


def supported_names():
    """The names of the layer classes that convert, sorted."""
    return sorted(cls.__name__ for cls in CONVERTERS)
