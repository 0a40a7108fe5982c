"""The gradient all-reduce: one call over the parameter arena's single gradient array per step, or, with
``overlap``, slices of it started while the rest of the backward pass runs."""
import time

import numpy as np

#: the least bytes an overlapped slice sums at once (smaller finished slices wait for the next ones)
BUCKET_BYTES = 256 * 1024


class GradientReducer:
    """Runs a training plan's backward pass (``Plan.gradient_reducer``) and sums the gradients over every
    process, scaled by this process's share of the global batch, before the optimizer runs.

    Each process's loss is the mean over its own shard (``sum_over_batch_size``), so its gradient is
    ``sum / rows``; scaled by ``rows / batch`` and summed, the processes give ``sum over the batch /
    batch``, the gradient one process computes on the whole batch. Regularization penalties are added
    after the reduction, once, as in one process.

    Blocking (the default): backward runs, then one ``Allreduce`` over the whole gradient array.
    Overlapped: the arena holds the first layers' gradients first, so the last layers' are final first;
    as soon as a slice at the end of the array of at least ``BUCKET_BYTES`` is final, a non-blocking
    ``Iallreduce`` of it starts, MPI is given a chance to progress it after every later backward step,
    and the slice that is final last is summed in one blocking call before all of them are waited for.

    Args:
        world: the ``World`` of processes.
        overlap: start the sums of finished slices during backward (see above).
    """

    def __init__(self, world, overlap=False):
        self.world = world
        self.overlap = bool(overlap)
        self.grads = None
        self.arena = None
        self.share = 1.0
        self.calls = 0
        self.seconds = 0.0     # time spent in the all-reduce calls (waiting for the slowest process included)
        self.bytes = 0         # size of the gradient array reduced per call
        self.slices = 0        # overlapped slices started during backward
        self.schedules = {}    # id(plan) -> (plan, arena, schedule) of the plans given this reducer

    def prepare(self, model, share):
        """Bind to ``model``'s current gradient array, with this process's ``share`` of the next batch."""
        self.arena = model.plan_cache.current_arena()
        self.grads = self.arena.grads
        self.share = share
        self.bytes = self.grads.nbytes

    def forget_plans(self):
        self.schedules.clear()

    def run_backward(self, plan):
        """``plan``'s backward steps, then the gradients summed over the processes."""
        if not self.overlap:
            for step in plan.backward:
                step()
            self._sum_blocking(self.grads)
        else:
            self._overlapped_backward(plan)
        self.calls += 1

    def _sum_blocking(self, grads):
        if self.share != 1.0:
            np.multiply(grads, self.share, out=grads)
        start = time.perf_counter()
        self.world.allreduce(grads)
        self.seconds += time.perf_counter() - start

    def _overlapped_backward(self, plan):
        starts, rest = self._schedule(plan)
        world, share, requests = self.world, self.share, []
        waiting = 0.0
        for index, step in enumerate(plan.backward):
            step()
            if requests:
                begin = time.perf_counter()
                world.test_all(requests)
                waiting += time.perf_counter() - begin
            for piece in starts.get(index, ()):
                if share != 1.0:
                    np.multiply(piece, share, out=piece)
                begin = time.perf_counter()
                requests.append(world.start_allreduce(piece))
                self.slices += 1
                waiting += time.perf_counter() - begin
        self.seconds += waiting
        if rest.size:
            self._sum_blocking(rest)
        begin = time.perf_counter()
        world.wait_all(requests)
        self.seconds += time.perf_counter() - begin

    def _schedule(self, plan):
        """({backward step index: [gradient slices final after it]}, the slice summed after backward)."""
        kept = self.schedules.get(id(plan))
        if kept is not None and kept[0] is plan and kept[1] is self.arena:
            return kept[2]
        schedule = overlap_schedule(plan.backward_owners, self.arena, BUCKET_BYTES // self.grads.itemsize)
        self.schedules[id(plan)] = (plan, self.arena, schedule)
        return schedule


def overlap_schedule(owners, arena, bucket):
    """When each slice at the end of ``arena.grads`` is final, for a backward pass whose step ``i`` was
    emitted by layer ``owners[i]`` (None: the compiler's own steps, which write no weight's gradient).

    A variable's gradient is final after the last step of a layer that has it among its weights
    (variables no step claims are taken as final only after backward). Walking the steps, the final
    region at the end of the array grows; each growth of at least ``bucket`` values becomes a slice.
    What is final only after the last step is left to one blocking call after backward.
    Returns ({step index: [slices]}, the slice at the front left for after backward)."""
    last_step = {}
    for index, layer in enumerate(owners):
        if layer is not None:
            for variable in layer.weights:
                last_step[id(variable)] = index
    never = len(owners)
    finish = [last_step.get(var_id, never) for var_id in arena.trainable_ids]
    # the step after which every variable from j to the end is final
    suffix_final = finish[:]
    for j in range(len(finish) - 2, -1, -1):
        suffix_final[j] = max(finish[j], suffix_final[j + 1])
    segments = arena.segments
    boundary = arena.grads.size
    starts = {}
    j = len(segments)
    for index in range(len(owners) - 1):  # what is final only at the end is summed in one blocking call
        while j > 0 and suffix_final[j - 1] <= index:
            j -= 1
        front = segments[j][0] if j < len(segments) else arena.grads.size
        if boundary - front >= bucket:
            starts.setdefault(index, []).append(arena.grads[front:boundary])
            boundary = front
    return starts, arena.grads[:boundary]
