"""Learning curves: loss and each metric per epoch, training and validation, of one or several run
folders (the ``history.csv`` that ``framework train`` and ``CSVLogger`` write), one panel per metric."""
import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from framework.utils.plots.drawing import PlotInputError, figure_class, output_format, save

HISTORY_FILE = "history.csv"
MAX_HISTORY_BYTES = 64 * 2**20  # a history of a million epochs is still far below this
VALIDATION_PREFIX = "val_"


class RunHistory:
    """The per-epoch values of one run.

    Args:
        label: how the run is named in legends.
        epochs: the epoch numbers, counted from 1, a float array.
        columns: log key -> float array (NaN where the file says ``NA`` or holds no number).
    """

    def __init__(self, label, epochs, columns):
        self.label, self.epochs, self.columns = label, epochs, columns

    def metrics(self):
        """The plotted names: each log key without ``val_``, in file order, ``loss`` first."""
        names = []
        for key in self.columns:
            name = key[len(VALIDATION_PREFIX):] if key.startswith(VALIDATION_PREFIX) else key
            if name not in names:
                names.append(name)
        return sorted(names, key=lambda n: n != "loss")


def read_history(folder, label=None):
    """The ``history.csv`` of a run folder (or a CSV file given directly) as a ``RunHistory``.

    Raises PlotInputError naming the folder when it holds no history, or the file is not one."""
    folder = Path(os.fspath(folder))
    path = folder if folder.is_file() else folder / HISTORY_FILE
    if not folder.exists():
        raise PlotInputError(f"{folder}: no such run folder")
    if not path.is_file():
        raise PlotInputError(f"{folder}: no {HISTORY_FILE} in this folder (framework train writes one into each "
                             "run folder; a CSVLogger file can be given directly)")
    size = path.stat().st_size
    if size > MAX_HISTORY_BYTES:
        raise PlotInputError(f"{path}: {size:,} bytes is more than a history holds (at most {MAX_HISTORY_BYTES:,})")
    with open(path, "rb") as f:
        text = f.read(MAX_HISTORY_BYTES + 1).decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not rows[0] or rows[0][0] != "epoch":
        raise PlotInputError(f"{path}: not a training history (the first column of its header must be 'epoch')")
    header, body = rows[0], [r for r in rows[1:] if r]
    if not body:
        raise PlotInputError(f"{path}: the history holds no epoch yet")
    values = np.full((len(body), len(header)), np.nan)
    for i, row in enumerate(body):
        for j, cell in enumerate(row[:len(header)]):
            values[i, j] = _number(cell)
    epochs = values[:, 0] + 1 if not np.isnan(values[:, 0]).any() else np.arange(1, len(body) + 1, dtype=float)
    columns = {key: values[:, j] for j, key in enumerate(header) if j and not np.isnan(values[:, j]).all()}
    if not columns:
        raise PlotInputError(f"{path}: the history holds no numeric column besides 'epoch'")
    return RunHistory(label if label is not None else (folder.name or str(folder)), epochs, columns)


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _labels(folders):
    """Each folder's name, or the path as given where names repeat."""
    names = [Path(os.fspath(f)).resolve().name or os.fspath(f) for f in folders]
    return [n if names.count(n) == 1 else os.fspath(f) for n, f in zip(names, folders)]


def plot_learning_curves(folders, to_file="learning_curves.png", metrics=None, dpi=100):
    """Write learning curves of run folders to a PNG: one panel per metric (``loss`` and each metric),
    the training value as a solid line and the validation value (``val_*``) dashed, one colour per run,
    epochs on the x axis.

    Args:
        folders: run folders (each with a ``history.csv``), or history CSV files.
        to_file: the PNG to write.
        metrics: the names to plot (without ``val_``), e.g. ``["loss", "accuracy"]``; None: every one.
        dpi: resolution of the PNG.

    Returns:
        The list of metric names plotted.
    """
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    if not folders:
        raise PlotInputError("give at least one run folder")
    file_format = output_format(to_file, (".png",), "--output")
    runs = [read_history(f, label) for f, label in zip(folders, _labels(folders))]
    available = []
    for run in runs:
        available += [m for m in run.metrics() if m not in available]
    chosen = _chosen(metrics, available)
    figure = _draw(runs, chosen)
    save(figure, to_file, dpi, file_format)
    return chosen


def _chosen(metrics, available):
    if metrics is None:
        return available
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not metrics:
        raise PlotInputError(f"--metrics names no metric; the histories have: {', '.join(available)}")
    for name in metrics:
        bare = name[len(VALIDATION_PREFIX):] if name.startswith(VALIDATION_PREFIX) else name
        if bare not in available:
            raise PlotInputError(f"unknown metric {name!r}; the histories have: {', '.join(available)}")
    return list(dict.fromkeys(m[len(VALIDATION_PREFIX):] if m.startswith(VALIDATION_PREFIX) else m for m in metrics))


def _draw(runs, metrics):
    Figure = figure_class()
    columns = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / columns)
    figure = Figure(figsize=(5.0 * columns, 3.6 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, metric in zip(axes, metrics):
        for run, colour in zip(runs, colours):
            prefix = f"{run.label} " if len(runs) > 1 else ""
            marker = "o" if len(run.epochs) <= 40 else None
            for key, style, kind in ((metric, "-", "train"), (VALIDATION_PREFIX + metric, "--", "validation")):
                if key in run.columns:
                    ax.plot(run.epochs, run.columns[key], linestyle=style, color=colour, marker=marker,
                            markersize=3, label=prefix + kind)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    return figure
