"""``optimizer.apply(grads, variables)`` and ``apply_gradients(zip(grads, variables))``: an update of any
list of variables, for custom training steps.

The variables are updated by the optimizer's one fused kernel over a contiguous run of parameters,
as in ``fit``: a list that already lies back to back in a parameter arena (``model.trainable_variables``,
``generator.trainable_weights``) is updated where it is; any other list (a GAN's or a VAE's two models'
weights together) is gathered into a private run, updated there and copied back, so no variable moves
and no model's plans are rebuilt.

The kernel reads the gradients as one flat array laid out like the run. Gradients that already lie so,
back to back in one buffer of the run's dtype (what ``GradientTape.gradient`` hands back for a model's
weights: views of one new flat buffer), are read where they are; others are first copied into the
run's own flat buffer. Then the variables' constraints run.
The binding is kept for the next call with the same variables (their checks are not made again); an
optimizer updates one set of variables (its slots, Adam's m and v, belong to that set).
"""
import numpy as np

from framework.plan import handed_gradients
from framework.plan.arena import contiguous_run, gradient_views


class AppliedRun:
    """An optimizer bound to one list of variables.

    Args:
        optimizer: the optimizer.
        variables: the variables it updates, in order.
    """

    def __init__(self, optimizer, variables):
        dtype = np.result_type(*[v.value.dtype for v in variables])
        run = contiguous_run(variables)
        self.variables = list(variables)
        self.ids = [id(v) for v in variables]
        self.versions = [v.version for v in variables]
        self.shapes = [tuple(v.value.shape) for v in variables]
        if run is not None and run[0].dtype == dtype:
            arena, start, stop = run
            self.params, self.gathered = arena.values[start:stop], None
        else:  # a private run: gathered before each update, copied back after
            self.params = np.empty(sum(v.value.size for v in variables), dtype=dtype)
            self.gathered = gradient_views(self.variables, self.params)
        self.grads = np.zeros(self.params.size, dtype=self.params.dtype)
        self.views = gradient_views(self.variables, self.grads)
        offsets = np.cumsum([0] + [v.value.size for v in variables])
        self.offsets = offsets[:-1].tolist()  # of each variable's gradient in the flat layout, in elements
        self.step = optimizer.bind(self.params, self.grads, list(zip(offsets[:-1].tolist(), offsets[1:].tolist())))
        self.constraints = [v.constraint.bind(v.value) for v in variables if v.constraint is not None]

    def fits(self, variables):
        return [id(v) for v in variables] == self.ids and all(v.version == k for v, k in zip(variables, self.versions))

    def flat_source(self, grads):
        """The 1-D span of one buffer in which ``grads`` lie back to back, in this run's layout and dtype,
        to update from where they are; None when they do not lie so."""
        first = grads[0]
        base = first.base if type(first) is np.ndarray else None
        dtype = self.grads.dtype
        if type(base) is not np.ndarray or base.ndim != 1 or base.dtype != dtype or not base.flags.c_contiguous \
                or base is self.params.base or base is self.params:  # never the weights themselves
            return None
        start = handed_gradients.offset_of(first)
        if start is not None:  # views a gradient tape handed out: their offsets are known
            for g, offset in zip(grads, self.offsets):
                if g.base is not base or g.dtype != dtype or not g.flags.c_contiguous \
                        or handed_gradients.offset_of(g) != start + offset:
                    return None
        elif not self._lie_back_to_back(grads, base):
            return None
        else:
            start = (first.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // dtype.itemsize
        return base[start:start + self.grads.size]

    def _lie_back_to_back(self, grads, base):
        """Whether ``grads``, views of ``base``, lie back to back in this run's layout (by their addresses)."""
        dtype, itemsize = self.grads.dtype, self.grads.itemsize
        origin = base.__array_interface__["data"][0]
        start = grads[0].__array_interface__["data"][0] - origin
        if start % itemsize:
            return False
        for g, offset in zip(grads, self.offsets):
            if g.base is not base or g.dtype != dtype or not g.flags.c_contiguous \
                    or g.__array_interface__["data"][0] - origin != start + offset * itemsize:
                return False
        return True


def apply(optimizer, grads, variables):
    """Update ``variables`` from ``grads`` (one array per variable, None to leave it out)."""
    grads, variables = list(grads), list(variables)
    name = type(optimizer).__name__
    if len(grads) != len(variables):
        raise ValueError(f"{name}.apply: {len(grads)} gradients for {len(variables)} variables")
    run = optimizer.__dict__.get("_applied_run")
    if run is None or any(g is None for g in grads) or not run.fits(variables):
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            return
        for g, v in pairs:
            if not hasattr(v, "value"):
                raise TypeError(f"{name}.apply: expected variables, received {type(v).__name__}")
            _check_shape(name, g, v.shape, v)
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        run = _bound_run(optimizer, variables)
    else:  # the variables of the kept binding, checked when it was made: the gradients' shapes only
        for g, shape, var in zip(grads, run.shapes, run.variables):
            if getattr(g, "shape", None) != shape:  # an array of the right shape passes at once
                _check_shape(name, g, shape, var)
    flat = run.flat_source(grads)
    if flat is None:
        for view, g in zip(run.views, grads):
            np.copyto(view, g, casting="unsafe")
    if run.gathered is not None:
        for view, var in zip(run.gathered, run.variables):
            np.copyto(view, var.value, casting="unsafe")
    if flat is None:
        run.step()
    else:
        run.step(flat)
    if run.gathered is not None:
        for view, var in zip(run.gathered, run.variables):
            np.copyto(var.value, view, casting="unsafe")
    for constrain in run.constraints:
        constrain()


def _check_shape(name, gradient, shape, variable):
    if np.shape(gradient) != shape:
        raise ValueError(f"{name}.apply: gradient of shape {np.shape(gradient)} for variable '{variable.path}' of "
                         f"shape {variable.shape}")


def _bound_run(optimizer, variables):
    """The optimizer's binding to ``variables``: the one it keeps, or a new one (refused when it already
    updates another set of variables)."""
    run = optimizer.__dict__.get("_applied_run")
    if run is None or not run.fits(variables):
        if run is not None and set(run.ids) != {id(v) for v in variables}:
            raise ValueError(f"{type(optimizer).__name__} '{optimizer.name}' already updates another set of "
                             f"{len(run.ids)} variables; use one optimizer per set of variables (its slots belong "
                             "to that set), e.g. a generator's and a discriminator's optimizer in a GAN")
        run = optimizer.__dict__["_applied_run"] = AppliedRun(optimizer, variables)
    return run
