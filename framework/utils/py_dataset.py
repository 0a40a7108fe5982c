"""PyDataset: Keras's base class for datasets that produce whole batches in Python."""


class PyDataset:
    """Subclass it and implement ``__len__`` (batches per epoch) and ``__getitem__(index)``
    returning ``(x, y)`` or ``(x, y, sample_weight)`` for one batch; ``on_epoch_end`` is
    called after every epoch (reshuffle there).

    Args:
        workers, use_multiprocessing, max_queue_size: accepted for Keras compatibility;
            batches are produced in the training thread, one at a time.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (the number of batches)")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index) returning a batch")

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_end(self):
        """Called at the end of every epoch."""
