"""Where a run config may write, and which names may reach files.

A config can come from anywhere (a download, a colleague), so what it says is confined; what the user
types on the command line (``--output``, ``--set``) is not:

* the run folder (``output``) is a folder inside the current directory or inside the config file's
  folder; the config file's own folder only when it holds a run already (a ``config.yaml`` next to
  ``model.fw``, ``history.csv`` or ``backup/``: the resolved config ``framework train`` wrote there);
* the files callbacks write (``CSVLogger`` filename, ``ModelCheckpoint`` filepath,
  ``BackupAndRestore`` backup_dir, any ``log_dir``) are relative paths inside the run folder: an
  absolute path, ``~``, a ``..`` or a symbolic link out of it, and hidden names (``.bashrc``) are errors;
* names that become CSV headers, log keys or file names (a layer's, metric's or loss's ``name``
  argument, node and input names, the model's name) are plain identifiers (``SAFE_NAME``).

Each problem is reported at its line, as every other validation problem.
"""
import os
import re
import string
from pathlib import Path

from framework.runs.messages import dotted

#: callback arguments naming files or folders the callback writes
OUTPUT_PATH_ARGUMENTS = ("filename", "filepath", "log_dir", "backup_dir")
#: names that may reach log keys, CSV headers and file names
SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
NAME_RULE = ("a name starts with a letter or '_' and continues with letters, digits, '_', '.' or '-' "
             "(at most 128 characters)")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RUN_FILES = ("model.fw", "history.csv", "backup")


def quoted(value, limit=200):
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def name_problem(value, what):
    """A message when ``value`` is not a safe name (see ``SAFE_NAME``), else None."""
    if isinstance(value, str) and SAFE_NAME.fullmatch(value):
        return None
    return f"{what} {quoted(value)} is not allowed: {NAME_RULE}"


def from_command_line(locations, path):
    """True when the value at ``path`` was given by a ``--set`` argument."""
    source, _ = locations.where(path)
    return isinstance(source, str) and source.startswith("--set ")


def run_folder(output, config_path, override=None):
    """The run's folder as an absolute path: ``override`` (``--output``), else the config's ``output``
    (relative to the current directory), else ``runs/<config file name>``."""
    if override is not None:
        output = override
    elif output is None:
        output = Path("runs") / (Path(config_path).stem if config_path is not None else "run")
    return Path(os.path.abspath(os.path.expanduser(os.fspath(output))))


def _inside(path, folder, strict):
    try:
        relative = Path(path).relative_to(folder)
    except ValueError:
        return None
    return None if strict and not relative.parts else relative


def _holds_a_run(folder):
    return (folder / "config.yaml").is_file() and any((folder / name).exists() for name in _RUN_FILES)


def check_output(report, raw, override=None):
    """Report a config's ``output`` that names a folder outside the places a config may write."""
    value = raw.data.get("output") if isinstance(raw.data, dict) else None
    if override is not None or not isinstance(value, str) or not value or from_command_line(raw.locations, ("output",)):
        return
    folder = Path(os.path.realpath(run_folder(value, raw.path)))
    anchors = [Path(os.path.realpath(Path.cwd()))]
    own = Path(os.path.realpath(Path(raw.path).resolve().parent)) if raw.path is not None else None
    if own is not None:
        anchors.append(own)
    if folder == own and _holds_a_run(own):
        return  # a resolved config in the run folder it was written to
    inside = [r for r in (_inside(folder, a, strict=True) for a in anchors) if r is not None]
    if any(not any(p.startswith(".") for p in r.parts) for r in inside):
        return
    if inside:
        hidden = next(p for p in inside[0].parts if p.startswith("."))
        report(("output",), f"output {quoted(value)} goes through the hidden folder {quoted(hidden)}; a config's "
                            "run folder has no hidden parts")
        return
    places = "the current folder" + (" or the config file's folder" if raw.path is not None else "")
    report(("output",), f"output {quoted(value)} is the folder {quoted(str(folder))}, which is not inside {places}; "
                        "a config may only name a run folder there (for a folder elsewhere, pass --output DIR or "
                        "--set output=DIR on the command line)")


def check_callback_paths(report, locations, entries, folder):
    """Report callback file arguments that are not relative paths inside the run ``folder``."""
    real_folder = Path(os.path.realpath(folder))
    for entry in entries:
        if entry is None or entry.kind != "callback":
            continue
        for key in OUTPUT_PATH_ARGUMENTS:
            if key not in entry.args:
                continue
            path = entry.path + (entry.name, key)
            if from_command_line(locations, path):
                continue
            message = path_problem(entry.args[key], real_folder, entry.name == "ModelCheckpoint")
            if message:
                report(path, f"{dotted(path)}: {message} (for a path elsewhere, give it on the command line: "
                             f"--set {'.'.join(map(str, path))}=PATH)")


def path_problem(value, folder, formatted=False):
    """Why ``value`` is not a path a config may write inside ``folder`` (None when it is)."""
    if not isinstance(value, str) or not value.strip():
        return f"expected a file name inside the run folder, received {quoted(value)}"
    if "\x00" in value or any(ord(c) < 32 for c in value):
        return f"{quoted(value)} holds control characters"
    if os.path.isabs(value) or value.startswith("~") or (os.altsep and value.startswith(os.altsep)):
        return f"{quoted(value)} is an absolute path; a config writes only inside the run folder " \
               f"{quoted(str(folder))}: give a relative path such as 'log.csv'"
    parts = Path(value).parts
    if ".." in parts:
        return f"{quoted(value)} goes up out of the run folder ('..'); give a path inside it"
    hidden = [p for p in parts if p.startswith(".") and p != "."]
    if hidden:
        return f"{quoted(value)} names the hidden file or folder {quoted(hidden[0])}; a config writes no hidden files"
    if formatted:
        problem = _format_problem(value)
        if problem:
            return problem
    real = Path(os.path.realpath(folder / value))
    if _inside(real, folder, strict=False) is None:
        return f"{quoted(value)} leads out of the run folder {quoted(str(folder))} (through a symbolic link, to " \
               f"{quoted(str(real))})"
    return None


def _format_problem(value):
    """ModelCheckpoint fills ``{epoch}`` and log keys in: plain field names only."""
    try:
        fields = [(name, conversion) for _, name, _, conversion in string.Formatter().parse(value) if name is not None]
    except ValueError as e:
        return f"{quoted(value)} is not a valid file name pattern ({e})"
    for name, conversion in fields:
        if not _FIELD.fullmatch(name) or conversion is not None:
            return f"{quoted(value)} has the field {quoted('{' + name + '}')}; fields are plain names such as " \
                   "{epoch} or {val_loss:.3f}"
    return None
