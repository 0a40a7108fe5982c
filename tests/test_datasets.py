"""framework.datasets: IDX files, the download cache (offline), MNIST / Fashion-MNIST loaders, digits.

No test touches the network: an autouse fixture replaces the cache's URL opener with one that serves
``file://`` URLs only and refuses every other URL, and points ``FRAMEWORK_HOME`` at a temporary folder.
The real MNIST test files in ``../shared/data/mnist`` are used when present (skipped otherwise).
"""
import gzip
import hashlib
import importlib.util
import os
import pathlib
import urllib.error
import urllib.request

import numpy as np
import pytest

from framework import datasets
from framework.datasets import cache, digits, fashion_mnist, idx, mnist

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
HAVE_SHARED = (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file() and \
    (SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").is_file()
needs_shared = pytest.mark.skipif(not HAVE_SHARED, reason=f"MNIST test files not found in {SHARED_MNIST}")
HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None
needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN, reason='scikit-learn is not installed '
                                   '(pip install "framework[datasets]")')
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # ../shared/data/README.md


class Offline:
    """Stands in for urllib.request.urlopen: file:// URLs work, anything else is 'unreachable'."""

    def __init__(self):
        self.calls = []

    def __call__(self, request, timeout=None):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        self.calls.append(url)
        if url.startswith("file:"):
            return urllib.request.urlopen(request, timeout=timeout)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution (test: offline)")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    opener = Offline()
    monkeypatch.setattr(cache, "_urlopen", opener)
    monkeypatch.setenv("FRAMEWORK_HOME", str(tmp_path / "home"))
    return opener


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def md5(data):
    return hashlib.md5(data).hexdigest()


def leftovers(folder):
    folder = pathlib.Path(folder)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- IDX ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((4, 3, 5)) * 50).astype(dtype)
    path = idx.write_idx(tmp_path / name, array)
    back = idx.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == (4, 3, 5)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_idx_header_layout_is_mnist_like(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = idx.write_idx(tmp_path / "images", images).read_bytes()
    assert raw[:4] == bytes.fromhex("00000803")
    assert np.frombuffer(raw[4:16], ">u4").tolist() == [2, 28, 28]
    assert len(raw) == 16 + images.size
    labels = idx.write_idx(tmp_path / "labels", np.array([3, 1, 4], np.uint8)).read_bytes()
    assert labels[:8] == bytes.fromhex("00000801 00000003")
    np.testing.assert_array_equal(idx.parse_idx(raw), images)
    np.testing.assert_array_equal(idx.parse_idx(gzip.compress(labels)), [3, 1, 4])


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    idx.write_idx(tmp_path / "plain.gz", array, compress=False)
    idx.write_idx(tmp_path / "zipped", array, compress=True)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "plain.gz"), array)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "zipped"), array)


@pytest.mark.parametrize("magic", ["01000801", "00000f01", "00000800"])
def test_idx_bad_magic(tmp_path, magic):
    path = tmp_path / "bad"
    path.write_bytes(bytes.fromhex(magic) + bytes(12))
    with pytest.raises(idx.IDXError, match="magic"):
        idx.read_idx(path)


def test_idx_not_idx_at_all(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(idx.IDXError, match="not an IDX file"):
        idx.read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_truncated(tmp_path, compress):
    full = idx.write_idx(tmp_path / "full", np.zeros((10, 28, 28), np.uint8)).read_bytes()
    for cut, what in [(2, "magic number"), (10, "header's 3 dimension sizes"), (16 + 500, "header says")]:
        data = full[:cut]
        path = tmp_path / f"cut{cut}"
        path.write_bytes(gzip.compress(data) if compress else data)
        with pytest.raises(idx.IDXError, match=f"truncated IDX file: the {what}"):
            idx.read_idx(path)


def test_idx_truncated_gzip_stream(tmp_path):
    zipped = gzip.compress(idx.write_idx(tmp_path / "x", np.arange(5000, dtype=np.int32)).read_bytes())
    path = tmp_path / "cut.gz"
    path.write_bytes(zipped[: len(zipped) // 2])
    with pytest.raises(idx.IDXError, match="truncated"):
        idx.read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    path = idx.write_idx(tmp_path / "x", np.arange(6, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with pytest.raises(idx.IDXError, match="2 more bytes"):
        idx.read_idx(path)


def test_idx_wrong_rank_and_type(tmp_path):
    path = idx.write_idx(tmp_path / "labels", np.arange(6, dtype=np.uint8))
    with pytest.raises(idx.IDXError, match="wrong rank.*expected 3"):
        idx.read_idx(path, expected_ndim=3)
    with pytest.raises(idx.IDXError, match="float32"):
        idx.read_idx(path, expected_dtype=np.float32)
    assert idx.read_idx(path, expected_ndim=1, expected_dtype=np.uint8).shape == (6,)


def test_idx_write_rejects_unsupported():
    with pytest.raises(TypeError, match="int64"):
        idx.write_idx("unused", np.arange(3, dtype=np.int64))


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        idx.read_idx(tmp_path / "absent.gz")


# --- cache / get_file (offline) ------------------------------------------------------------------------

@pytest.fixture
def source(tmp_path):
    """A file served from a local file:// URL."""
    folder = tmp_path / "server"
    folder.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one download chunk
    (folder / "blob.bin").write_bytes(data)
    return folder, data, (folder / "blob.bin").as_uri()


def test_cache_folder_default_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FRAMEWORK_HOME")
    assert cache.framework_home() == pathlib.Path.home() / ".framework"
    assert cache.cache_path("f.gz") == pathlib.Path.home() / ".framework" / "datasets" / "f.gz"
    monkeypatch.setenv("FRAMEWORK_HOME", str(tmp_path / "elsewhere"))
    assert cache.cache_path("f.gz", cache_subdir="datasets/mnist") == tmp_path / "elsewhere/datasets/mnist/f.gz"
    assert cache.cache_path("f.gz", cache_dir=tmp_path / "arg") == tmp_path / "arg" / "datasets" / "f.gz"


def test_get_file_downloads_once_and_verifies(source, tmp_path, offline):
    _, data, url = source
    path = cache.get_file("blob.bin", origin=url, file_hash=sha256(data), verbose=False)
    assert pathlib.Path(path) == tmp_path / "home" / "datasets" / "blob.bin"
    assert pathlib.Path(path).read_bytes() == data
    assert offline.calls == [url]
    # Cached: the origin is not asked again (here it could not even be reached).
    again = cache.get_file("blob.bin", origin="https://example.invalid/blob.bin", file_hash=sha256(data),
                           verbose=False)
    assert again == path and offline.calls == [url]
    assert leftovers(pathlib.Path(path).parent) == ["blob.bin"]


def test_get_file_md5_and_both_hashes(source, tmp_path):
    _, data, url = source
    path = cache.get_file(origin=url, md5_hash=md5(data), cache_dir=tmp_path / "c", verbose=False)
    assert pathlib.Path(path) == tmp_path / "c" / "datasets" / "blob.bin"  # name taken from the URL
    assert cache.validate_file(path, md5(data)) and cache.validate_file(path, sha256(data))
    assert not cache.validate_file(path, "0" * 64)
    path2 = cache.get_file("b2", url, md5_hash=md5(data), file_hash=sha256(data), cache_subdir="x/y",
                           verbose=False)
    assert pathlib.Path(path2).parent == tmp_path / "home" / "x" / "y"


def test_get_file_checksum_mismatch_keeps_nothing(source, tmp_path):
    _, data, url = source
    with pytest.raises(cache.ChecksumError, match="sha256"):
        cache.get_file("blob.bin", url, file_hash="0" * 64, verbose=False)
    assert leftovers(tmp_path / "home" / "datasets") == []  # neither the file nor a temporary file
    with pytest.raises(cache.ChecksumError, match="md5"):
        cache.get_file("blob.bin", url, md5_hash="0" * 32, verbose=False)
    assert leftovers(tmp_path / "home" / "datasets") == []


def test_get_file_interrupted_download_keeps_nothing(monkeypatch, tmp_path):
    class Broken:
        headers = {}

        def __init__(self):
            self.sent = 0

        def read(self, n):
            if self.sent:
                raise ConnectionResetError("connection reset by peer (test)")
            self.sent += 1
            return b"x" * 1000

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(cache, "_urlopen", lambda request, timeout=None: Broken())
    with pytest.raises(cache.DownloadError, match="connection reset"):
        cache.get_file("f.gz", "https://example.invalid/f.gz", file_hash="0" * 64, verbose=False)
    assert leftovers(tmp_path / "home" / "datasets") == []


def test_get_file_short_read_is_a_failure(monkeypatch, tmp_path):
    class Short:
        headers = {"Content-Length": "5000"}
        done = False

        def read(self, n):
            if self.done:
                return b""
            self.done = True
            return b"y" * 100

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(cache, "_urlopen", lambda request, timeout=None: Short())
    with pytest.raises(cache.DownloadError):
        cache.get_file("f", "https://example.invalid/f", verbose=False)
    assert leftovers(tmp_path / "home" / "datasets") == []


def test_get_file_replaces_a_corrupt_cached_file(source, tmp_path):
    _, data, url = source
    target = tmp_path / "home" / "datasets" / "blob.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"stale")
    with pytest.warns(UserWarning, match="corrupt or outdated"):
        path = cache.get_file("blob.bin", url, file_hash=sha256(data), verbose=False)
    assert pathlib.Path(path).read_bytes() == data


def test_get_file_tries_mirrors_in_order(source, offline):
    _, data, url = source
    path = cache.get_file("blob.bin", ["https://down.invalid/blob.bin", url], file_hash=sha256(data),
                          verbose=False)
    assert pathlib.Path(path).read_bytes() == data
    assert offline.calls == ["https://down.invalid/blob.bin", url]


def test_get_file_offline_message(tmp_path):
    with pytest.raises(cache.DownloadError) as info:
        cache.get_file("f.gz", "https://example.invalid/f.gz", file_hash="ab" * 32, verbose=False)
    message = str(info.value)
    assert "https://example.invalid/f.gz" in message and "unreachable" in message
    assert str(tmp_path / "home" / "datasets" / "f.gz") in message  # where to put the file
    assert "sha256 " + "ab" * 32 in message
    assert isinstance(info.value, OSError)
    assert leftovers(tmp_path / "home" / "datasets") == []


def test_get_file_http_error_is_reported(monkeypatch):
    def refuse(request, timeout=None):
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, None)

    monkeypatch.setattr(cache, "_urlopen", refuse)
    with pytest.raises(cache.DownloadError, match="HTTP 403 Forbidden"):
        cache.get_file("f", "https://example.invalid/f", verbose=False)


def test_get_file_bad_arguments():
    with pytest.raises(ValueError, match="origin"):
        cache.get_file("f")
    with pytest.raises(ValueError, match="algorithm"):
        cache.get_file("f", "file:///nowhere/f", file_hash="abc")


# --- MNIST and Fashion-MNIST from files the test writes ------------------------------------------------

def write_set(folder, n_train=12, n_test=7, gz=True, only=None):
    """Small IDX files with the MNIST names: images (n, 28, 28), labels 0-9."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        if only is None or name.startswith(only):
            idx.write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("module", [mnist, fashion_mnist])
@pytest.mark.parametrize("gz", [True, False])
def test_load_data_from_folder(tmp_path, module, gz):
    arrays = write_set(tmp_path / "data", gz=gz)
    (x_train, y_train), (x_test, y_test) = module.load_data(path=tmp_path / "data")
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert x_train.dtype == y_train.dtype == np.uint8
    # A file of the folder names the folder too.
    (again, _), _ = module.load_data(path=next((tmp_path / "data").iterdir()))
    np.testing.assert_array_equal(again, x_train)


def test_load_data_with_test_files_only_says_training_files_are_missing(tmp_path):
    write_set(tmp_path / "data", only="t10k")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz are "
                                                "missing.*training files are missing.*load_test_data"):
        mnist.load_data(path=tmp_path / "data")
    x, y = mnist.load_test_data(path=tmp_path / "data")
    assert x.shape == (7, 28, 28) and y.shape == (7,)


def test_load_data_path_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mnist.load_data(path=tmp_path / "nowhere")


def test_load_data_rejects_wrong_files(tmp_path):
    arrays = write_set(tmp_path / "data", n_train=5)
    idx.write_idx(tmp_path / "data" / "train-labels-idx1-ubyte.gz", arrays["train-labels-idx1-ubyte"][:4])
    with pytest.raises(idx.IDXError, match="5 images but.*4 labels"):
        mnist.load_data(path=tmp_path / "data")
    idx.write_idx(tmp_path / "data" / "train-images-idx3-ubyte.gz", np.zeros((5, 8, 8), np.uint8))
    with pytest.raises(idx.IDXError, match="8x8 pixels"):
        mnist.load_data(path=tmp_path / "data")
    idx.write_idx(tmp_path / "data" / "train-images-idx3-ubyte.gz", np.zeros((5, 784), np.uint8))
    with pytest.raises(idx.IDXError, match="wrong rank"):
        mnist.load_data(path=tmp_path / "data")


def test_load_data_from_keras_npz(tmp_path):
    arrays = write_set(tmp_path / "data")
    np.savez(tmp_path / "mnist.npz", x_train=arrays["train-images-idx3-ubyte"],
             y_train=arrays["train-labels-idx1-ubyte"], x_test=arrays["t10k-images-idx3-ubyte"],
             y_test=arrays["t10k-labels-idx1-ubyte"])
    (x_train, _), (_, y_test) = mnist.load_data(path=tmp_path / "mnist.npz")
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("module, subdir", [(mnist, "mnist"), (fashion_mnist, "fashion-mnist")])
def test_load_data_offline_says_what_to_do(tmp_path, module, subdir):
    with pytest.raises(cache.DownloadError) as info:
        module.load_data()
    message = str(info.value)
    folder = tmp_path / "home" / "datasets" / subdir
    assert str(folder) in message
    for spec in module.DATASET.all_files:
        assert spec.name in message and spec.sha256 in message
    assert "path=" in message and "unreachable" in message
    for mirror in module.DATASET.mirrors:  # each mirror was tried, none reached
        assert mirror + "train-images-idx3-ubyte.gz" in message
    assert leftovers(folder) == []


def test_load_data_uses_verified_cache(tmp_path, monkeypatch, offline):
    """Files already in the cache folder with the right checksums are used without any download."""
    arrays = write_set(tmp_path / "made")
    specs = {}
    for name in arrays:
        data = (tmp_path / "made" / (name + ".gz")).read_bytes()
        specs[name] = mnist.IDXFile(name + ".gz", sha256(data), md5(data), len(data))
    fake = mnist.IDXDataset("MNIST", "mnist", "datasets/mnist", ("https://example.invalid/",),
                            specs["train-images-idx3-ubyte"], specs["train-labels-idx1-ubyte"],
                            specs["t10k-images-idx3-ubyte"], specs["t10k-labels-idx1-ubyte"])
    monkeypatch.setattr(mnist, "DATASET", fake)
    folder = tmp_path / "home" / "datasets" / "mnist"
    folder.mkdir(parents=True)
    for name in arrays:
        (folder / (name + ".gz")).write_bytes((tmp_path / "made" / (name + ".gz")).read_bytes())
    (x_train, _), (_, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert offline.calls == []
    # A tampered cached file is not trusted: it is fetched again, and offline that fails clearly.
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    with pytest.warns(UserWarning, match="corrupt"), pytest.raises(cache.DownloadError, match="already there"):
        mnist.load_data()


def test_load_sample_split(tmp_path):
    arrays = write_set(tmp_path / "data", n_test=10, only="t10k")
    (x_train, y_train), (x_test, y_test) = mnist.load_sample(path=tmp_path / "data", n_train=6, n_test=3)
    np.testing.assert_array_equal(x_train, arrays["t10k-images-idx3-ubyte"][:6])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"][7:])
    assert x_test.shape == (3, 28, 28) and y_train.shape == (6,)
    with pytest.raises(ValueError, match="holds only 10"):
        mnist.load_sample(path=tmp_path / "data", n_train=8, n_test=3)
    with pytest.raises(FileNotFoundError, match="load_sample"):
        mnist.load_sample(path=tmp_path)  # an explicit path is not silently replaced by another folder


def test_package_exports():
    assert datasets.get_file is cache.get_file
    assert datasets.mnist is mnist and datasets.fashion_mnist is fashion_mnist and datasets.digits is digits
    assert fashion_mnist.CLASS_NAMES[9] == "Ankle boot"


# --- the real MNIST test files in ../shared/data/mnist ---------------------------------------------------

@needs_shared
def test_shared_files_match_md5sums():
    sums = dict(reversed(line.split()) for line in (SHARED_MNIST / "MD5SUMS").read_text().splitlines() if line)
    assert set(sums) == {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    for name, want in sums.items():
        assert cache.hash_file(SHARED_MNIST / name, "md5") == want
        spec = {s.name: s for s in mnist.DATASET.all_files}[name]
        assert spec.md5 == want  # the md5 in mnist.py is the published one
        assert cache.validate_file(SHARED_MNIST / name, spec.sha256)  # and so is the sha256
        assert (SHARED_MNIST / name).stat().st_size == spec.size


@needs_shared
def test_shared_test_split():
    x, y = mnist.load_test_data(path=SHARED_MNIST)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert x.min() == 0 and x.max() == 255
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # MNIST's first test labels


@needs_shared
def test_shared_load_data_fails_clearly_without_training_files():
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data(path=SHARED_MNIST)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "training files are missing" in message
    assert "load_test_data" in message and "load_sample" in message


@needs_shared
def test_shared_sample_is_the_documented_split(offline):
    (x_train, y_train), (x_test, y_test) = mnist.load_sample(path=SHARED_MNIST)
    assert x_train.shape == (8000, 28, 28) and y_train.shape == (8000,)
    assert x_test.shape == (2000, 28, 28) and y_test.shape == (2000,)
    x, y = mnist.load_test_data(path=SHARED_MNIST)
    np.testing.assert_array_equal(x_train, x[:8000])
    np.testing.assert_array_equal(y_test, y[8000:])
    # Without path, load_sample finds ../shared/data/mnist next to the project by itself.
    (x_train2, _), (_, y_test2) = mnist.load_sample()
    np.testing.assert_array_equal(x_train2, x_train)
    np.testing.assert_array_equal(y_test2, y_test)
    assert offline.calls == []


@needs_shared
def test_shared_files_through_the_cache(monkeypatch, tmp_path, offline):
    """The real published files, 'downloaded' from a file:// mirror, pass the real sha256 checks."""
    ds = mnist.DATASET
    monkeypatch.setattr(mnist, "DATASET", mnist.IDXDataset(
        ds.title, ds.module, ds.cache_subdir, ("https://down.invalid/", SHARED_MNIST.as_uri() + "/"),
        ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    x, y = mnist.load_test_data()
    assert x.shape == (10000, 28, 28) and np.bincount(y).tolist() == MNIST_TEST_COUNTS
    folder = tmp_path / "home" / "datasets" / "mnist"
    assert leftovers(folder) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    calls = len(offline.calls)
    mnist.load_test_data()  # cached now
    assert len(offline.calls) == calls


# --- digits (scikit-learn's packaged copy of the UCI 8x8 digits) --------------------------------------------

@needs_sklearn
def test_digits_shapes_and_labels():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    assert x_train.dtype == y_train.dtype == np.uint8
    x = np.concatenate([x_train, x_test])
    y = np.concatenate([y_train, y_test])
    assert x.min() == 0 and x.max() == 16
    assert set(np.unique(y).tolist()) == set(range(10))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@needs_sklearn
def test_digits_split_is_seeded_and_matches_sklearn():
    a = digits.load_data(seed=1)
    b = digits.load_data(seed=1)
    c = digits.load_data(seed=2)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert not np.array_equal(a[0][1], c[0][1])
    (x_train, _), (x_test, _) = digits.load_data(test_split=0.5)
    assert len(x_train) == 898 and len(x_test) == 899
    x, y = digits.load_all()
    from sklearn.datasets import load_digits

    reference = load_digits()
    np.testing.assert_array_equal(x, reference.images)
    np.testing.assert_array_equal(y, reference.target)
    with pytest.raises(ValueError, match="test_split"):
        digits.load_data(test_split=1.0)


def test_digits_without_sklearn_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(ImportError, match=r'pip install "framework\[datasets\]"'):
        digits.load_data()


def test_digits_from_a_csv_path(tmp_path):
    rng = np.random.default_rng(0)
    table = np.concatenate([rng.integers(0, 17, (20, 64)), np.arange(20)[:, None] % 10], axis=1)
    path = tmp_path / "digits.csv.gz"
    with gzip.open(path, "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=0.25, seed=0, path=path)
    assert x_train.shape == (15, 8, 8) and x_test.shape == (5, 8, 8)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == sorted((np.arange(20) % 10).tolist())
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="65 columns"):
        digits.load_data(path=bad)
