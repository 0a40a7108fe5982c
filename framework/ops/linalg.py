"""Products and norms: tensordot, einsum, norm (``dot`` is Matmul or Tensordot, chosen in framework.ops).

A tensordot between a model's tensor and a weight or constant is one BLAS product: the tensor's
free axes become rows (batch first), its contracted axes columns; an operand whose axes are not
already in that order is copied once per step into a scratch buffer. Einsum runs ``np.einsum`` with
the contraction path found when the plan is built; its gradient to each operand is the einsum of
``dy`` with the other operands, the subscripts permuted. The batch axis is the first letter of
every tensor operand of an einsum, and must lead the output.
"""
import string

import numpy as np

from framework.graph.shapes import format_shape
from framework.kernels import blas_threads
from framework.ops.operation import CONSTANT, Operation, OpError, normalize_axes, result_dtype
from framework.ops.shaping import _view
from framework.plan.steps import copy_step, matmul_step


def _error(op, message):
    return OpError(f"Op '{op.name}' ({type(op).__name__}): {message}")


# ----- tensordot ----------------------------------------------------------------------------------
class Tensordot(Operation):
    """``np.tensordot(x1, x2, axes)``: ``axes`` an int N (the last N axes of x1 with the first N of x2)
    or a pair of axis lists. Inside a model one operand is a weight or a constant; two tensors would
    give the batch axis twice (use ``einsum`` with one batch letter for a product per sample)."""

    def __init__(self, axes=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (int, np.integer)):
            self.axes = int(axes)
        else:
            first, second = axes
            self.axes = [[int(a) for a in np.atleast_1d(first)], [int(a) for a in np.atleast_1d(second)]]

    def get_config(self):
        return {"axes": self.axes}

    def compute(self, a, b):
        return np.tensordot(a, b, axes=self.axes)

    def _contracted(self, sa, sb):
        ra, rb = len(sa), len(sb)
        if isinstance(self.axes, int):
            if not 0 <= self.axes <= min(ra, rb):
                raise _error(self, f"axes={self.axes} for operands {format_shape(sa)} and {format_shape(sb)}")
            return list(range(ra - self.axes, ra)), list(range(self.axes))
        first, second = self.axes
        if len(first) != len(second) or any(not -ra <= a < ra for a in first) or any(not -rb <= b < rb for b in second):
            raise _error(self, f"axes={self.axes} do not pair axes of {format_shape(sa)} and {format_shape(sb)}")
        return [a % ra for a in first], [b % rb for b in second]

    def output_spec(self, shapes, dtypes):
        sa, sb = shapes
        ax_a, ax_b = self._contracted(sa, sb)
        if batched(sa) and batched(sb):
            raise _error(self, f"both operands {format_shape(sa)} and {format_shape(sb)} have the batch axis: "
                               "NumPy's result would carry it twice; for a product per sample use einsum with "
                               "one batch letter, e.g. einsum('bij,bjk->bik', x1, x2)")
        sym = 1 if batched(sb) else 0  # the batched operand gives the product's rows
        s_axes, o_axes, shape_s, shape_o = (ax_a, ax_b, sa, sb) if sym == 0 else (ax_b, ax_a, sb, sa)
        if batched(shape_s) and 0 in s_axes:
            raise _error(self, f"axes={self.axes} on {format_shape(sa)} and {format_shape(sb)} contract the batch "
                               "axis, which a model's tensors keep")
        if any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
            raise _error(self, f"axes {ax_a} of {format_shape(sa)} and {ax_b} of {format_shape(sb)} differ in size")
        free_s = [i for i in range(len(shape_s)) if i not in s_axes]
        free_o = [i for i in range(len(shape_o)) if i not in o_axes]
        if sym == 1 and free_o:
            raise _error(self, f"axes={self.axes} on {format_shape(sa)} and {format_shape(sb)}: the free axes of "
                               "the first operand would come before the batch axis of the second")
        self.layout = (sym, tuple(free_s + s_axes), tuple(o_axes + free_o), len(s_axes))
        return tuple(shape_s[i] for i in free_s) + tuple(shape_o[i] for i in free_o), result_dtype(dtypes)

    def _matrices(self, xs, ctx):
        """(tensor as (rows, K), other as (K, n), copy steps) for the product; scratch made once."""
        sym, s_perm, o_perm, contracted = self.layout
        s, o = xs[sym], xs[1 - sym]
        k = int(np.prod([s.shape[i] for i in s_perm[len(s_perm) - contracted:]]))
        steps = []
        s2, step = _permuted(s, s_perm, (-1, k), ctx, "tensor")
        steps += step
        if self.slots[1 - sym][0] == CONSTANT:  # prepared once: a constant never changes
            o2 = np.ascontiguousarray(np.transpose(o, o_perm)).reshape(k, -1)
        else:
            o2, step = _permuted(o, o_perm, (k, -1), ctx, "other")
            steps += step
        return s2, o2, steps

    def bind_forward(self, xs, y, ctx):
        s2, o2, steps = self._matrices(xs, ctx)
        y2 = _view(y, (s2.shape[0], o2.shape[1]))
        return steps + [matmul_step(s2, o2, y2)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        sym, s_perm, o_perm, _ = self.layout
        s2, o2, _ = self._matrices(xs, ctx)  # forward copied the operands this step
        dy2 = _view(dy, (s2.shape[0], o2.shape[1]))
        steps = []
        if dxs[sym] is not None:
            steps += _product_into(dy2, o2.T, dxs[sym], s_perm, ctx, "d_tensor")
        if dxs[1 - sym] is not None:
            steps += _product_into(s2.T, dy2, dxs[1 - sym], o_perm, ctx, "d_other")
        return steps


def batched(shape):
    """Whether a symbolic operand's shape starts with the batch axis (a batch statistic's does not)."""
    return len(shape) > 0 and shape[0] is None


def _identity(perm):
    return tuple(perm) == tuple(range(len(perm)))


def _permuted(array, perm, shape, ctx, key):
    """``array`` with its axes in ``perm`` order as a 2-D ``shape``: a view, or a scratch copy step."""
    if _identity(perm):
        return _view(array, shape), []
    buffer = ctx.scratch(key, tuple(array.shape[i] for i in perm), dtype=array.dtype)
    return _view(buffer, shape), [copy_step(np.transpose(array, perm), buffer)]


def _product_into(a, b, out, perm, ctx, key):
    """Steps writing ``a @ b`` (2-D) into ``out`` whose axes, in ``perm`` order, flatten to the product."""
    if _identity(perm):
        out2 = _view(out, (a.shape[0], b.shape[1]))
        return [matmul_step(a, b, out2)]
    buffer = ctx.scratch(key, tuple(out.shape[i] for i in perm), dtype=out.dtype)
    out2 = _view(buffer, (a.shape[0], b.shape[1]))
    return [matmul_step(a, b, out2), copy_step(buffer, np.transpose(out, perm))]


# ----- einsum -------------------------------------------------------------------------------------
def parse_subscripts(op, subscripts, ranks):
    """(terms, output): explicit letters per operand and for the output, every '...' spelled out
    with unused letters (right-aligned, as NumPy broadcasts them); implicit outputs as NumPy's."""
    text = subscripts.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise _error(op, f"subscripts {subscripts!r} name {len(terms)} operands, received {len(ranks)}")
    for term in terms + ([rhs] if arrow else []):
        if not all(c.isalpha() for c in term.replace("...", "", 1)):
            raise _error(op, f"subscripts {subscripts!r}: {term!r} is not letters with at most one '...'")
    spare = [c for c in string.ascii_letters if c not in text]
    counts = []
    for term, rank in zip(terms, ranks):
        count = rank - len(term.replace("...", ""))
        if count < 0 or (count and "..." not in term):
            raise _error(op, f"subscripts {subscripts!r}: {term!r} does not fit an operand of rank {rank}")
        counts.append(count)
    broadcast = "".join(spare[:max(counts, default=0)])
    terms = [t.replace("...", broadcast[len(broadcast) - n:]) for t, n in zip(terms, counts)]
    if not arrow:
        letters = "".join(lhs.split(",")).replace("...", "")
        return terms, broadcast + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if broadcast and "..." not in rhs:
        raise _error(op, f"subscripts {subscripts!r}: the output needs '...' for the operands' broadcast axes")
    return terms, rhs.replace("...", broadcast)


class Einsum(Operation):
    """``np.einsum(subscripts, *operands)``. Inside a model the first letter of every tensor operand is
    the batch axis: the tensors share it, it leads the output, and constants and weights do not use it.

    Args:
        subscripts: NumPy's subscripts ('bij,bkj->bik', '...ij,jk->...ik', 'bi,bi->b', ...).
    """

    def __init__(self, subscripts, **kwargs):
        super().__init__(**kwargs)
        self.subscripts = str(subscripts)

    def get_config(self):
        return {"subscripts": self.subscripts}

    def compute(self, *arrays):
        return np.einsum(self.subscripts, *arrays)

    def output_spec(self, shapes, dtypes):
        terms, output = parse_subscripts(self, self.subscripts, [len(s) for s in shapes])
        described = f"subscripts {self.subscripts!r} on {', '.join(format_shape(s) for s in shapes)}"
        batch = {term[0] for term, shape in zip(terms, shapes) if batched(shape)}
        if len(batch) > 1:
            raise _error(self, f"{described}: the tensors' first letters (their batch axes) differ: "
                               f"{', '.join(sorted(batch))}; they must be one letter")
        letter = batch.pop() if batch else None
        if letter and any(letter in term for term, shape in zip(terms, shapes) if not batched(shape)):
            raise _error(self, f"{described}: a constant or weight uses the batch letter '{letter}'")
        if letter and (not output or output[0] != letter):
            raise _error(self, f"{described} drops or moves the batch axis '{letter}': a model's tensors keep "
                               "it first in the output")
        sizes = {}
        for term, shape in zip(terms, shapes):
            if len(set(term)) != len(term):
                raise _error(self, f"{described}: a letter repeated within an operand (a diagonal) is not "
                                   "available inside a model")
            for c, size in zip(term, shape):
                if sizes.setdefault(c, size) != size:
                    raise _error(self, f"{described}: axis '{c}' has sizes {sizes[c]} and {size}")
        if len(set(output)) != len(output) or any(c not in sizes for c in output):
            raise _error(self, f"{described}: output letters {output!r} must be distinct letters of the operands")
        self.terms, self.output = terms, output
        return tuple(sizes[c] for c in output), result_dtype(dtypes)

    def bind_forward(self, xs, y, ctx):
        equation = ",".join(self.terms) + "->" + self.output
        path = np.einsum_path(equation, *xs, optimize="greedy")[0]
        return [_fixed_threads(lambda: np.einsum(equation, *xs, out=y, optimize=path))]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        steps = []
        for k, dx in enumerate(dxs):
            if dx is None:
                continue
            others = [j for j in range(len(xs)) if j != k]
            reached = set(self.output).union(*(self.terms[j] for j in others))
            kept = "".join(c for c in self.terms[k] if c in reached)  # letters summed only here broadcast back
            equation = ",".join([self.output] + [self.terms[j] for j in others]) + "->" + kept
            operands = [dy] + [xs[j] for j in others]
            out = dx if kept == self.terms[k] else ctx.scratch(f"d{k}", [dx.shape[i] for i, c in
                                                                         enumerate(self.terms[k]) if c in kept])
            path = np.einsum_path(equation, *operands, optimize="greedy")[0]
            steps.append(_fixed_threads(lambda e=equation, o=operands, out=out, p=path:
                                        np.einsum(e, *o, out=out, optimize=p)))
            if out is not dx:
                steps.append(copy_step(out.reshape([d if c in kept else 1 for d, c in zip(dx.shape, self.terms[k])]),
                                       dx))
        return steps


# ----- norm ---------------------------------------------------------------------------------------
class Norm(Operation):
    """``np.linalg.norm(x, ord, axis, keepdims)``: a vector norm over one axis (ord None/2, 1, inf, -inf,
    0, any p) or a matrix norm over two (ord None/'fro', 1, -1, inf, -inf). Matrix ord 2, -2 and 'nuc'
    (singular values) work on arrays only.

    Args:
        ord: the order. axis: an axis or a pair of axes (inside a model, not the batch axis).
        keepdims: keep the reduced axes with size 1.
    """

    def __init__(self, ord=None, axis=None, keepdims=False, **kwargs):  # noqa: A002  (NumPy's name)
        super().__init__(**kwargs)
        self.ord = ord
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = bool(keepdims)

    def get_config(self):
        return {"ord": self.ord, "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis,
                "keepdims": self.keepdims}

    @property
    def differentiable(self):
        return self.ord != 0

    def compute(self, x):
        x = np.asarray(x)
        result = np.linalg.norm(x, self.ord, self.axis, self.keepdims)
        return np.asarray(result, dtype=result_dtype([x.dtype.name], True))

    def output_spec(self, shapes, dtypes):
        shape = shapes[0]
        rank = len(shape)
        axes = normalize_axes(self, self.axis, rank)  # refuses the batch axis
        given = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        self.pair = tuple(a % rank for a in given)  # a matrix norm's (row axis, column axis) in the given order
        if len(axes) != len(given) or len(axes) > 2:
            raise _error(self, f"axis={self.axis!r} of {format_shape(shape)}: give one axis (a vector norm) or two "
                               "(a matrix norm)")
        matrix = {None: "l2", "fro": "l2", 1: "columns", -1: "columns", np.inf: "rows", -np.inf: "rows"}
        if len(axes) == 2:
            if self.ord not in matrix:
                raise _error(self, f"matrix norm ord={self.ord!r} is not available inside a model (ord None, "
                                   "'fro', 1, -1, inf, -inf are)")
            self.kind = matrix[self.ord]
        elif isinstance(self.ord, str):
            raise _error(self, f"ord={self.ord!r} is a matrix norm; axis={self.axis!r} names one axis")
        else:
            self.kind = {None: "l2", 2: "l2", 1: "l1", np.inf: "max", -np.inf: "max", 0: "count"}.get(self.ord, "p")
        self.axes = axes
        if self.keepdims:
            out = tuple(1 if i in axes else d for i, d in enumerate(shape))
        else:
            out = tuple(d for i, d in enumerate(shape) if i not in axes)
        return out, result_dtype(dtypes, True)

    def _kept(self, array, x_shape):
        return array.reshape(tuple(1 if i in self.axes else d for i, d in enumerate(x_shape)))

    def bind_forward(self, xs, y, ctx):
        x, axes, kind, order = xs[0], self.axes, self.kind, self.ord
        out = self._kept(y, x.shape)
        t = ctx.scratch("t", x.shape)
        if kind in ("columns", "rows"):  # sums of |x| along one axis of the pair, then max/min along the other
            summed = self.pair[0] if kind == "columns" else self.pair[1]  # as NumPy: ord ±1 sums over the row axis
            sums = ctx.scratch("sums", tuple(1 if i == summed else d for i, d in enumerate(x.shape)))
            pick = np.max if order > 0 else np.min

            def step():
                np.abs(x, out=t)
                np.sum(t, axis=summed, keepdims=True, out=sums)
                pick(sums, axis=axes, keepdims=True, out=out)
            return [step]
        if kind == "l2":
            def step():
                np.multiply(x, x, out=t)
                np.sum(t, axis=axes, keepdims=True, out=out)
                np.sqrt(out, out=out)
        elif kind == "l1":
            def step():
                np.abs(x, out=t)
                np.sum(t, axis=axes, keepdims=True, out=out)
        elif kind == "max":
            pick = np.max if order > 0 else np.min

            def step():
                np.abs(x, out=t)
                pick(t, axis=axes, keepdims=True, out=out)
        elif kind == "count":
            def step():
                np.not_equal(x, 0, out=t, casting="unsafe")
                np.sum(t, axis=axes, keepdims=True, out=out)
        else:
            p = float(order)

            def step():
                np.abs(x, out=t)
                np.power(t, p, out=t)
                np.sum(t, axis=axes, keepdims=True, out=out)
                np.power(out, 1 / p, out=out)
        return [step]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x, dx, axes, kind = xs[0], dxs[0], self.axes, self.kind
        if dx is None:
            return []
        if kind == "count":
            return [lambda: dx.fill(0)]
        y, dy = self._kept(y, x.shape), self._kept(dy, x.shape)
        t, g = ctx.scratch("t", x.shape), ctx.scratch("g", y.shape)
        if kind == "l2":  # x dy / y (0 where y is 0)
            nonzero = ctx.scratch("nonzero", y.shape, dtype=bool)

            def step():
                np.not_equal(y, 0, out=nonzero)
                g.fill(0)
                np.divide(dy, y, out=g, where=nonzero)
                np.multiply(x, g, out=dx)
            return [step]
        if kind == "l1":
            return [lambda: np.sign(x, out=dx), lambda: np.multiply(dx, dy, out=dx)]
        if kind == "p":  # sign(x) |x|^(p-1) y^(1-p) dy
            p = float(self.ord)

            def step():
                np.abs(x, out=t)
                np.power(t, p - 1, out=t)
                np.power(y, 1 - p, out=g)
                np.multiply(g, dy, out=g)
                np.sign(x, out=dx)
                np.multiply(dx, t, out=dx)
                np.multiply(dx, g, out=dx)
            return [step]
        if kind == "max":  # sign(x) dy at the entries equal to the norm, ties sharing it
            def step():
                np.abs(x, out=t)
                np.equal(t, y, out=t, casting="unsafe")
                np.sum(t, axis=axes, keepdims=True, out=g)
                np.divide(dy, g, out=g)
                np.sign(x, out=dx)
                np.multiply(dx, t, out=dx)
                np.multiply(dx, g, out=dx)
            return [step]
        summed = self.pair[0] if kind == "columns" else self.pair[1]
        sums = ctx.scratch("sums", tuple(1 if i == summed else d for i, d in enumerate(x.shape)))
        picked = ctx.scratch("picked", sums.shape)

        def step():  # sign(x) dy along the picked column (row), ties sharing it
            np.abs(x, out=t)
            np.sum(t, axis=summed, keepdims=True, out=sums)
            np.equal(sums, y, out=picked, casting="unsafe")
            np.sum(picked, axis=axes, keepdims=True, out=g)
            np.divide(dy, g, out=g)
            np.multiply(picked, g, out=picked)
            np.sign(x, out=dx)
            np.multiply(dx, picked, out=dx)
        return [step]


def _fixed_threads(step):
    """An einsum step with all BLAS threads, always: its products are not checked for rounding that
    depends on the thread count (kernels.blas_threads.bound_product), so the plan's choice must not reach it."""
    return blas_threads.pinned(step, blas_threads.most_threads())
