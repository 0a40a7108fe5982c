"""examples/wgan_gp.py runs with tiny settings on the MNIST sample and writes its grid of digits."""
import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import framework as fw

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wgan_gp.py"


def test_wgan_gp_example_trains_and_writes_a_png(tmp_path):
    if not fw.datasets.mnist.SHARED_DIR.is_dir():
        pytest.skip(f"MNIST sample not found in {fw.datasets.mnist.SHARED_DIR}")
    spec = importlib.util.spec_from_file_location("wgan_gp_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    history, grid = example.main(["--epochs", "1", "--steps", "2", "--batch-size", "16", "--output", str(tmp_path)])
    assert set(history.history) == {"d_loss", "g_loss", "gp"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    data = Path(grid).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (8 * 28, 8 * 28)  # 64 digits, 8 x 8
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]  # the IHDR chunk's CRC
