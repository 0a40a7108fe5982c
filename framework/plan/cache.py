"""Where a model's plans live: its parameter arena and its compiled plans, cached by key.

A model owns one ``PlanCache``. Training, saving and ``summary()`` reach the arena and
the plans through this small API and nothing else. Inference from several threads checks plans
out of it, so no two threads ever run one plan's buffers at once.
"""
import contextlib
import threading
from collections import OrderedDict

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
        self.trainable_ids = [id(v) for v in trainable]
        self.optimizer_step = None  # the optimizer's kernel bound to params and grads, once

    def is_stale(self):
        """True when a weight moved to another arena since this one was packed."""
        return any(v.version != version for v, version in self.versions)


#: how many compiled plans a model keeps (least recently used dropped first); see docs/architecture.md
DEFAULT_MAX_PLANS = 32
#: how many bytes of plan buffers a model keeps at most (idle plans beyond it are dropped, LRU first)
DEFAULT_MAX_BYTES = 512 * 2 ** 20
#: how many plans of one key serve threads at once (more threads wait for one of them)
DEFAULT_POOL_SIZE = 4


class PlanCache:
    """The parameter arena and the compiled plans of one model, safe to use from several threads.

    Plans are kept by a key the model chooses (mode, batch size, training flag, sample shapes),
    each key holding a small pool: a thread runs a plan it has checked out (``checkout``), so
    threads never share buffers; a key gets a second plan only while its first is busy, up to
    ``pool_size``. At most ``max_plans`` plans, holding at most ``max_bytes`` of buffers, are kept:
    the least recently used idle ones go first (the plan in use always stays). Repacking the arena
    drops every plan, since they are bound to the old buffers.

    Args:
        max_plans: the most plans kept at once.
        max_bytes: the most bytes of plan buffers kept at once.
        pool_size: the most plans of one key (threads beyond it wait their turn).
    """

    def __init__(self, max_plans=DEFAULT_MAX_PLANS, max_bytes=DEFAULT_MAX_BYTES, pool_size=DEFAULT_POOL_SIZE):
        self.max_plans, self.max_bytes, self.pool_size = int(max_plans), int(max_bytes), int(pool_size)
        self._plans = OrderedDict()  # key -> [plan, ...], least recently used first
        self._arena = None
        self.guard = threading.RLock()  # held while plans or the arena are built or dropped

    def clear(self):
        """Forget the arena and every plan (after compile(), or a change of the graph)."""
        with self.guard:
            self._plans = OrderedDict()
            self._arena = None

    def arena(self, trainable, others, dtype):
        """The arena for these variables, packed now if there is none, a weight moved or the trainable
        ones are others now (a layer frozen or unfrozen in a model that is not compiled)."""
        with self.guard:
            if self._arena is None or self._arena.is_stale() or self._arena.trainable_ids != [id(v) for v in trainable]:
                self._arena = ParameterArena(trainable, others, dtype)
                self._plans = OrderedDict()
            return self._arena

    def current_arena(self):
        """The arena as last packed, or None."""
        return self._arena

    def get(self, key):
        """A plan stored under ``key`` (for one thread's use, as training's), or None when there is
        none or its weights moved."""
        with self.guard:
            pool = self._fresh_pool(key)
            if not pool:
                return None
            self._plans.move_to_end(key)
            return pool[0]

    def put(self, key, plan):
        with self.guard:
            self._plans.setdefault(key, []).append(plan)
            self._plans.move_to_end(key)
            self._evict()

    def acquire(self, key, build):
        """A plan of ``key`` locked for the caller until ``release(plan)``: an idle one of the pool, a
        new one while the pool has room, else a new plan kept outside the cache (a gradient tape holds
        one plan per model call until its gradient is taken, and must never wait for itself)."""
        with self.guard:
            pool = self._fresh_pool(key)
            for plan in pool:
                if plan.lock.acquire(blocking=False):
                    self._plans.move_to_end(key)
                    return plan
            plan = build()
            plan.lock.acquire()
            if len(pool) < self.pool_size:
                self._plans.setdefault(key, []).append(plan)
                self._plans.move_to_end(key)
                self._evict()
            return plan

    @staticmethod
    def release(plan):
        plan.lock.release()

    @contextlib.contextmanager
    def checkout(self, key, build):
        """Context manager: a plan of ``key`` that no other thread is running, made with ``build()``
        when every plan of the key is busy and the pool has room; otherwise wait for one."""
        chosen = waiting = None
        with self.guard:
            pool = self._fresh_pool(key)
            for plan in pool:
                if plan.lock.acquire(blocking=False):
                    chosen = plan
                    break
            if chosen is None and len(pool) < self.pool_size:
                chosen = build()
                chosen.lock.acquire()
                self._plans.setdefault(key, []).append(chosen)
                self._plans.move_to_end(key)
                self._evict()  # only a new plan adds plans or bytes
            elif chosen is None:
                waiting = pool[0]
            self._plans.move_to_end(key)
        if waiting is not None:
            waiting.lock.acquire()
            chosen = waiting
        try:
            yield chosen
        finally:
            chosen.lock.release()

    def _fresh_pool(self, key):
        kept = self._plans.get(key, [])
        pool = [plan for plan in kept if not plan.is_stale()]
        if len(pool) != len(kept):
            self._plans[key] = pool
        return pool

    def _evict(self):
        """Drop least recently used idle plans until at most ``max_plans`` and ``max_bytes`` remain."""
        count, size = len(self), self.nbytes()
        for key in list(self._plans)[:-1]:  # the most recent key stays, whatever its size
            if count <= self.max_plans and size <= self.max_bytes:
                break
            kept = []
            for plan in self._plans[key]:
                if plan.lock.locked() or (count <= self.max_plans and size <= self.max_bytes):
                    kept.append(plan)
                else:
                    count, size = count - 1, size - plan.nbytes
            if kept:
                self._plans[key] = kept
            else:
                del self._plans[key]

    def nbytes(self):
        """The bytes of buffers the kept plans hold."""
        return sum(plan.nbytes for pool in self._plans.values() for plan in pool)

    def keys(self):
        return list(self._plans)

    def plans(self):
        return [plan for pool in list(self._plans.values()) for plan in pool]

    def __len__(self):
        return sum(len(pool) for pool in self._plans.values())
