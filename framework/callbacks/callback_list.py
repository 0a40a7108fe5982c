"""``CallbackList``: calls a hook on every callback, binding only the hooks some callback
overrides."""
from framework.callbacks.callback import HOOKS, Callback


class CallbackList:
    """Calls a hook on every callback; hooks nobody overrides cost nothing per batch.

    As Keras's CallbackList, every callback receives a ``logs`` dict (``{}`` when the
    caller gives none), positionally for epoch/train/test/predict begin/end hooks and as
    ``logs=`` for batch hooks. A hook counts as overridden when the class or the instance
    (``LambdaCallback``) defines it; overriding ``on_batch_begin`` / ``on_batch_end``
    counts for ``on_train_batch_begin`` / ``on_train_batch_end``.
    """

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        self.model = model
        self.params = params
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._bind_hooks()

    def _bind_hooks(self):
        for hook in HOOKS + _ALIAS_HOOKS:
            alias = _ALIASES.get(hook)
            overriding = [getattr(cb, hook) for cb in self.callbacks
                          if _overrides(cb, hook) or (alias is not None and _overrides(cb, alias))]
            setattr(self, hook, _fan_out(hook, overriding))

    def append(self, callback):
        callback.set_model(self.model)
        callback.set_params(self.params)
        self.callbacks.append(callback)
        self._bind_hooks()

    def __iter__(self):
        return iter(self.callbacks)


_ALIAS_HOOKS = ("on_batch_begin", "on_batch_end")
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _overrides(cb, hook):
    """True when ``cb.hook`` is not Callback's default (a subclass method or an instance attribute)."""
    method = getattr(cb, hook, None)
    if method is None:
        return False
    return getattr(method, "__func__", None) is not getattr(Callback, hook, None)


def _fan_out(hook, methods):
    if not methods:
        return _noop
    if hook.endswith(("batch_begin", "batch_end")):
        def call(batch, logs=None):
            logs = {} if logs is None else logs
            for method in methods:
                method(batch, logs=logs)
    elif hook in ("on_epoch_begin", "on_epoch_end"):
        def call(epoch, logs=None):
            logs = {} if logs is None else logs
            for method in methods:
                method(epoch, logs)
    else:
        def call(logs=None):
            logs = {} if logs is None else logs
            for method in methods:
                method(logs)
    return call


def _noop(*args, **kwargs):
    pass
