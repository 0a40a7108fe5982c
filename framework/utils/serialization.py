"""register_serializable: how user classes join the registries.

Files (YAML configs, saved models) name classes; loading looks those names up in
the registries and nowhere else, so a user class must be registered before a
file that names it is loaded. Nothing is ever imported from a path in a file.
A class joins the registry whose base class it subclasses (``registry_for``).
"""
import inspect

from framework.config.registry import FUNCTIONS, registry_for


def _registry_for(cls):
    registry = registry_for(cls)
    if registry is None:
        raise TypeError(f"register_serializable: {cls!r} is not a subclass of a serializable framework class "
                        f"(Layer, Loss, Metric, Optimizer, Callback, Initializer, Regularizer, Constraint, "
                        f"LearningRateSchedule)")
    return registry


def register_serializable(package="Custom", name=None):
    """Decorator: register a class under ``'<package>>Name'`` (Keras's form) and plain ``'Name'``;
    a function (an activation, a loss, a Lambda's body) joins the function registry the same way.

    Example:
        @framework.utils.register_serializable()
        class Scale(framework.layers.Layer): ...
    """
    def decorate(cls):
        registry = FUNCTIONS if inspect.isfunction(cls) else _registry_for(cls)
        short = name or cls.__name__
        full = f"{package}>{short}" if package else short
        for key in (full, short):
            if key in registry and registry.lookup(key) is not cls:
                raise ValueError(f"register_serializable: the name {key!r} is already taken by "
                                 f"{registry.lookup(key)!r}")
        registry.register(full, short)(cls)
        return cls
    return decorate
