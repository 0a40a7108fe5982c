"""Each global batch split across the processes.

Every process walks the same batches in the same order: the shuffle is drawn by all of them from the
same generator and rank 0's draw is broadcast, so the order cannot drift. Batch ``b`` of
``batch_size`` samples (the user's number, the global batch) is cut into one contiguous shard per
process; the first ``size % processes`` shards hold one sample more. A process whose shard is empty
(a last batch smaller than the number of processes) runs one stand-in sample with weight zero, its
gradient scaled to zero and its additions to the logs' totals undone (``GlobalLogs``). Before each
training step the shard's place in the global batch is set (``framework.plan.global_batch``) for the
random layers' draws and the synchronized batch statistics.
"""
import functools

from framework.plan import global_batch
from framework.training import parallel
from framework.training.batches import fill_batch
from framework.utils.random import get_global_state, global_generator, set_global_state


def shard_bounds(batch, rank, processes):
    """``(start, stop)`` of process ``rank``'s rows within a batch of ``batch`` rows."""
    base, extra = divmod(int(batch), int(processes))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ShardedBatches:
    """This process's shard of every batch of an array batch source (``training.batches.ArrayBatches``).

    Yields ``(rows, sample_shapes, load)`` as batch sources do: ``rows`` is this shard's size (1 for
    an empty shard's stand-in) and ``load(plan)`` fills the plan and, when training, gives it the
    gradient reducer scaled by this shard's share of the batch.

    Args:
        batches: the ``ArrayBatches`` of the whole data (every process holds all of it).
        world: the ``World`` of processes.
        model: the model being trained.
        reducer: the ``GradientReducer`` for training batches, None for validation.
    """

    def __init__(self, batches, world, model, reducer=None):
        self.batches = batches
        self.world = world
        self.model = model
        self.reducer = reducer
        self.steps = batches.steps
        self.empty_step = False   # the last batch loaded was a stand-in (its totals must be undone)
        self.snapshot = None      # the running totals before that stand-in
        self.plans = set()        # plans given the reducer, which it leaves when fit ends
        self.place = global_batch.GlobalBatch(1, 0, 1, world.allreduce)  # this shard's rows, for the steps

    def epoch(self):
        source = self.batches
        order = None
        if source.shuffle:
            order = global_generator().permutation(source.n)  # every process draws, keeping generators in step
            self.world.broadcast(order)
        for step in range(self.steps):
            start = step * source.batch_size
            size = min(source.batch_size, source.n - start)
            yield self.shard(source.views, source.sample_shapes, order, start, size)

    def shard(self, views, shapes, order, batch_start, size):
        """``(rows, sample shapes, load)`` of this process's shard of the ``size`` rows of ``views`` from
        ``batch_start`` (in ``order`` when it is not None)."""
        lo, hi = shard_bounds(size, self.world.rank, self.world.size)
        load = functools.partial(self._load, views=views, order=order, rows=hi - lo, size=size,
                                 batch_start=batch_start, offset=lo)
        return max(hi - lo, 1), shapes, load

    def _load(self, plan, views, order, rows, size, batch_start, offset):
        xs, ys, sws = views
        self.empty_step = rows == 0
        if self.empty_step:
            self.snapshot = parallel.totals(self.model)
            fill_batch(plan, xs, ys, sws, order, batch_start)
            for weights in plan.sample_weights:
                weights.fill(0)
        else:
            fill_batch(plan, xs, ys, sws, order, batch_start + offset)
        if self.reducer is None:  # validation: inference steps read no global batch
            global_batch.enter(None)
            return
        self.reducer.prepare(self.model, rows / size)
        plan.gradient_reducer = self.reducer
        self.plans.add(plan)
        self.place.move_to(size, offset, rows)
        global_batch.enter(self.place)

    def detach(self):
        """Take the reducer off every plan it was given and the global batch away (after fit: single-process
        steps again)."""
        for plan in self.plans:
            plan.gradient_reducer = None
        self.plans.clear()
        if self.reducer is not None:
            self.reducer.forget_plans()
        global_batch.enter(None)


class ShardedStream(ShardedBatches):
    """This process's shard of every batch of a stream (``training.batches.StreamBatches``: a generator, a
    ``PyDataset``, a ``tf.data.Dataset`` or a ``DataLoader``).

    Rank 0 alone reads the stream and broadcasts each batch (and the stream's end) to the others, so
    every process cuts its shard from the same batch, whatever the stream (a generator drawing its own
    random numbers, files present on rank 0's machine only) and however it ends.

    Args:
        stream: the ``StreamBatches`` of the whole data.
        world: the ``World`` of processes.
        model: the model being trained.
        reducer: the ``GradientReducer`` for training batches, None for validation.
    """

    def epoch(self):
        stream, world = self.batches, self.world
        batches = stream.raw_epoch() if world.rank == 0 else None
        while True:
            message = None
            if batches is not None:
                batch = next(batches, _END)
                # at the end, rank 0's global generator too: a PyDataset's shuffle drew from it on rank 0 alone
                message = ("end", (stream.exhausted, get_global_state())) if batch is _END else ("batch", batch)
            kind, content = world.broadcast_object(message)
            if kind == "end":
                stream.exhausted = content[0]
                set_global_state(content[1])
                return
            shapes, xs, ys, sws = stream.views(content)
            yield self.shard((xs, ys, sws), shapes, None, 0, len(xs[0]))


#: what rank 0's stream gives when it has no batch left
_END = object()
