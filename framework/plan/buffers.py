"""Buffer allocation for plans.

Training plans keep every buffer (backward needs the activations). Inference
plans reuse memory by liveness: a buffer returns to the pool after its last
reader, so predict needs the largest live set rather than the sum.

``LentArray`` keeps an array handed to callers (gradients, a custom step's batch) and tells when they have
let go of it, so that the next one can be written into it rather than into new memory.
"""
import sys

import numpy as np

from framework.plan.memory import check_bytes, memory_limit


class Allocator:
    """Allocates plan buffers; with ``reuse`` freed blocks serve later requests. A plan whose buffers
    would exceed ``framework.plan.memory.memory_limit()`` is refused before the allocation.

    Args:
        reuse: serve later requests from released blocks (inference plans).
    """

    def __init__(self, reuse=False):
        self.reuse = reuse
        self.free = []
        self.blocks = []  # every block taken (a background compiler zeroes its copies)
        self.nbytes = 0
        self.limit = memory_limit()

    def allocate(self, shape, dtype, zero=False):
        dtype = np.dtype(dtype)
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        block = self._take(size) if self.reuse else None
        if block is None:
            if self.nbytes + size > self.limit:
                check_bytes(self.nbytes + size, f"the plan's buffers (with one of shape {tuple(shape)})")
            block = np.empty(max(size, 1), dtype=np.uint8)
            self.blocks.append(block)
            self.nbytes += block.nbytes
        array = block[:size].view(dtype).reshape(shape)
        if zero:
            array.fill(0)
        return array

    def _take(self, size):
        fits = [b for b in self.free if b.nbytes >= size]
        if not fits:
            return None
        best = min(fits, key=lambda b: b.nbytes)
        self.free = [b for b in self.free if b is not best]
        return best

    def release(self, array):
        """Give an array's block back (inference plans only)."""
        if self.reuse:
            base = array
            while base.base is not None:
                base = base.base
            if not any(b is base for b in self.free):
                self.free.append(base)


class LentArray:
    """An array handed to callers, and whether they still hold it or a view of it: its reference count,
    taken when it was made and compared by the same expression, so how the interpreter counts its own
    references never matters. A caller that keeps it keeps it intact; one that let go of it lets the next
    value land in the same memory, which the caches still hold, with no allocation.

    Args: none; ``renew(make)`` stores what ``make()`` returns.
    """

    def __init__(self):
        self.array, self._alone = None, 0

    def free(self):
        """True when an array is kept and nothing but this object refers to it (nor to a view of it)."""
        return self.array is not None and self._references() == self._alone

    def renew(self, make):
        """Keep ``make()`` (a new array no one else holds yet) and return it."""
        self.array = make()
        self._alone = self._references()
        return self.array

    def _references(self):
        return sys.getrefcount(self.array)
