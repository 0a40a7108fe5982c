"""How much memory a model may ask for, and weights that take none.

Every weight a layer creates (``Layer.add_weight``) and every parameter arena is checked here
*before* it is allocated: a size beyond the machine's memory (``memory_limit()``) is refused with a
``SizeError`` naming the owner and the bytes, instead of an allocation that fails deep inside NumPy
or takes the machine down. ``symbolic_weights()`` makes the weights created inside it zero-filled
arrays that are never written (the operating system maps their pages only when touched), so a model
can be built to learn its shapes and parameter counts, as ``framework validate`` does, without
holding real weights or running initializers.
"""
import contextlib
import os
import threading

import numpy as np

#: environment variable: a byte count that replaces the machine's memory as the limit
LIMIT_ENV = "FRAMEWORK_MEMORY_LIMIT"
#: the limit when neither the variable nor ``os.sysconf`` gives one (64 GiB)
FALLBACK_LIMIT = 64 * 2 ** 30

_state = threading.local()


class SizeError(ValueError):
    """A declared size needs more memory than the machine has (nothing was allocated).

    Args:
        message: what was refused: the owner (layer and weight, arena, plan) and the bytes.
    """


def memory_limit():
    """The most bytes one weight, one arena or one plan may take: ``FRAMEWORK_MEMORY_LIMIT`` when set
    (a positive integer), else the machine's physical memory (``SC_PHYS_PAGES * SC_PAGE_SIZE``)."""
    text = os.environ.get(LIMIT_ENV)
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise ValueError(f"{LIMIT_ENV} must be a positive number of bytes, received {text[:40]!r}")
        return value
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_LIMIT


def human_bytes(n):
    """``16,000,000,000,000 bytes (14.6 TiB)``."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{int(n):,} bytes ({value:.1f} {unit})"


def array_bytes(shape, dtype):
    """Bytes of an array of ``shape`` and ``dtype``, computed with Python integers (no overflow)."""
    count = 1
    for d in shape:
        count *= int(d)
    return count * np.dtype(dtype).itemsize


def check_bytes(nbytes, what):
    """Raise ``SizeError`` when ``nbytes`` exceed ``memory_limit()``; ``what`` names the owner."""
    limit = memory_limit()
    if nbytes > limit:
        raise SizeError(f"{what} needs {human_bytes(nbytes)}, more than the {human_bytes(limit)} of memory this "
                        f"machine has (limit from {LIMIT_ENV if os.environ.get(LIMIT_ENV) else 'its physical memory'})"
                        "; declare smaller sizes")


def check_shape(shape, dtype, what):
    """``check_bytes`` for an array of ``shape`` and ``dtype``; negative sizes are refused too."""
    shape = tuple(shape)
    if any(int(d) < 0 for d in shape):
        raise SizeError(f"{what} has a negative size in its shape {shape}")
    check_bytes(array_bytes(shape, dtype), f"{what} of shape {shape} ({np.dtype(dtype).name})")


@contextlib.contextmanager
def symbolic_weights():
    """Inside this block (this thread only), new weights are untouched zero arrays: no initializer
    runs and no page is written, so building a model costs (almost) no memory."""
    previous = getattr(_state, "symbolic", False)
    _state.symbolic = True
    try:
        yield
    finally:
        _state.symbolic = previous


def weights_are_symbolic():
    """True inside ``symbolic_weights()``."""
    return getattr(_state, "symbolic", False)


def new_weight_value(initializer, shape, dtype, what):
    """The initial value of a new weight: checked against ``memory_limit()`` first, then
    ``initializer(shape, dtype=dtype)``, or zeros that are never written inside ``symbolic_weights()``."""
    shape = tuple(int(d) for d in shape)
    check_shape(shape, dtype, what)
    if weights_are_symbolic():
        return np.zeros(shape, dtype=dtype)
    return initializer(shape, dtype=dtype)
