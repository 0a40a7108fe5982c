"""The parameter arena: every weight is a view into one contiguous array.

Packing the trainable weights of a model contiguously makes the optimizer one
kernel over one slice, gradient clipping one reduction and saving one array.
Non-trainable weights (moving statistics, frozen layers) sit after the
trainable ones, outside the optimizer's range.

Weights shared between models stay where they are when they already form the
contiguous run a model needs; otherwise they move into a new arena and their
``version`` changes, so plans built over the old location rebuild themselves.
"""
import numpy as np

from framework.plan.memory import check_bytes


class Arena:
    """One contiguous array holding the values of ``variables``, in order.

    Args:
        variables: the ``Variable`` objects to pack (each becomes a view into the arena).
        dtype: the arena's dtype.
    """

    def __init__(self, variables, dtype):
        self.dtype = np.dtype(dtype)
        sizes = [int(np.prod(v.shape, dtype=object)) for v in variables]
        check_bytes(sum(sizes) * self.dtype.itemsize, f"the parameter arena of {len(sizes)} weights")
        self.values = np.empty(sum(sizes), dtype=self.dtype)
        self.offsets = {}
        offset = 0
        for var, size in zip(variables, sizes):
            view = self.values[offset:offset + size].reshape(var.shape)
            np.copyto(view, var.value, casting="unsafe")
            self.offsets[id(var)] = offset
            var.rebind(view)
            var.arena = self
            offset += size


def contiguous_run(variables):
    """(arena, start, stop) when ``variables`` lie back to back in one arena, else None."""
    if not variables:
        return None
    arena = variables[0].arena
    if arena is None:
        return None
    start = offset = arena.offsets.get(id(variables[0]))
    for var in variables:
        if var.arena is not arena or arena.offsets.get(id(var)) != offset:
            return None
        offset += var.value.size
    return arena, start, offset


def pack(trainable, others, dtype):
    """Place variables so ``trainable`` is one contiguous run; return that run's slice.

    Returns a 1-D view over the trainable values (empty when there are none).
    Other variables not yet in any arena join the new arena after them.
    """
    dtype = np.dtype(dtype)
    run = contiguous_run(trainable)
    if run is None or run[0].dtype != dtype:
        loose = [v for v in others if v.arena is None or v.arena.dtype != dtype]
        if trainable or loose:
            Arena(list(trainable) + loose, dtype)
        run = contiguous_run(trainable)
    else:
        loose = [v for v in others if v.arena is None or v.arena.dtype != dtype]
        if loose:
            Arena(loose, dtype)
    if run is None:
        return np.empty(0, dtype=dtype)
    arena, start, stop = run
    return arena.values[start:stop]


def gradient_views(trainable, grads):
    """Views of the flat gradient array laid out like the trainable run."""
    views, offset = [], 0
    for var in trainable:
        size = var.value.size
        views.append(grads[offset:offset + size].reshape(var.shape))
        offset += size
    return views
