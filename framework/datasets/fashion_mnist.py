"""Fashion-MNIST, as ``keras.datasets.fashion_mnist``: 60,000 training and 10,000 test images of clothes.

Same layout as MNIST (28x28 uint8 images, uint8 labels 0-9, IDX files) and the same API as
:mod:`framework.datasets.mnist`. The four files come from Keras's mirror (Zalando's own bucket is the
fallback), are verified by sha256 and cached in ``~/.framework/datasets/fashion-mnist/``.

| label | class       | label | class      |
|-------|-------------|-------|------------|
| 0     | T-shirt/top | 5     | Sandal     |
| 1     | Trouser     | 6     | Shirt      |
| 2     | Pullover    | 7     | Sneaker    |
| 3     | Dress       | 8     | Bag        |
| 4     | Coat        | 9     | Ankle boot |

License: the copyright of Fashion-MNIST is held by Zalando SE; it is licensed under the MIT license.
"""
from framework.datasets import _idx_dataset as _base
from framework.datasets._idx_dataset import IDXDataset, IDXFile

__all__ = ["load_data", "load_test_data", "load_sample", "CLASS_NAMES", "DATASET"]

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")

# sha256 as in Keras's keras/src/datasets/fashion_mnist.py; md5 as in Zalando's README and torchvision.
DATASET = IDXDataset(
    title="Fashion-MNIST",
    module="fashion_mnist",
    cache_subdir="datasets/fashion-mnist",
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras's mirror
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's
    ),
    x_train=IDXFile("train-images-idx3-ubyte.gz",
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
    y_train=IDXFile("train-labels-idx1-ubyte.gz",
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                    "25c81989df183df01b3e8a0aad5dffbe", 29_515),
    x_test=IDXFile("t10k-images-idx3-ubyte.gz",
                   "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                   "bef4ecab320f06d8554ea6380940ec79", 4_422_102),
    y_test=IDXFile("t10k-labels-idx1-ubyte.gz",
                   "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                   "bb300cfdad3c16e7a12a480ee83cd310", 5_148),
)


def load_data(path=None, *, cache_dir=None):
    """Loads Fashion-MNIST: ``(x_train, y_train), (x_test, y_test)``.

    Shapes and dtypes as Keras: uint8 ``(60000, 28, 28)``, ``(60000,)``, ``(10000, 28, 28)``,
    ``(10000,)``. ``path`` is ``None`` (the cache, downloading the first time), a folder holding the four
    IDX files (gzipped or not) or one of them. See :func:`framework.datasets.mnist.load_data`.
    """
    return _base.load_data(DATASET, path, cache_dir)


def load_test_data(path=None, *, cache_dir=None):
    """The Fashion-MNIST test split ``(x_test, y_test)``, from ``path`` or the cache."""
    return _base.load_test_data(DATASET, path, cache_dir)


def load_sample(path=None, n_train=8000, n_test=2000, *, cache_dir=None):
    """The first ``n_train`` and last ``n_test`` images of the Fashion-MNIST test set, as two splits.

    From ``path`` when given, else from the cache (downloading the two test files if needed).
    """
    x, y = _base.load_test_data(DATASET, path, cache_dir, caller="load_sample")
    return _base.split_sample(x, y, n_train, n_test)
