"""Masks as tensors: reading the mask a sequence tensor carries, and giving a tensor a mask.

In a plan a mask is a (batch, steps) buffer of 1.0/0.0 filled by the node that starts it
(``framework.plan.masking``). Code written with ops sees masks as Keras code does, as boolean
(batch, steps) tensors: ``MaskOf`` reads the mask a tensor carries (``x._keras_mask``, the
``mask=`` argument of a traced ``call()``), and ``WithMask`` returns its first operand carrying
the mask its second operand holds (what a custom layer's ``compute_mask()`` returns). Masks have
no gradient; ``WithMask`` passes the gradient of its data operand through.
"""
import numpy as np

from framework.graph.shapes import format_shape
from framework.graph.tensor import Mask
from framework.keras_mask import with_keras_mask
from framework.ops.operation import Operation, OpError


class MaskOf(Operation):
    """The mask ``x`` carries, as a boolean (batch, steps) tensor (all True when it carries none)."""

    differentiable = False

    def compute(self, x):
        mask = getattr(x, "_keras_mask", None)
        if mask is not None:
            return np.asarray(mask, dtype=bool)
        x = np.asarray(x)
        return np.ones(x.shape[:2], dtype=bool)

    def output_spec(self, shapes, dtypes):
        if len(shapes[0]) < 2:
            raise OpError(f"Op '{self.name}' (MaskOf): a mask belongs to a (batch, steps, ...) tensor, "
                          f"received {format_shape(shapes[0])}")
        return tuple(shapes[0][:2]), "bool"

    def bind_forward(self, xs, y, ctx):
        mask = ctx.input_masks[0] if ctx.input_masks else None
        if mask is None:
            return [lambda: y.fill(True)]
        return [lambda: np.not_equal(mask, 0, out=y)]


class WithMask(Operation):
    """``x`` carrying the mask ``mask`` (boolean or 0/1, shape (batch, steps)): the tensor a layer
    returns with the mask its ``compute_mask()`` computed."""

    def compute(self, x, mask):
        return with_keras_mask(np.array(x), np.asarray(mask, dtype=bool))

    def symbolic_call(self, operands):
        output = super().symbolic_call(operands)
        output.mask = Mask((None, output.shape[1]))  # a new mask, started by this node
        return output

    def output_spec(self, shapes, dtypes):
        data, mask = shapes
        if len(data) < 2 or len(mask) != 2 or (None not in (data[1], mask[1]) and data[1] != mask[1]):
            raise OpError(f"Op '{self.name}' (WithMask): a mask of shape (batch, steps) belongs to a (batch, "
                          f"steps, ...) tensor of the same steps; received mask {format_shape(mask)} for a tensor "
                          f"{format_shape(data)}")
        return tuple(data), dtypes[0]

    def bind_forward(self, xs, y, ctx):
        x, mask = xs
        started = ctx.output_masks[0] if ctx.output_masks else None
        if started is None:
            return [lambda: np.copyto(y, x)]

        def step():
            np.copyto(y, x)
            np.copyto(started, mask, casting="unsafe")
        return [step]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx = dxs[0]
        steps = [] if dx is None else [lambda: np.copyto(dx, dy)]
        if dxs[1] is not None:
            d_mask = dxs[1]
            steps.append(lambda: d_mask.fill(0))
        return steps
