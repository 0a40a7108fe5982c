"""The two callbacks that keep the processes of a data-parallel fit in step.

``GlobalLogs`` runs first at every hook: it replaces each batch's logs (computed by each process from
its own shard) with those of the global batch, by summing the running totals behind them (loss totals
and metric states) over the processes, so every callback, the progress bar and the history see what
one process training on all the data would. ``FollowRankZero`` runs last: at the start of fit every
process takes rank 0's weights, optimizer state, random generator and resume epoch (a backup restored
on rank 0 reaches everyone), and after every batch and epoch every process takes rank 0's
``stop_training``, so an early stop happens everywhere at the same step.
"""
import numpy as np

from framework.callbacks.callback import Callback
from framework.training import parallel
from framework.utils.random import get_global_state, set_global_state


class GlobalLogs(Callback):
    """Logs of the global batch in place of this process's (the first callback of a distributed fit).

    Args:
        world: the ``World`` of processes.
        train: the training ``ShardedBatches``.
        validation: the validation ``ShardedBatches``, or None when validation is not sharded.
    """

    def __init__(self, world, train, validation=None):
        super().__init__()
        self.world = world
        self.train = train
        self.validation = validation
        self.train_logs = None
        self.test_logs = None

    def on_epoch_begin(self, epoch, logs=None):
        self.train_logs = None

    def on_train_batch_end(self, batch, logs=None):
        self.train_logs = self._global_logs(logs, self.train)

    def on_test_begin(self, logs=None):
        self.test_logs = None

    def on_test_batch_end(self, batch, logs=None):
        if self.validation is not None:
            self.test_logs = self._global_logs(logs, self.validation)

    def on_test_end(self, logs=None):
        if self.test_logs is not None:
            logs.update(self.test_logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.train_logs is not None:  # the epoch's training logs are the last batch's
            logs.update(self.train_logs)

    def _global_logs(self, logs, batches):
        model = self.model
        if batches.empty_step:  # a stand-in sample: undo what it added
            parallel.set_totals(model, batches.snapshot)
            batches.empty_step = False
        totals = parallel.totals(model)
        self.world.allreduce(totals)
        result = parallel.logs_for_totals(model, totals)
        logs.update(result)
        return result


class FollowRankZero(Callback):
    """Every process takes rank 0's state when fit starts and rank 0's decision to stop (the last
    callback of a distributed fit).

    Args:
        world: the ``World`` of processes.
        train: the training ``ShardedBatches`` (its reducer leaves the plans when fit ends).
    """

    def __init__(self, world, train):
        super().__init__()
        self.world = world
        self.train = train
        self.flag = np.zeros(1, np.uint8)

    def on_train_begin(self, logs=None):
        model, world = self.model, self.world
        for variable in model.weights:
            world.broadcast_value(variable.value)
        optimizer = model.optimizer
        state = world.broadcast_object(optimizer.get_state() if world.rank == 0 else None)
        if world.rank != 0:
            arena = model.parameter_arena()
            optimizer.set_state(*state, arena.params.size, arena.params.dtype)
        generators = random_generators(model)
        shared = world.broadcast_object((get_global_state(), [g.bit_generator.state for g in generators],
                                         model.epochs_done, parallel.resume_epoch(model)))
        set_global_state(shared[0])
        if len(shared[1]) != len(generators):
            raise RuntimeError(f"Model '{model.name}' has {len(generators)} random generators in process "
                               f"{world.rank} and {len(shared[1])} in process 0: every process must build the "
                               "same model")
        for generator, state in zip(generators, shared[1]):
            generator.bit_generator.state = state
        model.epochs_done = shared[2]
        parallel.set_resume_epoch(model, shared[3])

    def on_train_batch_end(self, batch, logs=None):
        self._follow_stop()

    def on_epoch_end(self, epoch, logs=None):
        self._follow_stop()

    def on_train_end(self, logs=None):
        self.train.detach()

    def _follow_stop(self):
        self.flag[0] = bool(self.model.stop_training)
        self.world.broadcast(self.flag)
        self.model.stop_training = bool(self.flag[0])


def random_generators(model):
    """The generators of ``model``'s random layers and ops (Dropout's, the augmentation layers'...), in the
    order of its training graph: the same list on every process that built the same model."""
    found = {}
    try:
        entries = model.flat_graph(training=True)[2]
    except (AttributeError, NotImplementedError, ValueError):  # no graph of its own: its layers
        entries = []
    layers = [entry.layer for entry in entries] or list(all_layers(model))
    for layer in layers:
        generator = getattr(layer, "generator", None)
        if isinstance(generator, np.random.Generator):
            found.setdefault(id(generator), generator)
    return list(found.values())


def all_layers(model):
    """Every layer of ``model``, nested models' included."""
    for layer in getattr(model, "layers", []):
        yield layer
        yield from all_layers(layer)
