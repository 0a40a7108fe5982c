"""Datasets as ``fit`` / ``evaluate`` / ``predict`` take them, as Keras 3 does on every backend: a
``tf.data.Dataset``, a PyTorch ``DataLoader``, or any other re-iterable object yielding batches.

Neither TensorFlow nor PyTorch is a dependency, and neither is imported here: an object is recognised
by the classes it is made of (their names and modules), and its tensors are turned into NumPy arrays
through their own methods, without a copy where NumPy allows (a CPU tensor's memory is shared; a
tensor on a GPU, or of a dtype NumPy lacks such as bfloat16, is copied).

Epochs follow Keras 3's ``EpochIterator``: without a step count, every epoch is one full pass that
starts again from the dataset's first batch; with ``steps_per_epoch``, one iterator is kept across
the epochs of a ``fit``, each epoch drawing the next ``steps`` batches, and the dataset starts over
when it is used up. Evaluation (``validation_steps``, ``evaluate(steps=)``) reads the first ``steps``
batches every time, as Keras resets its evaluation iterator. An infinite dataset (``.repeat()``)
needs the step count.
"""
import warnings

import numpy as np

from framework.utils.py_dataset import PyDataset

#: what ``tf.data.Dataset.cardinality()`` answers for a dataset that never ends (-2: it cannot tell)
TF_INFINITE = -1


def _bases(data):
    return [(cls.__name__, cls.__module__ or "") for cls in type(data).__mro__]


def is_tf_dataset(data):
    """True for a ``tf.data.Dataset`` (told by its classes; TensorFlow is not imported)."""
    return any(name == "DatasetV2" and module.startswith("tensorflow.") for name, module in _bases(data))


def is_torch_dataloader(data):
    """True for a ``torch.utils.data.DataLoader`` (told by its classes; PyTorch is not imported)."""
    return any(name == "DataLoader" and module.startswith("torch.utils.data") for name, module in _bases(data))


def is_torch_dataset(data):
    """True for a ``torch.utils.data.Dataset``: samples, not batches (a DataLoader batches them)."""
    return any(name in ("Dataset", "IterableDataset") and module.startswith("torch.utils.data")
               for name, module in _bases(data))


def _array_like(data):
    return isinstance(data, np.ndarray) or hasattr(data, "__array__") or hasattr(data, "__array_interface__")


#: given as x, these are data (arrays by position or by name), never a source of batches
_DATA = (list, tuple, dict, set, frozenset, str, bytes, PyDataset)


def _plain_data(data):
    return data is None or isinstance(data, _DATA) or _array_like(data)


def is_batch_iterable(data):
    """True for an object iterated again every epoch to get its batches: iterable, and neither an
    iterator (used up once), nor a PyDataset, nor array-like, nor a list, tuple, dict, set or string."""
    return not _plain_data(data) and hasattr(type(data), "__iter__") and not hasattr(data, "__next__")


def is_dataset(data):
    """True for what ``DatasetBatches`` takes (a torch ``Dataset`` too, which it refuses clearly)."""
    if _plain_data(data):  # arrays first: this runs on every fit / evaluate / predict call
        return False
    return is_tf_dataset(data) or is_torch_dataloader(data) or is_torch_dataset(data) or is_batch_iterable(data)


def describe(data):
    """The kind of data source, for messages: 'a tf.data.Dataset', 'a torch DataLoader', ..."""
    if is_tf_dataset(data):
        return "a tf.data.Dataset"
    if is_torch_dataloader(data):
        return "a torch DataLoader"
    if is_torch_dataset(data):
        return "a torch Dataset"
    if is_batch_iterable(data):
        return f"an iterable of batches ({type(data).__name__[:80]})"
    return "a generator or PyDataset"


def warn_shuffle_ignored(data):
    """Keras 3's warning when fit(shuffle=True), the default, receives a dataset: it shuffles itself."""
    warnings.warn(f"`shuffle=True` was passed, but will be ignored since the data `x` was provided as "
                  f"{describe(data)}, which is expected to be shuffled already (a tf.data.Dataset with "
                  ".shuffle(buffer_size), a DataLoader with shuffle=True)", UserWarning, stacklevel=5)


def refuse_targets(data, y, sample_weight):
    """As Keras: with a dataset, generator or PyDataset the batches carry the targets and sample
    weights, so ``y`` and ``sample_weight`` arguments are refused."""
    for name, value in (("y", y), ("sample_weight", sample_weight)):
        if value is not None:
            kind = describe(data)
            raise ValueError(f"x is {kind}, so its batches carry the targets and sample weights ((x, y) or "
                             f"(x, y, sample_weight)); do not pass {name} as well (received {name} of type "
                             f"{type(value).__name__})")


def tensor_to_numpy(value):
    """A TensorFlow or PyTorch tensor as a NumPy array (sharing its memory when it is on the CPU);
    anything else unchanged."""
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "detach"):
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # NumPy has no bfloat16: widened, as Keras converts it
            tensor = tensor.float()
        return tensor.resolve_conj().resolve_neg().numpy()
    if module.startswith("tensorflow"):
        if hasattr(value, "__array__") and type(value).__name__ not in ("RaggedTensor", "SparseTensor"):
            return np.asarray(value)  # an eager tensor on the CPU: a view of its buffer
        raise TypeError(f"A batch holds a TensorFlow {type(value).__name__[:80]}, not a dense eager tensor; give "
                        "dense tensors (ragged.to_tensor(), tf.sparse.to_dense()) so each batch is a numeric array")
    return value


def to_numpy(batch):
    """A batch (a tensor, or a tuple / list / dict of them, nested) with every tensor made a NumPy array."""
    if isinstance(batch, dict):
        return {key: to_numpy(value) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(to_numpy(value) for value in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_numpy(value) for value in batch)
    return tensor_to_numpy(batch)


def _batch_count(data):
    """Batches per full pass: a number, None when it cannot be known, or TF_INFINITE."""
    if is_tf_dataset(data):
        cardinality = int(data.cardinality())
        return TF_INFINITE if cardinality == TF_INFINITE else (None if cardinality < 0 else cardinality)
    try:
        return int(len(data))
    except TypeError:  # an IterableDataset behind a DataLoader, an iterable without __len__
        return None


class DatasetBatches:
    """A dataset's batches, epoch by epoch, as NumPy structures (see the module docstring).

    Args:
        data: a ``tf.data.Dataset``, a ``torch.utils.data.DataLoader`` or a re-iterable object whose
            iteration yields batches (``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``).
        steps: batches per epoch, or None for one full pass per epoch (required for an infinite dataset).
        resume: each epoch continues where the last one stopped (training with ``steps_per_epoch``);
            otherwise every epoch starts at the dataset's first batch (evaluation).
    """

    def __init__(self, data, steps=None, resume=False):
        if is_torch_dataset(data) and not is_torch_dataloader(data):
            raise TypeError(f"x is a torch Dataset ({type(data).__name__[:80]}), which yields single samples; "
                            "wrap it in torch.utils.data.DataLoader(dataset, batch_size=...) to give batches "
                            "(batch_size=None when its items are already batches)")
        self.data = data
        self.kind = describe(data)
        self.size = _batch_count(data)
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer, float))
                                  or not (steps > 0 and float(steps).is_integer())):
            raise ValueError(f"The number of steps must be a positive integer, received {repr(steps)[:200]}")
        if steps is None and self.size == TF_INFINITE:
            raise ValueError(f"{_capital(self.kind)} never ends (it repeats): pass the number of batches per "
                             "epoch, steps_per_epoch= to fit (validation_steps= for validation_data, steps= to "
                             "evaluate and predict)")
        if self.size == 0:
            raise ValueError(f"{_capital(self.kind)} holds no batches: training, evaluation and prediction need "
                             "at least one")
        self.given_steps = steps is not None
        self.steps = int(steps) if steps is not None else (None if self.size == TF_INFINITE else self.size)
        if self.given_steps and self.size not in (None, TF_INFINITE) and self.steps > self.size:
            warnings.warn(f"{self.steps} steps per epoch requested but {self.kind} holds only {self.size} "
                          f"batches; using {self.size}", RuntimeWarning, stacklevel=4)
            self.steps = self.size
        self.resume = resume
        self._iterator = None

    def _pass(self):
        """A fresh iterator over one full pass of the dataset, yielding NumPy batches; a DataLoader's
        list batches (``[x, y]``, as its default collate gives them) become tuples, as Keras reads them."""
        batches = map(to_numpy, iter(self.data))
        if is_torch_dataloader(self.data):
            return (tuple(batch) if isinstance(batch, list) else batch for batch in batches)
        return batches

    def epoch(self):
        """This epoch's batches."""
        if not self.resume:
            self._iterator = None
        if not self.given_steps:
            yield from self._pass()
            return
        taken, restarted = 0, False
        while taken < self.steps:
            if self._iterator is None:
                self._iterator = self._pass()
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if taken == 0 and not restarted:  # used up exactly when the last epoch ended: start over
                    restarted = True
                    continue
                if taken:
                    warnings.warn(f"{_capital(self.kind)} ran out of data after {taken} of the "
                                  f"{self.steps} steps of this epoch; the next epoch starts again from its first "
                                  "batch (give steps_per_epoch * epochs batches, or call .repeat() on the "
                                  "dataset)", RuntimeWarning, stacklevel=3)
                return
            taken += 1
            yield batch


def _capital(text):
    return text[:1].upper() + text[1:]
