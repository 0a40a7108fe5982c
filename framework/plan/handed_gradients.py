"""Gradients handed to the caller as views of one new flat buffer, each remembered with its offset.

``GradientTape.gradient`` copies a model's gradient run once and hands out one view per weight;
``optimizer.apply`` then asks where each gradient lies (``offset_of``) to update from the buffer in
place. Asking NumPy for an array's address costs a microsecond or two per array; this lookup costs a
dictionary access. An entry lives as long as its view (a weak reference drops it when the view goes),
and is only believed for the very object it was made for.
"""
import functools
import weakref

_offsets = {}  # id(view) -> (weak reference to the view, offset of its first element in its flat buffer)


def _forget(key, _reference):
    _offsets.pop(key, None)


def views_of(flat, layout):
    """Views of the 1-D array ``flat`` (one that owns its memory, so it is each view's ``base``), one per
    ``(start, stop, shape)`` of ``layout``, each remembered with its offset ``start``."""
    if flat.base is not None or flat.ndim != 1:
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
