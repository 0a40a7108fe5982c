"""Reductions over sample axes: sum, mean, max, min, prod, var, std, logsumexp, and softmax.

A reduction that includes the batch axis (``axis=None``, or axis 0) gives a *batch statistic*:
a tensor without a batch axis that can feed a loss term (``add_loss``) but not a model output.
On arrays the ops reduce as NumPy does. Backward broadcasts ``dy`` back over the reduced axes through a
``keepdims`` view, so no step reshapes or allocates.
"""
import numpy as np

from framework.ops.operation import Operation, OpError, normalize_axes, result_dtype


class Reduction(Operation):
    """An op over ``axis`` with ``keepdims``.

    Args:
        axis: an axis, a tuple of axes, or None (all axes of a sample).
        keepdims: keep the reduced axes with size 1.
    """

    float_result = False

    def __init__(self, axis=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = bool(keepdims)

    def get_config(self):
        return {"axis": self.axis, "keepdims": self.keepdims}

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        self.axes = normalize_axes(self, self.axis, len(shape), over_batch=True)
        self.reduces_batch = 0 in self.axes or not shape
        if self.keepdims:
            out = tuple(1 if i in self.axes else d for i, d in enumerate(shape))
        else:
            out = tuple(d for i, d in enumerate(shape) if i not in self.axes)
        return out, result_dtype(dtypes, self.float_result)

    def compute(self, x):
        return self.numpy(np.asarray(x), self.axis, self.keepdims)

    def kept(self, array_y, x):
        """``y`` as a view with the reduced axes kept (size 1)."""
        return array_y.reshape(tuple(1 if i in self.axes else d for i, d in enumerate(x.shape)))

    def bind_forward(self, xs, y, ctx):
        return [self.reducer(xs[0], self.axes, self.kept(y, xs[0]), ctx)]

    def reducer(self, x, axes, out, ctx):
        """The step writing the reduction of ``x`` into ``out``; scratch buffers are taken here, while
        the plan is built (a buffer taken when a step first runs could alias a live one)."""
        numpy = self.numpy
        return lambda: numpy(x, axes, True, out=out)

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx = dxs[0]
        if dx is None:
            return []
        return self.gradient(xs[0], self.kept(y, xs[0]), self.kept(dy, xs[0]), dx, ctx)


class Sum(Reduction):
    @staticmethod
    def numpy(x, axis, keepdims, out=None):
        return np.sum(x, axis=axis, keepdims=keepdims, out=out)

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.copyto(dx, dy)]


class Mean(Reduction):
    float_result = True

    @staticmethod
    def numpy(x, axis, keepdims, out=None):
        return np.mean(x, axis=axis, keepdims=keepdims, out=out)

    def gradient(self, x, y, dy, dx, ctx):
        scale = y.size / x.size
        return [lambda: np.multiply(dy, scale, out=dx)]


class Max(Reduction):
    """The largest value; ties share the gradient equally (as JAX)."""

    numpy = staticmethod(lambda x, axis, keepdims, out=None: np.max(x, axis=axis, keepdims=keepdims, out=out))

    def gradient(self, x, y, dy, dx, ctx):
        count = ctx.scratch("count", y.shape)
        axes = self.axes

        def step():
            np.equal(x, y, out=dx, casting="unsafe")
            np.sum(dx, axis=axes, keepdims=True, out=count)
            np.multiply(dx, dy, out=dx)
            np.divide(dx, count, out=dx)
        return [step]


class Min(Max):
    numpy = staticmethod(lambda x, axis, keepdims, out=None: np.min(x, axis=axis, keepdims=keepdims, out=out))


class Prod(Reduction):
    """The product; its gradient ``y / x`` assumes no zero entries."""

    numpy = staticmethod(lambda x, axis, keepdims, out=None: np.prod(x, axis=axis, keepdims=keepdims, out=out))

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.divide(y, x, out=dx), lambda: np.multiply(dx, dy, out=dx)]


class Var(Reduction):
    """The population variance (``ddof=0``), as Keras."""

    float_result = True
    numpy = staticmethod(lambda x, axis, keepdims, out=None: np.var(x, axis=axis, keepdims=keepdims, out=out))

    def reducer(self, x, axes, out, ctx):
        mean, centred = ctx.scratch("mean", out.shape), ctx.scratch("centred", x.shape)

        def step():
            np.mean(x, axis=axes, keepdims=True, out=mean)
            np.subtract(x, mean, out=centred)
            np.square(centred, out=centred)
            np.mean(centred, axis=axes, keepdims=True, out=out)
        return step

    def gradient(self, x, y, dy, dx, ctx):  # 2 (x - mean) / n
        mean, scale = ctx.scratch("mean", y.shape), 2 * y.size / x.size
        return [lambda: np.subtract(x, mean, out=dx), lambda: np.multiply(dx, dy, out=dx),
                lambda: np.multiply(dx, scale, out=dx)]


class Std(Var):
    numpy = staticmethod(lambda x, axis, keepdims, out=None: np.std(x, axis=axis, keepdims=keepdims, out=out))

    def reducer(self, x, axes, out, ctx):
        variance = Var.reducer(self, x, axes, out, ctx)

        def step():
            variance()
            np.sqrt(out, out=out)
        return step

    def gradient(self, x, y, dy, dx, ctx):  # (x - mean) / (n std)
        mean, scale = ctx.scratch("mean", y.shape), y.size / x.size
        return [lambda: np.subtract(x, mean, out=dx), lambda: np.multiply(dx, dy, out=dx),
                lambda: np.divide(dx, y, out=dx), lambda: np.multiply(dx, scale, out=dx)]


class Logsumexp(Reduction):
    float_result = True

    @staticmethod
    def numpy(x, axis, keepdims, out=None):
        top = np.max(x, axis=axis, keepdims=True)
        result = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
        return result if keepdims else np.squeeze(result, axis=axis)

    def reducer(self, x, axes, out, ctx):
        top, shifted = ctx.scratch("top", out.shape), ctx.scratch("shifted", x.shape)

        def step():
            np.max(x, axis=axes, keepdims=True, out=top)
            np.subtract(x, top, out=shifted)
            np.exp(shifted, out=shifted)
            np.sum(shifted, axis=axes, keepdims=True, out=out)
            np.log(out, out=out)
            np.add(out, top, out=out)
        return step

    def gradient(self, x, y, dy, dx, ctx):  # softmax(x) dy
        return [lambda: np.subtract(x, y, out=dx), lambda: np.exp(dx, out=dx), lambda: np.multiply(dx, dy, out=dx)]


class Softmax(Operation):
    """``exp(x) / sum(exp(x))`` along ``axis``.

    Args:
        axis: the axis normalized (default -1).
    """

    log = False

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def get_config(self):
        return {"axis": self.axis}

    def output_spec(self, shapes, dtypes):
        self.axes = normalize_axes(self, self.axis, len(shapes[0]))
        return shapes[0], result_dtype(dtypes, True)

    def compute(self, x):
        x = np.asarray(x)
        shifted = x - np.max(x, axis=self.axis, keepdims=True)
        if self.log:
            return shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))
        e = np.exp(shifted)
        return e / np.sum(e, axis=self.axis, keepdims=True)

    def _kept_shape(self, x):
        return tuple(1 if i in self.axes else d for i, d in enumerate(x.shape))

    def bind_forward(self, xs, y, ctx):
        x, axes, log = xs[0], self.axes, self.log
        total = ctx.scratch("total", self._kept_shape(x))
        exps = ctx.scratch("exp", x.shape) if log else None

        def step():
            np.max(x, axis=axes, keepdims=True, out=total)
            np.subtract(x, total, out=y)
            if log:
                np.exp(y, out=exps)
                np.sum(exps, axis=axes, keepdims=True, out=total)
                np.log(total, out=total)
                np.subtract(y, total, out=y)
            else:
                np.exp(y, out=y)
                np.sum(y, axis=axes, keepdims=True, out=total)
                np.divide(y, total, out=y)
        return [step]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx, axes = dxs[0], self.axes
        if dx is None:
            return []
        total = ctx.scratch("dot", self._kept_shape(y))
        if self.log:  # dx = dy - softmax * sum(dy)
            def step():
                np.sum(dy, axis=axes, keepdims=True, out=total)
                np.exp(y, out=dx)
                np.multiply(dx, total, out=dx)
                np.subtract(dy, dx, out=dx)
            return [step]

        def step():  # dx = y (dy - sum(dy y))
            np.multiply(dy, y, out=dx)
            np.sum(dx, axis=axes, keepdims=True, out=total)
            np.subtract(dy, total, out=dx)
            np.multiply(dx, y, out=dx)
        return [step]


class LogSoftmax(Softmax):
    log = True


class Argmax(Operation):
    """Index of the largest value along ``axis`` (int64; no gradient)."""

    differentiable = False
    pick = staticmethod(np.argmax)

    def __init__(self, axis=-1, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            raise OpError(f"Op '{self.name}' ({type(self).__name__}): axis=None (over all axes) is not available")
        self.axis, self.keepdims = axis, bool(keepdims)

    def get_config(self):
        return {"axis": self.axis, "keepdims": self.keepdims}

    def output_spec(self, shapes, dtypes):
        (axis,) = normalize_axes(self, self.axis, len(shapes[0]))
        self.axes = (axis,)
        shape = shapes[0]
        return (shape[:axis] + ((1,) if self.keepdims else ()) + shape[axis + 1:]), "int64"

    def compute(self, x):
        return self.pick(np.asarray(x), axis=self.axis, keepdims=self.keepdims)

    def bind_forward(self, xs, y, ctx):
        x, (axis,) = xs[0], self.axes
        kept = y.reshape(x.shape[:axis] + (1,) + x.shape[axis + 1:])
        pick = self.pick
        return [lambda: pick(x, axis=axis, keepdims=True, out=kept)]


class Argmin(Argmax):
    pick = staticmethod(np.argmin)
