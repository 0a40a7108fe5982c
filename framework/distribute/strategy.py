"""``DataParallel``: what ``fit`` does when data-parallel training is on (installed in
``framework.training.parallel`` by ``initialize()``)."""
import warnings

from framework.callbacks import BackupAndRestore, CSVLogger, ModelCheckpoint, ProgbarLogger, TensorBoard
from framework.distribute.gradients import GradientReducer
from framework.distribute.lockstep import FollowRankZero, GlobalLogs, all_layers
from framework.distribute.sharding import ShardedBatches, ShardedStream
from framework.training import parallel
from framework.training.batches import ArrayBatches

#: callbacks that print or write files: only rank 0 runs them (the others' logs are the same)
RANK_ZERO_ONLY = (ProgbarLogger, CSVLogger, ModelCheckpoint, BackupAndRestore, TensorBoard)
#: loss reductions whose gradients add up across shards by ``GradientReducer``'s scaling
MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


class DataParallel:
    """Shards fit's batches across the processes of ``world`` and adds the callbacks that keep them in
    step; keeps writing callbacks (progress bar, CSV log, checkpoints, backups) on rank 0 alone.

    Args:
        world: the ``World`` of processes.
        overlap: overlap the gradient all-reduce with backward (``GradientReducer``).
    """

    def __init__(self, world, overlap=False):
        self.world = world
        self.reducer = GradientReducer(world, overlap)
        self.pending = None   # the sharded sources of the fit being set up, for its callbacks

    def shard_batches(self, model, train, validation):
        check_trainable_in_parallel(model)
        if isinstance(train, ArrayBatches):  # arrays: every process holds them
            train = ShardedBatches(train, self.world, model, self.reducer)
        else:  # a generator, PyDataset or dataset: rank 0 reads it and broadcasts each batch
            train = ShardedStream(train, self.world, model, self.reducer)
        if isinstance(validation, ArrayBatches):
            validation = ShardedBatches(validation, self.world, model)
        elif validation is not None:
            validation = ShardedStream(validation, self.world, model)
        self.pending = train, validation
        return train, validation

    def arrange_callbacks(self, model, callbacks, fitting):
        kept = [c for c in callbacks if self.world.rank == 0 or not isinstance(c, RANK_ZERO_ONLY)]
        if fitting and self.pending is None:
            warnings.warn(f"Model '{model.name}' overrides train_step: its fit is not data-parallel, every process "
                          "trains on all of the data", RuntimeWarning, stacklevel=4)
        if not fitting or self.pending is None:
            return kept
        train, validation = self.pending
        self.pending = None
        return [GlobalLogs(self.world, train, validation)] + kept + [FollowRankZero(self.world, train)]


def check_trainable_in_parallel(model):
    """Refuse losses whose gradient does not add up across shards; warn about layers whose training
    differs from one process's."""
    for reduction in parallel.loss_reductions(model):
        if reduction is not None and reduction not in MEAN_REDUCTIONS:
            raise ValueError(f"Model '{model.name}': data-parallel fit needs losses with reduction "
                             f"'sum_over_batch_size' (the default), received reduction={reduction!r}")
    unsynchronized = sorted(layer.name for layer in all_layers(model)
                            if type(layer).__name__ == "BatchNormalization" and layer.trainable
                            and not layer.synchronized)
    if unsynchronized:
        warnings.warn(f"Model '{model.name}': BatchNormalization layer(s) {', '.join(unsynchronized)} use each "
                      "process's shard's batch statistics in a data-parallel fit, so training is not one process's; "
                      "pass synchronized=True for the global batch's", RuntimeWarning, stacklevel=4)
