"""Where ``framework train`` writes, and what it does with a checkpoint it finds there.

* A folder *holds a finished run* when it has a ``model.fw`` and no checkpoint
  (``backup/backup.fw``). A new run never replaces one silently: when the folder a config names
  (its ``output``, or ``runs/<config name>``) holds a finished run, the run goes to the first of
  ``<folder>-2``, ``<folder>-3``, ... that does not (so an interrupted numbered run is found
  again by the same command); a folder named with ``--output`` is an error instead (the user
  chose that folder); ``--overwrite`` writes over the finished run.
* A checkpoint in the folder (left by Ctrl-C or a kill) is resumed by default, with a line
  saying so; ``--fresh`` discards it and starts over; ``--resume`` requires one.
* Before resuming, the checkpoint is read into the model the config builds, so one that does
  not fit it (changed layer sizes, another optimizer) is an error saying how to start fresh,
  instead of a failure inside ``fit``.

Every refusal is a ``RunFolderError`` (the command line's exit code 2).
"""
import shutil
from pathlib import Path

from framework.callbacks.backup_and_restore import BackupAndRestore
from framework.saving.archive import restore_checkpoint
from framework.saving.members import ArchiveError, ArchiveReader

BACKUP_FOLDER = "backup"
MODEL_FILE = "model.fw"
MAX_NUMBER = 10_000  # <folder>-2 ... <folder>-9999 are tried


class RunFolderError(ValueError):
    """The run folder or its checkpoint cannot be used as asked; the message says what to do.

    Args:
        message: one line: what is wrong and the option that fixes it.
    """


def backup_file(folder):
    """The checkpoint file of the run folder ``folder``."""
    return Path(folder) / BACKUP_FOLDER / BackupAndRestore.FILENAME


def holds_finished_run(folder):
    """True when ``folder`` has a ``model.fw`` and no checkpoint."""
    return (Path(folder) / MODEL_FILE).is_file() and not backup_file(folder).is_file()


def choose_folder(folder, explicit=False, overwrite=False):
    """``(folder to write, note or None)`` for a run whose configured folder is ``folder``.

    Args:
        folder: the folder the config (or ``--output``) names, an absolute ``Path``.
        explicit: True when the user named it with ``--output``: a finished run there is an error.
        overwrite: write into ``folder`` even when it holds a finished run.
    """
    folder = Path(folder)
    if overwrite or not holds_finished_run(folder):
        return folder, None
    if explicit:
        raise RunFolderError(f"{folder} holds a finished run ({MODEL_FILE}); add --overwrite to replace it, or "
                             "choose another --output")
    for number in range(2, MAX_NUMBER):
        candidate = folder.with_name(f"{folder.name}-{number}")
        if not holds_finished_run(candidate):
            return candidate, (f"{folder} holds a finished run; this run writes to {candidate} "
                               "(--overwrite replaces the finished run instead)")
    raise RunFolderError(f"{folder}-2 to {folder}-{MAX_NUMBER - 1} all hold finished runs; use --overwrite or "
                         "--output")


def checkpoint_action(folder, resume=False, fresh=False):
    """``'resume'``, ``'fresh'`` (a checkpoint to discard) or ``'new'`` (none there).

    Args:
        folder: the run folder.
        resume: ``--resume``: a missing checkpoint is an error.
        fresh: ``--fresh``: discard a checkpoint.
    """
    exists = backup_file(folder).is_file()
    if resume and fresh:
        raise RunFolderError("--resume and --fresh exclude each other")
    if resume and not exists:
        raise RunFolderError(f"--resume: there is no checkpoint in {folder} (no {backup_file(folder)}); run "
                             "without --resume to start a new run")
    if not exists:
        return "new"
    return "fresh" if fresh else "resume"


def _one_line(error):
    return " ".join(str(error).split()) or type(error).__name__


def check_checkpoint(model, folder):
    """Read the checkpoint of ``folder`` into ``model`` (built and compiled from the config) as
    ``fit`` will; RunFolderError naming the first difference when it does not fit. Returns the
    number of epochs the checkpoint has done."""
    path = backup_file(folder)
    advice = "; run again with --fresh to discard it and start over"
    try:
        with ArchiveReader(path) as archive:
            metadata = archive.yaml("metadata.yaml")
    except (ArchiveError, OSError) as e:
        raise RunFolderError(f"{path}: cannot read the checkpoint ({_one_line(e)}){advice}") from None
    described = metadata.get("weights") if isinstance(metadata, dict) else None
    if isinstance(described, list):
        variables = model.weights
        if len(described) != len(variables):
            raise RunFolderError(f"{path}: the checkpoint does not match the config: it holds {len(described)} "
                                 f"weights, the config's model has {len(variables)}{advice}")
        for entry, variable in zip(described, variables):
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if not isinstance(shape, list) or tuple(shape) != tuple(variable.shape):
                raise RunFolderError(f"{path}: the checkpoint does not match the config: {variable.path} has shape "
                                     f"{tuple(shape) if isinstance(shape, list) else shape} in the checkpoint and "
                                     f"{tuple(variable.shape)} in the config{advice}")
    try:  # the rest (optimizer slots, training state) exactly as BackupAndRestore will read it
        restore_checkpoint(model, path)
    except (ValueError, OSError) as e:  # ArchiveError is a ValueError
        raise RunFolderError(f"the checkpoint does not match the config: {_one_line(e)}{advice}") from None
    return model.epochs_done


def discard_checkpoint(folder):
    """Remove the checkpoint folder of ``folder`` (``--fresh``)."""
    shutil.rmtree(Path(folder) / BACKUP_FOLDER, ignore_errors=True)
