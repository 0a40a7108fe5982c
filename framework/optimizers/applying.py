"""``optimizer.apply(grads, variables)`` and ``apply_gradients(zip(grads, variables))``: an update of any
list of variables, for custom training steps.

The variables are updated by the optimizer's one fused kernel over a contiguous run of parameters,
as in ``fit``: a list that already lies back to back in a parameter arena (``model.trainable_variables``,
``generator.trainable_weights``) is updated where it is; any other list (a GAN's or a VAE's two models'
weights together) is gathered into a private run, updated there and copied back, so no variable moves
and no model's plans are rebuilt. Gradients are copied into one flat buffer laid out like the run, the
kernel runs, then the variables' constraints.
The binding is kept for the next call with the same variables; an optimizer updates one set of
variables (its slots, Adam's m and v, belong to that set).
"""
import numpy as np

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
        if run is not None and run[0].dtype == dtype:
            arena, start, stop = run
            self.params, self.gathered = arena.values[start:stop], None
        else:  # a private run: gathered before each update, copied back after
            self.params = np.empty(sum(v.value.size for v in variables), dtype=dtype)
            self.gathered = gradient_views(self.variables, self.params)
        self.grads = np.zeros(self.params.size, dtype=self.params.dtype)
        self.views = gradient_views(self.variables, self.grads)
        offsets = np.cumsum([0] + [v.value.size for v in variables])
        self.step = optimizer.bind(self.params, self.grads, list(zip(offsets[:-1].tolist(), offsets[1:].tolist())))
        self.constraints = [v.constraint.bind(v.value) for v in variables if v.constraint is not None]

    def fits(self, variables):
        return [id(v) for v in variables] == self.ids and all(v.version == k for v, k in zip(variables, self.versions))


def apply(optimizer, grads, variables):
    """Update ``variables`` from ``grads`` (one array per variable, None to leave it out)."""
    grads, variables = list(grads), list(variables)
    if len(grads) != len(variables):
        raise ValueError(f"{type(optimizer).__name__}.apply: {len(grads)} gradients for {len(variables)} variables")
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    if not pairs:
        return
    for g, v in pairs:
        if not hasattr(v, "value"):
            raise TypeError(f"{type(optimizer).__name__}.apply: expected variables, received {type(v).__name__}")
        if np.shape(g) != v.shape:
            raise ValueError(f"{type(optimizer).__name__}.apply: gradient of shape {np.shape(g)} for variable "
                             f"'{v.path}' of shape {v.shape}")
    variables = [v for _, v in pairs]
    run = optimizer.__dict__.get("_applied_run")
    if run is None or not run.fits(variables):
        if run is not None and set(run.ids) != {id(v) for v in variables}:
            raise ValueError(f"{type(optimizer).__name__} '{optimizer.name}' already updates another set of "
                             f"{len(run.ids)} variables; use one optimizer per set of variables (its slots belong "
                             "to that set), e.g. a generator's and a discriminator's optimizer in a GAN")
        run = optimizer.__dict__["_applied_run"] = AppliedRun(optimizer, variables)
    for view, (g, _) in zip(run.views, pairs):
        np.copyto(view, g, casting="unsafe")
    if run.gathered is not None:
        for view, var in zip(run.gathered, run.variables):
            np.copyto(view, var.value, casting="unsafe")
    run.step()
    if run.gathered is not None:
        for view, var in zip(run.gathered, run.variables):
            np.copyto(var.value, view, casting="unsafe")
    for constrain in run.constraints:
        constrain()
