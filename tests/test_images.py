"""framework.utils.save_img / save_image_grid: PNG files written with zlib + struct, decoded back here by
a small reader (and by PIL when it is installed); CRCs, grid layout, atomic writes, bad input refused."""
import io
import os
import struct
import zlib

import numpy as np
import pytest

import framework as keras
from framework.utils import images as png

CHANNELS = {0: 1, 2: 3, 6: 4}


def decode(data):
    """(pixels (H, W, C) uint8, chunk types): checks the signature, every CRC and the header."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds, idat, header = 8, [], b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind}"
        kinds.append(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert pos == len(data) and kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height, depth, color, compression, filtering, interlace = header
    assert (depth, compression, filtering, interlace) == (8, 0, 0, 0)
    channels = CHANNELS[color]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * channels)
    assert (raw[:, 0] == 0).all()  # filter "None" on every row
    return raw[:, 1:].reshape(height, width, channels), kinds


def read(path):
    with open(path, "rb") as f:
        return decode(f.read())[0]


def test_encode_png_decodes_back_exactly_in_gray_rgb_and_rgba():
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (5, 7, 1), (3, 4, 3), (2, 9, 4), (1, 1)]:
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        decoded, kinds = decode(png.encode_png(pixels))
        np.testing.assert_array_equal(decoded, pixels.reshape(shape[0], shape[1], -1))
        assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_large_images_are_split_into_several_idat_chunks(monkeypatch):
    monkeypatch.setattr(png, "_IDAT_BYTES", 100)
    pixels = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    decoded, kinds = decode(png.encode_png(pixels))
    np.testing.assert_array_equal(decoded, pixels)
    assert kinds.count(b"IDAT") > 10


def test_grid_layout_row_by_row_with_empty_cells_black(tmp_path):
    images = np.stack([np.full((3, 2), (i + 1) / 10.0) for i in range(5)])  # 5 images of 3 x 2
    path = tmp_path / "grid.png"
    assert keras.utils.save_image_grid(path, images, cols=3) == (6, 6)
    grid = read(path)[..., 0]
    assert grid.shape == (6, 6)
    for i in range(5):
        r, c = divmod(i, 3)
        assert (grid[r * 3:(r + 1) * 3, c * 2:(c + 1) * 2] == round((i + 1) / 10.0 * 255)).all()
    assert (grid[3:, 4:] == 0).all()  # the sixth cell is empty
    assert png.grid_shape(5) == (2, 3) and png.grid_shape(16) == (4, 4) and png.grid_shape(10, rows=2) == (2, 5)


def test_grid_of_float_uint8_and_rgb_images(tmp_path):
    rng = np.random.default_rng(2)
    floats = rng.random((4, 5, 6, 1)).astype("float32")
    keras.utils.save_image_grid(tmp_path / "f.png", floats, rows=1)
    expected = np.rint(np.concatenate(list(floats[..., 0]), axis=1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(read(tmp_path / "f.png")[..., 0], expected)
    rgb = rng.integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    assert keras.utils.save_image_grid(tmp_path / "c.png", rgb, rows=2) == (6, 4)
    np.testing.assert_array_equal(read(tmp_path / "c.png"), np.concatenate(list(rgb), axis=0))


def test_save_img_as_keras_rescales_and_takes_channels_first(tmp_path):
    x = np.arange(12, dtype="float64").reshape(3, 4, 1) * 2 - 5  # -5 .. 17
    keras.utils.save_img(tmp_path / "a.png", x)
    np.testing.assert_array_equal(read(tmp_path / "a.png")[..., 0],
                                  np.rint((x[..., 0] + 5) / 22 * 255).astype(np.uint8))
    rgb = np.random.default_rng(3).integers(0, 256, (3, 2, 5)).astype("float32")  # channels first
    keras.utils.save_img(tmp_path / "b.png", rgb, data_format="channels_first", scale=False)
    np.testing.assert_array_equal(read(tmp_path / "b.png"), rgb.transpose(1, 2, 0).astype(np.uint8))
    buffer = io.BytesIO()
    keras.utils.save_img(buffer, np.zeros((2, 2, 4)), file_format="png")  # a flat image stays black
    decoded, _ = decode(buffer.getvalue())
    assert decoded.shape == (2, 2, 4) and not decoded.any()


def test_pil_reads_what_we_write(tmp_path):
    image_module = pytest.importorskip("PIL.Image", reason="PIL is not installed (optional)")
    pixels = np.random.default_rng(4).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    keras.utils.save_img(tmp_path / "p.png", pixels, scale=False)
    with image_module.open(tmp_path / "p.png") as image:
        np.testing.assert_array_equal(np.asarray(image), pixels)


def test_writes_replace_the_file_atomically_and_leave_nothing_else(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    keras.utils.save_image_grid(path, np.ones((2, 4, 4)))
    assert os.listdir(tmp_path) == ["out.png"]
    assert read(path).shape == (4, 8, 1)
    with pytest.raises(ValueError, match="float pixels must lie in"):
        keras.utils.save_image_grid(path, np.full((2, 4, 4), 2.0))
    assert os.listdir(tmp_path) == ["out.png"] and read(path).shape == (4, 8, 1)  # unchanged
    with pytest.raises(FileNotFoundError, match="does not exist"):
        keras.utils.save_image_grid(tmp_path / "missing" / "x.png", np.ones((1, 2, 2)))


@pytest.mark.parametrize("images,kwargs,error,message", [
    (np.ones((4, 4)), {}, ValueError, r"expects images of shape \(N, H, W\).*received shape \(4, 4\)"),
    (np.ones((2, 4, 4, 2)), {}, ValueError, r"received shape \(2, 4, 4, 2\)"),
    (np.ones((0, 4, 4)), {}, ValueError, "received no pixels"),
    (np.full((2, 3, 3), np.nan), {}, ValueError, "NaN or infinite"),
    (-np.ones((2, 3, 3)), {}, ValueError, r"from -1 to -1 \(rescale first"),
    (np.full((2, 3, 3), 300), {}, ValueError, "integer pixels must lie in \\[0, 255\\], found values from 300"),
    (np.ones((2, 3, 3), dtype=bool), {}, TypeError, "expected float or integer pixels, received dtype bool"),
    (np.ones((5, 3, 3)), {"rows": 2, "cols": 2}, ValueError, "rows=2 x cols=2 holds 4 images, received 5"),
    (np.ones((5, 3, 3)), {"rows": 3, "cols": 3}, ValueError, "would leave a whole row or column empty"),
    (np.ones((2, 3, 3)), {"cols": 4}, ValueError, "would leave a whole row or column empty"),
    (np.ones((2, 3, 3)), {"rows": 0}, ValueError, "rows must be a positive integer, received 0"),
    (np.ones((2, 3, 3)), {"cols": 1.5}, ValueError, "cols must be a positive integer, received 1.5"),
])
def test_bad_grids_are_refused_clearly(tmp_path, images, kwargs, error, message):
    with pytest.raises(error, match=message):
        keras.utils.save_image_grid(tmp_path / "x.png", images, **kwargs)
    assert os.listdir(tmp_path) == []


def test_bad_save_img_calls_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"writes PNG files only: '.*x\.jpg' does not end in \.png"):
        keras.utils.save_img(tmp_path / "x.jpg", np.ones((2, 2, 1)))
    with pytest.raises(ValueError, match="received file_format='jpeg'"):
        keras.utils.save_img(tmp_path / "x.png", np.ones((2, 2, 1)), file_format="jpeg")
    with pytest.raises(ValueError, match=r"expects one image of shape .* received shape \(1, 2, 2, 1\)"):
        keras.utils.save_img(tmp_path / "x.png", np.ones((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="data_format must be"):
        keras.utils.save_img(tmp_path / "x.png", np.ones((2, 2, 1)), data_format="nchw")
    with pytest.raises(ValueError, match=r"float pixels must lie in \[0, 255\]"):
        keras.utils.save_img(tmp_path / "x.png", np.full((2, 2, 1), 256.0), scale=False)
    long_name = "y" * 5000 + ".jpg"
    with pytest.raises(ValueError) as info:
        keras.utils.save_image_grid(tmp_path / long_name, np.ones((1, 2, 2)))
    assert len(str(info.value)) < 400  # long input is not echoed in full
    with pytest.raises(TypeError, match="encode_png expects uint8 pixels, received float64"):
        png.encode_png(np.ones((2, 2)))
    assert os.listdir(tmp_path) == []
