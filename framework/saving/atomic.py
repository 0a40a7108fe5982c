"""Atomic file writes: a temporary file beside the target, renamed over it once complete.

The temporary file is named after its target, ``.tmp-<target name>-<8 hex digits>.part``, and
is locked (``flock``) while it is written. A process killed mid-save (``kill -9``, a power cut)
leaves its temporary file behind; the next save of the same target deletes such leftovers: files
of exactly that pattern, older than ``STALE_SECONDS`` and not locked by a live writer. Files of
other targets, and anything not named by this module, are never touched.
"""
import hashlib
import os
import re
import secrets
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks, leftovers are recognised by age alone
    fcntl = None

PREFIX, SUFFIX = ".tmp-", ".part"
STALE_SECONDS = 10  # a leftover younger than this may belong to a save that is just starting
STALE_SECONDS_UNLOCKED = 3600  # without file locks, only leftovers this old are deleted
_MAX_TAG = 100


def temp_tag(path):
    """The part of a temporary file's name that identifies its target (long names shortened
    with a hash, so the temporary name stays within file-name limits)."""
    name = os.path.basename(os.fspath(path))
    if len(name) <= _MAX_TAG:
        return name
    return name[:80] + "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def temp_pattern(path):
    """The compiled pattern matching exactly the temporary files of ``path``."""
    return re.compile(re.escape(PREFIX + temp_tag(path) + "-") + r"[0-9a-f]{8}" + re.escape(SUFFIX) + r"\Z")


def _lock(fd, blocking):
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError:  # BlockingIOError when another process holds it; locks unsupported elsewhere
        return False


def remove_stale_temp_files(path, now=None):
    """Delete leftover temporary files of ``path`` from killed saves; the names deleted.
    Best effort: a file that cannot be inspected or removed is left alone."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    pattern, now = temp_pattern(path), time.time() if now is None else now
    age = STALE_SECONDS if fcntl is not None else STALE_SECONDS_UNLOCKED
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if pattern.match(e.name)]
    except OSError:
        return removed
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or now - info.st_mtime < age:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if _lock(fd, blocking=False) and os.path.samestat(os.fstat(fd), info):
                os.remove(entry.path)
                removed.append(entry.name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _create_temp(folder, path):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    tag = temp_tag(path)
    for _ in range(100):
        temp = os.path.join(folder, f"{PREFIX}{tag}-{secrets.token_hex(4)}{SUFFIX}")
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: could not create a temporary file for {tag}")  # pragma: no cover


def _sync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary file beside ``path``, flush it to disk, then
    rename it to ``path``: readers see the old file or the new one, never a part. Leftovers of
    earlier killed saves of ``path`` are deleted first (see the module docstring)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temp_files(path)
    fd, temp = _create_temp(folder, path)
    try:
        _lock(fd, blocking=True)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:
                os.replace(temp, path)  # while still locked: no cleaner can take it for a leftover
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            os.replace(temp, path)
        _sync_folder(folder)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
