"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array data:

* 4 bytes of magic: two zero bytes, a type code (``0x08`` uint8, ``0x09`` int8,
  ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64) and the
  number of dimensions;
* one big-endian uint32 per dimension;
* the values, C order, big-endian.

MNIST's images are ``0x00000803`` (uint8, 3 dimensions: count, rows, cols) with a
16-byte header; its labels are ``0x00000801`` (uint8, 1 dimension) with an 8-byte
header. Files may be gzipped; gzip is recognised by its own magic bytes, not by
the file name.

Arrays are built with :func:`numpy.frombuffer` on the bytes read: nothing is
unpickled, so a file can only ever produce an array of numbers.
"""
import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "read_idx", "parse_idx", "write_idx", "DTYPE_CODES"]

# type code -> big-endian dtype of the stored values
DTYPE_CODES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {np.dtype(dt).newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in DTYPE_CODES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_NDIM = 32  # numpy's own limit; a larger rank byte means a corrupt or foreign file


class IDXError(ValueError):
    """The file is not a valid IDX file (bad magic, truncated, unexpected rank or type)."""


def _describe(name):
    return str(name) if name is not None else "<IDX data>"


def _read_exact(stream, n, name, what):
    """``n`` bytes from ``stream``, or IDXError when the stream ends first."""
    chunks = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    if len(data) != n:
        raise IDXError(f"{_describe(name)}: truncated IDX file: the {what} needs {n} bytes, "
                       f"the file has only {len(data)} left")
    return data


def _read_header(stream, name):
    magic = _read_exact(stream, 4, name, "magic number")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in DTYPE_CODES:
        raise IDXError(
            f"{_describe(name)}: not an IDX file: bad magic number 0x{magic.hex()} (expected "
            f"0x0000TTNN, TT a type code among {', '.join(f'0x{c:02X}' for c in DTYPE_CODES)} and NN the "
            f"number of dimensions; MNIST images are 0x00000803 and labels 0x00000801)")
    code, ndim = magic[2], magic[3]
    if ndim == 0 or ndim > _MAX_NDIM:
        raise IDXError(f"{_describe(name)}: bad magic number 0x{magic.hex()}: {ndim} dimensions")
    dims = np.frombuffer(_read_exact(stream, 4 * ndim, name, f"header's {ndim} dimension sizes"), dtype=">u4")
    return DTYPE_CODES[code], tuple(int(d) for d in dims)


def _check_expected(dtype, shape, name, expected_ndim, expected_dtype):
    if expected_ndim is not None and len(shape) != expected_ndim:
        raise IDXError(f"{_describe(name)}: wrong rank: the file holds a {len(shape)}-dimensional array "
                       f"of shape {shape}, expected {expected_ndim} dimensions")
    if expected_dtype is not None and dtype.newbyteorder("=") != np.dtype(expected_dtype).newbyteorder("="):
        raise IDXError(f"{_describe(name)}: the file holds {dtype.newbyteorder('=').name} values, "
                       f"expected {np.dtype(expected_dtype).name}")


def _read_stream(stream, name, expected_ndim, expected_dtype):
    dtype, shape = _read_header(stream, name)
    _check_expected(dtype, shape, name, expected_ndim, expected_dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = bytearray(nbytes)
    view = memoryview(buffer)
    filled = 0
    while filled < nbytes:
        n = stream.readinto(view[filled:])
        if not n:
            break
        filled += n
    if filled != nbytes:
        raise IDXError(f"{_describe(name)}: truncated IDX file: the header says {dtype.newbyteorder('=').name} "
                       f"{shape}, which is {nbytes} bytes of data, but the file holds only {filled}")
    extra = stream.read(1)
    if extra:
        rest = 1 + len(stream.read())
        raise IDXError(f"{_describe(name)}: the header says {shape} ({nbytes} bytes of data) but the file "
                       f"holds {rest} more bytes after them: not a valid IDX file, or the wrong header")
    # A bytearray makes the array writable without a second copy.
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return array


def _open(source):
    """A binary stream over the decompressed content of ``source`` (a path)."""
    f = open(source, "rb")
    try:
        head = f.peek(2)[:2] if hasattr(f, "peek") else b""
    except Exception:
        f.close()
        raise
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb"), f
    return f, f


def read_idx(path, *, expected_ndim=None, expected_dtype=None):
    """The array stored in the IDX file ``path`` (gzipped or not), in native byte order.

    Args:
        path: file name (``str`` or ``os.PathLike``).
        expected_ndim: if given, an :class:`IDXError` is raised when the array has another rank.
        expected_dtype: if given, an :class:`IDXError` is raised when the values are of another type.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        IDXError: (a ``ValueError``) on a bad magic number, a truncated file or gzip stream, trailing
            bytes after the data, or an unexpected rank or type.
    """
    path = Path(os.fspath(path))
    stream, raw = _open(path)
    try:
        return _read_stream(stream, path, expected_ndim, expected_dtype)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise IDXError(f"{path}: corrupt or truncated gzip data ({error})") from error
    finally:
        stream.close()
        raw.close()


def parse_idx(data, *, name=None, expected_ndim=None, expected_dtype=None):
    """The array stored in ``data``, the bytes of an IDX file (gzipped or not). See :func:`read_idx`."""
    data = bytes(data)
    stream = io.BytesIO(data)
    if data[:2] == _GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    try:
        return _read_stream(stream, name, expected_ndim, expected_dtype)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise IDXError(f"{_describe(name)}: corrupt or truncated gzip data ({error})") from error


def write_idx(path, array, *, compress=None):
    """Write ``array`` to ``path`` as an IDX file; gzipped when ``compress`` is true.

    ``compress=None`` (the default) gzips when the file name ends in ``.gz``. The array's dtype must be
    one IDX can store: uint8, int8, int16, int32, float32 or float64. Returns the path.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if native not in _CODE_OF:
        raise TypeError(f"IDX cannot store {array.dtype} values (only uint8, int8, int16, int32, float32, "
                        f"float64)")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX stores arrays of 1 to 255 dimensions, got {array.ndim}")
    code = _CODE_OF[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=DTYPE_CODES[code]).tobytes()
    path = Path(os.fspath(path))
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(header)
            f.write(body)
    else:
        with open(path, "wb") as f:
            f.write(header)
            f.write(body)
    return path
