"""The seam where data-parallel training joins ``fit``: one replaceable object and the model state it reads.

``fit`` asks ``current`` for its batch sources (``shard_batches``) and for the callbacks of this
process (``arrange_callbacks``). In one process both give back what they received. Data-parallel
training (``framework.distribute.initialize()``, a package above this one) installs an object that
shards each global batch across processes and adds the callbacks that keep them in step. The
functions below give that package the running totals behind ``logs`` (loss totals and metric states)
without it reaching into the trainer's private state.
"""
import numpy as np


class OneProcess:
    """What ``fit`` does alone: the batch sources and callbacks as they are."""

    def shard_batches(self, model, train, validation):
        return train, validation

    def arrange_callbacks(self, model, callbacks, fitting):
        return callbacks


#: the object ``fit`` consults; ``install`` replaces it
current = OneProcess()


def install(strategy):
    """Make ``strategy`` (an object with ``shard_batches`` and ``arrange_callbacks``) the one ``fit`` uses."""
    global current
    current = strategy


def loss_reductions(model):
    """The reduction of each compiled output loss (None for an output without one)."""
    return [None if spec.loss is None else getattr(spec.loss, "reduction", None)
            for spec in model._training_setup()]


def totals(model):
    """The running totals behind ``model``'s logs, as one float64 vector: the loss total, the sample
    count, each output's loss total, then every metric's state arrays flattened (all of them sums, so
    the totals of several processes add up to the totals of their data taken together)."""
    loss = model._loss_totals or [0.0, 0.0, [0.0] * len(model._training_setup())]
    parts = [np.array([loss[0], loss[1]] + list(loss[2]), np.float64)]
    parts += [np.asarray(a, np.float64).ravel() for m in model.metrics for a in m.state_arrays()]
    return np.concatenate(parts)


def set_totals(model, vector):
    """Put ``totals(model)``'s layout back from ``vector`` (the inverse of ``totals``)."""
    losses = len(model._training_setup())
    model._loss_totals = [float(vector[0]), float(vector[1]), [float(v) for v in vector[2:2 + losses]]]
    offset = 2 + losses
    for metric in model.metrics:
        for array in metric.state_arrays():
            array[...] = vector[offset:offset + array.size].reshape(array.shape)
            offset += array.size
    if offset != vector.size:
        raise ValueError(f"Model '{model.name}': running totals of {vector.size} values do not match the "
                         f"metrics' {offset} (a metric's state changed shape)")


def logs_for_totals(model, vector):
    """The logs ``model`` would report with running totals ``vector``; its own totals are left as they were."""
    own = totals(model)
    set_totals(model, vector)
    try:
        return model._results()
    finally:
        set_totals(model, own)


def resume_epoch(model):
    """The epoch a callback asked the running fit to resume at (None when none did)."""
    return model._resume_epoch


def set_resume_epoch(model, epoch):
    model._resume_epoch = None if epoch is None else int(epoch)
