"""Validating a run config as a whole: every section checked, the model built symbolically and
the objects constructed once (in a sandbox), every problem reported together, in line order.

``load_run_config`` (a file) and ``run_config_from_data`` (plain data) read, apply the
overrides and validate; ``validate_run_config`` validates a ``RawConfig``. Each gives a
``RunConfig`` or raises ``ConfigError``.
"""
import copy
import os
from pathlib import Path

from framework.plan.memory import human_bytes, memory_limit
from framework.runs.building import build_model, compile_args, instantiate, model_signature, output_paths, structure
from framework.runs.catalog import suggestion
from framework.runs.checker import is_int
from framework.runs.combination_checks import check_downloads, check_one_hot_loss, check_plateau_with_schedule
from framework.runs.confinement import check_callback_paths, check_output, run_folder
from framework.runs.messages import describe, error_text
from framework.runs.model_checks import ModelChecks
from framework.runs.overrides import apply_overrides
from framework.runs.plugins import import_config_plugins
from framework.runs.raw import RawConfig, read_run_config
from framework.runs.run_config import RunConfig
from framework.runs.sandbox import sandbox
from framework.runs.specs import FAILED
from framework.runs.training_checks import TrainingChecks
from framework.runs.yaml_source import ConfigError, Locations
from framework.training.data import output_classes


class RunChecker(ModelChecks, TrainingChecks):
    """The checks of every section of a run config (model, compile, data and fit) on one problem list.

    Args:
        raw: the ``RawConfig`` being checked.
    """


def load_run_config(path, overrides=None, output=None):
    """Read ``path`` safely, apply ``--set``-style ``overrides`` and validate: a ``RunConfig``.
    ``output`` (the command line's ``--output``) replaces the config's run folder.

    Raises ConfigError listing every problem (``file:line: message``) before any work is done.
    """
    raw = read_run_config(path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return validate_run_config(raw, output)


def run_config_from_data(data, base_dir=None, overrides=None, output=None):
    """A ``RunConfig`` from plain data (e.g. ``resolved()`` output); relative data paths are taken
    from ``base_dir`` (default: the current directory). Problems name '<config>' without lines."""
    raw = RawConfig(copy.deepcopy(data), Locations("<config>"))
    if base_dir is not None:
        raw.path = Path(base_dir) / "config.yaml"
    if overrides:
        raw = apply_overrides(raw, overrides)
    config = validate_run_config(raw, output)
    return config


def validate_run_config(raw, output=None):
    """A ``RunConfig`` from a ``RawConfig``, or ConfigError listing every problem. ``output`` (a
    folder the user chose, as ``--output``) replaces the config's ``output``; what the config says
    about where to write is confined (``framework.runs.confinement``)."""
    checker = RunChecker(raw)
    data = raw.data
    if not isinstance(data, dict):
        checker.report((), f"a run config is a mapping (model, compile, data, fit, ...), received {describe(data)}")
        raise ConfigError(checker.problems)
    import_config_plugins(data, checker.report)  # first: the classes they register may be named below
    if checker.problems:
        raise ConfigError(_in_order(checker.problems))
    checker.section(data, (), "top")
    base_dir = Path(os.path.abspath(raw.path)).parent if raw.path is not None else Path.cwd()
    model_spec = checker.model(data["model"]) if "model" in data else None
    output_names = None
    if model_spec is not None:
        output_names = model_spec["output_names"] if model_spec["form"] == "functional" else None
    elif isinstance(data.get("model"), dict) and isinstance(data["model"].get("outputs"), (list, str)):
        outs = data["model"]["outputs"]
        output_names = [outs] if isinstance(outs, str) else [o for o in outs if isinstance(o, str)]
    compile_spec = checker.compile(data["compile"], output_names) if "compile" in data else None
    data_spec = checker.data(data["data"], base_dir) if "data" in data else None
    fit_spec = checker.fit(data.get("fit", {})) if data.get("fit") is not None else {"callbacks": []}
    seed = data.get("seed")
    if seed is not None:
        checker.integer(seed, ("seed",), 0, allow_none=True)
    written = data.get("output")
    if written is not None and (not isinstance(written, str) or not written):
        checker.report(("output",), f"output must be a folder path, received {describe(written)}")
    check_output(checker.report, raw, output)
    folder = run_folder(written if isinstance(written, str) and written else None, raw.path, output)
    if fit_spec is not None:
        check_callback_paths(checker.report, raw.locations, fit_spec["callbacks"], folder)
    if "description" in data and data["description"] is not None and not isinstance(data["description"], str):
        checker.report(("description",), f"description must be text, received {describe(data['description'])}")

    signature = None
    with sandbox():  # weights are symbolic: shapes and counts, no memory
        model = build_model(model_spec, checker.report) if model_spec is not None else None
        before = len(checker.problems)
        _check_objects(checker, compile_spec or {}, fit_spec)
        if model is not None:
            signature = model_signature(model)
            _check_sizes(checker, signature)
            _check_class_weight(checker, data.get("fit"), signature)
            if compile_spec is not None and len(checker.problems) == before:
                try:  # losses against output shapes, metrics per output, ...
                    model.compile(**compile_args(compile_spec))
                except Exception as e:
                    checker.report(("compile",), f"compile: {error_text(e)}")
    if signature is not None and data_spec is not None:
        _check_data_options(checker, data_spec, signature)
        check_one_hot_loss(checker, compile_spec, data_spec, signature)
    check_plateau_with_schedule(checker, compile_spec, fit_spec)
    check_downloads(checker, data_spec)
    if checker.problems:
        raise ConfigError(_in_order(checker.problems))
    return RunConfig(raw, model_spec, compile_spec, data_spec, fit_spec, signature, folder)


def _in_order(problems):
    """Problems of the file by line, then those of overrides (stable otherwise)."""
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _check_objects(checker, compile_spec, fit_spec):
    """Construct the optimizer, losses, metrics and callbacks once, reporting constructor errors."""
    def attempt(entry):
        if entry is None or entry is FAILED or entry.obj is None:
            return
        try:
            instantiate(entry, output_paths(entry, Path("output")))
        except Exception as e:
            checker.report(entry.path, f"invalid arguments for {entry.kind} {entry.name}: {error_text(e)}")

    attempt(compile_spec.get("optimizer"))
    for key in ("loss", "metrics", "weighted_metrics"):
        structure(compile_spec.get(key), attempt)
    for entry in (fit_spec or {}).get("callbacks", []):
        attempt(entry)


def _check_data_options(checker, spec, signature):
    """The data options that depend on the built model: reshape (one input only), one_hot's output names."""
    inputs, outputs = signature["inputs"], signature["outputs"]
    if spec.get("reshape") is not None and len(inputs) > 1:
        checker.report(("data", "reshape"), "data.reshape is for single-input models; this model has inputs "
                                            + ", ".join(n for n, _ in inputs))
    one_hot = spec.get("one_hot")
    if isinstance(one_hot, dict):
        for name in one_hot:
            if name not in outputs:
                checker.report(("data", "one_hot", name), f"unknown output {name!r} in data.one_hot; "
                               + suggestion(name, outputs, "outputs"), key=True)


def _check_sizes(checker, signature):
    """The weights all together must fit in memory (each alone was checked as it was declared)."""
    limit = memory_limit()
    if signature["weight_bytes"] > limit:
        checker.report(("model",), f"the model's {signature['parameters']:,} parameters need "
                                   f"{human_bytes(signature['weight_bytes'])}, more than the {human_bytes(limit)} of "
                                   "memory this machine has; declare smaller layers")


def _check_class_weight(checker, fit, signature):
    """fit.class_weight keys are class indices of the (single) output."""
    weights = fit.get("class_weight") if isinstance(fit, dict) else None
    if not isinstance(weights, dict) or not all(is_int(k) for k in weights):
        return
    shapes = signature["output_shapes"]
    if len(shapes) != 1:
        checker.report(("fit", "class_weight"), "fit.class_weight is for single-output models; this model has "
                                                f"{len(shapes)} outputs")
        return
    classes = output_classes((None,) + tuple(shapes[0]))
    for key in weights:
        if classes is not None and key >= classes:
            checker.report(("fit", "class_weight", key), f"class {key} in fit.class_weight is out of range: the "
                           f"output has {classes} classes, so keys lie in [0, {classes - 1}]", key=True)
