"""Batch sources: where each step's batch comes from.

``ArrayBatches`` gathers rows of in-memory (or memory-mapped) arrays straight into
the plan's buffers, in a seeded shuffled order. ``StreamBatches`` draws batches from
a Python generator, a ``PyDataset`` or a dataset (a ``tf.data.Dataset``, a PyTorch
``DataLoader``, any re-iterable object of batches: ``dataset_adapters.py``); each
batch is made NumPy, validated like any data given to the model, then copied in.
Both yield ``(batch_size, sample_shapes, load)``, where ``sample_shapes`` are the
inputs' shapes without the batch axis (a model declared with unknown sizes has a plan
per shape) and ``load(plan)`` fills the plan's input, target and sample-weight buffers.
"""
import functools
import itertools
import math
import warnings

from framework.kernels.elementwise import copy_rows, gather_rows
from framework.plan.steps import rows2d
from framework.training.dataset_adapters import DatasetBatches, is_dataset, refuse_targets, to_numpy, \
    warn_shuffle_ignored
from framework.utils.py_dataset import PyDataset
from framework.utils.random import global_generator


def is_stream(data):
    """True for a PyDataset, a generator or any iterator, a tf.data.Dataset, a torch DataLoader or another
    re-iterable object of batches (not arrays, lists, tuples or dicts)."""
    return isinstance(data, PyDataset) or (hasattr(data, "__next__") and hasattr(data, "__iter__")) \
        or is_dataset(data)


def fill_batch(plan, xs, ys, sws, order, start, count=None):
    """Rows ``order[start:start+batch]`` (consecutive rows when order is None) into the plan; with
    ``count``, only that many input rows, the last one repeated after them (a plan bigger than the
    batch, serving predictions: the padding is valid data, ids included, so it never overflows)."""
    for src, dst in zip(xs, plan.input_rows):
        _rows(src, order, start, dst if count is None else dst[:count])
        if count is not None and 0 < count < len(dst):
            dst[count:] = dst[count - 1]
    for src, dst in zip(ys or [], plan.target_rows):
        if src is not None:
            _rows(src, order, start, dst)
    for src, dst, buf in zip(sws or [], plan.weight_rows, plan.sample_weights):
        if src is None:
            buf.fill(1)
        else:
            _rows(src, order, start, dst)


def _rows(src, order, start, dst):
    if order is None:
        copy_rows(src, start, dst)
    else:
        gather_rows(src, order, start, dst)


def sample_shapes(xs):
    """Each input array's shape without the batch axis."""
    return tuple(tuple(a.shape[1:]) for a in xs)


def source_views(xs, ys, sws):
    """2-D (samples, features) views of inputs, targets and sample weights, as the gather reads them."""
    return ([rows2d(a) for a in xs],
            [None if a is None else rows2d(a) for a in (ys or [])],
            [None if w is None else w.reshape(-1, 1) for w in (sws or [])])


class ArrayBatches:
    """Batches of ``batch_size`` rows of arrays; the last one may be smaller.

    Arrays of 0 rows: with targets (fit, evaluate, validation) a ValueError, as Keras refuses empty
    data; without (predict) one empty batch, so predict returns outputs of 0 rows.

    Args:
        xs, ys, sws: the inputs, targets (None for predict) and sample weights, adapted.
        batch_size: rows per batch.
        shuffle: a new seeded order every epoch.
        steps: batches per epoch (default: all of the data).
    """

    def __init__(self, xs, ys, sws, batch_size, shuffle=False, steps=None):
        self.n = len(xs[0])
        if self.n == 0 and ys is not None:
            raise ValueError("The data has no samples (x and y have 0 rows): training and evaluation need at "
                             "least one sample")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.views = source_views(xs, ys, sws)
        self.sample_shapes = sample_shapes(xs)
        full = max(math.ceil(self.n / batch_size), 1)
        self.steps = full if steps is None else int(steps)
        if self.steps > full:
            warnings.warn(f"{self.steps} steps requested but the data holds only {full} batches of "
                          f"{batch_size}; using {full}", RuntimeWarning, stacklevel=3)
            self.steps = full

    def epoch(self):
        order = global_generator().permutation(self.n) if self.shuffle else None
        xs, ys, sws = self.views
        for step in range(self.steps):
            start = step * self.batch_size
            yield (min(self.batch_size, self.n - start), self.sample_shapes,
                   functools.partial(fill_batch, xs=xs, ys=ys, sws=sws, order=order, start=start))


class StreamBatches:
    """Batches from a generator (``steps`` per epoch, or until it ends), a PyDataset or a dataset (one
    full pass per epoch, or ``steps`` per epoch continuing where the last epoch stopped: Keras's rules).

    Args:
        model: the model whose ``_prepare`` validates each batch.
        data: a generator, iterator, ``PyDataset``, ``tf.data.Dataset``, torch ``DataLoader`` or
            re-iterable object of batches.
        steps: batches per epoch (default: a PyDataset's or dataset's length, or until the data ends).
        shuffle: visit a PyDataset's batches in a new seeded order every epoch (a dataset shuffles itself).
        need_targets: batches must carry targets (fit, evaluate).
        class_weight: weights by class, applied to each batch's targets.
        y, sample_weight: what fit / evaluate received beside ``data``: refused unless None.
        resume: a dataset's epochs continue where the last one stopped (training); otherwise each
            starts at its first batch (evaluation, as Keras resets it).
    """

    def __init__(self, model, data, steps=None, shuffle=False, need_targets=True, class_weight=None, y=None,
                 sample_weight=None, resume=False):
        refuse_targets(data, y, sample_weight)
        self.model = model
        self.dataset = data if isinstance(data, PyDataset) else None
        self.source = DatasetBatches(data, steps, resume) if self.dataset is None and is_dataset(data) else None
        self.iterator = None if self.dataset is not None or self.source is not None else iter(data)
        if shuffle and self.source is not None:
            warn_shuffle_ignored(data)
        self.shuffle = shuffle
        self.need_targets = need_targets
        self.class_weight = class_weight
        self.exhausted = False
        if self.dataset is not None:
            size = len(self.dataset)
            self.steps = size if steps is None else min(int(steps), size)
        elif self.source is not None:
            self.steps = self.source.steps
        else:
            self.steps = None if steps is None else int(steps)

    def epoch(self):
        for batch in self.raw_epoch():
            shapes, xs, ys, sws = self.views(batch)
            yield len(xs[0]), shapes, functools.partial(fill_batch, xs=xs, ys=ys, sws=sws, order=None, start=0)

    def raw_epoch(self):
        """This epoch's batches as the data gives them, converted to NumPy structures."""
        if self.source is not None:
            yield from self.source.epoch()
            return
        if self.dataset is not None:
            indices = list(range(len(self.dataset)))
            if self.shuffle:
                indices = [int(i) for i in global_generator().permutation(len(indices))]
            for index in indices[:self.steps]:
                yield to_numpy(self.dataset[index])
            self.dataset.on_epoch_end()
            return
        for _ in (range(self.steps) if self.steps is not None else itertools.count()):
            try:
                batch = next(self.iterator)
            except StopIteration:
                self.exhausted = True
                return
            yield to_numpy(batch)

    def views(self, batch):
        """(sample shapes, inputs, targets, sample weights) of one batch of ``raw_epoch``, validated and
        viewed as the batch gather reads them."""
        x, y, sample_weight = unpack_batch(batch, self.need_targets)
        xs, ys, sws = self.model._prepare(x, y, sample_weight, self.class_weight, need_targets=self.need_targets)
        if len(xs[0]) == 0:
            raise ValueError("A batch from the generator, PyDataset or dataset has no samples (0 rows); every "
                             "batch needs at least one")
        shapes = sample_shapes(xs)
        return (shapes,) + source_views(xs, ys, sws)


def unpack_batch(batch, need_targets=True):
    """``(x, y, sample_weight)`` from a batch given as x, (x,), (x, y) or (x, y, sample_weight)."""
    if isinstance(batch, tuple) and 1 <= len(batch) <= 3:
        x, y, sw = tuple(batch) + (None,) * (3 - len(batch))
    elif isinstance(batch, tuple):
        raise ValueError(f"A batch must be x, (x, y) or (x, y, sample_weight); received a tuple of {len(batch)}")
    else:
        x, y, sw = batch, None, None
    if need_targets and y is None:
        raise ValueError("A training or evaluation batch must be (x, y) or (x, y, sample_weight); "
                         "this one has no targets")
    return x, y, sw
