"""Reading HDF5 files from strangers: the whole tree is walked and checked before any data is read.

Refused, naming the object's path: soft links and external links (an external link makes the
HDF5 library open another file, which may be anywhere), datasets stored in external raw files or
assembled from other files (virtual datasets), datasets whose filters are not HDF5's built-in
deflate / shuffle / Fletcher-32 or h5py's LZF (any other filter number makes the HDF5 library
search ``HDF5_PLUGIN_PATH`` and load a shared library: code), datasets declaring more than
``MAX_DATASET_BYTES``, trees deeper than ``MAX_DEPTH`` or with more than ``MAX_OBJECTS`` objects.
A dataset is read only once its declared shape and dtype equal what the model needs, into an
array allocated from that expected shape; string attributes are read only when their declared
element count is bounded. Nothing here imports, evaluates or unpickles anything.
"""
import contextlib

import numpy as np

from framework.config.bounded_yaml import short
from framework.saving.keras_files.refusal import KerasFileError, need_h5py

MAX_DEPTH = 64
MAX_OBJECTS = 200_000
MAX_DATASET_BYTES = 2**33  # 8 GiB: far above any weight this library could hold in memory
MAX_ATTRIBUTE_ITEMS = 100_000
MAX_ATTRIBUTE_BYTES = 64 * 2**20
#: HDF5 filter ids that run no code outside the HDF5 library and h5py: deflate, shuffle, fletcher32, LZF
SAFE_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}
NUMERIC_KINDS = "fiub"


@contextlib.contextmanager
def open_h5(source, where):
    """The HDF5 file ``source`` (a path or a seekable binary file), opened read-only after
    ``check_tree`` passed on it. ``where`` names it in errors."""
    h5py = need_h5py()
    try:
        handle = h5py.File(source, "r")
    except (OSError, ValueError) as e:
        raise KerasFileError(f"{where}: not a readable HDF5 file ({short(str(e))})") from None
    with handle:
        check_tree(handle, where)
        yield handle


def check_tree(root, where):
    """Walk every link of the file (without following any but hard links) and check every dataset's
    storage; raise KerasFileError on the first refused object."""
    h5py = need_h5py()
    stack, seen = [(root, "", 0)], 0
    while stack:
        group, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise KerasFileError(f"{where}: {path or '/'} is nested more than {MAX_DEPTH} groups deep; refusing")
        check_attributes(group, where, path or "/")
        for name in group:
            seen += 1
            if seen > MAX_OBJECTS:
                raise KerasFileError(f"{where}: holds more than {MAX_OBJECTS:,} objects; refusing")
            child = f"{path}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise KerasFileError(f"{where}: {child} is an external link (to {short(link.filename)}:"
                                     f"{short(link.path)}); links to other files are refused")
            if isinstance(link, h5py.SoftLink):
                raise KerasFileError(f"{where}: {child} is a soft link (to {short(link.path)}); only plain "
                                     "groups and datasets are read")
            if not isinstance(link, h5py.HardLink):
                raise KerasFileError(f"{where}: {child} is a link of an unknown kind; refusing")
            item = group[name]
            if isinstance(item, h5py.Group):
                stack.append((item, child, depth + 1))
            elif isinstance(item, h5py.Dataset):
                check_dataset(item, where, child)
            else:
                raise KerasFileError(f"{where}: {child} is a {type(item).__name__}; only groups and datasets "
                                     "are read")


def check_dataset(dataset, where, path):
    """Refuse a dataset whose data lives outside the file, needs an unknown filter, or is absurd."""
    if dataset.is_virtual:
        raise KerasFileError(f"{where}: {path} is a virtual dataset (its data is read from other files); "
                             "refusing")
    if dataset.external:
        raise KerasFileError(f"{where}: {path} stores its data in external file(s) "
                             f"{short([e[0] for e in dataset.external])}; refusing")
    plist = dataset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in SAFE_FILTERS:
            raise KerasFileError(f"{where}: {path} uses HDF5 filter {code}, which would load a plugin library; "
                                 f"only {', '.join(SAFE_FILTERS.values())} are read")
    check_attributes(dataset, where, path)
    shape = dataset.shape
    if shape is None:  # a null dataspace holds nothing
        return
    count = 1
    for n in shape:
        count *= int(n)
    if count * dataset.dtype.itemsize > MAX_DATASET_BYTES:
        raise KerasFileError(f"{where}: {path} declares shape {short(shape)} ({count * dataset.dtype.itemsize:,} "
                             f"bytes); refusing anything over {MAX_DATASET_BYTES:,}")


def check_attributes(obj, where, path):
    for name in obj.attrs:
        attribute = obj.attrs.get_id(name)
        items = int(np.prod(attribute.shape)) if attribute.shape else 1
        try:
            stored = attribute.get_storage_size()
        except RuntimeError:  # an empty attribute has no storage to measure
            stored = 0
        if items > MAX_ATTRIBUTE_ITEMS or stored > MAX_ATTRIBUTE_BYTES:
            raise KerasFileError(f"{where}: {path}: attribute {short(name)} declares {items:,} items; refusing")


def read_array(dataset, shape, where, path):
    """The data of ``dataset`` as a new array of exactly ``shape``, refused unless its declared shape
    is ``shape`` and its dtype plain numbers."""
    h5py = need_h5py()
    if not isinstance(dataset, h5py.Dataset):
        raise KerasFileError(f"{where}: {path} is a {type(dataset).__name__}, expected a dataset of shape "
                             f"{tuple(shape)}")
    dtype = dataset.dtype
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise KerasFileError(f"{where}: {path} has dtype {short(str(dtype))}; weights are plain numbers")
    if tuple(dataset.shape or ()) != tuple(shape):
        raise KerasFileError(f"{where}: {path} has shape {short(tuple(dataset.shape or ()))}; the model needs "
                             f"{tuple(shape)}")
    out = np.empty(tuple(shape), dtype.newbyteorder("="))
    if out.size:
        try:
            dataset.read_direct(out)
        except (OSError, ValueError, TypeError) as e:
            raise KerasFileError(f"{where}: {path} could not be read ({short(str(e))})") from None
    return out


def read_strings(obj, name, where, path):
    """A list of strings from attribute ``name`` (bytes or str items, as Keras writes them), or None."""
    if name not in obj.attrs:
        return None
    value = obj.attrs[name]
    items = np.atleast_1d(value).tolist() if isinstance(value, np.ndarray) else [value]
    out = []
    for item in items:
        if isinstance(item, bytes):
            item = item.decode("utf-8", "replace")
        if not isinstance(item, str):
            if isinstance(value, np.ndarray) and value.size == 0:
                return []
            raise KerasFileError(f"{where}: {path}: attribute {name!r} must hold strings, found {short(item)}")
        out.append(item)
    return out


def read_text(obj, name, where, path):
    """A string attribute (``model_config``, ``training_config``), or None."""
    if name not in obj.attrs:
        return None
    value = obj.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise KerasFileError(f"{where}: {path}: attribute {name!r} must be a string, found {type(value).__name__}")
    return value
