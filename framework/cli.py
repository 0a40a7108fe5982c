"""The ``framework`` command: train, evaluate, predict, summary and validate.

    framework train CONFIG [--set fit.epochs=3 ...] [--output DIR] [--verbose 0|1|2]
    framework evaluate MODEL --data SOURCE
    framework predict MODEL --data INPUT.npy --output OUT.npy
    framework summary CONFIG|MODEL
    framework validate CONFIG

Exit codes: 0 success, 1 a failure while running, 2 an invalid config, arguments or data,
130 interrupted (after saving a resumable checkpoint). Errors print one message, without a
traceback; ``--traceback`` (or ``FRAMEWORK_TRACEBACK=1``) prints the stack too.
"""
import argparse
import os
import sys
import traceback
from pathlib import Path

import numpy as np
import yaml

from framework import callbacks
from framework.config.bounded_yaml import load_yaml, read_yaml_file
from framework.runs import ConfigError, load_run_config
from framework.runs.data_sources import DataLoadError, SourceChecker, load_source
from framework.training.data_checks import check_data, check_inputs
from framework.saving import load_model
from framework.utils import set_random_seed

CONFIG_SUFFIXES = (".yaml", ".yml")
TRACEBACK_ENV = "FRAMEWORK_TRACEBACK"
MESSAGE_LIMIT = 2000  # characters of an unexpected error's message that are printed


class CommandError(Exception):
    """A user-facing error: printed without a traceback.

    Args:
        message: what went wrong, as the user should read it.
        code: the exit code (2 for an invalid config, arguments or data; 1 otherwise).
    """

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def _load_config(path, overrides=None, output=None):
    try:
        return load_run_config(path, overrides=overrides, output=None if output is None else Path(output).resolve())
    except ConfigError as e:
        raise CommandError(str(e), code=2) from None


def _load_model(path):
    try:
        return load_model(path)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such model file", code=2) from None
    except ValueError as e:
        raise CommandError(str(e), code=2) from None


def _warn_preprocessing(model_path):
    """The run config's data.scale / normalize are not part of the saved model: say so."""
    config = Path(model_path).with_name("config.yaml")
    try:
        data = (read_yaml_file(config) or {}).get("data") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return
    steps = [f"{k}={data[k]}" for k in ("reshape", "scale", "normalize") if data.get(k) is not None]
    if steps:
        print(f"note: {config} processed the training data ({', '.join(steps)}); --data is used as given, "
              "so give data processed the same way", file=sys.stderr)


def _data(text):
    """``(x, y)`` from a ``--data`` value: a .npz/.csv path, or a YAML data-source mapping such as
    ``"{dataset: digits, split: test}"`` (the forms of a config's ``data`` section)."""
    try:
        value = load_yaml(text, "--data") if text.lstrip().startswith("{") else text
    except ValueError as e:
        raise CommandError(str(e), code=2) from None
    problems = []
    source = SourceChecker(Path.cwd(), lambda path, message, key=False: problems.append(message)).check(
        value, ("--data",), "test")
    if problems or source is None:
        raise CommandError("--data: " + "; ".join(problems or ["not a data source"]), code=2)
    try:
        return load_source(source, default_split="test")
    except (DataLoadError, OSError, ValueError, KeyError) as e:
        raise CommandError(f"--data: cannot load the data: {_short(e)}", code=2) from None


def _short(error, limit=MESSAGE_LIMIT):
    """An exception's message (its class name when it has none), cut to ``limit`` characters."""
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text) - limit} more characters)"


def _checked(what, check, *args, **kwargs):
    """Run a data check; its ValueError / TypeError becomes exit code 2 with ``what`` in front."""
    try:
        return check(*args, **kwargs)
    except (ValueError, TypeError) as e:
        raise CommandError(f"{what}: {_short(e)}", code=2) from None


# ----- commands ------------------------------------------------------------------------------
def cmd_validate(args):
    config = _load_config(args.config, args.set)
    try:
        unchecked = config.check_local_data()
    except ConfigError as e:
        raise CommandError(str(e), code=2) from None
    print(f"{args.config}: valid ({config.layer_count} layers, {config.parameters:,} parameters; "
          f"inputs {', '.join(config.input_names)}; outputs {', '.join(config.output_names)})")
    if unchecked:
        print(f"note: the data of {', '.join(unchecked)} was not checked: it would be downloaded; "
              "framework train checks it before training", file=sys.stderr)


def cmd_summary(args):
    if Path(args.target).suffix.lower() in CONFIG_SUFFIXES:
        model = _load_config(args.target).build_model()
    else:
        model = _load_model(args.target)
    model.summary()


def cmd_train(args):
    config = _load_config(args.config, args.set, args.output)
    output = config.output
    if config.seed is not None:
        set_random_seed(config.seed)
    model = config.build_model()
    model.compile(**config.compile_args())
    try:  # the data is checked before anything is written to the run folder
        data = x, y, validation, test = config.load_data()
        config.check_data(model, data)
    except ConfigError as e:
        raise CommandError(str(e), code=2) from None
    output.mkdir(parents=True, exist_ok=True)
    (output / "config.yaml").write_text(config.to_yaml())
    fit_args = config.fit_args()
    backup = callbacks.BackupAndRestore(output / "backup", delete_checkpoint=False)  # deleted after model.fw
    resuming = (output / "backup" / backup.FILENAME).exists()
    if resuming:
        print(f"Resuming from the checkpoint in {output / 'backup'}", file=sys.stderr)
    fit_args["callbacks"] = [backup, callbacks.CSVLogger(str(output / "history.csv"), append=resuming)] + \
        list(fit_args.get("callbacks") or [])
    if args.verbose is not None:
        fit_args["verbose"] = args.verbose
    try:
        model.fit(x, y, validation_data=validation, **fit_args)
    except KeyboardInterrupt:
        print(f"\nInterrupted. The last completed epoch is saved in {output / 'backup'}; run the same command "
              "again to resume exactly where it stopped.", file=sys.stderr)
        return 130
    model.save(output / "model.fw")
    backup.delete_backup()  # only now: a kill before this line still leaves a resumable run
    if (output / "backup").is_dir() and not any((output / "backup").iterdir()):
        (output / "backup").rmdir()
    print(f"Saved {output / 'model.fw'}, {output / 'history.csv'} and {output / 'config.yaml'}")
    if test is not None:
        logs = model.evaluate(*test, verbose=0, return_dict=True)
        print("Test: " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    return 0


def cmd_evaluate(args):
    model = _load_model(args.model)
    if not model.compiled:
        raise CommandError(f"{args.model}: the model was saved without compile settings; nothing to evaluate", 2)
    _warn_preprocessing(args.model)
    x, y = _data(args.data)
    _checked("--data", check_data, model, x, y)
    logs = model.evaluate(x, y, batch_size=args.batch_size, verbose=args.verbose, return_dict=True)
    print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))


def cmd_predict(args):
    model = _load_model(args.model)
    _warn_preprocessing(args.model)
    if args.data.lower().endswith(".npy"):
        try:
            x = np.load(args.data, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CommandError(f"--data: cannot read {args.data}: {_short(e)}", code=2) from None
    else:
        x, _ = _data(args.data)
    _checked("--data", check_inputs, model, x)
    predictions = model.predict(x, batch_size=args.batch_size, verbose=args.verbose)
    if isinstance(predictions, dict):
        np.savez(args.output, **predictions)
    elif isinstance(predictions, list):
        np.savez(args.output, **{name: p for name, p in zip(model.output_names, predictions)})
    else:
        np.save(args.output, predictions)
    print(f"Wrote predictions for {len(x) if not isinstance(x, (list, dict)) else 'the'} samples to {args.output}")


# ----- parser ----------------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(prog="framework", description="Train and use models described in YAML.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true",
                        help=f"on an error, print the Python traceback too (or set {TRACEBACK_ENV}=1)")

    train = commands.add_parser("train", parents=[common], help="train the model a run config describes",
                                description="Validate CONFIG, train, and write model.fw, history.csv and the "
                                            "resolved config.yaml to the output folder. Ctrl-C keeps a checkpoint; "
                                            "the same command resumes from it.")
    train.add_argument("config", help="run config (YAML)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. fit.epochs=3 (repeatable)")
    train.add_argument("--output", help="output folder (default: the config's output, or runs/<config name>)")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), help="progress: 0 silent, 1 bars, 2 a line per epoch")
    train.set_defaults(run=cmd_train)

    evaluate = commands.add_parser("evaluate", parents=[common], help="loss and metrics of a saved model on data",
                                   description="Evaluate a saved model (model.fw) on data.")
    evaluate.add_argument("model", help="model file written by train or model.save")
    evaluate.add_argument("--data", required=True, help="a .npz (x, y) or .csv file, or a source mapping such "
                                                        "as '{dataset: digits, split: test}'")
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--verbose", type=int, choices=(0, 1), default=0)
    evaluate.set_defaults(run=cmd_evaluate)

    predict = commands.add_parser("predict", parents=[common], help="predictions of a saved model",
                                  description="Predict with a saved model and write the outputs as .npy "
                                              "(.npz for several outputs).")
    predict.add_argument("model", help="model file")
    predict.add_argument("--data", required=True, help="inputs: a .npy file, or a data source as for evaluate")
    predict.add_argument("--output", required=True, help="where to write the predictions (.npy)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--verbose", type=int, choices=(0, 1), default=0)
    predict.set_defaults(run=cmd_predict)

    summary = commands.add_parser("summary", parents=[common], help="layers, shapes, parameters and FLOPs",
                                  description="Print the summary of the model a config describes, or of a model file.")
    summary.add_argument("target", help="a run config (.yaml) or a model file")
    summary.set_defaults(run=cmd_summary)

    validate = commands.add_parser("validate", parents=[common], help="check a run config and report every problem",
                                   description="Validate CONFIG: every problem is reported as file:line: message.")
    validate.add_argument("config", help="run config (YAML)")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a value")
    validate.set_defaults(run=cmd_validate)
    return parser


def main(argv=None):
    """Run the command in ``argv``; the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    show_stack = args.traceback or os.environ.get(TRACEBACK_ENV, "") not in ("", "0")
    try:
        return args.run(args) or 0
    except Exception as e:  # every error becomes a message and an exit code, never a bare traceback
        code, message = _exit_code_and_message(e, show_stack)
        error = e
    except KeyboardInterrupt as e:
        code, message, error = 130, "Interrupted.", e
    if show_stack:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    print(message, file=sys.stderr)
    return code


def _exit_code_and_message(error, show_stack):
    if isinstance(error, CommandError):
        return error.code, str(error)
    if isinstance(error, ConfigError):
        return 2, str(error)
    if isinstance(error, MemoryError):
        return 1, f"error: out of memory ({_short(error)})"
    message = f"error: {type(error).__name__}: {_short(error)}"
    if not show_stack:
        message += f"\n(run again with --traceback, or {TRACEBACK_ENV}=1, to see where it happened)"
    return 1, message


if __name__ == "__main__":
    sys.exit(main())
