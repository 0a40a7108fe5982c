"""Variable updates in a traced ``call()``: ``self.total.assign_add(ops.sum(x, axis=0))``.

``variable.assign(value)`` (and ``assign_add`` / ``assign_sub``) with a symbolic ``value`` adds an
``AssignVariable`` node: its forward step writes the variable's array in place, in every step of every
plan the layer is in (training and inference alike, as Keras runs ``call()``), at the node's place in
the schedule. The node is kept with the trace, like an ``add_loss`` term, so it runs although no
output depends on it. Updates have no gradient; only non-trainable variables (running statistics,
counters) may be updated this way, as training owns the trainable ones.
"""
import numpy as np

from framework.graph.shapes import format_shape
from framework.ops.operation import Operation, OpError

_UFUNCS = {"add": np.add, "subtract": np.subtract}


class AssignVariable(Operation):
    """Writes its value operand into its variable operand: ``mode`` 'assign', 'add' or 'subtract'.
    Its output is the variable's new value.

    Args:
        mode: 'assign' (copy), 'add' or 'subtract' (in place).
    """

    differentiable = False

    def __init__(self, mode="assign", name=None):
        super().__init__(name)
        if mode not in ("assign", "add", "subtract"):
            raise ValueError(f"AssignVariable: mode must be 'assign', 'add' or 'subtract', received {mode!r}")
        self.mode = mode

    def output_spec(self, shapes, dtypes):
        value, target = shapes
        if tuple(value) != tuple(target):
            raise OpError(f"Op '{self.name}' (AssignVariable): a value of shape {format_shape(value)} cannot update "
                          f"variable '{self.weights[0].path}' of shape {format_shape(target)}"
                          + ("; reduce over the batch first (ops.mean(x, axis=0))" if value and value[0] is None
                             else ""))
        return tuple(target), dtypes[1]

    def compute(self, value, target):
        raise TypeError("AssignVariable runs in a plan; on arrays, variable.assign() writes at once")

    def bind_forward(self, xs, y, ctx):
        value, target = xs
        ufunc = _UFUNCS.get(self.mode)

        def step():
            if ufunc is None:
                np.copyto(target, value, casting="unsafe")
            else:
                ufunc(target, value, out=target, casting="unsafe")
            np.copyto(y, target, casting="unsafe")
        return [step]

    def get_config(self):
        return {"mode": self.mode}
