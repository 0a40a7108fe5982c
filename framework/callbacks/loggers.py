"""Callbacks that record the epoch logs: ``History`` (returned by fit) and ``CSVLogger`` (a CSV file).
The progress display, ``ProgbarLogger``, is in progbar.py."""
import collections
import collections.abc
import csv
import os

import numpy as np

from framework.callbacks.callback import REGISTRY, Callback


@REGISTRY.register("History")
class History(Callback):
    """Records epoch logs: ``history.history['loss']`` etc., and ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def get_config(self):
        return {}


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


@REGISTRY.register("CSVLogger")
class CSVLogger(Callback):
    """Stream epoch logs to a CSV file: ``epoch`` first, then the first epoch's keys sorted.

    Values are written by Python's ``csv`` module (floats as ``repr``), missing keys as ``NA``,
    1-D iterables as ``"[a, b]"``; rows end with ``\\r\\n`` (the csv 'excel' dialect) and the file
    is flushed after each epoch. ``append=True`` continues an existing file, writing the header
    only when the file is empty or absent. A log key holding a control character (a metric named
    with a newline, which would start a line of its own in the file) is an error; text values
    have theirs escaped.

    Args:
        filename: path of the CSV file.
        separator: the field delimiter.
        append: append to an existing file instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def get_config(self):
        return {"filename": self.filename, "separator": self.sep, "append": self.append}

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            is_zero_dim_ndarray = isinstance(k, np.ndarray) and k.ndim == 0
            if isinstance(k, str):
                return _printable(k)
            if isinstance(k, collections.abc.Iterable) and not is_zero_dim_ndarray:
                return f'"[{", ".join(map(str, k))}]"'
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
            # validation metrics the model is expected to produce (Keras checks model.metrics_names)
            try:
                expected = list(getattr(self.model, "metrics_names", None) or [])
            except Exception:
                expected = []
            for name in expected:
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
            _check_header(self.keys)

        if not self.writer:
            class CustomDialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + (self.keys or []),
                                         dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()

        row = collections.OrderedDict({"epoch": epoch})
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _has_control(text):
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _check_header(keys):
    """Log keys become the CSV header: refuse control characters (a newline would start a new line)."""
    for key in keys:
        if not isinstance(key, str) or _has_control(key):
            raise ValueError(f"CSVLogger: the log key {repr(key)[:200]} holds control characters (or is not text); "
                             "name metrics and outputs with plain text")


def _printable(text):
    """A text value with its control characters escaped (``\\n`` written as two characters)."""
    return text.encode("unicode_escape").decode("ascii") if _has_control(text) else text
