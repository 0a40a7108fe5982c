"""The base class of callbacks with Keras's hook names, the registry of callback classes, and
the line printer callbacks report with."""
import sys

from framework.config.registry import Registry

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
         "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class: override any hook; ``self.model`` and ``self.params`` are set by fit.

    As in Keras, ``on_batch_begin`` / ``on_batch_end`` are backwards-compatible aliases:
    the default ``on_train_batch_begin`` / ``on_train_batch_end`` call them.
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    def get_config(self):
        """Constructor arguments as plain values (for configs); Keras callbacks have no config,
        so this is the framework's own, defined by each registered callback."""
        raise NotImplementedError(f"{type(self).__name__} has no get_config(); define one to serialize it")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


REGISTRY = Registry("callback", base=Callback)


def _print_msg(message):
    """Keras's ``io_utils.print_msg``: a line on stdout."""
    print(message, file=sys.stdout, flush=True)
