"""``LambdaCallback``: a callback made of plain functions."""
from framework.callbacks.callback import REGISTRY, Callback


@REGISTRY.register("LambdaCallback")
class LambdaCallback(Callback):
    """A callback from plain functions, called positionally as Keras does:
    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``, ``on_train_batch_begin(batch, logs)``,
    ``on_train_batch_end(batch, logs)`` (``logs`` passed by keyword for batch hooks). Any
    other hook is given by keyword with its Callback name, e.g. ``on_test_end=fn``.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        if on_epoch_begin is not None:
            self.on_epoch_begin = on_epoch_begin
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end
        if on_train_begin is not None:
            self.on_train_begin = on_train_begin
        if on_train_end is not None:
            self.on_train_end = on_train_end
        if on_train_batch_begin is not None:
            self.on_train_batch_begin = on_train_batch_begin
        if on_train_batch_end is not None:
            self.on_train_batch_end = on_train_batch_end

    def get_config(self):
        raise ValueError("LambdaCallback holds Python functions and cannot be serialized")
