"""Elementwise ops: unary math, binary arithmetic with broadcasting, comparisons, where, clip.

Forward steps are NumPy ufunc calls with ``out=`` over the plan's buffers; backward steps
write ``d operand`` with ``out=`` too, summing over broadcast axes where an operand was
broadcast (``reduce_to``). Scratch buffers come from ``ctx.scratch``, allocated once.
"""
import numpy as np

from framework.ops.operation import Operation, broadcast_shapes, needs_reduction, reduce_to, result_dtype


# ----- unary ---------------------------------------------------------------------------------------
class Unary(Operation):
    """An op of one operand, same shape out. Subclasses set ``ufunc`` (or override ``apply(x, y)``) and
    give ``gradient(x, y, dy, dx, ctx)``: steps writing ``dx``."""

    ufunc = None
    float_result = True

    def compute(self, x):
        x = np.asarray(x)
        out = np.empty(x.shape, dtype=result_dtype([x.dtype.name], self.float_result))
        self.apply(x, out)
        return out

    def output_spec(self, shapes, dtypes):
        return shapes[0], result_dtype(dtypes, self.float_result)

    def apply(self, x, y):
        self.ufunc(x, out=y)

    def bind_forward(self, xs, y, ctx):
        x = xs[0]
        apply = self.apply
        return [lambda: apply(x, y)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        return [] if dxs[0] is None else self.gradient(xs[0], y, dy, dxs[0], ctx)


class Negative(Unary):
    fused_formula = ("(-{0})", ("(-{g})",))  # for framework.ops.fusion
    ufunc = np.negative
    float_result = False

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.negative(dy, out=dx)]


class Square(Unary):
    fused_formula = ("({0} * {0})", ("({0} * {g} * F(2.0))",))  # for framework.ops.fusion
    ufunc = np.square
    float_result = False

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.multiply(x, dy, out=dx), lambda: np.multiply(dx, 2, out=dx)]


class Sqrt(Unary):
    fused_formula = ("math.sqrt({0})", ("({g} / {y} * F(0.5))",))  # for framework.ops.fusion
    ufunc = np.sqrt

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.divide(dy, y, out=dx), lambda: np.multiply(dx, 0.5, out=dx)]


class Rsqrt(Unary):
    fused_formula = ("(F(1.0) / math.sqrt({0}))", ("({y} * {y} * {y} * {g} * F(-0.5))",))  # for framework.ops.fusion

    def apply(self, x, y):
        np.sqrt(x, out=y)
        np.divide(1, y, out=y)

    def gradient(self, x, y, dy, dx, ctx):  # d x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
        return [lambda: _cube(y, dx), lambda: np.multiply(dx, dy, out=dx),
                      lambda: np.multiply(dx, -0.5, out=dx)]


class Exp(Unary):
    fused_formula = ("math.exp({0})", ("({g} * {y})",))  # for framework.ops.fusion
    fused_libm = True
    ufunc = np.exp

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.multiply(dy, y, out=dx)]


class Log(Unary):
    fused_formula = ("math.log({0})", ("({g} / {0})",))  # for framework.ops.fusion
    fused_libm = True
    ufunc = np.log

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.divide(dy, x, out=dx)]


class Log1p(Unary):
    fused_formula = ("math.log1p({0})", ("({g} / ({0} + F(1.0)))",))  # for framework.ops.fusion
    fused_libm = True
    ufunc = np.log1p

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.add(x, 1, out=dx), lambda: np.divide(dy, dx, out=dx)]


class Abs(Unary):
    fused_formula = (  # for framework.ops.fusion
        "abs({0})", ("({g} if {0} > F(0.0) else (-{g} if {0} < F(0.0) else F(0.0)))",))
    ufunc = np.abs
    float_result = False

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.sign(x, out=dx), lambda: np.multiply(dx, dy, out=dx)]


class Sin(Unary):
    fused_formula = ("math.sin({0})", ("(math.cos({0}) * {g})",))  # for framework.ops.fusion
    fused_libm = True
    ufunc = np.sin

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.cos(x, out=dx), lambda: np.multiply(dx, dy, out=dx)]


class Cos(Unary):
    fused_formula = ("math.cos({0})", ("(-(math.sin({0}) * {g}))",))  # for framework.ops.fusion
    fused_libm = True
    ufunc = np.cos

    def gradient(self, x, y, dy, dx, ctx):
        return [lambda: np.sin(x, out=dx), lambda: np.multiply(dx, dy, out=dx),
                      lambda: np.negative(dx, out=dx)]


class Tanh(Unary):
    fused_formula = ("fast_tanh({0})", ("((F(1.0) - {y} * {y}) * {g})",))  # for framework.ops.fusion
    ufunc = np.tanh

    def gradient(self, x, y, dy, dx, ctx):  # 1 - y^2
        return [lambda: np.multiply(y, y, out=dx), lambda: np.subtract(1, dx, out=dx),
                      lambda: np.multiply(dx, dy, out=dx)]


def _sigmoid(x, out):
    """sigmoid(x) = (tanh(x / 2) + 1) / 2: no overflow for large |x|."""
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    np.add(out, 1, out=out)
    np.multiply(out, 0.5, out=out)


class Sigmoid(Unary):
    fused_formula = ("fast_sigmoid({0})", ("((F(1.0) - {y}) * {y} * {g})",))  # for framework.ops.fusion

    def apply(self, x, y):
        _sigmoid(x, y)

    def gradient(self, x, y, dy, dx, ctx):  # y (1 - y)
        return [lambda: np.subtract(1, y, out=dx), lambda: np.multiply(dx, y, out=dx),
                      lambda: np.multiply(dx, dy, out=dx)]


class Relu(Unary):
    fused_formula = (  # for framework.ops.fusion
        "({0} if not {0} <= F(0.0) else F(0.0))", ("({g} if {y} > F(0.0) else F(0.0))",))
    float_result = False

    def apply(self, x, y):
        np.maximum(x, 0, out=y)

    def gradient(self, x, y, dy, dx, ctx):  # 1 where the output is positive
        return [lambda: np.sign(y, out=dx), lambda: np.multiply(dx, dy, out=dx)]


def _softplus(x, y, positive):
    """log(1 + exp(-|x|)) + max(x, 0): no overflow for large |x|."""
    np.abs(x, out=y)
    np.negative(y, out=y)
    np.exp(y, out=y)
    np.log1p(y, out=y)
    np.maximum(x, 0, out=positive)
    np.add(y, positive, out=y)


class Softplus(Unary):
    fused_formula = (  # for framework.ops.fusion
        "(math.log1p(math.exp(-abs({0}))) + ({0} if not {0} <= F(0.0) else F(0.0)))", ("(fast_sigmoid({0}) * {g})",))
    fused_libm = True

    def apply(self, x, y):
        _softplus(x, y, np.empty_like(y))

    def bind_forward(self, xs, y, ctx):
        x, positive = xs[0], ctx.scratch("positive", y.shape)
        return [lambda: _softplus(x, y, positive)]

    def gradient(self, x, y, dy, dx, ctx):  # sigmoid(x)
        return [lambda: _sigmoid(x, dx), lambda: np.multiply(dx, dy, out=dx)]


class Silu(Unary):
    fused_formula = (  # for framework.ops.fusion
        "(fast_sigmoid({0}) * {0})", ("(fast_sigmoid({0}) * (F(1.0) + {0} * (F(1.0) - fast_sigmoid({0}))) * {g})",))
    def apply(self, x, y):
        _sigmoid(x, y)
        np.multiply(y, x, out=y)

    def gradient(self, x, y, dy, dx, ctx):  # s (1 + x (1 - s))
        s = ctx.scratch("sigmoid", x.shape)

        def step():
            _sigmoid(x, s)
            np.subtract(1, s, out=dx)
            np.multiply(dx, x, out=dx)
            np.add(dx, 1, out=dx)
            np.multiply(dx, s, out=dx)
            np.multiply(dx, dy, out=dx)
        return [step]


_GELU_C, _GELU_A = float(np.sqrt(2 / np.pi)), 0.044715
_GELU_T = f"fast_tanh(F({_GELU_C!r}) * ({{0}} + F({_GELU_A!r}) * ({{0}} * {{0}} * {{0}})))"  # a fused formula's tanh


def _cube(x, out):
    """x^3 by two products (np.power with an integer exponent allocates a cast buffer)."""
    np.multiply(x, x, out=out)
    np.multiply(out, x, out=out)


class Gelu(Unary):
    """GELU in its tanh form (Keras's ``approximate=True`` default)."""
    fused_formula = (  # for framework.ops.fusion; T is tanh(c (x + a x^3))
        "((T + F(1.0)) * {0} * F(0.5))".replace("T", _GELU_T),
        ("((((F(3 * A) * {0} * {0} + F(1.0)) * {0} * F(0.5 * C)) * (F(1.0) - T * T) + (T + F(1.0)) * F(0.5)) * {g})"
         .replace("3 * A", repr(3 * _GELU_A)).replace("0.5 * C", repr(0.5 * _GELU_C)).replace("T", _GELU_T),))

    def __init__(self, approximate=True, **kwargs):
        super().__init__(**kwargs)
        if not approximate:
            raise ValueError("Gelu is the tanh form (approximate=True); the exact erf form is the ExactGelu op "
                             "(ops.gelu(x, approximate=False))")
        self.approximate = approximate

    def apply(self, x, y):  # 0.5 x (1 + tanh(c (x + a x^3)))
        _cube(x, y)
        np.multiply(y, _GELU_A, out=y)
        np.add(y, x, out=y)
        np.multiply(y, _GELU_C, out=y)
        np.tanh(y, out=y)
        np.add(y, 1, out=y)
        np.multiply(y, x, out=y)
        np.multiply(y, 0.5, out=y)

    def gradient(self, x, y, dy, dx, ctx):  # 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
        t, p = ctx.scratch("t", x.shape), ctx.scratch("p", x.shape)

        def step():
            _cube(x, t)
            np.multiply(t, _GELU_A, out=t)
            np.add(t, x, out=t)
            np.multiply(t, _GELU_C, out=t)
            np.tanh(t, out=t)
            np.square(x, out=dx)
            np.multiply(dx, 3 * _GELU_A, out=dx)
            np.add(dx, 1, out=dx)
            np.multiply(dx, x, out=dx)
            np.multiply(dx, 0.5 * _GELU_C, out=dx)
            np.multiply(t, t, out=p)
            np.subtract(1, p, out=p)
            np.multiply(dx, p, out=dx)
            np.add(t, 1, out=p)
            np.multiply(p, 0.5, out=p)
            np.add(dx, p, out=dx)
            np.multiply(dx, dy, out=dx)
        return [step]

    def get_config(self):
        return {"approximate": self.approximate}


class NoGradient(Unary):
    """Ops whose gradient is zero almost everywhere (sign, floor, round)."""

    differentiable = False
    float_result = False


class Sign(NoGradient):
    fused_formula = ("(F(1.0) if {0} > F(0.0) else (F(-1.0) if {0} < F(0.0) else {0}))", ())  # for framework.ops.fusion
    ufunc = np.sign


class Floor(NoGradient):
    fused_formula = ("np.floor({0})", ())  # for framework.ops.fusion
    ufunc = np.floor


class Round(NoGradient):
    ufunc = staticmethod(np.round)  # a function, not a ufunc: it must not bind as a method


class StopGradient(Unary):
    """The value unchanged; no gradient flows back through it."""
    fused_formula = ("({0})", ())  # for framework.ops.fusion

    differentiable = False
    float_result = False

    def apply(self, x, y):
        np.copyto(y, x)


# ----- binary --------------------------------------------------------------------------------------
def _operand(value, other):
    """An array for a binary op: a Python number takes the other operand's float dtype (as Keras)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        other = np.asarray(other)
        if other.dtype.kind == "f" or isinstance(value, float):
            return np.asarray(value, dtype=other.dtype if other.dtype.kind == "f" else result_dtype([], True))
    return np.asarray(value)


class Binary(Operation):
    """An op of two broadcast operands. Subclasses set ``ufunc`` and give ``partials``:
    for operand ``i``, steps writing ``dy * d y / d operand_i`` into ``out`` (of the output's shape)."""

    ufunc = None
    float_result = False

    def compute(self, a, b):
        a, b = _operand(a, b), _operand(b, a)
        out = np.empty(np.broadcast_shapes(a.shape, b.shape),
                       dtype=result_dtype([a.dtype.name, b.dtype.name], self.float_result))
        self.ufunc(a, b, out=out, casting="unsafe")
        return out

    def output_spec(self, shapes, dtypes):
        return broadcast_shapes(self, shapes), result_dtype(dtypes, self.float_result)

    def bind_forward(self, xs, y, ctx):
        a, b = xs
        ufunc = self.ufunc
        return [lambda: ufunc(a, b, out=y, casting="unsafe")]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        steps = []
        for i, dx in enumerate(dxs):
            if dx is None:
                continue
            direct = not needs_reduction(y, dx)
            out = dx if direct else ctx.scratch(f"partial{i}", y.shape)
            steps += self.partials(i, xs[0], xs[1], y, dy, out, ctx)
            if not direct:
                steps.append(reduce_to(out, dx))
        return steps


class Add(Binary):
    fused_formula = ("({0} + {1})", ("{g}", "{g}"))  # for framework.ops.fusion
    ufunc = np.add

    def partials(self, i, a, b, y, dy, out, ctx):
        return [lambda: np.copyto(out, dy)]


class Subtract(Binary):
    fused_formula = ("({0} - {1})", ("{g}", "(-{g})"))  # for framework.ops.fusion
    ufunc = np.subtract

    def partials(self, i, a, b, y, dy, out, ctx):
        return [lambda: np.copyto(out, dy)] if i == 0 else [lambda: np.negative(dy, out=out)]


class Multiply(Binary):
    fused_formula = ("({0} * {1})", ("({g} * {1})", "({g} * {0})"))  # for framework.ops.fusion
    ufunc = np.multiply

    def partials(self, i, a, b, y, dy, out, ctx):
        other = b if i == 0 else a
        return [lambda: np.multiply(dy, other, out=out)]


class Divide(Binary):
    fused_formula = ("({0} / {1})", ("({g} / {1})", "(-({g} * {y} / {1}))"))  # for framework.ops.fusion
    ufunc = np.true_divide
    float_result = True

    def partials(self, i, a, b, y, dy, out, ctx):
        if i == 0:
            return [lambda: np.divide(dy, b, out=out)]
        return [lambda: np.multiply(dy, y, out=out), lambda: np.divide(out, b, out=out),
                lambda: np.negative(out, out=out)]


class Power(Binary):
    fused_formula = (  # for framework.ops.fusion
        "({0} ** {1})", ("({0} ** ({1} - F(1.0)) * {1} * {g})", "(math.log({0}) * {y} * {g})"))
    fused_libm = True
    ufunc = np.power

    def partials(self, i, a, b, y, dy, out, ctx):
        if i == 0:  # b a^(b - 1)
            exponent = ctx.scratch("exponent", np.broadcast_shapes(np.shape(b), ()))
            return [lambda: np.subtract(b, 1, out=exponent), lambda: np.power(a, exponent, out=out),
                    lambda: np.multiply(out, b, out=out), lambda: np.multiply(out, dy, out=out)]
        return [lambda: np.log(a, out=out), lambda: np.multiply(out, y, out=out),  # y log(a)
                lambda: np.multiply(out, dy, out=out)]


class Maximum(Binary):
    fused_formula = (  # for framework.ops.fusion
        "({0} if {0} >= {1} or {0} != {0} else {1})",
        ("({g} if {0} >= {1} else F(0.0))", "({g} if {0} < {1} else F(0.0))"))
    ufunc = np.maximum

    def partials(self, i, a, b, y, dy, out, ctx):  # ties go to the first operand, as TensorFlow
        compare = np.greater_equal if i == 0 else np.less
        return [lambda: compare(a, b, out=out, casting="unsafe"), lambda: np.multiply(out, dy, out=out)]


class Minimum(Binary):
    fused_formula = (  # for framework.ops.fusion
        "({0} if {0} <= {1} or {0} != {0} else {1})",
        ("({g} if {0} <= {1} else F(0.0))", "({g} if {0} > {1} else F(0.0))"))
    ufunc = np.minimum

    def partials(self, i, a, b, y, dy, out, ctx):
        compare = np.less_equal if i == 0 else np.greater
        return [lambda: compare(a, b, out=out, casting="unsafe"), lambda: np.multiply(out, dy, out=out)]


class Comparison(Binary):
    """Comparisons and logical ops: boolean results, no gradient."""

    differentiable = False

    def output_spec(self, shapes, dtypes):
        return broadcast_shapes(self, shapes), "bool"

    def compute(self, a, b):
        return self.ufunc(np.asarray(a), np.asarray(b))

    def bind_forward(self, xs, y, ctx):
        a, b = xs
        ufunc = self.ufunc
        return [lambda: ufunc(a, b, out=y)]


def _comparison(name, ufunc):
    return type(name, (Comparison,), {"ufunc": ufunc, "__doc__": f"``{ufunc.__name__}``, elementwise, no gradient."})


Equal = _comparison("Equal", np.equal)
NotEqual = _comparison("NotEqual", np.not_equal)
Less = _comparison("Less", np.less)
LessEqual = _comparison("LessEqual", np.less_equal)
Greater = _comparison("Greater", np.greater)
GreaterEqual = _comparison("GreaterEqual", np.greater_equal)
LogicalAnd = _comparison("LogicalAnd", np.logical_and)
LogicalOr = _comparison("LogicalOr", np.logical_or)
for _cls, _symbol in ((Equal, "=="), (NotEqual, "!="), (Less, "<"), (LessEqual, "<="), (Greater, ">"),
                      (GreaterEqual, ">=")):
    _cls.fused_formula = (f"({{0}} {_symbol} {{1}})", ())  # for framework.ops.fusion (a Where's condition)


class LogicalNot(NoGradient):
    ufunc = np.logical_not

    def output_spec(self, shapes, dtypes):
        return shapes[0], "bool"

    def compute(self, x):
        return np.logical_not(x)


# ----- where, clip -----------------------------------------------------------------------------------
class Where(Operation):
    """``x1`` where ``condition`` holds, else ``x2`` (broadcast); no gradient to the condition."""
    fused_formula = (  # for framework.ops.fusion
        "({1} if {0} else {2})", (None, "({g} if {0} else F(0.0))", "(F(0.0) if {0} else {g})"))

    def compute(self, condition, x1, x2):
        return np.where(condition, x1, x2)

    def output_spec(self, shapes, dtypes):
        return broadcast_shapes(self, shapes), result_dtype(dtypes[1:])

    def bind_forward(self, xs, y, ctx):
        condition, x1, x2 = xs

        def step():
            np.copyto(y, x2)
            np.copyto(y, x1, where=condition)
        return [step]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        condition = xs[0]
        steps = [lambda: dxs[0].fill(0)] if dxs[0] is not None else []
        for i in (1, 2):
            dx = dxs[i]
            if dx is None:
                continue
            out = dx if not needs_reduction(y, dx) else ctx.scratch(f"partial{i}", y.shape)
            if i == 1:  # dy where the condition holds
                steps += [lambda out=out: out.fill(0), lambda out=out: np.copyto(out, dy, where=condition)]
            else:  # dy where it does not
                steps += [lambda out=out: np.copyto(out, dy), lambda out=out: np.copyto(out, 0, where=condition)]
            if out is not dx:
                steps.append(reduce_to(out, dx))
        return steps


class Clip(Operation):
    """``x`` limited to ``[x_min, x_max]``; the gradient flows where ``x`` was inside."""
    fused_formula = (  # for framework.ops.fusion
        "({c1} if {0} > {c1} else ({c0} if {0} < {c0} else {0}))", ("({g} if {0} == {y} else F(0.0))",))

    def __init__(self, x_min, x_max, **kwargs):
        super().__init__(**kwargs)
        self.x_min, self.x_max = float(x_min), float(x_max)

    def compute(self, x):
        return np.clip(x, self.x_min, self.x_max)

    def output_spec(self, shapes, dtypes):
        return shapes[0], dtypes[0]

    def bind_forward(self, xs, y, ctx):
        x = xs[0]
        return [lambda: np.clip(x, self.x_min, self.x_max, out=y)]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        x, dx = xs[0], dxs[0]
        if dx is None:
            return []
        inside = ctx.scratch("inside", x.shape, dtype="bool")

        def step():
            np.equal(x, y, out=inside)  # unclipped where the value did not change
            np.copyto(dx, 0)
            np.copyto(dx, dy, where=inside)
        return [step]

    def get_config(self):
        return {"x_min": self.x_min, "x_max": self.x_max}

    def fused_constants(self):
        """The values ``{c0}``, ``{c1}`` of ``fused_formula``."""
        return self.x_min, self.x_max


class Cast(Operation):
    """``x`` as ``dtype``; the gradient passes between float dtypes only."""
    fused_formula = ("({0})", ("{g}",))  # for framework.ops.fusion

    def __init__(self, dtype, **kwargs):
        super().__init__(**kwargs)
        self.dtype = np.dtype(dtype).name

    def compute(self, x):
        return np.asarray(x).astype(self.dtype)

    def output_spec(self, shapes, dtypes):
        return shapes[0], self.dtype

    def bind_forward(self, xs, y, ctx):
        x = xs[0]
        return [lambda: np.copyto(y, x, casting="unsafe")]

    def bind_backward(self, xs, y, dy, dxs, ctx):
        dx = dxs[0]
        if dx is None:
            return []
        if y.dtype.kind != "f":
            return [lambda: dx.fill(0)]
        return [lambda: np.copyto(dx, dy, casting="unsafe")]

    def get_config(self):
        return {"dtype": self.dtype}
