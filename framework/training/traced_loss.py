"""Losses written with framework.ops: a plain ``loss(y_true, y_pred)`` function, or a ``Loss``
subclass that gives ``call()``. Their plan step is derived, not written.

When a plan binds such a loss, its ``call`` is traced on placeholders of the output, target and
sample-weight buffers, the reduction (``sum_over_batch_size``, ``sum``, ``mean_with_sample_weight``)
is added with ops, and the result becomes the one loss term of a small plan of its own
(``framework.plan.compiler``), compiled once per training plan with input gradients. Each step copies
the three buffers in, runs that plan forward and backward, and copies ``d loss / d y_pred`` out.
"""
import numpy as np

from framework.graph.flattening import flatten_model
from framework.graph.subgraph import Subgraph, placeholder
from framework.losses.loss import Loss, LossFunctionWrapper
from framework.ops.loss_ops import reduce_values
from framework.plan.compiler import compile_plan


class TracedLoss(Loss):
    """A loss whose ``call`` is written with ops, run in plans through its traced gradient.

    Args:
        loss: the ``Loss`` (a subclass with ``call()``, or a ``LossFunctionWrapper``) to run.
    """

    def __init__(self, loss):
        super().__init__(name=loss.name, reduction=loss.reduction, dtype=loss.dtype)
        self.loss = loss
        self.sparse = loss.sparse

    def call(self, y_true, y_pred):
        return self.loss.call(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.loss(y_true, y_pred, sample_weight)

    def target_shape(self, y_pred_shape):
        return self.loss.target_shape(y_pred_shape)

    def get_config(self):
        return self.loss.get_config()

    def bind(self, y_pred, y_true, sample_weight, d_pred, logits=None):
        if logits is not None:
            raise ValueError(f"Loss {self.name!r} is written with ops and cannot absorb an activation")
        n = len(y_pred)
        if sample_weight is None:
            sample_weight = np.ones(n, dtype=y_pred.dtype)
        graph = _LossGraph(self, y_pred, y_true)
        plan = compile_plan(graph, "train", n, y_pred.dtype, input_gradients=True)
        inputs, d_source = plan.inputs, plan.input_grads[0]
        sources = (y_pred, y_true, sample_weight)
        forward, terms, backward = plan.forward, plan.loss_terms, plan.backward

        def step():
            for buffer, source in zip(inputs, sources):
                np.copyto(buffer, source, casting="unsafe")
            for run in forward:
                run()
            value = 0.0
            for term in terms:
                value += term()
            for run in backward:
                run()
            np.copyto(d_pred, d_source)
            return value
        return step


class _LossGraph:
    """The traced loss as the compiler takes a model: placeholders in, one loss term out."""

    has_graph = True

    def __init__(self, loss, y_pred, y_true):
        batch = (None,)
        pred = placeholder("y_pred", batch + y_pred.shape[1:], y_pred.dtype)
        true = placeholder("y_true", batch + y_true.shape[1:], y_true.dtype)
        weight = placeholder("sample_weight", batch, y_pred.dtype)
        values = _values(loss, true, pred)
        total = reduce_values(loss, values, weight)
        self.graph = Subgraph(loss, [pred, true, weight], [], [total])
        self.inputs, self.outputs, self.loss_tensors = self.graph.inputs, [], [total]

    def graph_nodes(self):
        return self.graph.graph_nodes()

    def flat_graph(self, input_shapes=None, training=True):
        return flatten_model(self, None, training)


def _values(loss, y_true, y_pred):
    inner = loss.loss
    try:
        if isinstance(inner, LossFunctionWrapper):
            return inner.fn(y_true, y_pred, **inner.fn_kwargs)
        return inner.call(y_true, y_pred)
    except TypeError as error:
        raise TypeError(f"Loss {loss.name!r}: its call on symbolic tensors failed ({error}); write it with "
                        "framework.ops so its gradient can be derived") from None
