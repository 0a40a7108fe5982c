"""The MNIST sample in ``../shared/data/mnist`` (relative to the repository root), read with gzip + NumPy.

Shared by the examples until ``framework.datasets`` arrives. The folder holds
the official MNIST *test* set (10,000 images, IDX format, gzip); the usual
quick split is the first 8,000 images for training and the last 2,000 for
testing. The files are read in place, never copied into the project.

IDX layout: a big-endian header of int32 values (a magic number whose last
byte is the number of dimensions, then one size per dimension), followed by
the raw uint8 data. Images have a 16-byte header (magic, count, rows, cols),
labels an 8-byte header (magic, count).
"""
import gzip
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension


def available(directory=MNIST_DIR):
    """True when both MNIST files are present in ``directory``."""
    directory = Path(directory)
    return (directory / IMAGES).is_file() and (directory / LABELS).is_file()


def read_idx(path, magic):
    """The uint8 array stored in the gzipped IDX file ``path``, checked against ``magic``."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = magic & 0xFF
    header = np.frombuffer(data, dtype=">i4", count=1 + ndim)
    if int(header[0]) != magic:
        raise ValueError(f"{path}: magic number {int(header[0])}, expected {magic}")
    shape = tuple(int(d) for d in header[1:])
    offset = 4 * (1 + ndim)  # 16 bytes for images, 8 for labels
    if len(data) - offset != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {len(data) - offset} bytes of data")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def load(directory=MNIST_DIR, n_train=8000, n_test=2000):
    """``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28) and labels (N,).

    The first ``n_train`` images train, the last ``n_test`` test (8,000 / 2,000
    by default). Raises FileNotFoundError when the files are absent.
    """
    directory = Path(directory)
    if not available(directory):
        raise FileNotFoundError(f"MNIST sample not found in {directory} (expected {IMAGES} and {LABELS})")
    images = read_idx(directory / IMAGES, IMAGES_MAGIC)
    labels = read_idx(directory / LABELS, LABELS_MAGIC)
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} images but {len(labels)} labels")
    if n_train + n_test > len(images):
        raise ValueError(f"Asked for {n_train} + {n_test} samples, the files hold {len(images)}")
    return (images[:n_train], labels[:n_train]), (images[len(images) - n_test:], labels[len(labels) - n_test:])
