"""Download-once file cache for datasets, like Keras's ``keras.utils.get_file``.

Files live in ``<home>/<cache_subdir>/<fname>``, where ``<home>`` is, in order of
precedence, the ``cache_dir`` argument, the ``FRAMEWORK_HOME`` environment
variable, or ``~/.framework``; ``cache_subdir`` defaults to ``"datasets"``. So by
default MNIST's files are in ``~/.framework/datasets/mnist/``.

* A cached file is checked against the expected checksum (md5 or sha256) every
  time it is asked for; a mismatch is reported as a warning and the file is
  downloaded again.
* A download goes to a temporary file in the same folder, is verified, and only
  then renamed over the final name (``os.replace``, atomic on one file system).
  An interrupted or corrupt download therefore never leaves a file under the
  final name, and the temporary file is removed.
* Only the standard library's ``urllib`` is used. When no origin can be reached,
  :class:`DownloadError` says which file to put where (with its checksum), so
  the data can be brought in by hand on a machine without a network.
"""
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

__all__ = ["get_file", "hash_file", "validate_file", "framework_home", "cache_path", "ChecksumError",
           "DownloadError", "ENV_VAR"]

ENV_VAR = "FRAMEWORK_HOME"
_USER_AGENT = "framework-datasets/0.1 (Python urllib)"
_CHUNK = 1 << 20

# The function that opens a URL: ``_urlopen(request, timeout=...)``. Tests replace it to stay offline.
_urlopen = urllib.request.urlopen


class ChecksumError(ValueError):
    """A downloaded file does not have the expected checksum (the file was not kept)."""


class DownloadError(OSError):
    """No origin of a file could be reached; the message says how to provide the file by hand.

    Attributes: ``fname``, ``fpath`` (where the file is expected) and ``attempts``, a list of
    ``(url, reason)`` strings.
    """

    def __init__(self, message, *, fname=None, fpath=None, attempts=()):
        super().__init__(message)
        self.fname = fname
        self.fpath = fpath
        self.attempts = list(attempts)

    def __str__(self):
        return self.args[0] if self.args else ""


def framework_home():
    """The base cache folder: ``$FRAMEWORK_HOME`` when set, else ``~/.framework``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path("~/.framework").expanduser()


def cache_path(fname, cache_dir=None, cache_subdir="datasets"):
    """Where :func:`get_file` keeps ``fname`` (the folder is not created)."""
    base = Path(cache_dir).expanduser() if cache_dir is not None else framework_home()
    return base / cache_subdir / fname


def _algorithm(file_hash, hash_algorithm="auto"):
    algorithm = hash_algorithm.lower()
    if algorithm == "auto":
        if len(file_hash) == 64:
            return "sha256"
        if len(file_hash) == 32:
            return "md5"
        raise ValueError(f"Cannot tell the algorithm of the checksum {file_hash!r} (neither 32 hex digits "
                         f"for md5 nor 64 for sha256): pass hash_algorithm='md5' or 'sha256'")
    if algorithm not in ("md5", "sha256"):
        raise ValueError(f"hash_algorithm must be 'auto', 'md5' or 'sha256', got {hash_algorithm!r}")
    return algorithm


def hash_file(fpath, algorithm="sha256", chunk_size=_CHUNK):
    """The hex digest (``"sha256"`` or ``"md5"``) of the file ``fpath``."""
    hasher = hashlib.new(algorithm)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=_CHUNK):
    """True when the file ``fpath`` has the checksum ``file_hash`` (md5 or sha256, told by its length)."""
    algorithm = _algorithm(file_hash, algorithm)
    return hash_file(fpath, algorithm, chunk_size) == file_hash.lower()


def _expected_hashes(md5_hash, file_hash, hash_algorithm):
    expected = []
    if file_hash:
        expected.append((_algorithm(file_hash, hash_algorithm), file_hash.lower()))
    if md5_hash and (not expected or expected[0] != ("md5", md5_hash.lower())):
        expected.append(("md5", md5_hash.lower()))
    return expected


def _mismatches(fpath, expected):
    """[(algorithm, expected, actual)] for each checksum of ``fpath`` that is not as expected."""
    bad = []
    for algorithm, want in expected:
        got = hash_file(fpath, algorithm)
        if got != want:
            bad.append((algorithm, want, got))
    return bad


def _writable_dir(directory):
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def _describe_error(error):
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"unreachable ({error.reason})"
    return f"{type(error).__name__}: {error}"


def _fetch(url, fpath, expected, timeout, verbose):
    """Download ``url`` into ``fpath`` through a verified temporary file; nothing is left on failure."""
    fd, tmp_name = tempfile.mkstemp(dir=fpath.parent, prefix=f".{fpath.name}.", suffix=".part")
    try:
        hashers = {algorithm: hashlib.new(algorithm) for algorithm, _ in expected}
        received = 0
        if verbose:
            print(f"Downloading data from {url}", file=sys.stderr, flush=True)
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        with os.fdopen(fd, "wb") as out:
            fd = None
            with _urlopen(request, timeout=timeout) as response:
                headers = getattr(response, "headers", None)
                length = headers.get("Content-Length") if headers is not None else None
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        if length is not None and length.isdigit() and int(length) != received:
            raise http.client.IncompleteRead(b"", int(length) - received)
        for algorithm, want in expected:
            got = hashers[algorithm].hexdigest()
            if got != want:
                raise ChecksumError(f"{url}: the downloaded file's {algorithm} is {got}, expected {want} "
                                    f"({received} bytes received); the file was discarded")
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a cached dataset is not secret
        os.replace(tmp_name, fpath)
    except BaseException:
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def get_file(fname=None, origin=None, *, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", cache_dir=None, force_download=False, timeout=60.0, verbose=True):
    """The local path of ``fname``, downloaded from ``origin`` the first time it is asked for.

    Args:
        fname: the file's name in the cache; by default the last part of ``origin``'s URL.
        origin: the URL to download from, or a list of URLs tried in order (mirrors). ``file://`` URLs
            work too.
        md5_hash: the file's expected md5 (kept for Keras compatibility; ``file_hash`` is preferred).
        file_hash: the file's expected sha256 or md5, told apart by length unless ``hash_algorithm``
            says. When both are given both are checked.
        cache_subdir: folder under the cache home (``"datasets"``; may be nested, e.g. ``"datasets/mnist"``).
        hash_algorithm: ``"auto"``, ``"sha256"`` or ``"md5"``.
        cache_dir: the cache home; by default ``$FRAMEWORK_HOME`` or ``~/.framework``.
        force_download: download again even when a valid file is cached.
        timeout: seconds to wait on the network for each origin.
        verbose: print one line to stderr for each download.

    Returns:
        The path (``str``) of the verified local file.

    Raises:
        ChecksumError: the downloaded file's checksum is wrong (for every origin tried); nothing is kept.
        DownloadError: no origin could be reached; the message names the file to place where.
    """
    origins = [origin] if isinstance(origin, (str, os.PathLike)) else list(origin or ())
    origins = [os.fspath(o) for o in origins]
    if not origins:
        raise ValueError("get_file needs an origin URL to download from")
    if fname is None:
        fname = os.path.basename(urllib.parse.urlparse(origins[0]).path)
        if not fname:
            raise ValueError(f"Cannot derive a file name from the origin {origins[0]!r}: pass fname")
    fname = os.fspath(fname)
    expected = _expected_hashes(md5_hash, file_hash, hash_algorithm)

    fpath = cache_path(fname, cache_dir, cache_subdir)
    explicit = cache_dir is not None or bool(os.environ.get(ENV_VAR))
    candidates = [fpath]
    if not explicit:  # an unwritable ~/.framework falls back to the temporary folder, as Keras does
        candidates.append(Path(tempfile.gettempdir()) / ".framework" / cache_subdir / fname)

    if not force_download:
        for path in candidates:
            if path.is_file():
                bad = _mismatches(path, expected)
                if not bad:
                    return str(path)
                if _writable_dir(path.parent):
                    algorithm, want, got = bad[0]
                    warnings.warn(f"{path}: the cached file's {algorithm} is {got}, expected {want}; the file "
                                  f"is corrupt or outdated, so it is downloaded again", stacklevel=2)

    for path in candidates:
        if _writable_dir(path.parent):
            fpath = path
            break
    else:
        raise PermissionError(f"Cannot write to the cache folder {fpath.parent}: set {ENV_VAR} or pass "
                              f"cache_dir= to a writable folder")

    failures = []
    checksum_errors = []
    for url in origins:
        try:
            _fetch(url, fpath, expected, timeout, verbose)
            return str(fpath)
        except ChecksumError as error:
            checksum_errors.append(error)
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
            failures.append((url, error))
    if checksum_errors:
        raise ChecksumError("; ".join(str(e) for e in checksum_errors)) from checksum_errors[0]
    attempts = [(url, _describe_error(error)) for url, error in failures]
    tried = "\n".join(f"  {url}: {reason}" for url, reason in attempts)
    sums = ", ".join(f"{algorithm} {want}" for algorithm, want in expected)
    raise DownloadError(
        f"Could not download {fname}; tried:\n{tried}\n"
        f"The network seems unreachable (or the server refuses). Without a network, copy the file from a "
        f"machine that has it to\n  {fpath}" + (f"\n(it must have {sums})" if sums else ""),
        fname=fname, fpath=str(fpath), attempts=attempts,
    ) from failures[-1][1]
