"""What a config may name: the registries, each class's constructor arguments, close matches.

Everything here is read from the live registries (``framework.layers.REGISTRY``
and the others), so a class registered later, including a user class
registered with ``framework.utils.register_serializable``, is usable in a
config and listed in the reference at once.
"""
import inspect
import json

from framework import (activations, callbacks, constraints, initializers, layers, losses, metrics, optimizers,
                       regularizers, schedules)
from framework.config.registry import did_you_mean

REQUIRED = inspect.Parameter.empty

# kind -> its registry
_KINDS = {
    "layer": layers.REGISTRY,
    "loss": losses.REGISTRY,
    "metric": metrics.REGISTRY,
    "optimizer": optimizers.REGISTRY,
    "callback": callbacks.REGISTRY,
    "schedule": schedules.REGISTRY,
    "initializer": initializers.REGISTRY,
    "regularizer": regularizers.REGISTRY,
    "constraint": constraints.REGISTRY,
    "activation": activations.REGISTRY,
}

PLURAL = {"layer": "layers", "loss": "losses", "metric": "metrics", "optimizer": "optimizers",
          "callback": "callbacks", "schedule": "learning-rate schedules", "initializer": "initializers",
          "regularizer": "regularizers", "constraint": "constraints", "activation": "activations"}

# Registered names a config cannot use, and why.
NOT_IN_CONFIGS = {
    ("layer", "InputLayer"): "inputs are declared with model.input_shape (sequential) or model.inputs (functional)",
    ("callback", "History"): "fit always records the History and returns it",
    ("callback", "ProgbarLogger"): "fit adds the progress bar itself; set fit.verbose instead",
    ("callback", "LambdaCallback"): "it takes Python functions",
    ("callback", "LearningRateScheduler"): "it takes a Python function; give the optimizer a schedule instead, "
                                           "e.g. learning_rate: {CosineDecay: {initial_learning_rate: 0.001, "
                                           "decay_steps: 1000}}",
    ("constraint", "Constraint"): "it is the base class (it does nothing)",
    ("constraint", "constraint"): "it is the base class (it does nothing)",
}

# Layer arguments whose values are objects of another kind, by name suffix.
ARGUMENT_KINDS = (("_initializer", "initializer"), ("_regularizer", "regularizer"),
                  ("_constraint", "constraint"))


def argument_kind(argument):
    """The kind of object a layer argument takes ('activation', 'initializer', ...), or None."""
    if argument == "activation":
        return "activation"
    for suffix, kind in ARGUMENT_KINDS:
        if argument.endswith(suffix):
            return kind
    return None


def registry(kind):
    return _KINDS[kind]


def entries(kind):
    """``{name: object}`` of everything registered for ``kind``."""
    reg = registry(kind)
    return {name: reg.lookup(name) for name in reg.names()}


def usable_names(kind):
    return [n for n in registry(kind).names() if (kind, n) not in NOT_IN_CONFIGS]


def groups(kind):
    """``[(canonical name, object, [aliases])]`` for the usable names of ``kind``, sorted."""
    found = {}
    for name, obj in entries(kind).items():
        if (kind, name) in NOT_IN_CONFIGS:
            continue
        found.setdefault(id(obj), [obj, []])[1].append(name)
    result = []
    for obj, names in found.values():
        canonical = getattr(obj, "registered_name", None)
        if canonical not in names:
            canonical = names[0]
        if kind == "activation":
            canonical = getattr(obj, "name", canonical) if getattr(obj, "name", None) in names else canonical
        result.append((canonical, obj, sorted(n for n in names if n != canonical)))
    return sorted(result, key=lambda g: g[0].lower())


def find(kind, name):
    """The object registered as ``name``; optimizers also match case-insensitively (as
    ``framework.optimizers.get``). KeyError when absent or not usable in configs."""
    reg = registry(kind)
    if not isinstance(name, str):
        raise KeyError(name)
    candidates = [name]
    if kind == "optimizer":
        candidates.append(name.lower())
    for candidate in candidates:
        if candidate in reg and (kind, candidate) not in NOT_IN_CONFIGS:
            return reg.lookup(candidate)
    raise KeyError(name)


def is_registered(kind, name):
    """True when ``name`` is a usable ``kind``, or a metric name compile resolves ('accuracy', 'acc')."""
    try:
        find(kind, name)
        return True
    except KeyError:
        return kind == "metric" and isinstance(name, str) and name.lower() in ("accuracy", "acc")


def unknown_name(kind, name):
    """"unknown layer 'Conv2D'; did you mean ...?" or "...; valid layers: ..."."""
    if (kind, name) in NOT_IN_CONFIGS:
        return f"{kind} {name!r} cannot be used in a config: {NOT_IN_CONFIGS[(kind, name)]}"
    return f"unknown {kind} {name!r}; " + suggestion(name, usable_names(kind), PLURAL[kind])


def suggestion(name, choices, what):
    """"did you mean 'x'?" (case-insensitive matches first), else "valid <what>: a, b, c"."""
    choices = list(choices)
    same = [c for c in choices if isinstance(c, str) and isinstance(name, str) and c.lower() == name.lower()]
    if same:
        return "did you mean " + " or ".join(repr(c) for c in same[:3]) + "?"
    hint = did_you_mean(name, [c for c in choices if isinstance(c, str)])
    if hint:
        return hint
    return f"valid {what}: " + ", ".join(str(c) for c in choices)


def constructor_params(cls):
    """``(params, open)``: ``params`` maps each keyword the constructor accepts to its default
    (``REQUIRED`` when it has none), following ``**kwargs`` into base classes (so a layer lists
    Layer's ``name``, ``trainable``, ``dtype``, ``input_shape``, ...; a base class's required
    arguments are left out: the subclass passes them itself); ``open`` is True when the chain
    ends in a ``**kwargs`` of a class outside the framework (which may accept anything)."""
    if not isinstance(cls, type):
        return {}, True
    params, named = {}, set()
    chain = [c for c in cls.__mro__ if c is not object and "__init__" in vars(c)]
    open_ = False
    for i, klass in enumerate(chain):
        try:
            signature = inspect.signature(klass.__init__)
        except (TypeError, ValueError):  # pragma: no cover - builtins
            return params, True
        var_keyword = False
        for p in list(signature.parameters.values())[1:]:
            if p.kind is p.VAR_POSITIONAL:
                continue
            if p.kind is p.VAR_KEYWORD:
                var_keyword = True
                continue
            if p.name in named:
                continue
            named.add(p.name)
            if i > 0 and p.default is REQUIRED:
                continue  # a base class's required argument: the subclass supplies it itself
            params[p.name] = p.default
        if not var_keyword:
            break
        if i == len(chain) - 1:
            # the root's **kwargs: Layer and Optimizer reject unknown keywords themselves
            open_ = klass.__module__.split(".")[0] != "framework"
    return params, open_


def required_params(params):
    return [name for name, default in params.items() if default is REQUIRED]


def format_default(value):
    """A default value as YAML would show it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, (list, dict)):
        try:
            return json.dumps(value)
        except TypeError:
            return repr(value)
    if isinstance(value, str):
        return value if value and value.strip() == value and not value[0] in "[{!&*#|>'\"%@`" else repr(value)
    return repr(value)


# ----- built-in datasets ---------------------------------------------------------------------------
# name -> (module under framework.datasets, loader function); only these names are ever imported.
EXTERNAL_DATASETS = {
    "mnist": ("mnist", "load_data"),
    "mnist_sample": ("mnist", "load_sample"),
    "fashion_mnist": ("fashion_mnist", "load_data"),
    "fashion_mnist_sample": ("fashion_mnist", "load_sample"),
    "digits": ("digits", "load_data"),
}
