"""What MNIST and Fashion-MNIST share: four IDX files, their mirrors and checksums, and the loaders."""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framework.datasets import cache
from framework.datasets.idx import IDXError, read_idx

# The project checkout's root (the folder holding ``framework/``); shared data sits beside it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class IDXFile:
    name: str  # file name as published, gzipped
    sha256: str
    md5: str
    size: int  # bytes of the .gz file


@dataclass(frozen=True)
class IDXDataset:
    title: str  # "MNIST"
    module: str  # "mnist", for messages (framework.datasets.<module>)
    cache_subdir: str  # relative to the cache home
    mirrors: tuple  # base URLs ending in "/", tried in order
    x_train: IDXFile
    y_train: IDXFile
    x_test: IDXFile
    y_test: IDXFile
    image_shape: tuple = (28, 28)
    num_classes: int = 10

    @property
    def train_files(self):
        return (self.x_train, self.y_train)

    @property
    def test_files(self):
        return (self.x_test, self.y_test)

    @property
    def all_files(self):
        return self.train_files + self.test_files


# --- finding the files -------------------------------------------------------------------------------

def _local_candidates(folder, spec):
    """Names under which ``spec`` may sit in a local folder: as published (.gz) or decompressed."""
    raw = spec.name[:-3] if spec.name.endswith(".gz") else spec.name
    # Some copies use a dot before "idx" (train-images.idx3-ubyte), as the MNIST site's page names them.
    dotted = raw.replace("-idx", ".idx")
    return [folder / spec.name, folder / raw, folder / (dotted + ".gz"), folder / dotted]


def _find_local(folder, spec):
    for candidate in _local_candidates(folder, spec):
        if candidate.is_file():
            return candidate
    return None


def _folder_of(path):
    """The folder a ``path=`` argument names: the folder itself, or the folder of a file in it."""
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    raise FileNotFoundError(f"{path} does not exist (path= must be a folder holding the IDX files, or one "
                            f"of those files)")


def local_files(ds, folder, specs, purpose):
    """The paths of ``specs`` in ``folder``; FileNotFoundError naming the missing ones otherwise."""
    found = {spec.name: _find_local(folder, spec) for spec in specs}
    missing = [name for name, p in found.items() if p is None]
    if missing:
        present = [spec.name for spec in ds.all_files if _find_local(folder, spec) is not None]
        train_missing = any(spec.name in missing for spec in ds.train_files)
        msg = (f"{ds.title}: {purpose} needs {', '.join(s.name for s in specs)} in {folder}, but "
               f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"
               + (f" (found only {', '.join(present)})" if present else " (found none of the IDX files)") + ".")
        if train_missing and not any(spec.name in missing for spec in ds.test_files):
            msg += (f" The training files are missing: load_data() needs all four files. For the test split "
                    f"alone use framework.datasets.{ds.module}.load_test_data(path=...), or "
                    f"framework.datasets.{ds.module}.load_sample(path=...) for a train/test split of it.")
        msg += " Files may be gzipped (.gz) or not."
        raise FileNotFoundError(msg)
    return [found[spec.name] for spec in specs]


def _offline_message(ds, specs, cache_dir, error, caller):
    folder = cache.cache_path("", cache_dir, ds.cache_subdir)
    lines = []
    for s in specs:
        there = " - already there" if (folder / s.name).is_file() else ""
        lines.append(f"      {s.name}  ({s.size:,} bytes; sha256 {s.sha256}){there}")
    tried = "\n".join(f"  {url}: {reason}" for url, reason in error.attempts)
    return (f"{ds.title}: could not download {error.fname}; tried:\n{tried}\n"
            f"The network seems unreachable (or the server refuses). To use {ds.title} without a network, either\n"
            f"  * copy these files, gzipped as published (from one of the URLs above, on a machine with a\n"
            f"    network), into {folder}\n" + "\n".join(lines) + "\n"
            f"    (that folder is ${cache.ENV_VAR}/{ds.cache_subdir}, with ${cache.ENV_VAR} defaulting to "
            f"~/.framework),\n"
            f"  * or pass path= to a local folder holding them (gzipped or not): "
            f"framework.datasets.{ds.module}.{caller}(path='/path/to/{ds.module}').")


def cached_files(ds, specs, cache_dir=None, caller="load_data"):
    """The verified cached paths of ``specs``, downloading each missing one from the mirrors."""
    paths = []
    for spec in specs:
        try:
            paths.append(cache.get_file(spec.name, [m + spec.name for m in ds.mirrors], file_hash=spec.sha256,
                                        cache_subdir=ds.cache_subdir, cache_dir=cache_dir))
        except cache.DownloadError as error:
            raise cache.DownloadError(_offline_message(ds, specs, cache_dir, error, caller), fname=error.fname,
                                      fpath=error.fpath, attempts=error.attempts) from error
    return [Path(p) for p in paths]


# --- reading -------------------------------------------------------------------------------------------

def read_pair(ds, images_path, labels_path):
    """``(images, labels)`` from two IDX files, checked for rank, image size, type and matching counts."""
    images = read_idx(images_path, expected_ndim=3, expected_dtype=np.uint8)
    labels = read_idx(labels_path, expected_ndim=1, expected_dtype=np.uint8)
    if images.shape[1:] != ds.image_shape:
        raise IDXError(f"{images_path}: images of {images.shape[1]}x{images.shape[2]} pixels, expected "
                       f"{ds.image_shape[0]}x{ds.image_shape[1]} for {ds.title}")
    if len(images) != len(labels):
        raise IDXError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.size and int(labels.max()) >= ds.num_classes:
        raise IDXError(f"{labels_path}: label {int(labels.max())} out of range 0-{ds.num_classes - 1}")
    return images, labels


def _read_npz(ds, path):
    """Keras's ``mnist.npz`` layout (x_train, y_train, x_test, y_test), read without pickle."""
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
        if missing:
            raise ValueError(f"{path}: not a Keras {ds.title} .npz file (missing {', '.join(missing)})")
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_data(ds, path=None, cache_dir=None):
    if path is not None and Path(os.fspath(path)).suffix == ".npz":
        return _read_npz(ds, Path(os.fspath(path)).expanduser())
    if path is None:
        files = cached_files(ds, ds.all_files, cache_dir)
    else:
        files = local_files(ds, _folder_of(path), ds.all_files, "load_data()")
    x_train, y_train = read_pair(ds, files[0], files[1])
    x_test, y_test = read_pair(ds, files[2], files[3])
    return (x_train, y_train), (x_test, y_test)


def load_test_data(ds, path=None, cache_dir=None, caller="load_test_data"):
    if path is None:
        files = cached_files(ds, ds.test_files, cache_dir, caller)
    else:
        files = local_files(ds, _folder_of(path), ds.test_files, f"{caller}()")
    return read_pair(ds, files[0], files[1])


def split_sample(x, y, n_train, n_test):
    """The first ``n_train`` samples and the last ``n_test``."""
    n_train, n_test = int(n_train), int(n_test)
    if n_train < 0 or n_test < 0:
        raise ValueError(f"n_train and n_test must be >= 0, got {n_train} and {n_test}")
    if n_train + n_test > len(x):
        raise ValueError(f"n_train + n_test = {n_train + n_test} but the test set holds only {len(x)} samples")
    return (x[:n_train], y[:n_train]), (x[len(x) - n_test:], y[len(y) - n_test:])
