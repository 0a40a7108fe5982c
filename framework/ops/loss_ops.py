"""Losses called on symbolic tensors: ``loss_fn(targets, logits)`` inside a traced ``call()`` (the
Keras guide's ``LogisticEndpoint``) gives a batch statistic, ready for ``add_loss``.

A built-in loss becomes one ``LossValue`` node: its forward runs the loss's own kernel, which
writes the loss and ``d loss / d y_pred`` into a scratch buffer at once; its backward scales that
buffer by the incoming gradient. A loss written with ops (a function, or a ``Loss`` subclass with
``call()``) is composed from its ops and the reduction (``reduce_values``).
"""
import numpy as np

from framework.graph.tensor import SymbolicTensor
from framework.losses import loss as loss_module
from framework.ops.operation import Operation, OpError
from framework.ops.elementwise import Maximum
from framework.ops.reductions import Mean, Sum
from framework.ops import shaping


class LossValue(Operation):
    """A built-in loss of (y_true, y_pred[, sample_weight]), reduced to one value over the batch.

    Args:
        loss: the ``Loss`` object (its reduction must give one value).
    """

    def __init__(self, loss, **kwargs):
        super().__init__(**kwargs)
        self.loss = loss

    def get_config(self):
        return {"loss": loss_module.REGISTRY.serialize(self.loss)}

    @classmethod
    def from_config(cls, config):
        return cls(loss_module.REGISTRY.deserialize(config["loss"]))

    def compute(self, y_true, y_pred, sample_weight=None):
        return np.asarray(self.loss(y_true, y_pred, sample_weight))

    def output_spec(self, shapes, dtypes):
        if self.loss.reduction in (None, "none"):
            raise OpError(f"Op '{self.name}' (LossValue): loss {self.loss.name!r} with reduction='none' on symbolic "
                          "tensors is not available; use a reducing loss or write the loss with ops")
        self.reduces_batch = True
        return (), dtypes[1]

    def bind_forward(self, xs, y, ctx):
        y_true, y_pred = xs[0], xs[1]
        weights = xs[2].reshape(len(y_pred)) if len(xs) > 2 else None
        if y_true.dtype != y_pred.dtype:  # integer labels of a sparse loss: read as floats
            source, y_true = y_true, ctx.scratch("targets", y_true.shape, y_pred.dtype)
            cast = [lambda: np.copyto(y_true, source, casting="unsafe")]
        else:
            cast = []
        d_pred = ctx.scratch("d_pred", y_pred.shape, y_pred.dtype)
        bound = self.loss.bind(y_pred, y_true, weights, d_pred)

        def step():
            for run in cast:
                run()
            y[()] = bound()
        return [step]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        d_pred = ctx.scratch("d_pred", xs[1].shape, xs[1].dtype)
        steps = [lambda dx=dx: dx.fill(0) for i, dx in enumerate(dxs) if dx is not None and i != 1]
        if dxs[1] is not None:
            dx = dxs[1]
            steps.append(lambda: np.multiply(d_pred, dy, out=dx))
        return steps


def reduce_values(loss, values, weight):
    """The weighted reduction of per-sample loss ``values`` (Keras's reductions) as a batch statistic:
    'sum', 'mean_with_sample_weight', else the mean over every element (sum over batch size)."""
    if not values.batched:  # the function reduced over the batch itself
        return values
    if weight is not None and values.ndim > 1:
        weight = shaping.Reshape((-1,) + (1,) * (values.ndim - 1))(weight)
    weighted = values if weight is None else values * weight
    if loss.reduction == "sum":
        return Sum()(weighted)
    if loss.reduction == "mean_with_sample_weight" and weight is not None:
        return Sum()(weighted) / Maximum()(Sum()(weight), 1e-12)
    return Mean()(weighted)


def symbolic_loss(loss, y_true, y_pred, sample_weight=None):
    """``loss(y_true, y_pred, sample_weight)`` on symbolic tensors: one node, or the loss's own ops."""
    if loss.has_plan_step():
        operands = (y_true, y_pred) if sample_weight is None else (y_true, y_pred, sample_weight)
        return LossValue(loss)(*operands)
    values = loss.call(y_true, y_pred)
    if not isinstance(values, SymbolicTensor):
        raise OpError(f"Loss {loss.name!r}: call() on symbolic tensors returned {type(values).__name__}; "
                      "write it with framework.ops")
    return reduce_values(loss, values, sample_weight)
