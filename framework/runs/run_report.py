"""The end of ``framework train``: what happened, in a few lines.

    Epochs: 12 of 30 (stopped early by EarlyStopping at epoch 12; weights restored from epoch 7)
    Best val_loss: 0.0812 at epoch 7
    Time: 14.2 s
    Saved model.fw, history.csv and config.yaml in runs/digits_mlp

The monitored value is the one a callback watches (EarlyStopping's, ModelCheckpoint's or
ReduceLROnPlateau's ``monitor``), else ``val_loss`` when the run validates, else ``loss``; its
values come from the run's ``history.csv`` (so epochs before a resume count too). Epochs are
numbered from 1, as the progress display numbers them.
"""
import csv
import math
import operator
import os
from pathlib import Path

MONITORING = ("EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau")
MAX_HISTORY_BYTES = 64 * 2**20  # a history.csv larger than this is not read for the best value
_UP_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "r2", "iou", "cosine")


def read_history(path):
    """``{column: [float or None, ...]}`` from a CSVLogger file (``{}`` when absent, unreadable or too big)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_HISTORY_BYTES:
            return {}
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return {}
    columns = {}
    for row in rows:
        for key, text in row.items():
            if key is None:
                continue
            try:
                value = float(text)
            except (TypeError, ValueError):
                value = None
            columns.setdefault(key, []).append(value if value is None or math.isfinite(value) else None)
    return columns


def _monitoring_callback(callbacks):
    for callback in callbacks:
        if type(callback).__name__ in MONITORING and isinstance(getattr(callback, "monitor", None), str):
            return callback
    return None


def _maximizes(name, callback):
    """True when higher values of ``name`` are better (the callback's own decision when it made one)."""
    op = getattr(callback, "monitor_op", None)
    if op in (operator.gt, operator.lt):
        return op is operator.gt
    mode = getattr(callback, "mode", "auto")
    if mode in ("min", "max"):
        return mode == "max"
    bare = name[4:] if name.startswith("val_") else name
    return not bare.endswith("loss") and any(word in bare.lower() for word in _UP_WORDS)


def monitored(callbacks, columns):
    """``(name, maximize, callback or None)``: the value to report the best of."""
    callback = _monitoring_callback(callbacks)
    if callback is not None:
        return callback.monitor, _maximizes(callback.monitor, callback), callback
    name = "val_loss" if "val_loss" in columns else "loss"
    return name, False, None


def best_value(columns, name, maximize):
    """``(value, epoch from 1)`` of the best recorded ``name``, or None."""
    values = columns.get(name) or []
    epochs = columns.get("epoch") or list(range(len(values)))
    found = [(v, int(e) if e is not None else i) for i, (v, e) in enumerate(zip(values, epochs)) if v is not None]
    if not found:
        return None
    value, epoch = (max if maximize else min)(found, key=lambda pair: pair[0])
    return value, epoch + 1


def _seconds(seconds):
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {rest:02d} s" if hours else f"{minutes} min {rest:02d} s"


def _stop_reason(callbacks, epochs_run, planned, interrupted):
    if interrupted:
        return "interrupted"
    for callback in callbacks:
        if type(callback).__name__ == "EarlyStopping" and getattr(callback, "stopped_epoch", 0) > 0:
            reason = f"stopped early by EarlyStopping at epoch {callback.stopped_epoch + 1}"
            if callback.restore_best_weights and callback.best_weights is not None:
                reason += f"; weights restored from epoch {callback.best_epoch + 1}"
            return reason
    if epochs_run < planned:
        return "stopped early"  # another callback set model.stop_training (TerminateOnNaN, a user's)
    return "completed"


def report_lines(*, callbacks, planned_epochs, epochs_done, seconds, folder, files, resumed_from=0,
                 interrupted=False):
    """The report's lines.

    Args:
        callbacks: the callbacks ``fit`` ran with (their state after fit says why it stopped).
        planned_epochs: ``fit.epochs``.
        epochs_done: the epochs the model has completed (including those before a resume).
        seconds: wall time of this command's training.
        folder: the run folder.
        files: the names of the files written in it (``history.csv`` among them is read).
        resumed_from: the epochs done by the checkpoint this run resumed from (0 for none).
        interrupted: True when Ctrl-C ended training.
    """
    folder = Path(folder)
    columns = read_history(folder / "history.csv")
    epochs = f"Epochs: {epochs_done} of {planned_epochs}"
    if resumed_from:
        epochs += f", {resumed_from} before resuming"
    lines = [f"{epochs} ({_stop_reason(callbacks, epochs_done, planned_epochs, interrupted)})"]
    name, maximize, _ = monitored(callbacks, columns)
    best = best_value(columns, name, maximize)
    if best is not None:
        lines.append(f"Best {name}: {best[0]:.4f} at epoch {best[1]} ({'highest' if maximize else 'lowest'})")
    lines.append(f"Time: {_seconds(seconds)}")
    names = [f for f in files if (folder / f).exists()]
    if names:
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        lines.append(f"{'Kept' if interrupted else 'Saved'} {listed} in {_shown(folder)}")
    return lines


def _shown(folder):
    """``folder`` relative to the current directory when inside it."""
    try:
        relative = os.path.relpath(folder)
    except ValueError:  # another drive
        return str(folder)
    return str(folder) if relative.startswith("..") else relative
