"""Gradients handed to the caller as views of one flat buffer, each remembered with its offset.

``GradientTape.gradient`` copies a model's gradient run once (into the buffer it handed out last time
when the caller has let go of every view of it, ``copy_for_caller``) and hands out one view per weight;
``optimizer.apply`` then asks where each gradient lies (``offset_of``) to update from the buffer in
place. Asking NumPy for an array's address costs a microsecond or two per array; this lookup costs a
dictionary access. An entry lives as long as its view (a weak reference drops it when the view goes),
and is only believed for the very object it was made for.
"""
import functools
import weakref

import numpy as np

_offsets = {}  # id(view) -> (weak reference to the view, offset of its first element in its flat buffer)


def _forget(key, _reference):
    _offsets.pop(key, None)


def views_of(flat, layout):
    """Views of the 1-D array ``flat`` (one that owns its memory or stands over a ``memoryview``, as ``lend``
    makes it, so that it is each view's ``base``), one per
    ``(start, stop, shape)`` of ``layout``, each remembered with its offset ``start``."""
    if (flat.base is not None and not isinstance(flat.base, memoryview)) or flat.ndim != 1:
        raise ValueError(f"views_of: expected a 1-D array that owns its memory, received a {flat.ndim}-D "
                         f"{'view' if flat.base is not None else 'array'}")
    views = []
    for start, stop, shape in layout:
        view = flat[start:stop].reshape(shape)
        key = id(view)
        _offsets[key] = (weakref.ref(view, functools.partial(_forget, key)), start)
        views.append(view)
    return views


def offset_of(array):
    """The offset, in elements, of ``array`` in the flat buffer ``views_of`` cut it from (its ``base``),
    or None for an array ``views_of`` did not make."""
    entry = _offsets.get(id(array))
    if entry is None or entry[0]() is not array:
        return None
    return entry[1]


def copy_for_caller(source, copied):
    """A copy of the 1-D array ``source`` for the caller to keep: into the array ``copied`` (a
    ``buffers.LentArray``) made last time when the caller has let go of it, else into a new one."""
    if copied.free() and copied.array.shape == source.shape:
        np.copyto(copied.array, source)
        return copied.array
    return copied.renew(source.copy)


def lend(run, lent):
    """``run`` itself for the caller, as a new 1-D array over its memory, kept by ``lent`` (a
    ``buffers.LentArray``): made through a ``memoryview``, the array is the ``base`` of every view cut from
    it, and only those views keep it alive, so ``lent.free()`` tells whether the caller still holds any."""
    return lent.renew(lambda: np.frombuffer(memoryview(run), dtype=run.dtype))
