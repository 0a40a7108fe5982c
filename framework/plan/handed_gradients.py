"""Gradients handed to the caller as views of one flat buffer, each remembered with its offset.

``GradientTape.gradient`` copies a model's gradient run once (into the buffer it handed out last time
when the caller has let go of every view of it, ``copy_for_caller``) and hands out one view per weight;
``optimizer.apply`` then asks where each gradient lies (``offset_of``) to update from the buffer in
place. Asking NumPy for an array's address costs a microsecond or two per array; this lookup costs a
dictionary access. An entry lives as long as its view (a weak reference drops it when the view goes),
and is only believed for the very object it was made for.
"""
import functools
import sys
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


def copy_for_caller(source, keeper):
    """A copy of the 1-D array ``source`` for the caller to keep: the buffer last handed out through
    ``keeper`` (an object with ``handed`` and ``handed_alone`` attributes) when nothing else refers to it any
    more, else a new one. A training step hands out its gradients, applies them and drops them, so the
    next step's copy lands in memory the caches still hold, with no allocation; a caller that keeps them,
    even one view, keeps them intact."""
    # the count of a buffer no one else holds is taken when it is made, by the same call as the check,
    # so that how the interpreter counts its own references never matters
    if getattr(keeper, "handed", None) is not None and keeper.handed.shape == source.shape \
            and _references(keeper) == keeper.handed_alone:
        np.copyto(keeper.handed, source)
        return keeper.handed
    keeper.handed = source.copy()
    keeper.handed_alone = _references(keeper)
    return keeper.handed


def lend(run, keeper):
    """``run`` itself for the caller, as a new 1-D array over its memory (through a ``memoryview``, so that
    the array is the ``base`` of every view cut from it and only those views keep it alive): ``let_go``
    then tells whether the caller still holds any of them. Remembered by ``keeper`` (``lent``, ``lent_alone``)."""
    keeper.lent = np.frombuffer(memoryview(run), dtype=run.dtype)
    keeper.lent_alone = _references(keeper, "lent")
    return keeper.lent


def let_go(keeper):
    """True when nothing but ``keeper`` refers to the array ``lend`` made last (or it made none): the run
    under it may be written again."""
    return keeper.lent is None or _references(keeper, "lent") == keeper.lent_alone


def _references(keeper, name="handed"):
    return sys.getrefcount(getattr(keeper, name))
