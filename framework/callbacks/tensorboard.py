"""``TensorBoard``: scalars, weight histograms and weight images for TensorBoard, as Keras's callback
writes them (``keras/src/callbacks/tensorboard.py``), through the event-file writer of ``tensorboardX``
(the optional extra ``tensorboard``), which needs neither TensorFlow nor PyTorch."""
import itertools
import os
import time

import numpy as np

from framework.callbacks.callback import REGISTRY, Callback

EXTRA_HINT = 'pip install "framework[tensorboard]"'
VALIDATION_PREFIX = "val_"
_FILE_NUMBERS = itertools.count()  # event file names carry the second they were made: this keeps them apart


def summary_writer_class():
    """``tensorboardX.SummaryWriter``, or an ImportError that names the extra to install."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        reason = str(e).splitlines()[0][:200] if str(e).strip() else type(e).__name__
        state = "is not installed" if isinstance(e, ModuleNotFoundError) else f"cannot be imported ({reason})"
        raise ImportError(f"The TensorBoard callback writes event files with tensorboardX, which {state}: "
                          f"{EXTRA_HINT}") from None
    return SummaryWriter


def _check_arguments(histogram_freq, update_freq, profile_batch, embeddings_freq, embeddings_metadata):
    if not isinstance(histogram_freq, int) or isinstance(histogram_freq, bool) or histogram_freq < 0:
        raise ValueError(f"TensorBoard: histogram_freq must be an integer >= 0 (epochs), received {histogram_freq!r}")
    if update_freq not in ("epoch", "batch") and \
            (not isinstance(update_freq, int) or isinstance(update_freq, bool) or update_freq < 1):
        raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a number of batches >= 1, "
                         f"received {update_freq!r}")
    if profile_batch not in (0, None, (0, 0), [0, 0]):
        raise ValueError(f"TensorBoard: profile_batch={profile_batch!r}, but framework has no profiler to run; "
                         "give 0 (time a run with the progress display's ms/step instead)")
    if embeddings_freq not in (0, None) or embeddings_metadata is not None:
        raise ValueError("TensorBoard: embeddings_freq and embeddings_metadata (the embedding projector) are not "
                         "written by framework; give embeddings_freq=0")


@REGISTRY.register("TensorBoard")
class TensorBoard(Callback):
    """Write logs for TensorBoard (``tensorboard --logdir LOG_DIR``), as Keras's callback does.

    Training values go to ``log_dir/train``, validation values to ``log_dir/validation``: at each epoch's
    end the scalars ``epoch_<name>`` at step ``epoch`` (``val_loss`` is ``epoch_loss`` in the validation
    folder, so the two curves share one chart), and the optimizer's ``epoch_learning_rate``. With
    ``update_freq`` a number of batches, ``batch_<name>`` scalars every that many batches (at the global
    batch number) and, for each evaluation, ``evaluation_<name>_vs_iterations``. Event files are written
    with ``tensorboardX`` (``pip install "framework[tensorboard]"``); creating the callback without it
    raises an ImportError that says so.

    Args:
        log_dir: the folder for the event files (in a run config: a relative path inside the run folder,
            ``logs`` when not given).
        histogram_freq: every how many epochs to write a histogram of each weight
            (``<layer>/<weight>/histogram``); 0 writes none.
        write_graph: accepted for Keras's signature; the graph is not written (draw it with
            ``framework.utils.plot_model`` or ``framework plot-model``).
        write_images: with ``histogram_freq``, also write each weight as a grayscale image
            (``<layer>/<weight>/image``; 1-D and 2-D weights and 3-D/4-D kernels, scaled to [0, 1]).
        write_steps_per_second: also write ``epoch_steps_per_second`` (and ``batch_steps_per_second``).
        update_freq: ``"epoch"`` (scalars once per epoch), ``"batch"`` (every batch) or an integer N (every
            N batches as well).
        profile_batch: 0 only: there is no profiler to run.
        embeddings_freq, embeddings_metadata: 0 and None only: the embedding projector is not written.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        _check_arguments(histogram_freq, update_freq, profile_batch, embeddings_freq, embeddings_metadata)
        self.writer_class = summary_writer_class()
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph, self.write_images = histogram_freq, write_graph, write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch, self.embeddings_freq, self.embeddings_metadata = 0, 0, None
        self.writers = {}
        self.global_train_batch = 0
        self.epoch_start, self.epoch_steps, self.batch_start = None, 0, None

    def get_config(self):
        return {"log_dir": self.log_dir, "histogram_freq": self.histogram_freq, "write_graph": self.write_graph,
                "write_images": self.write_images, "write_steps_per_second": self.write_steps_per_second,
                "update_freq": self.update_freq, "profile_batch": self.profile_batch,
                "embeddings_freq": self.embeddings_freq, "embeddings_metadata": self.embeddings_metadata}

    # ----- writers -------------------------------------------------------------------------------
    def writer(self, which):
        """The writer of ``log_dir/<which>`` ('train' or 'validation'), opened on first use."""
        if which not in self.writers:
            suffix = f".{os.getpid()}.{next(_FILE_NUMBERS)}"  # a second writer within one second: a new file
            self.writers[which] = self.writer_class(logdir=os.path.join(self.log_dir, which), flush_secs=30,
                                                    filename_suffix=suffix)
        return self.writers[which]

    def close(self):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}

    # ----- hooks ---------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.close()
        self.global_train_batch = None  # set from the first epoch (a resumed run continues its count)
        self.writer("train")

    def on_train_end(self, logs=None):
        self.close()

    def on_epoch_begin(self, epoch, logs=None):
        if self.global_train_batch is None:
            self.global_train_batch = epoch * (self.params.get("steps") or 0)
        self.epoch_start, self.epoch_steps = time.perf_counter(), 0

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.global_train_batch = (self.global_train_batch or 0) + 1
        self.epoch_steps += 1
        if self.update_freq == "epoch" or self.global_train_batch % self.update_freq:
            return
        writer = self.writer("train")
        for name, value in _scalars(logs).items():
            writer.add_scalar("batch_" + name, value, self.global_train_batch)
        if self.write_steps_per_second and self.batch_start is not None:
            elapsed = time.perf_counter() - self.batch_start
            if elapsed > 0:
                writer.add_scalar("batch_steps_per_second", 1.0 / elapsed, self.global_train_batch)

    def on_test_end(self, logs=None):
        if self.update_freq == "epoch" or not self.params.get("in_fit") or self.global_train_batch is None:
            return
        writer = self.writer("validation")
        for name, value in _scalars(logs).items():
            name = name[len(VALIDATION_PREFIX):] if name.startswith(VALIDATION_PREFIX) else name
            writer.add_scalar(f"evaluation_{name}_vs_iterations", value, self.global_train_batch)

    def on_epoch_end(self, epoch, logs=None):
        scalars = _scalars(logs)
        train = {k: v for k, v in scalars.items() if not k.startswith(VALIDATION_PREFIX)}
        validation = {k[len(VALIDATION_PREFIX):]: v for k, v in scalars.items() if k.startswith(VALIDATION_PREFIX)}
        learning_rate = self._learning_rate()
        if learning_rate is not None:
            train["learning_rate"] = learning_rate
        if self.write_steps_per_second and self.epoch_start is not None:
            elapsed = time.perf_counter() - self.epoch_start
            if elapsed > 0:
                train["steps_per_second"] = self.epoch_steps / elapsed
        for which, values in (("train", train), ("validation", validation)):
            if values:
                writer = self.writer(which)
                for name, value in values.items():
                    writer.add_scalar("epoch_" + name, value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self.writers.values():
            writer.flush()

    # ----- helpers -------------------------------------------------------------------------------
    def _learning_rate(self):
        optimizer = getattr(self.model, "optimizer", None)
        try:
            return float(optimizer.learning_rate) if optimizer is not None else None
        except (AttributeError, TypeError, ValueError):
            return None

    def _log_weights(self, epoch):
        writer = self.writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                values = np.asarray(weight.value)
                tag = f"{layer.name}/{weight.name}"
                if values.size and np.all(np.isfinite(values)):
                    writer.add_histogram(tag + "/histogram", values.astype(np.float64), epoch)
                if self.write_images:
                    image = weight_image(values)
                    if image is not None:
                        writer.add_image(tag + "/image", image, epoch, dataformats="HW")


def _scalars(logs):
    """The log values that are numbers (a learning-rate schedule's name or a list is left out)."""
    found = {}
    for name, value in (logs or {}).items():
        if isinstance(value, (bool, np.bool_)):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        found[name] = number
    return found


def weight_image(values):
    """A weight as a 2-D grayscale image in [0, 1] (None for shapes with no natural picture): a 1-D weight
    as one row, a 2-D one as it is (transposed when taller than wide, as Keras), a 3-D or 4-D kernel with
    its spatial axes tiled side by side for each input channel."""
    values = np.squeeze(np.asarray(values, dtype=np.float64))
    if values.ndim == 1:
        image = values[None, :]
    elif values.ndim == 2:
        image = values.T if values.shape[0] > values.shape[1] else values
    elif values.ndim in (3, 4):
        kernel = values.reshape(values.shape[0], -1, values.shape[-2], values.shape[-1]) if values.ndim == 4 else \
            values[:, None]
        rows, cols, channels, filters = kernel.shape
        image = kernel.transpose(2, 0, 3, 1).reshape(channels * rows, filters * cols)
    else:
        return None
    if not np.all(np.isfinite(image)):
        return None
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)
