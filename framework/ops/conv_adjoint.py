"""The input gradient of a convolution as an op of its own, so it can be differentiated again.

``ConvInputGradient(dy, kernel)`` is what ``Conv``'s backward writes into d(inputs): the columns
``dy @ kernel^T`` scattered back to the input pixels (col2im). It is linear in both operands, and its
gradients are the convolution's other two products: d/d(dy) of ``<v, dx>`` is the forward convolution
of ``v`` (im2col, the adjoint of col2im, then ``@ kernel``), and d/d(kernel) is the convolution's kernel
gradient with ``v`` as its input (``im2col(v)^T @ dy``). Second derivatives through a ``Conv2D`` layer
(a gradient penalty) are built from it (framework.training.double_backward).
"""
import functools

import numpy as np

from framework.graph.shapes import format_shape
from framework.kernels import conv as K
from framework.ops.nn import Conv, _error, _image, _sequence
from framework.ops.operation import result_dtype
from framework.ops.shaping import _view


class ConvInputGradient(Conv):
    """d(inputs) of ``conv(inputs, kernel)`` from d(outputs) ``dy``: operands (dy, kernel).

    Args:
        input_shape: the convolution's input sample shape (rows, cols, channels) or (steps, channels).
        strides, padding, dilation_rate: the convolution's.
    """

    def __init__(self, input_shape, strides=1, padding="valid", data_format=None, dilation_rate=1, **kwargs):
        super().__init__(strides, padding, data_format, dilation_rate, **kwargs)
        self.input_shape = tuple(int(d) for d in input_shape)

    def get_config(self):
        return {**super().get_config(), "input_shape": list(self.input_shape)}

    def output_spec(self, shapes, dtypes):
        dy, k = shapes
        x = (dy[0],) + self.input_shape
        expected, _ = super().output_spec([x, k], dtypes)
        if tuple(expected[1:]) != tuple(dy[1:]):
            raise _error(self, f"d(outputs) {format_shape(dy)} does not fit a convolution of inputs "
                               f"{format_shape(x)} by kernel {format_shape(k)} (its outputs are "
                               f"{format_shape(expected)})")
        return x, result_dtype(dtypes)

    def compute(self, dy, kernel):
        raise NotImplementedError("ConvInputGradient runs in plans (a gradient of a gradient)")

    def _roles(self, dy, kernel, dx, ctx):
        """The convolution's layout with dx in the inputs' place and dy in the outputs'."""
        return self._layout(dx, dy, kernel, ctx)

    def bind_forward(self, xs, y, ctx):
        dy, kernel = xs
        _, args, w2, columns, chunks, pixels = self._roles(dy, kernel, y, ctx)
        dx4, dy2 = _image(y), _view(dy, (-1, dy.shape[-1]))
        calls = []
        for start, n in chunks:
            cols = columns[:n * pixels]
            calls += [functools.partial(np.matmul, dy2[start * pixels:(start + n) * pixels], w2.T, out=cols),
                      functools.partial(K.col2im, cols.reshape((1,) + cols.shape), start, dx4, *args)]
        return [_sequence(calls)]

    def bind_backward(self, xs, y, dy_out, dxs, ctx):
        """``dy_out`` is the cotangent of this op's output (shaped like the conv inputs)."""
        dy, kernel = xs
        d_dy, d_kernel = dxs
        v4, args, w2, columns, chunks, pixels = self._roles(dy, kernel, dy_out, ctx)
        dy2 = _view(dy, (-1, dy.shape[-1]))
        d_dy2 = None if d_dy is None else _view(d_dy, (-1, d_dy.shape[-1]))
        dk2 = None if d_kernel is None else _view(d_kernel, w2.shape)
        part = ctx.scratch("d_kernel_part", w2.shape) if dk2 is not None and len(chunks) > 1 else None
        calls = []
        for index, (start, n) in enumerate(chunks):
            cols = columns[:n * pixels]
            rows = slice(start * pixels, (start + n) * pixels)
            calls.append(functools.partial(K.im2col, v4, start, cols.reshape((1,) + cols.shape), *args))
            if d_dy2 is not None:
                calls.append(functools.partial(np.matmul, cols, w2, out=d_dy2[rows]))
            if dk2 is not None:
                calls.append(functools.partial(np.matmul, cols.T, dy2[rows], out=part if index else dk2))
                if index:
                    calls.append(functools.partial(np.add, dk2, part, out=dk2))
        return [_sequence(calls)] if calls else []
