"""The error every Keras-file reader raises: what was refused, and where in the file."""
from framework.saving.members import ArchiveError


class KerasFileError(ArchiveError):
    """A Keras file (``.keras``, ``.weights.h5``, legacy ``.h5``) that is refused: unsafe, malformed,
    or describing something this library does not have. The message names the file and the place
    inside it (``config.json: layers[3] (class_name 'Lambda')``, ``model.weights.h5: /layers/dense``).

    Args:
        message: what is wrong, and where.
    """


def need_h5py():
    """The h5py module, or a KerasFileError saying how to install it (the ``h5`` extra)."""
    try:
        import h5py
    except ImportError:
        raise KerasFileError("reading and writing Keras .h5 weights needs h5py: pip install 'framework[h5]' "
                             "(or pip install h5py)") from None
    return h5py
