"""Inference from any thread, with a bounded number of plans.

``predict`` and ``model(x)`` run plans checked out of the model's ``PlanCache`` (no two threads
share a plan's buffers), and serve a batch of ``n`` rows with the plan of a *bucket* size: the next
power of two, at most the batch size. So random request sizes from 1 to 999 with batch size 256
use at most nine predict plans, not one per size. Rows beyond ``n`` hold whatever the previous batch
left and are never read back; that is exact only when every output row depends on its own input row
alone, so a model whose outputs depend on a statistic over the batch (an op reducing the batch axis
that feeds an output) keeps one plan per size, and so does ``model(x, training=True)`` (batch
normalization's batch statistics).
"""
from framework.graph.flattening import outputs_use_batch_statistics


def serving_rows(model, n, limit, training=None):
    """The plan size serving ``n`` rows: ``n`` itself, or its bucket (see the module docstring)."""
    if training or n >= limit or not rows_are_independent(model):
        return n
    rows = 1
    while rows < n:
        rows *= 2
    return min(rows, limit)


def rows_are_independent(model):
    """True when each output row of the model's predict plans depends on its own input row alone."""
    cached = model.__dict__.get("_rows_independent")
    if cached is None or cached[0] is not model.outputs:
        cached = (model.outputs, not outputs_use_batch_statistics(model))
        model.__dict__["_rows_independent"] = cached
    return cached[1]
