"""Callbacks with Keras's hook names; ``History`` is returned by fit and the
progress bar is the ``ProgbarLogger`` callback built on tqdm."""
import sys

from framework.config.registry import Registry

REGISTRY = Registry("callback")

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
         "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
         "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class: override any hook; ``self.model`` and ``self.params`` are set by fit."""

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
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls a hook on every callback; hooks nobody overrides cost nothing per batch."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        self.params = params
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        for hook in HOOKS:
            overriding = [getattr(cb, hook) for cb in self.callbacks
                          if getattr(type(cb), hook, None) is not getattr(Callback, hook)]
            setattr(self, hook, _fan_out(overriding))

    def __iter__(self):
        return iter(self.callbacks)


def _fan_out(methods):
    if not methods:
        return _noop
    if len(methods) == 1:
        return methods[0]

    def call(*args, **kwargs):
        for method in methods:
            method(*args, **kwargs)
    return call


def _noop(*args, **kwargs):
    pass


@REGISTRY.register("History")
class History(Callback):
    """Records epoch logs: ``history.history['loss']`` etc., and ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


@REGISTRY.register("ProgbarLogger")
class ProgbarLogger(Callback):
    """Progress display. verbose=1: a live tqdm bar per epoch with loss and metrics
    (a plain line per epoch when output is not a terminal); verbose=2: one line per epoch."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.bar = None

    def _live(self):
        stream = self.stream or sys.stderr
        return self.verbose == 1 and hasattr(stream, "isatty") and stream.isatty()

    def _open(self, total, desc):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total, desc=desc, file=self.stream or sys.stderr, leave=True,
                        dynamic_ncols=True, unit="step", mininterval=0.1,
                        bar_format="{desc} {n_fmt}/{total_fmt} |{bar:20}| {elapsed}<{remaining}{postfix}")

    def _print(self, text):
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self._live():
            self._open(self.params.get("steps"), f"Epoch {epoch + 1}/{self.params.get('epochs')}:")

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n == self.bar.total or batch % 8 == 0:
                self.bar.set_postfix_str(format_logs(logs or {}), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            self._print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {format_logs(logs or {})}")

    def on_test_begin(self, logs=None):
        if self._live() and not self.params.get("in_fit"):
            self._open(self.params.get("steps"), "Evaluate:")

    def on_test_batch_end(self, batch, logs=None):
        if self.bar is not None and not self.params.get("in_fit"):
            self.bar.update(1)

    def on_test_end(self, logs=None):
        if self.params.get("in_fit"):
            return
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}), refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            self._print(format_logs(logs or {}))

    def on_predict_begin(self, logs=None):
        if self._live():
            self._open(self.params.get("steps"), "Predict:")

    def on_predict_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)

    def on_predict_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def get(identifier):
    if isinstance(identifier, Callback):
        return identifier
    if isinstance(identifier, str):
        return REGISTRY.lookup(identifier)()
    raise ValueError(f"Could not interpret callback {identifier!r}; valid names: {', '.join(REGISTRY.names())}")
