"""Reading a model file's members: the member list checked before anything is read, each member
read streaming and never past its declared size, and every failure an ``ArchiveError`` naming the
file and the member.

The checks on the member list (``check_entries``, also used for the ``.npz`` members inside):
only known names, each once; no absolute paths or ``..``; no encryption; stored or deflated
only; a declared size that deflate could produce from the compressed size (at most
``MAX_RATIO``:1); YAML members at most ``MAX_YAML_BYTES``. The ``.npz`` members are checked
further against the sizes the model config justifies (``framework.saving.arrays``).
"""
import contextlib
import io
import tempfile
import zipfile
import zlib

from framework.config.bounded_yaml import Limits, YAMLLimitError, cut, load_yaml, short

MEMBERS = ("metadata.yaml", "model.yaml", "weights.npz", "compile.yaml", "optimizer.npz", "state.yaml")
REQUIRED = ("metadata.yaml", "model.yaml", "weights.npz")
MAX_YAML_BYTES = 16 * 2**20
MAX_RATIO = 1100  # deflate expands at most about 1032:1; a larger declared ratio is a forged size
CHUNK = 2**20
SPOOL_IN_MEMORY = 64 * 2**20  # larger nested archives are copied to an anonymous temporary file


class ArchiveError(ValueError):
    """A model file that is not a valid, safe framework archive; the message names the file, the
    member and, when known, the key or array.

    Args:
        message: what is wrong, and where.
    """


def check_entries(archive, where, allowed):
    """``{name: ZipInfo}`` of a zip archive after checking every entry (see the module docstring);
    ``allowed(name)`` says whether a name belongs."""
    entries = {}
    for info in archive.infolist():
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise ArchiveError(f"{where}: refusing member path {short(name)} (outside the archive)")
        if not allowed(name):
            raise ArchiveError(f"{where}: unexpected member {short(name)}")
        if name in entries:
            raise ArchiveError(f"{where}: member {short(name)} appears twice (which copy counts would be "
                               "ambiguous); refusing")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{where}: member {short(name)} is encrypted; refusing")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArchiveError(f"{where}: member {short(name)} uses compression method {info.compress_type}; "
                               "only stored and deflated members are read")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise ArchiveError(f"{where}: member {short(name)} is stored uncompressed but declares "
                               f"{info.file_size:,} bytes in {info.compress_size:,}; refusing")
        if info.file_size > MAX_RATIO * info.compress_size:
            raise ArchiveError(f"{where}: member {short(name)} declares {info.file_size:,} bytes from "
                               f"{info.compress_size:,} compressed, a ratio deflate cannot produce; refusing")
        if name.endswith(".yaml") and info.file_size > MAX_YAML_BYTES:
            raise ArchiveError(f"{where}: member {short(name)} declares {info.file_size:,} bytes; YAML members "
                               f"are limited to {MAX_YAML_BYTES:,}")
        entries[name] = info
    return entries


def _problem(path, name, error):
    if isinstance(error, KeyError):
        return f"{path}: {name}: missing key {short(error.args[0] if error.args else None)}"
    text = cut(str(error), 400)
    if text.startswith(f"{path}:"):
        return text
    if isinstance(error, ValueError):
        return f"{path}: {name}: {text}"
    return f"{path}: {name} is malformed ({type(error).__name__}: {text})"


class ArchiveReader:
    """A model file opened for reading, its member list checked (``check_entries``).

    Use as a context manager. ``member(name)`` is a context in which any failure becomes an
    ``ArchiveError`` naming the file and that member.

    Args:
        path: the model file.
        members: the member names a model file may hold.
        required: the member names it must hold.
    """

    def __init__(self, path, members=MEMBERS, required=REQUIRED):
        self.path = str(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
            raise ArchiveError(f"{self.path}: not a model file (not a zip archive, or a damaged one)") from None
        try:
            self.entries = check_entries(self.zip, self.path, lambda name: name in members)
            for name in required:
                if name not in self.entries:
                    raise ArchiveError(f"{self.path}: missing member {name!r}")
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def has(self, name):
        return name in self.entries

    def declared_size(self, name):
        return self.entries[name].file_size

    @contextlib.contextmanager
    def member(self, name):
        """Failures while handling ``name`` become ArchiveErrors naming the file and ``name``."""
        try:
            yield
        except ArchiveError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise ArchiveError(f"{self.path}: {name} is damaged ({type(e).__name__}: {cut(e)})") from None
        except RecursionError:
            raise ArchiveError(f"{self.path}: {name} is nested too deeply to read") from None
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
            raise ArchiveError(_problem(self.path, name, e)) from None

    def _copy(self, name, out, limit):
        info = self.entries[name]
        if info.file_size > limit:
            raise ArchiveError(f"{self.path}: {name} declares {info.file_size:,} bytes uncompressed; the model "
                               f"it describes needs at most {limit:,}; refusing")
        with self.member(name), self.zip.open(info) as f:
            left = info.file_size
            while left:
                chunk = f.read(min(CHUNK, left))
                if not chunk:
                    raise ArchiveError(f"{self.path}: {name} ends {left:,} bytes before its declared size")
                out.write(chunk)
                left -= len(chunk)
        return out

    def read(self, name, limit):
        """The bytes of ``name`` (refused unless its declared size is at most ``limit``)."""
        return self._copy(name, io.BytesIO(), limit).getvalue()

    def spool(self, name, limit):
        """A seekable file holding ``name``'s bytes (in memory when small, else an anonymous temporary
        file), for reading a nested archive with one decompression pass."""
        size = self.declared_size(name)
        out = io.BytesIO() if size <= SPOOL_IN_MEMORY else tempfile.TemporaryFile()
        try:
            self._copy(name, out, limit)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    def yaml(self, name):
        """The plain data of YAML member ``name``, read by the bounded reader."""
        data = self.read(name, MAX_YAML_BYTES)
        try:
            return load_yaml(data, f"{self.path}: {name}", Limits(max_bytes=MAX_YAML_BYTES))
        except YAMLLimitError as e:
            raise ArchiveError(str(e)) from None
