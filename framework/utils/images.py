"""PNG files from arrays, with no dependency: ``save_img`` (Keras's name) and ``save_image_grid``.

A PNG is an 8-byte signature and chunks (``length``, ``type``, ``data``, CRC-32 of type + data):
``IHDR`` (width, height, bit depth 8, color type 0 grayscale / 2 RGB / 6 RGBA, no interlace), the
zlib-compressed rows in ``IDAT`` chunks (each row prefixed by filter byte 0, "None"), and ``IEND``.
Files are written beside their target and renamed over it, so a reader sees the old image or the
new one, never a part; nothing else is written.
"""
import math
import os
import struct
import tempfile
import zlib

import numpy as np

from framework import backend

__all__ = ["encode_png", "save_img", "save_image_grid"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG color type (grayscale, RGB, RGBA)
_IDAT_BYTES = 1 << 20  # compressed data is cut into IDAT chunks of at most this many bytes
_MAX_SIDE = 2**31 - 1  # PNG's limit on width and height


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels):
    """The bytes of a PNG file holding ``pixels``: uint8, shape (H, W) or (H, W, C) with C = 1
    (grayscale), 3 (RGB) or 4 (RGBA)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError(f"encode_png expects uint8 pixels, received {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in _COLOR_TYPES:
        raise ValueError(f"encode_png expects pixels of shape (height, width) or (height, width, 1|3|4), "
                         f"received {pixels.shape}")
    height, width, channels = pixels.shape
    if not (0 < height <= _MAX_SIDE and 0 < width <= _MAX_SIDE):
        raise ValueError(f"A PNG needs 1 to {_MAX_SIDE} rows and columns, received {height} x {width}")
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None for every row
    rows[:, 1:] = pixels.reshape(height, width * channels)
    data = zlib.compress(rows.tobytes(), 6)
    idat = b"".join(_chunk(b"IDAT", data[i:i + _IDAT_BYTES]) for i in range(0, len(data), _IDAT_BYTES))
    return SIGNATURE + _chunk(b"IHDR", header) + idat + _chunk(b"IEND", b"")


def _write(path, data):
    """``data`` into ``path`` by way of a temporary file in the same folder, renamed over it."""
    if hasattr(path, "write"):
        path.write(data)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {_quote(path)}: the folder {_quote(folder)} does not exist")
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)[:100]}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temp, 0o644)  # mkstemp makes it private; an image is not
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def _quote(text, limit=200):
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_png_target(path, file_format, caller):
    if file_format is not None:
        if str(file_format).lower() != "png":
            raise ValueError(f"{caller} writes PNG files only; received file_format={_quote(file_format, 40)}")
        return
    if hasattr(path, "write"):
        return
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension != ".png":
        raise ValueError(f"{caller} writes PNG files only: {_quote(os.fspath(path))} does not end in .png "
                         "(or pass file_format='png')")


def _to_uint8(images, what, top=1.0):
    """Float pixels in [0, top] or integer pixels in [0, 255] as uint8 (floats rounded to the nearest level)."""
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind == "f":
        if images.size and not np.isfinite(images).all():
            raise ValueError(f"{what}: the pixels hold NaN or infinite values")
        low, high = (float(images.min()), float(images.max())) if images.size else (0.0, top)
        if low < 0.0 or high > top:
            hint = " (rescale first, e.g. (x + 1) / 2 for a tanh output)" if top == 1.0 else ""
            raise ValueError(f"{what}: float pixels must lie in [0, {top:g}], found values from {low:.4g} to "
                             f"{high:.4g}{hint}")
        return np.rint(images * (255.0 / top)).astype(np.uint8)
    if images.dtype.kind in "iu":
        low, high = (int(images.min()), int(images.max())) if images.size else (0, 255)
        if low < 0 or high > 255:
            raise ValueError(f"{what}: integer pixels must lie in [0, 255], found values from {low} to {high}")
        return images.astype(np.uint8)
    raise TypeError(f"{what}: expected float or integer pixels, received dtype {images.dtype}")


def save_img(path, x, data_format=None, file_format=None, scale=True):
    """Saves one image stored as an array to a PNG file, as ``keras.utils.save_img`` (which uses PIL).

    Args:
        path: the file to write (its folder must exist), or a binary file object.
        x: the image, shape (height, width, channels) with 1, 3 or 4 channels (grayscale, RGB, RGBA),
            or (height, width) for grayscale.
        data_format: "channels_last" (the default) or "channels_first" ((channels, height, width)).
        file_format: "png" or None (then ``path`` must end in ``.png``); other formats are refused.
        scale: rescale the values to [0, 255] (minus the minimum, divided by the maximum, as Keras);
            with False the values must already lie in [0, 255].
    """
    _check_png_target(path, file_format, "save_img")
    x = np.asarray(x)
    data_format = backend.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"save_img: data_format must be 'channels_last' or 'channels_first', "
                         f"received {_quote(data_format, 40)}")
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim == 3 and data_format == "channels_first":
        x = np.transpose(x, (1, 2, 0))
    if x.ndim != 3 or x.shape[2] not in _COLOR_TYPES:
        raise ValueError(f"save_img expects one image of shape (height, width, 1|3|4) ({data_format}) or "
                         f"(height, width), received shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"save_img: expected float or integer pixels, received dtype {x.dtype}")
    if scale:
        x = x.astype("float64")
        if x.size and not np.isfinite(x).all():
            raise ValueError("save_img: the pixels hold NaN or infinite values")
        x = x - x.min()
        high = x.max()
        if high != 0:
            x = x / high
        pixels = _to_uint8(x, "save_img")
    else:
        pixels = _to_uint8(x, "save_img", top=255.0)
    _write(path, encode_png(pixels))


def grid_shape(count, rows=None, cols=None):
    """``(rows, cols)`` of a grid holding ``count`` images, filled row by row: both given (checked),
    one given (the other the fewest that fit), or neither (as square as possible, cols >= rows)."""
    for name, value in (("rows", rows), ("cols", cols)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or value < 1):
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:40] + "..."
            raise ValueError(f"save_image_grid: {name} must be a positive integer, received {shown}")
    if rows is None and cols is None:
        cols = math.ceil(math.sqrt(count))
    if cols is None:
        cols = math.ceil(count / rows)
    if rows is None:
        rows = math.ceil(count / cols)
    rows, cols = int(rows), int(cols)
    if rows * cols < count:
        raise ValueError(f"save_image_grid: a grid of rows={rows} x cols={cols} holds {rows * cols} images, "
                         f"received {count}")
    if (rows - 1) * cols >= count or cols > count:
        raise ValueError(f"save_image_grid: a grid of rows={rows} x cols={cols} for {count} images would leave a "
                         "whole row or column empty")
    return rows, cols


def save_image_grid(path, images, rows=None, cols=None):
    """Writes a batch of images as one PNG: a grid filled row by row, cells left over black.

    Args:
        path: the ``.png`` file to write (its folder must exist), or a binary file object.
        images: shape (N, H, W) or (N, H, W, 1) for grayscale, (N, H, W, 3) for RGB; floats in
            [0, 1] (rounded to the nearest of 256 levels) or integers in [0, 255].
        rows, cols: the grid; by default as square as possible (``cols = ceil(sqrt(N))``). Given one,
            the other is the fewest that fit. A grid with a whole empty row or column is refused.

    Returns:
        ``(height, width)`` of the image written: ``(rows * H, cols * W)``.
    """
    _check_png_target(path, None if not hasattr(path, "write") else "png", "save_image_grid")
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[3] not in (1, 3):
        raise ValueError("save_image_grid expects images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3), "
                         f"received shape {images.shape}")
    count, height, width, channels = images.shape
    if count == 0 or height == 0 or width == 0:
        raise ValueError(f"save_image_grid received no pixels: shape {images.shape}")
    rows, cols = grid_shape(count, rows, cols)
    pixels = _to_uint8(images, "save_image_grid")
    grid = np.zeros((rows, cols, height, width, channels), dtype=np.uint8)
    grid.reshape(rows * cols, height, width, channels)[:count] = pixels
    grid = grid.transpose(0, 2, 1, 3, 4).reshape(rows * height, cols * width, channels)
    _write(path, encode_png(grid))
    return rows * height, cols * width
