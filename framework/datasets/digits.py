"""The UCI handwritten digits (8x8), a small real dataset that works offline once scikit-learn is installed.

1,797 images of 8x8 pixels, values 0-16 (counts of "on" pixels in 4x4 blocks of a 32x32 bitmap), labels
0-9, roughly 180 per class. The data file ships inside scikit-learn's wheel
(``sklearn/datasets/data/digits.csv.gz``, a plain CSV of 64 pixel columns and the label); this module
finds it with ``importlib.util.find_spec`` and parses it with NumPy, without importing scikit-learn. Install
it with the optional extra: ``pip install "framework[datasets]"`` (or ``pip install scikit-learn``).

Source: E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
Repository; scikit-learn packages the test part of that set (its ``descr/digits.rst`` says so).
"""
import gzip
import importlib.util
import io
import os
from pathlib import Path

import numpy as np

__all__ = ["load_data", "load_all", "data_file", "EXTRA"]

EXTRA = "datasets"  # pip install "framework[datasets]"
_RELATIVE = ("datasets", "data", "digits.csv.gz")


def _missing_sklearn():
    return ImportError(
        "framework.datasets.digits reads the digits data shipped with scikit-learn, which is not installed. "
        f'Install the optional extra: pip install "framework[{EXTRA}]" (or: pip install scikit-learn), '
        "or pass path= to a copy of digits.csv.gz.")


def data_file():
    """The path of scikit-learn's packaged ``digits.csv.gz``, or ``None`` if its layout has changed.

    Raises ImportError (naming the extra to install) when scikit-learn is not installed. scikit-learn is
    located, not imported.
    """
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise _missing_sklearn()
    for location in spec.submodule_search_locations or ():
        candidate = Path(location).joinpath(*_RELATIVE)
        if candidate.is_file():
            return candidate
    return None


def _parse(path):
    path = Path(os.fspath(path)).expanduser()
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"{path}: expected 65 columns (64 pixels and the label), found {table.shape[1]}")
    if not np.array_equal(table, np.round(table)) or table.min() < 0:
        raise ValueError(f"{path}: expected non-negative integers")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.max() > 16 or labels.max() > 9:
        raise ValueError(f"{path}: pixel values must be 0-16 and labels 0-9")
    return pixels.astype(np.uint8).reshape(-1, 8, 8), labels.astype(np.uint8)


def load_all(path=None):
    """All 1,797 digits: ``(x, y)``, uint8 ``(1797, 8, 8)`` with values 0-16, and uint8 labels ``(1797,)``.

    ``path`` reads a ``digits.csv(.gz)`` file instead of scikit-learn's copy.
    """
    if path is not None:
        return _parse(path)
    found = data_file()
    if found is not None:
        return _parse(found)
    # scikit-learn is installed but keeps the file elsewhere: ask its loader (this imports scikit-learn).
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return np.asarray(x).astype(np.uint8).reshape(-1, 8, 8), np.asarray(y).astype(np.uint8)


def load_data(test_split=0.2, seed=113, *, path=None):
    """Loads the digits, shuffled and split: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        test_split: fraction of the samples held out for the test split, in ``[0, 1)``.
        seed: seed of the shuffle before the split (``None`` for an unseeded shuffle), like Keras's
            ``boston_housing.load_data(test_split=0.2, seed=113)``.
        path: a ``digits.csv(.gz)`` file to read instead of scikit-learn's packaged copy.

    Returns:
        uint8 images ``(N, 8, 8)`` with values 0-16 (divide by 16 for 0-1 floats) and uint8 labels 0-9;
        with the defaults 1,437 train and 360 test samples.

    Raises:
        ImportError: scikit-learn is not installed (``pip install "framework[datasets]"``).
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1), got {test_split}")
    x, y = load_all(path)
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
