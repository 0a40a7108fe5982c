"""The ``framework`` command: train, evaluate, predict, summary, validate, plot, plot-model, export and
compile-kernels.

    framework train CONFIG [--set fit.epochs=3 ...] [--output DIR] [--overwrite] [--resume | --fresh]
                           [--import MODULE ...] [--print-config] [--verbose 0|1|2] [--distribute]
    framework evaluate MODEL --data SOURCE
    framework predict MODEL --data INPUT.npy --output OUT.npy
    framework summary CONFIG|MODEL
    framework validate CONFIG [--import MODULE ...]
    framework --version
    framework plot RUN_DIR [RUN_DIR ...] [--output FILE.png] [--metrics loss,accuracy]
    framework plot-model CONFIG|MODEL [--output FILE.png|FILE.svg]
    framework export MODEL --format onnx --output FILE.onnx
    framework compile-kernels [--dtype float32|float64] [--seconds N] [--quiet]

Exit codes: 0 success, 1 a failure while running, 2 an invalid config, arguments or data,
130 interrupted (after saving a resumable checkpoint). Errors print one message, without a
traceback; ``--traceback`` (or ``FRAMEWORK_TRACEBACK=1``) prints the stack too.
"""
import argparse
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import yaml

from framework import __version__, callbacks, distribute
from framework.config.bounded_yaml import load_yaml, read_yaml_file
from framework.runs import ConfigError, load_run_config
from framework.runs.data_sources import DataLoadError, SourceChecker, load_source
from framework.runs import plugins, run_folder, run_report
from framework.runs.preprocessing import has_front_layers
from framework.training.data_checks import check_data, check_inputs
from framework.saving import load_model
from framework.utils import plots, set_random_seed

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


def _warn_preprocessing(model_path, model):
    """Say so when the run config next to a model processed its data and the model does not do it
    (a model saved before runs put data.reshape / scale / normalize at the front of their models)."""
    if has_front_layers(model):
        return
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
    _import_modules(args.imports)
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
    _import_modules(args.imports)
    if Path(args.target).suffix.lower() in CONFIG_SUFFIXES:
        model = _load_config(args.target).build_model()
    else:
        model = _load_model(args.target)
    model.summary()


def _import_modules(names):
    """Import the modules of ``--import`` (user code registering classes); exit code 2 on failure."""
    for name in names or []:
        problem = plugins.import_problem(name)
        if problem is not None:
            raise CommandError(f"--import {name}: {problem}", code=2)


def _in_run_folder(step, *args, **kwargs):
    """A ``framework.runs.run_folder`` step; its refusal is exit code 2."""
    try:
        return step(*args, **kwargs)
    except run_folder.RunFolderError as e:
        raise CommandError(str(e), code=2) from None


def cmd_train(args):
    if args.distribute:  # under mpirun -n N: every process trains, rank 0 prints and writes (docs/distributed.md)
        distribute.initialize()
    writes = distribute.is_rank_zero()
    _import_modules(args.imports)
    config = _load_config(args.config, args.set, args.output)
    config.plugins += [name for name in args.imports if name not in config.plugins]
    output, note = _in_run_folder(run_folder.choose_folder, config.output, explicit=args.output is not None,
                                  overwrite=args.overwrite)
    config.output = output  # callbacks' files and the resolved config follow it
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0
    action = _in_run_folder(run_folder.checkpoint_action, output, resume=args.resume, fresh=args.fresh)
    if config.seed is not None:
        set_random_seed(config.seed)
    try:  # the data first (the model's front layers take its shapes and statistics), checked before writing
        data = x, y, validation, test = config.load_data()
        model = config.build_model()
        model.compile(**config.compile_args())
        config.check_data(model, data)
    except ConfigError as e:
        raise CommandError(str(e), code=2) from None
    fit_args = config.fit_args()
    resumed_from = 0
    if action == "resume":  # read into the model now: a checkpoint of another config fails here, not in fit
        resumed_from = _in_run_folder(run_folder.check_checkpoint, model, output)
    if writes:
        if note:
            print(note, file=sys.stderr)
        if action == "fresh":
            run_folder.discard_checkpoint(output)
            print(f"Discarded the checkpoint in {output / 'backup'} (--fresh); starting over", file=sys.stderr)
        elif action == "resume":
            print(f"Resuming from the checkpoint in {output / 'backup'}: {resumed_from} of {fit_args['epochs']} "
                  "epochs done (--fresh starts over instead)", file=sys.stderr)
        output.mkdir(parents=True, exist_ok=True)
        (output / "config.yaml").write_text(config.to_yaml())
    backup = callbacks.BackupAndRestore(output / "backup", delete_checkpoint=False)  # deleted after model.fw
    user_callbacks = list(fit_args.get("callbacks") or [])
    fit_args["callbacks"] = [backup, callbacks.CSVLogger(str(output / "history.csv"), append=action == "resume")] \
        + user_callbacks
    if args.verbose is not None:
        fit_args["verbose"] = args.verbose
    report = dict(callbacks=user_callbacks, planned_epochs=fit_args["epochs"], folder=output, resumed_from=resumed_from)
    started = time.monotonic()
    try:
        model.fit(x, y, validation_data=validation, **fit_args)
    except KeyboardInterrupt:
        if not writes:
            return 130
        print(f"\nInterrupted. The last completed epoch is saved in {output / 'backup'}; run the same command "
              "again to resume exactly where it stopped.", file=sys.stderr)
        for line in run_report.report_lines(**report, epochs_done=model.epochs_done, interrupted=True,
                                            seconds=time.monotonic() - started, files=["history.csv", "config.yaml"]):
            print(line, file=sys.stderr)
        return 130
    seconds = time.monotonic() - started
    if not writes:
        return 0
    model.save(output / "model.fw")
    backup.delete_backup()  # only now: a kill before this line still leaves a resumable run
    if (output / "backup").is_dir() and not any((output / "backup").iterdir()):
        (output / "backup").rmdir()
    if test is not None:
        logs = model.evaluate(*test, verbose=0, return_dict=True)
        print("Test: " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    for line in run_report.report_lines(**report, epochs_done=model.epochs_done, seconds=seconds,
                                        files=["model.fw", "history.csv", "config.yaml"]):
        print(line)
    return 0


def cmd_evaluate(args):
    model = _load_model(args.model)
    if not model.compiled:
        raise CommandError(f"{args.model}: the model was saved without compile settings; nothing to evaluate", 2)
    _warn_preprocessing(args.model, model)
    if args.confusion_matrix:
        _picture(plots.check_confusion_request, model, args.confusion_matrix)
    x, y = _data(args.data)
    _checked("--data", check_data, model, x, y)
    logs = model.evaluate(x, y, batch_size=args.batch_size, verbose=args.verbose, return_dict=True)
    print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if args.confusion_matrix:  # checked before the data was loaded
        _picture(plots.model_confusion_matrix, model, x, y, args.confusion_matrix, args.batch_size)
        print(f"Wrote {args.confusion_matrix}")


def cmd_predict(args):
    model = _load_model(args.model)
    _warn_preprocessing(args.model, model)
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


def _picture(draw, *args, **kwargs):
    """Draw a picture (framework.utils.plots): input it cannot draw is exit code 2, a missing matplotlib 1."""
    try:
        return draw(*args, **kwargs)
    except plots.PlotInputError as e:
        raise CommandError(str(e), code=2) from None
    except plots.MissingExtraError as e:
        raise CommandError(str(e), code=1) from None


def cmd_plot(args):
    output = args.output or (str(Path(args.run_dirs[0]) / "learning_curves.png") if len(args.run_dirs) == 1
                             else "learning_curves.png")
    shown = _picture(plots.plot_learning_curves, args.run_dirs, output, args.metrics)
    print(f"Wrote {output} ({', '.join(shown)} of {len(args.run_dirs)} run{'s' * (len(args.run_dirs) > 1)})")


def cmd_plot_model(args):
    _picture(plots.output_format, args.output, (".png", ".svg", ".pdf"), "--output")
    _picture(plots.figure_class)  # a missing matplotlib is said before the model is built
    model = _load_config(args.target).build_model() if Path(args.target).suffix.lower() in CONFIG_SUFFIXES \
        else _load_model(args.target)
    _picture(plots.plot_model, model, args.output, show_shapes=not args.no_shapes, show_dtype=args.show_dtype,
             show_layer_names=not args.hide_layer_names, rankdir=args.rankdir, expand_nested=args.expand_nested,
             dpi=args.dpi, show_layer_activations=args.show_layer_activations, show_trainable=args.show_trainable)
    print(f"Wrote {args.output}")


def cmd_export(args):
    """A saved model (or a config's untrained model) written for another runtime (framework.export)."""
    from framework.export import ExportError, export_model
    model = _load_config(args.target).build_model() if Path(args.target).suffix.lower() in CONFIG_SUFFIXES \
        else _load_model(args.target)
    try:
        export_model(model, args.output, args.format, verbose=True)
    except ExportError as e:
        raise CommandError(str(e), code=2) from None
    except ImportError as e:
        raise CommandError(str(e)) from None


def cmd_compile_kernels(args):
    from framework.runs.kernel_warmup import DTYPES, warm_kernels

    def report(dtype, name, seconds, error):
        if not args.quiet or error:
            status = f"failed: {error}" if error else f"{seconds:.1f} s"
            print(f"{dtype} {name}: {status}", flush=True)
    start = time.monotonic()
    deadline = None if args.seconds is None else start + args.seconds
    failed = warm_kernels(args.dtype or DTYPES, deadline, report)
    if not args.quiet:
        print(f"kernels compiled and cached in {time.monotonic() - start:.1f} s")
    return 1 if failed else 0


# ----- parser ----------------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(prog="framework", description="Train and use models described in YAML.")
    parser.add_argument("--version", action="version", version=f"framework {__version__}")
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
    train.add_argument("--output", help="output folder (default: the config's output, or runs/<config name>; "
                                        "when that holds a finished run, the first free <folder>-2, -3, ...)")
    _add_run_folder_options(train)
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), help="progress: 0 silent, 1 bars, 2 a line per epoch")
    train.add_argument("--distribute", action="store_true",
                       help="data-parallel training over MPI: run as mpirun -n N framework train CONFIG --distribute")
    train.set_defaults(run=cmd_train)

    evaluate = commands.add_parser("evaluate", parents=[common], help="loss and metrics of a saved model on data",
                                   description="Evaluate a saved model (model.fw) on data.")
    evaluate.add_argument("model", help="model file written by train or model.save")
    evaluate.add_argument("--data", required=True, help="a .npz (x, y) or .csv file, or a source mapping such "
                                                        "as '{dataset: digits, split: test}'")
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--verbose", type=int, choices=(0, 1), default=0)
    evaluate.add_argument("--confusion-matrix", metavar="FILE.png", help="for a classifier: also write its "
                                                                         "confusion matrix on the data as a PNG")
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
    _add_import_option(summary)
    summary.set_defaults(run=cmd_summary)

    validate = commands.add_parser("validate", parents=[common], help="check a run config and report every problem",
                                   description="Validate CONFIG: every problem is reported as file:line: message.")
    validate.add_argument("config", help="run config (YAML)")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a value")
    _add_import_option(validate)
    validate.set_defaults(run=cmd_validate)
    _add_plot_commands(commands, common)
    export = commands.add_parser("export", parents=[common], help="write a model for another runtime (ONNX)",
                                 description="Write a saved model as an ONNX file (docs/interop.md).")
    export.add_argument("target", help="a model file (or a run config: its untrained model)")
    export.add_argument("--format", default="onnx", choices=("onnx",), help="the format (default onnx)")
    export.add_argument("--output", required=True, help="the file to write, e.g. model.onnx")
    export.set_defaults(run=cmd_export)
    warm = commands.add_parser("compile-kernels", parents=[common], help="compile and cache the Numba kernels now",
                               description="Compile the kernels of the built-in layers, losses, metrics and "
                                           "optimizers into Numba's disk cache, so the first run after install "
                                           "does not pay for it (about 2 minutes on one core).")
    warm.add_argument("--dtype", action="append", choices=("float32", "float64"),
                      help="compile for this dtype only (repeatable; default both)")
    warm.add_argument("--seconds", type=float, help="start no more work after this many seconds")
    warm.add_argument("--quiet", action="store_true", help="print only failures")
    warm.set_defaults(run=cmd_compile_kernels)
    return parser


def _add_import_option(command):
    command.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                         help="import this module first (e.g. mypackage.layers), so the classes it registers with "
                              "register_serializable can be named in the config (repeatable)")


def _add_run_folder_options(train):
    """train's options about the run folder, a checkpoint in it, user code and the resolved config."""
    train.add_argument("--overwrite", action="store_true",
                       help="write into the output folder even when it holds a finished run (model.fw)")
    checkpoint = train.add_mutually_exclusive_group()
    checkpoint.add_argument("--resume", action="store_true",
                            help="resume from the checkpoint in the output folder; an error when there is none "
                                 "(without --resume or --fresh a checkpoint is resumed, and said so)")
    checkpoint.add_argument("--fresh", action="store_true",
                            help="discard a checkpoint in the output folder and start over")
    _add_import_option(train)
    train.add_argument("--print-config", action="store_true",
                       help="print the fully resolved config (overrides applied, defaults filled in) and exit")


def _add_plot_commands(commands, common):
    """``plot`` and ``plot-model`` (pictures need matplotlib: pip install "framework[plots]")."""
    plot = commands.add_parser("plot", parents=[common], help="learning curves of runs as a PNG",
                               description="Draw loss and metrics per epoch (training solid, validation dashed) "
                                           "from the history.csv of each run folder, several runs overlaid.")
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folder written by train (or a history CSV)")
    plot.add_argument("--output", metavar="FILE.png", help="default: RUN_DIR/learning_curves.png for one run, "
                                                           "learning_curves.png here for several")
    plot.add_argument("--metrics", help="comma-separated names to draw, e.g. loss,accuracy (default: all)")
    plot.set_defaults(run=cmd_plot)
    graph = commands.add_parser("plot-model", parents=[common], help="the model's graph as a PNG, SVG or PDF",
                                description="Draw the layers of the model a config describes, or of a model file, "
                                            "with their shapes and connections.")
    graph.add_argument("target", help="a run config (.yaml) or a model file")
    graph.add_argument("--output", default="model.png", help="FILE.png, FILE.svg or FILE.pdf (default: model.png)")
    graph.add_argument("--no-shapes", action="store_true", help="leave out input and output shapes")
    graph.add_argument("--show-dtype", action="store_true", help="show each layer's output dtype")
    graph.add_argument("--show-layer-activations", action="store_true", help="show activations")
    graph.add_argument("--show-trainable", action="store_true", help="show whether each layer trains")
    graph.add_argument("--hide-layer-names", action="store_true", help="show classes only")
    graph.add_argument("--expand-nested", action="store_true", help="draw the layers of nested models")
    graph.add_argument("--rankdir", choices=("TB", "LR"), default="TB", help="top to bottom or left to right")
    graph.add_argument("--dpi", type=int, default=200, help="resolution of a PNG (default 200)")
    graph.set_defaults(run=cmd_plot_model)


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
    if distribute.size() > 1:  # the other processes would wait for this one forever
        distribute.abort(message.splitlines()[0], code)
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
