"""Checks across sections: combinations that are each valid but fail together, found before any work.

* ``ReduceLROnPlateau`` in fit.callbacks while compile.optimizer's ``learning_rate`` is a
  schedule: the callback sets a number the schedule would then replace (the error names both
  places);
* a categorical loss (one-hot targets) on a built-in dataset whose labels are class indices,
  without data.one_hot (the labels' shape is known from the dataset's name, without loading);
* with ``FRAMEWORK_OFFLINE=1`` in the environment: a dataset whose files are neither cached nor
  given with ``path`` (it would need a download).

Each problem is reported at its line, as every other validation problem.
"""
import importlib
import os
import tempfile
from pathlib import Path

from framework.datasets import cache
from framework.runs.catalog import EXTERNAL_DATASETS, is_registered
from framework.runs.data_sources import source_kind

OFFLINE_ENV = "FRAMEWORK_OFFLINE"
#: built-in datasets whose targets are integer class indices, one per sample
INTEGER_LABELS = frozenset({"digits", "mnist", "mnist_sample", "fashion_mnist", "fashion_mnist_sample",
                            "synthetic_blobs"})
#: losses that take one-hot targets (their sparse_ versions take class indices)
ONE_HOT_LOSSES = frozenset({"CategoricalCrossentropy", "CategoricalFocalCrossentropy", "CategoricalHinge"})
SLOTS = ("train", "validation", "test")


def offline():
    """True when the environment says there is no network (``FRAMEWORK_OFFLINE`` set, not 0)."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def _where(locations, path):
    source, line = locations.where(path)
    return f"{source}:{line}" if line is not None else str(source)


def _schedule_name(value):
    """The schedule a ``learning_rate`` value names, or None (a number)."""
    if isinstance(value, str) and is_registered("schedule", value):
        return value
    if isinstance(value, dict) and len(value) == 1:
        name = next(iter(value))
        if is_registered("schedule", name):
            return name
    return None


def check_plateau_with_schedule(checker, compile_spec, fit_spec):
    """ReduceLROnPlateau beside a learning-rate schedule."""
    optimizer = (compile_spec or {}).get("optimizer")
    args = getattr(optimizer, "args", None)
    if not isinstance(args, dict):
        return
    schedule = _schedule_name(args.get("learning_rate"))
    if schedule is None:
        return
    where = _where(checker.raw.locations, optimizer.path + (optimizer.name, "learning_rate"))
    for entry in (fit_spec or {}).get("callbacks") or []:
        if getattr(getattr(entry, "obj", None), "__name__", None) == "ReduceLROnPlateau":
            checker.report(entry.path, f"ReduceLROnPlateau cannot change the learning rate of an optimizer whose "
                                       f"learning_rate is a schedule ({schedule} at {where}): remove the callback "
                                       "or give the optimizer a fixed learning_rate")


def _loss_entry(compile_spec):
    loss = (compile_spec or {}).get("loss")
    if isinstance(loss, dict) and "all" in loss:
        return loss["all"]
    return None


def check_one_hot_loss(checker, compile_spec, data_spec, signature):
    """A loss that takes one-hot targets, on a dataset whose labels are class indices."""
    entry = _loss_entry(compile_spec)
    if entry is None or getattr(entry.obj, "__name__", None) not in ONE_HOT_LOSSES:
        return
    if not data_spec or data_spec.get("one_hot") is not None or len(signature["outputs"]) != 1:
        return
    source = data_spec.get("train")
    if not isinstance(source, dict) or source_kind(source) != "dataset" or source["dataset"] not in INTEGER_LABELS:
        return
    shape = signature["output_shapes"][0]
    classes = shape[-1] if shape else None
    one_hot = f"data.one_hot: {classes}" if isinstance(classes, int) and classes > 1 else "data.one_hot"
    checker.report(entry.path, f"loss {entry.name} takes one-hot targets, but dataset {source['dataset']!r} "
                               f"(data.train at {_where(checker.raw.locations, ('data', 'train'))}) has integer "
                               f"class labels; use sparse_{_snake(entry.name)}, or add {one_hot}")


def _snake(name):
    if "_" in name or name.islower():
        return name
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def missing_files(source):
    """The names of the files loading the dataset ``source`` would download (empty: none)."""
    name = source["dataset"]
    if name not in EXTERNAL_DATASETS or source.get("path") is not None:
        return []
    module_name, function = EXTERNAL_DATASETS[name]
    try:  # only the catalog's own modules are imported
        module = importlib.import_module(f"framework.datasets.{module_name}")
    except ImportError:
        return []  # validation reported it
    dataset = getattr(module, "DATASET", None)
    if dataset is None:
        return []  # read from a local package (digits)
    specs = dataset.test_files if function in ("load_sample", "load_test_data") else dataset.all_files
    shared = getattr(module, "SHARED_DIR", None)
    if function == "load_sample" and shared is not None and all(
            any((Path(shared) / n).is_file() for n in (s.name, s.name[:-3])) for s in specs):
        return []
    cache_dir = source.get("cache_dir")
    explicit = cache_dir is not None or bool(os.environ.get(cache.ENV_VAR))
    missing = []
    for spec in specs:
        places = [cache.cache_path(spec.name, cache_dir, dataset.cache_subdir)]
        if not explicit:
            places.append(Path(tempfile.gettempdir()) / ".framework" / dataset.cache_subdir / spec.name)
        if not any(p.is_file() for p in places):
            missing.append(spec.name)
    return missing


def check_downloads(checker, data_spec):
    """With FRAMEWORK_OFFLINE set: datasets that would need a download."""
    if not offline() or not data_spec:
        return
    for slot in SLOTS:
        source = data_spec.get(slot)
        if not isinstance(source, dict) or source_kind(source) != "dataset":
            continue
        missing = missing_files(source)
        if missing:
            checker.report(("data", slot), f"data.{slot}: dataset {source['dataset']!r} needs a download of "
                                           f"{', '.join(missing)}, and {OFFLINE_ENV} says there is no network; "
                                           f"run once with a network, or give the dataset path: (a folder holding "
                                           "the files)")
