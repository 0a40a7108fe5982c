"""MNIST handwritten digits, as ``keras.datasets.mnist``: 60,000 training and 10,000 test images.

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
``(60000, 28, 28)`` and ``(10000, 28, 28)`` (pixels 0-255) and uint8 labels 0-9 of shape ``(60000,)``
and ``(10000,)``, like Keras.

Keras downloads one ``mnist.npz``; this module downloads the four IDX files as published (they hold the
same arrays) and caches them in ``~/.framework/datasets/mnist/`` (``$FRAMEWORK_HOME`` replaces
``~/.framework``), each verified by its sha256. ``load_data(path=...)`` reads them from a local folder
instead (gzipped or not), or reads a Keras ``mnist.npz`` file. Without a network, the error says which
files to put where.

Also: ``load_test_data()`` for the test split alone, and ``load_sample()`` for the quick 8,000 / 2,000
split of the test set that ``../shared/data/mnist`` supports (see that folder's README).

License: Yann LeCun and Corinna Cortes hold the copyright of the MNIST dataset, a derivative work of the
original NIST datasets, made available under the Creative Commons Attribution-Share Alike 3.0 license.
"""
from framework.datasets import _idx_dataset as _base
from framework.datasets._idx_dataset import IDXDataset, IDXFile

__all__ = ["load_data", "load_test_data", "load_sample", "DATASET", "SHARED_DIR"]

# Checksums of the files as published; the same bytes on every mirror. The t10k files' md5 equal
# ../shared/data/mnist/MD5SUMS, and their sha256 were computed on those files.
DATASET = IDXDataset(
    title="MNIST",
    module="mnist",
    cache_subdir="datasets/mnist",
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # CVDF mirror, used by TensorFlow Datasets
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror (torchvision)
        "http://yann.lecun.com/exdb/mnist/",  # the MNIST site
    ),
    x_train=IDXFile("train-images-idx3-ubyte.gz",
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
    y_train=IDXFile("train-labels-idx1-ubyte.gz",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
    x_test=IDXFile("t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                   "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
    y_test=IDXFile("t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                   "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
)

# The shared MNIST test files next to the project checkout (../shared/data/mnist from its root).
SHARED_DIR = _base.PROJECT_ROOT.parent / "shared" / "data" / "mnist"


def load_data(path=None, *, cache_dir=None):
    """Loads MNIST: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        path: ``None`` to use the cache (downloading the four files the first time); a folder holding
            ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``
            and ``t10k-labels-idx1-ubyte.gz`` (gzipped or not), or one of those files; or a Keras
            ``mnist.npz`` file.
        cache_dir: the cache home instead of ``$FRAMEWORK_HOME`` or ``~/.framework``.

    Returns:
        ``x_train`` uint8 ``(60000, 28, 28)``, ``y_train`` uint8 ``(60000,)``, ``x_test`` uint8
        ``(10000, 28, 28)``, ``y_test`` uint8 ``(10000,)``.

    Raises:
        FileNotFoundError: ``path`` lacks some of the files (the message names them; with only the test
            files, use :func:`load_test_data` or :func:`load_sample`).
        framework.datasets.cache.DownloadError: offline and not cached; the message says what to do.
        framework.datasets.idx.IDXError: a file is not a valid MNIST IDX file.
    """
    return _base.load_data(DATASET, path, cache_dir)


def load_test_data(path=None, *, cache_dir=None):
    """The MNIST test split ``(x_test, y_test)``: uint8 ``(10000, 28, 28)`` and ``(10000,)``.

    ``path`` is a folder holding the two ``t10k-*`` files (or one of them); ``None`` uses the cache,
    downloading only those two files.
    """
    return _base.load_test_data(DATASET, path, cache_dir)


def load_sample(path=None, n_train=8000, n_test=2000, *, cache_dir=None):
    """A quick split of the MNIST *test* set: its first ``n_train`` images train, its last ``n_test`` test.

    The 8,000 / 2,000 default is the split documented with ``../shared/data/mnist``. The files are looked
    for in ``path`` when given (an error if they are not there), else in ``../shared/data/mnist`` next to
    the project checkout, else in the cache (downloading the two test files if needed).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``, uint8, shapes ``(n_train, 28, 28)``, ``(n_train,)``,
        ``(n_test, 28, 28)``, ``(n_test,)``.
    """
    if path is None and all(_base._find_local(SHARED_DIR, spec) for spec in DATASET.test_files):
        path = SHARED_DIR
    x, y = _base.load_test_data(DATASET, path, cache_dir, caller="load_sample")
    return _base.split_sample(x, y, n_train, n_test)
