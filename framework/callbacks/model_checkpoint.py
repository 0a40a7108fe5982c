"""``ModelCheckpoint``: save the model or its weights during training."""
import os
import re
import string
import warnings

from framework.callbacks.callback import REGISTRY, Callback, _print_msg
from framework.callbacks.monitor_callback import _check_mode, _MonitorMixin


@REGISTRY.register("ModelCheckpoint")
class ModelCheckpoint(_MonitorMixin, Callback):
    """Save the model (or only its weights) during training.

    Args:
        filepath: where to save; may name ``{epoch}`` (1-based) and log keys with format specs,
            e.g. ``"ckpt/model-{epoch:02d}-{val_loss:.3f}.fw"``; what a field fills in cannot
            add a folder (``fill_filepath``). Saves are atomic.
        monitor, mode: what "best" means for ``save_best_only`` (as EarlyStopping).
        save_best_only: save only when the monitored value improves on the best so far.
        save_weights_only: write ``model.save_weights`` files instead of whole models.
        save_freq: ``"epoch"``, or a number of batches between saves.
        initial_value_threshold: the value the monitored quantity must beat before the first save.
        verbose: 1 prints a line per save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive integer, received {save_freq!r}")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _check_mode("ModelCheckpoint", mode, "ModelCheckpoint mode {mode} is unknown, fallback to auto mode.")
        self.save_freq, self.initial_value_threshold = save_freq, initial_value_threshold
        self.best, self.monitor_op, self.min_delta = initial_value_threshold, None, 0.0
        self._epoch, self._batches = 0, 0

    def get_config(self):
        return {"filepath": self.filepath, "monitor": self.monitor, "verbose": self.verbose,
                "save_best_only": self.save_best_only, "save_weights_only": self.save_weights_only,
                "mode": self.mode, "save_freq": self.save_freq, "initial_value_threshold": self.initial_value_threshold}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        path = fill_filepath(self.filepath, epoch=epoch + 1, batch=batch, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available; available: "
                              f"{','.join(logs)}", stacklevel=3)
                return
            if self.monitor_op is None:
                self._set_monitor_op()
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    _print_msg(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best}")
                return
            if self.verbose > 0:
                _print_msg(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {current}, "
                           f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            _print_msg(f"Epoch {epoch + 1}: saving model to {path}")
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)


def fill_filepath(filepath, **fields):
    """``filepath`` with ``{epoch}`` and log keys filled in. What a field fills in stays inside its
    file or folder name: a value that would add a folder or a ``..`` (through a format spec such as
    ``{epoch:/>8}``) is an error, so a checkpoint lands where the pattern says."""
    try:
        path = filepath.format(**fields)
        skeleton = "".join(text + ("x" if name is not None else "")
                           for text, name, _, _ in string.Formatter().parse(filepath))
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise ValueError(f"ModelCheckpoint: cannot fill in filepath {filepath[:200]!r} ({e!r}); available "
                         f"fields: {', '.join(fields)}") from None
    parts, expected = _parts(path), _parts(skeleton)
    if len(parts) != len(expected) or any(p in ("..", ".") and e != p for p, e in zip(parts, expected)):
        raise ValueError(f"ModelCheckpoint: filling in filepath {filepath[:200]!r} gave {path[:200]!r}, which adds "
                         "folders; fields must fill in names only")
    return path


def _parts(path):
    """The names between path separators."""
    return re.split("[" + re.escape(os.sep + (os.altsep or "")) + "]", path)
