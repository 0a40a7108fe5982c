"""Where the ImageNet weights of the applications live, and how they are loaded.

``weights="imagenet"`` looks for the file Keras publishes, under the name Keras gives it, in the
Keras cache folder: ``$KERAS_HOME/models`` when ``KERAS_HOME`` is set, else ``~/.keras/models``
(so files Keras already downloaded are used as they are). When it is missing, the error names the
file, its URL and the folder. ``download_weights(...)`` fetches it through
``framework.datasets.get_file`` (a temporary file, verified against the checksum Keras publishes,
then renamed; nothing is left on failure). Keras publishes no checksum for the MobileNet V1 and V2
files: those are downloaded only when the caller passes ``file_hash``.

Application weight files are legacy ``.h5`` files (``layer_names`` / ``weight_names``); they are read
by the safe Keras file reader (``framework.saving.keras_files``: the HDF5 tree checked before any
data is read, every array checked against the model's shape).
"""
import os
from dataclasses import dataclass

from framework.datasets.cache import get_file, validate_file

KERAS_STORAGE = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class WeightFile:
    """A file Keras publishes.

    Args:
        file_name: its name in the Keras cache (``~/.keras/models/<file_name>``).
        url: where Keras downloads it from.
        file_hash: its md5 or sha256 as Keras checks it, or None where Keras publishes none.
    """
    file_name: str
    url: str
    file_hash: str = None


CLASS_INDEX = WeightFile("imagenet_class_index.json",
                         "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
                         "c2c37ea517e94d9795004a39431a14cb")


def keras_home():
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def keras_models_dir():
    """The folder Keras keeps application weights in: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    return os.path.join(keras_home(), "models")


def published(folder, file_name, file_hash=None, base=KERAS_STORAGE):
    return WeightFile(file_name, f"{base}{folder}{file_name}", file_hash)


def local_weights(record, where):
    """The cached path of ``record``; a clear error naming the file, its URL and the folder when absent."""
    path = os.path.join(keras_models_dir(), record.file_name)
    if not os.path.isfile(path):
        checksum = f" (md5/sha256 {record.file_hash})" if record.file_hash else ""
        raise FileNotFoundError(
            f"{where}: weights='imagenet' needs Keras's weight file {record.file_name}, which is not in "
            f"{keras_models_dir()}. Download {record.url}{checksum} into that folder (the folder is "
            "$KERAS_HOME/models when KERAS_HOME is set), or call framework.applications.download_weights("
            f"{record.file_name!r}), or pass weights=<path of the file>.")
    if record.file_hash and not validate_file(path, record.file_hash):
        raise ValueError(f"{where}: {path} does not have the checksum Keras publishes ({record.file_hash}); "
                         f"the file is damaged or another file: delete it and download {record.url} again")
    return path


def download_weights(record_or_name, file_hash=None, force_download=False):
    """Download a published weight file into the Keras cache folder, verified against its checksum.

    Args:
        record_or_name: a ``WeightFile`` or the file name an application's error message gave.
        file_hash: the md5 or sha256 to check, needed for files Keras publishes without one
            (MobileNet V1 and V2); otherwise Keras's own checksum is used.
        force_download: download again even when a valid file is cached.

    Returns:
        The path of the verified file.
    """
    record = record_or_name if isinstance(record_or_name, WeightFile) else find_record(record_or_name)
    expected = file_hash or record.file_hash
    if not expected:
        raise ValueError(f"{record.file_name}: Keras publishes no checksum for this file, and an unverified "
                         "download is refused; pass file_hash=<its md5 or sha256> (or download "
                         f"{record.url} yourself into {keras_models_dir()})")
    return get_file(record.file_name, record.url, file_hash=expected, cache_dir=keras_home(),
                    cache_subdir="models", force_download=force_download)


def download_class_index():
    """Download ``imagenet_class_index.json`` into the Keras cache folder (checksummed)."""
    return download_weights(CLASS_INDEX)


#: file name -> WeightFile for every record the families registered (download_weights by name)
RECORDS = {CLASS_INDEX.file_name: CLASS_INDEX}


def register(*records):
    for record in records:
        RECORDS[record.file_name] = record
    return records


def find_record(file_name):
    record = RECORDS.get(file_name)
    if record is None:
        family = file_name.split("_")[0]
        raise ValueError(f"{file_name!r} is not a weight file an application publishes; known files start "
                         f"like: {sorted(n for n in RECORDS if n.startswith(family))[:8] or sorted(RECORDS)[:8]}")
    return record


def load_application_weights(model, weights, record, where):
    """``weights`` into ``model``: None (keep the initial weights), ``"imagenet"`` (``record`` from the
    Keras cache) or the path of a Keras weight file (legacy ``.h5``, ``.weights.h5`` or ``.keras``)."""
    if weights is None:
        return model
    if weights == "imagenet":
        if record is None:
            raise ValueError(f"{where}: Keras publishes no ImageNet weights for these arguments")
        path = local_weights(record, where)
    else:
        path = os.fspath(weights)
    model.load_weights(path)
    return model


def check_weights_argument(weights, include_top, classes, where):
    """Keras's checks of ``weights`` before a model is built."""
    if not (weights is None or weights == "imagenet" or (isinstance(weights, (str, os.PathLike))
                                                         and os.path.exists(weights))):
        raise ValueError(f"{where}: weights must be None (random initialization), 'imagenet' (pre-training on "
                         f"ImageNet) or the path of a weights file that exists; received weights={weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{where}: with weights='imagenet' and include_top=True, classes must be 1000; "
                         f"received classes={classes}")
