"""Checking data against a model before any work: ``check_data`` (training and evaluation data,
the model compiled) and ``check_inputs`` (inputs for predict).

``fit`` checks shapes, sample counts, dtypes and class weights as it starts; what it leaves to the
training steps (a label a sparse loss cannot use stops training at the batch that holds it) or does not
check at all, because Keras does not (a NaN target, a label of 2 for a binary crossentropy), is checked
here, over the whole data, once. ``framework train`` runs it before it writes anything to the run
folder, so a data mistake is a clear message and exit code 2, never a traceback in the middle of a run.
"""
import numpy as np

from framework.losses.probabilistic_losses import (BinaryCrossentropy, BinaryFocalCrossentropy,
                                                   CategoricalCrossentropy, CategoricalFocalCrossentropy,
                                                   SparseCategoricalCrossentropy)

_PROBABILITY_TARGETS = (BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
                        CategoricalFocalCrossentropy)


def check_data(model, x, y, sample_weight=None, class_weight=None):
    """Raise ValueError (or TypeError) naming what is wrong when ``(x, y)`` cannot train or evaluate
    the compiled ``model``: the checks of ``fit`` (structure, shapes, sample counts, dtypes that do
    not fit an input, class weights) and, per output, targets that are not finite or that its loss
    cannot use (sparse labels outside ``[0, classes)``, binary / categorical targets outside [0, 1]).
    Nothing is trained; the model's weights are not touched."""
    xs, ys, _ = model._prepare(x, y, sample_weight, class_weight)
    if len(xs[0]) == 0:
        raise ValueError("The data has no samples (0 rows)")
    for name, spec, output, target in zip(model.output_names, model._training_setup(), model.outputs, ys):
        if target is not None:
            check_targets(target, spec.loss, output.shape, name)


def check_inputs(model, x):
    """Raise ValueError (or TypeError) when ``x`` cannot be given to ``model`` (what ``predict``
    checks: structure, shapes, sample counts, values an integer input cannot hold)."""
    model._prepare(x, need_targets=False)


def check_targets(y, loss, output_shape, name):
    """Targets ``y`` of one output against its loss (see ``check_data``)."""
    flat = y.reshape(len(y), -1)
    if flat.dtype.kind == "f":
        finite = np.isfinite(flat)
        if not finite.all():
            sample = int(np.flatnonzero(~finite.all(axis=1))[0])
            value = flat[sample][~finite[sample]][0]
            raise ValueError(f"Output '{name}': the target of sample {sample} is {value}; targets must be finite")
    if isinstance(loss, SparseCategoricalCrossentropy):
        classes = output_shape[-1]
        bad = flat != np.round(flat) if flat.dtype.kind == "f" else np.zeros(flat.shape, bool)
        bad |= flat < 0
        if classes is not None:
            bad |= flat >= classes
        if loss.ignore_class is not None:
            bad &= flat != loss.ignore_class
        if bad.any():
            sample = int(np.flatnonzero(bad.any(axis=1))[0])
            value = flat[sample][bad[sample]][0].item()
            allowed = f"an integer in [0, {classes - 1}]" if classes is not None else "an integer >= 0"
            raise ValueError(f"Output '{name}' (loss {loss.name}): the label of sample {sample} is {value}; with "
                             f"{classes} classes a label is {allowed}"
                             + (f" or {loss.ignore_class}" if loss.ignore_class is not None else ""))
    elif isinstance(loss, _PROBABILITY_TARGETS):
        bad = (flat < 0) | (flat > 1)
        if bad.any():
            sample = int(np.flatnonzero(bad.any(axis=1))[0])
            value = flat[sample][bad[sample]][0].item()
            hint = "; for class indices use sparse_categorical_crossentropy" if \
                isinstance(loss, (CategoricalCrossentropy, CategoricalFocalCrossentropy)) else \
                "; for more than two classes use a softmax output and sparse_categorical_crossentropy"
            raise ValueError(f"Output '{name}' (loss {loss.name}): the target of sample {sample} is {value}; its "
                             f"targets are probabilities in [0, 1]{hint}")
