"""Data sources of a run config: checking them (before any work) and loading them.

A source is one of (paths are relative to the config file):

* ``train.npz``: a NumPy archive holding arrays ``x`` and ``y``;
* ``{npz: train.npz, x: images, y: labels}``: other array names; ``x``/``y`` may also be a list or a
  mapping (by model input / output name) of array names, for several inputs or outputs;
* ``{x: x.npy, y: y.npy}``: one ``.npy`` file per array (lists / mappings as above);
* ``table.csv`` or ``{csv: table.csv, target: label, features: [a, b], delimiter: ',', header: true}``:
  numeric CSV; the target defaults to the last column, the features to all other columns
  (``features`` may map input names to column lists);
* ``{idx: {images: t10k-images-idx3-ubyte.gz, labels: t10k-labels-idx1-ubyte.gz}}``: IDX files
  (gzipped or not), as MNIST is published;
* ``{dataset: mnist}``: a built-in dataset, ``split: train|test`` (default: ``train`` for
  ``data.train``, ``test`` for ``data.validation`` and ``data.test``), plus the dataset's own options.

Every form also takes ``start`` / ``stop``: keep samples ``[start:stop]`` only.

Only the dataset names in ``DATASETS`` exist: the ``synthetic_*`` ones are generated here;
the others are ``framework.datasets.<module>.<loader>()``, imported only when named.
"""
import csv
import gzip
import importlib
import inspect
import os
from pathlib import Path

import numpy as np

from framework.runs.catalog import EXTERNAL_DATASETS, REQUIRED, suggestion

FORMAT_KEYS = ("npz", "csv", "idx", "dataset")
COMMON_KEYS = ("start", "stop")
FORM_KEYS = {
    "npz": ("npz", "x", "y"),
    "csv": ("csv", "target", "features", "delimiter", "header"),
    "idx": ("idx",),
    "dataset": ("dataset", "split"),
    "files": ("x", "y"),
}
PATH_OPTIONS = ("path", "cache_dir")  # dataset options that name files: relative to the config file


# ----- synthetic datasets ---------------------------------------------------------------------------
def _feature_blocks(features):
    if isinstance(features, dict):
        return {str(k): int(v) for k, v in features.items()}
    return None


def _split_columns(x, features):
    blocks = _feature_blocks(features)
    if blocks is None:
        return x
    out, start = {}, 0
    for name, width in blocks.items():
        out[name] = np.ascontiguousarray(x[:, start:start + width])
        start += width
    return out


def _total_features(features):
    blocks = _feature_blocks(features)
    total = sum(blocks.values()) if blocks is not None else int(features)
    if total <= 0 or (blocks is not None and min(blocks.values()) <= 0):
        raise ValueError(f"features must be positive, received {features!r}")
    return total


def _split_rng(seed, split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', received {split!r}")
    return np.random.default_rng([int(seed), 0 if split == "train" else 1])


def synthetic_blobs(split="train", samples=1000, features=2, classes=3, noise=1.0, spread=3.0, seed=0):
    """Gaussian blobs for classification: ``classes`` centers drawn with standard deviation ``spread``
    (the same for both splits), samples around them with standard deviation ``noise``.

    ``features`` is a count, or a mapping of input names to counts (x is then a dict by input name,
    for a model with several inputs). Returns float32 x and int64 labels of shape (samples,).
    """
    total = _total_features(features)
    if int(classes) < 2 or int(samples) <= 0:
        raise ValueError(f"need classes >= 2 and samples > 0, received classes={classes}, samples={samples}")
    centers = np.random.default_rng(int(seed)).normal(0.0, float(spread), (int(classes), total))
    rng = _split_rng(seed, split)
    y = rng.integers(0, int(classes), int(samples))
    x = (centers[y] + float(noise) * rng.normal(size=(int(samples), total))).astype(np.float32)
    return _split_columns(x, features), y.astype(np.int64)


def synthetic_regression(split="train", samples=1000, features=4, targets=1, noise=0.1, seed=0):
    """A noisy linear regression task: ``y = x @ w + noise``, ``w`` fixed by ``seed``.

    ``features`` as in ``synthetic_blobs``. Returns float32 x and float32 y of shape (samples, targets).
    """
    total = _total_features(features)
    if int(targets) <= 0 or int(samples) <= 0:
        raise ValueError(f"need targets > 0 and samples > 0, received targets={targets}, samples={samples}")
    w = np.random.default_rng(int(seed)).normal(0.0, 1.0, (total, int(targets)))
    rng = _split_rng(seed, split)
    x = rng.normal(size=(int(samples), total))
    y = x @ w + float(noise) * rng.normal(size=(int(samples), int(targets)))
    return _split_columns(x.astype(np.float32), features), y.astype(np.float32)


SYNTHETIC = {"synthetic_blobs": synthetic_blobs, "synthetic_regression": synthetic_regression}
DATASETS = sorted(set(SYNTHETIC) | set(EXTERNAL_DATASETS))


def dataset_loader(name):
    """``(function, takes_split)`` for a dataset name; ImportError / AttributeError if its module
    (``framework.datasets.<module>``) is absent. Only names in ``DATASETS`` are ever imported."""
    if name in SYNTHETIC:
        return SYNTHETIC[name], True
    module_name, function = EXTERNAL_DATASETS[name]
    module = importlib.import_module(f"framework.datasets.{module_name}")
    return getattr(module, function), False


def function_params(fn):
    params = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        params[p.name] = p.default
    return params


# ----- checking -------------------------------------------------------------------------------------
def source_kind(source):
    for key in FORMAT_KEYS:
        if key in source:
            return key
    return "files"


def _is_structure(spec, leaf=str):
    if isinstance(spec, leaf):
        return True
    if isinstance(spec, list):
        return bool(spec) and all(isinstance(s, leaf) for s in spec)
    if isinstance(spec, dict):
        return bool(spec) and all(isinstance(k, str) and isinstance(v, leaf) for k, v in spec.items())
    return False


def _leaves(spec, path):
    """``[(path, leaf)]`` of a str / list / mapping spec."""
    if isinstance(spec, list):
        return [(path + (i,), s) for i, s in enumerate(spec)]
    if isinstance(spec, dict):
        return [(path + (k,), v) for k, v in spec.items()]
    return [(path, spec)]


def _map_structure(spec, fn):
    if isinstance(spec, list):
        return [fn(s) for s in spec]
    if isinstance(spec, dict):
        return {k: fn(v) for k, v in spec.items()}
    return fn(spec)


class SourceChecker:
    """Checks one source and returns it normalized (a mapping with absolute paths), or None.

    Args:
        base_dir: the folder relative paths are taken from (the config file's).
        report: ``report(path, message, key=False)``, called for each problem found.
    """

    def __init__(self, base_dir, report):
        self.base_dir = Path(base_dir)
        self.report = report  # report(path, message, key=False)

    def path(self, value, path, suffixes=None, what="file"):
        if not isinstance(value, str) or not value:
            self.report(path, f"expected a file path (a string), received {_describe(value)}")
            return None
        resolved = Path(os.path.expanduser(value))
        if not resolved.is_absolute():
            resolved = self.base_dir / resolved
        resolved = Path(os.path.normpath(resolved))
        if suffixes and not any(resolved.name.lower().endswith(s) for s in suffixes):
            self.report(path, f"expected a {what} ({' or '.join(suffixes)}), received {value!r}")
            return None
        if not resolved.exists():
            self.report(path, f"file not found: {value!r} (looked for {resolved})")
            return None
        return str(resolved)

    def check(self, value, path, slot):
        if isinstance(value, str):
            lower = value.lower()
            if lower.endswith(".npz"):
                value = {"npz": value}
            elif lower.endswith(".csv"):
                value = {"csv": value}
            elif lower.endswith(".npy"):
                self.report(path, "a .npy file holds one array; give the inputs and the targets: "
                                  "{x: features.npy, y: labels.npy}")
                return None
            else:
                self.report(path, f"cannot tell the format of {value!r}: use a .npz or .csv file, or a mapping "
                                  "({npz: ...}, {csv: ...}, {idx: ...}, {dataset: ...} or {x: a.npy, y: b.npy})")
                return None
        elif not isinstance(value, dict):
            self.report(path, f"a data source is a file path or a mapping, received {_describe(value)}")
            return None
        formats = [k for k in FORMAT_KEYS if k in value]
        if len(formats) > 1:
            self.report(path, f"a data source has one format; this one names {', '.join(formats)}")
            return None
        kind = formats[0] if formats else "files"
        if kind == "files" and "x" not in value:
            self.report(path, "a data source needs one of npz, csv, idx, dataset (or x and y .npy files); "
                              f"received keys {', '.join(map(str, value)) or 'none'}")
            return None
        ok = True
        allowed = list(FORM_KEYS[kind]) + list(COMMON_KEYS)
        options = {}
        if kind == "dataset":
            options = self._dataset_options(value, path)
            if options is None:
                return None
            allowed += [o for o in options if o not in allowed]
        for key in value:
            if key not in allowed:
                ok = False
                self.report(path + (key,), f"unknown key {key!r} in a {kind} data source; "
                            + suggestion(key, allowed, "keys"), key=True)
        for key in COMMON_KEYS:
            v = value.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                ok = False
                self.report(path + (key,), f"{key} must be an integer (a sample index), received {_describe(v)}")
        result = getattr(self, "_" + kind)(value, path, options)
        return result if ok else None

    def _npz(self, value, path, _):
        file = self.path(value["npz"], path + ("npz",), (".npz",), "NumPy .npz archive")
        result = dict(value)
        result.setdefault("x", "x")
        result.setdefault("y", "y")
        if file is None:
            return None
        result["npz"] = file
        try:
            with np.load(file, allow_pickle=False) as archive:
                names = list(archive.files)
        except (OSError, ValueError) as e:
            self.report(path + ("npz",), f"cannot read {value['npz']!r} as a .npz archive: {e}")
            return None
        ok = True
        for key in ("x", "y"):
            spec = result[key]
            if not _is_structure(spec):
                self.report(path + (key,), f"{key} names arrays in the archive: a name, a list of names or a "
                                           f"mapping of model {'input' if key == 'x' else 'output'} names to "
                                           f"array names; received {_describe(spec)}")
                ok = False
                continue
            for leaf_path, leaf in _leaves(spec, path + (key,)):
                if leaf not in names:
                    ok = False
                    self.report(leaf_path, f"no array {leaf!r} in {value['npz']!r}; "
                                + suggestion(leaf, names, "arrays"))
        return result if ok else None

    def _files(self, value, path, _):
        result, ok = dict(value), True
        if "y" not in value:
            self.report(path, "missing key 'y' (the targets): {x: features.npy, y: labels.npy}")
            return None
        for key in ("x", "y"):
            spec = value[key]
            if not _is_structure(spec):
                self.report(path + (key,), f"{key} is a .npy path, a list of paths or a mapping of model "
                                           f"{'input' if key == 'x' else 'output'} names to paths; "
                                           f"received {_describe(spec)}")
                ok = False
                continue
            resolved = {}
            for leaf_path, leaf in _leaves(spec, path + (key,)):
                resolved[leaf_path] = self.path(leaf, leaf_path, (".npy",), "NumPy .npy file")
                ok = ok and resolved[leaf_path] is not None
            if ok:
                leaves = iter([resolved[p] for p, _ in _leaves(spec, path + (key,))])
                result[key] = _map_structure(spec, lambda _: next(leaves))
        return result if ok else None

    def _csv(self, value, path, _):
        file = self.path(value["csv"], path + ("csv",), (".csv", ".csv.gz", ".txt", ".tsv"), "CSV file")
        result = dict(value)
        delimiter = value.get("delimiter", ",")
        header = value.get("header", True)
        ok = True
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            self.report(path + ("delimiter",), f"delimiter must be one character, received {_describe(delimiter)}")
            ok = False
        if not isinstance(header, bool):
            self.report(path + ("header",), f"header must be true or false, received {_describe(header)}")
            ok = False
        if file is None or not ok:
            return None
        result["csv"] = file
        try:
            columns = read_csv_header(file, delimiter, header)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            self.report(path + ("csv",), f"cannot read {value['csv']!r}: {e}")
            return None
        for key in ("target", "features"):
            spec = value.get(key)
            if spec is None:
                continue
            if not _is_structure(spec, (str, int)) or isinstance(spec, bool):
                self.report(path + (key,), f"{key} names columns: a column (name or index), a list of columns"
                            + (" or a mapping of model input names to column lists" if key == "features" else "")
                            + f"; received {_describe(spec)}")
                ok = False
                continue
            for leaf_path, leaf in _leaves(spec, path + (key,)):
                leaves = leaf if isinstance(leaf, list) else [leaf]
                for column in leaves:
                    if _column_index(column, columns) is None:
                        ok = False
                        self.report(leaf_path, f"no column {column!r} in {value['csv']!r}; "
                                    + suggestion(column, columns, "columns"))
        if isinstance(value.get("features"), dict):
            for name, cols in value["features"].items():
                if not (isinstance(cols, list) and cols and all(isinstance(c, (str, int)) for c in cols)):
                    self.report(path + ("features", name), "each input takes a list of columns")
                    ok = False
        return result if ok else None

    def _idx(self, value, path, _):
        spec = value["idx"]
        if not isinstance(spec, dict) or set(spec) - {"images", "labels"} or "images" not in spec \
                or "labels" not in spec:
            self.report(path + ("idx",), "idx takes {images: <images IDX file>, labels: <labels IDX file>}")
            return None
        files = {k: self.path(spec[k], path + ("idx", k)) for k in ("images", "labels")}
        if None in files.values():
            return None
        return {**value, "idx": files}

    def _dataset_options(self, value, path):
        name = value["dataset"]
        if not isinstance(name, str) or name not in DATASETS:
            self.report(path + ("dataset",), f"unknown dataset {name!r}; " + suggestion(name, DATASETS, "datasets"))
            return None
        try:
            fn, takes_split = dataset_loader(name)
        except (ImportError, AttributeError) as e:
            module = EXTERNAL_DATASETS[name][0]
            self.report(path + ("dataset",), f"dataset {name!r} is not available: framework.datasets.{module} "
                                             f"could not be loaded ({type(e).__name__}: {e})")
            return None
        return {k: d for k, d in function_params(fn).items() if k != "split"}

    def _dataset(self, value, path, options):
        result, ok = dict(value), True
        split = value.get("split", "train")
        if split not in ("train", "test"):
            self.report(path + ("split",), f"split must be 'train' or 'test', received {_describe(split)}")
            ok = False
        missing = [k for k, d in options.items() if d is REQUIRED and k not in value]
        for k in missing:
            ok = False
            self.report(path, f"dataset {value['dataset']!r} needs the option {k!r}")
        for k in PATH_OPTIONS:
            if k in options and isinstance(value.get(k), str):
                resolved = self.path(value[k], path + (k,))
                ok = ok and resolved is not None
                result[k] = resolved
        return result if ok else None


def _describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} {value!r}"
    return f"{type(value).__name__} {value!r}"


def _column_index(column, columns):
    if isinstance(column, bool):
        return None
    if isinstance(column, int):
        n = len(columns)
        return column % n if -n <= column < n else None
    return columns.index(column) if column in columns else None


def _open_text(path):
    return gzip.open(path, "rt", newline="", encoding="utf-8") if str(path).endswith(".gz") \
        else open(path, newline="", encoding="utf-8")


def read_csv_header(path, delimiter=",", header=True):
    """Column names (or '0', '1', ... without a header)."""
    with _open_text(path) as f:
        first = next(csv.reader(f, delimiter=delimiter), None)
    if first is None:
        raise ValueError("the file is empty")
    return [c.strip() for c in first] if header else [str(i) for i in range(len(first))]


# ----- loading --------------------------------------------------------------------------------------
class DataLoadError(ValueError):
    """A problem found while loading (reported by the caller at the source's line).

    Args:
        message: what is wrong.
        subpath: where inside the source the problem is (keys below the source's own path).
    """

    def __init__(self, message, subpath=()):
        super().__init__(message)
        self.subpath = tuple(subpath)


def load_source(source, default_split="train"):
    """``(x, y)`` from a normalized source (see ``SourceChecker``); x / y may be dicts or lists."""
    kind = source_kind(source)
    if kind == "npz":
        with np.load(source["npz"], allow_pickle=False) as archive:
            x = _map_structure(source.get("x", "x"), lambda k: archive[k])
            y = _map_structure(source.get("y", "y"), lambda k: archive[k])
    elif kind == "files":
        x = _map_structure(source["x"], lambda p: np.load(p, allow_pickle=False))
        y = _map_structure(source["y"], lambda p: np.load(p, allow_pickle=False))
    elif kind == "csv":
        x, y = _load_csv(source)
    elif kind == "idx":
        x, y = read_idx(source["idx"]["images"]), read_idx(source["idx"]["labels"])
    else:
        x, y = _load_dataset(source, default_split)
    start, stop = source.get("start"), source.get("stop")
    if start is not None or stop is not None:
        cut = slice(start, stop)
        x = _map_structure(x, lambda a: a[cut]) if isinstance(x, (list, dict)) else x[cut]
        y = _map_structure(y, lambda a: a[cut]) if isinstance(y, (list, dict)) else y[cut]
    return x, y


def _load_dataset(source, default_split):
    name = source["dataset"]
    fn, takes_split = dataset_loader(name)
    options = {k: v for k, v in source.items() if k not in ("dataset", "split", "start", "stop")}
    split = source.get("split", default_split)
    if takes_split:
        return fn(split=split, **options)
    result = fn(**options)
    if isinstance(result, tuple) and len(result) == 2 and all(isinstance(r, tuple) and len(r) == 2 for r in result):
        return result[0] if split == "train" else result[1]
    if isinstance(result, tuple) and len(result) == 2:
        if split != "train":
            raise DataLoadError(f"dataset {name!r} has no test split", ("split",))
        return result
    raise DataLoadError(f"dataset {name!r} returned {type(result).__name__}, expected (x, y) pairs")


def _load_csv(source):
    delimiter = source.get("delimiter", ",")
    header = source.get("header", True)
    columns = read_csv_header(source["csv"], delimiter, header)
    with _open_text(source["csv"]) as f:
        reader = csv.reader(f, delimiter=delimiter)
        if header:
            next(reader, None)
        rows = []
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(columns):
                raise DataLoadError(f"{source['csv']}:{reader.line_num}: expected {len(columns)} columns, "
                                    f"found {len(row)}")
            try:
                rows.append([float(c) for c in row])
            except ValueError:
                bad = next(c for c in row if not _is_number(c))
                raise DataLoadError(f"{source['csv']}:{reader.line_num}: {bad!r} is not a number "
                                    "(CSV data must be numeric)") from None
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    target = source.get("target", -1)
    targets = [_column_index(c, columns) for c in (target if isinstance(target, list) else [target])]
    features = source.get("features")

    def columns_of(spec):
        return table[:, [_column_index(c, columns) for c in spec]].astype(np.float32)

    if features is None:
        x = table[:, [i for i in range(len(columns)) if i not in targets]].astype(np.float32)
    elif isinstance(features, dict):
        x = {name: columns_of(cols) for name, cols in features.items()}
    else:
        x = columns_of(features if isinstance(features, list) else [features])
    y = table[:, targets] if isinstance(target, list) else table[:, targets[0]]
    y = y.astype(np.int64) if np.all(np.equal(np.mod(y, 1), 0)) else y.astype(np.float32)
    return x, y


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """An IDX file (gzipped or not) as a NumPy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataLoadError(f"{path} is not an IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)) * dtype.itemsize:
        raise DataLoadError(f"{path} is truncated or has trailing bytes")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))
