"""Datasets, as ``keras.datasets``: ``mnist``, ``fashion_mnist`` and the offline ``digits``.

* :mod:`framework.datasets.mnist` and :mod:`framework.datasets.fashion_mnist`: ``load_data()`` downloads
  the four IDX files once (verified by sha256) into ``~/.framework/datasets/`` (``$FRAMEWORK_HOME``
  replaces ``~/.framework``) and returns Keras's ``(x_train, y_train), (x_test, y_test)``;
  ``load_data(path=...)`` reads a local folder instead. ``load_test_data`` and ``load_sample`` give the
  test split and a quick split of it.
* :mod:`framework.datasets.digits`: the 8x8 UCI digits shipped inside scikit-learn (the ``datasets``
  extra), read without a network.
* :mod:`framework.datasets.idx` reads and writes IDX files; :mod:`framework.datasets.cache` holds
  :func:`get_file`, the download-once cache.
"""
from framework.datasets import cache, digits, fashion_mnist, idx, mnist
from framework.datasets.cache import ChecksumError, DownloadError, get_file
from framework.datasets.idx import IDXError, read_idx, write_idx

__all__ = ["mnist", "fashion_mnist", "digits", "idx", "cache", "get_file", "read_idx", "write_idx",
           "IDXError", "ChecksumError", "DownloadError"]
