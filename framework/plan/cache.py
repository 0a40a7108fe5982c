"""Where a model's plans live: its parameter arena and its compiled plans, cached by key.

A model owns one ``PlanCache``. Training, saving and ``summary()`` reach the arena and
the plans through this small API and nothing else.
"""
import numpy as np

from framework.plan.arena import gradient_views, pack


class ParameterArena:
    """A model's weights packed for training: the trainable ones form one contiguous run.

    Args:
        trainable: the variables the optimizer updates, in arena order.
        others: the model's other variables (moving statistics, frozen weights).
        dtype: the dtype of the arena.
    """

    def __init__(self, trainable, others, dtype):
        self.params = pack(trainable, others, dtype)  # 1-D view over the trainable run
        self.grads = np.zeros(self.params.size, dtype=self.params.dtype)
        self.grad_views = {id(v): g for v, g in zip(trainable, gradient_views(trainable, self.grads))}
        offsets = np.cumsum([0] + [v.value.size for v in trainable])
        self.segments = list(zip(offsets[:-1].tolist(), offsets[1:].tolist()))  # one (start, stop) per variable
        self.versions = [(v, v.version) for v in list(trainable) + list(others)]
        self.optimizer_step = None  # the optimizer's kernel bound to params and grads, once

    def is_stale(self):
        """True when a weight moved to another arena since this one was packed."""
        return any(v.version != version for v, version in self.versions)


class PlanCache:
    """The parameter arena and the compiled plans of one model.

    Plans are kept by a key the model chooses (mode, batch size, training flag, sample shapes).
    Repacking the arena drops every plan, since they are bound to the old buffers.
    """

    def __init__(self):
        self._plans = {}
        self._arena = None

    def clear(self):
        """Forget the arena and every plan (after compile(), or a change of the graph)."""
        self._plans = {}
        self._arena = None

    def arena(self, trainable, others, dtype):
        """The arena for these variables, packed now if there is none or a weight moved."""
        if self._arena is None or self._arena.is_stale():
            self._arena = ParameterArena(trainable, others, dtype)
            self._plans = {}
        return self._arena

    def current_arena(self):
        """The arena as last packed, or None."""
        return self._arena

    def get(self, key):
        """The plan stored under ``key``, or None when there is none or its weights moved."""
        plan = self._plans.get(key)
        return None if plan is None or plan.is_stale() else plan

    def put(self, key, plan):
        self._plans[key] = plan

    def keys(self):
        return list(self._plans)

    def plans(self):
        return list(self._plans.values())

    def __len__(self):
        return len(self._plans)
