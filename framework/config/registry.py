"""Name registries: every serializable object kind maps names to classes.

Deserialization only ever looks names up here; nothing is imported from a
module path found in a file. An unknown name is an error that lists the
valid choices, closest first.

Each kind's ``get`` / ``serialize`` / ``deserialize`` are the registry's
methods of those names; a kind states how it differs from the shared rules
(whether None passes, what a name or a plain function becomes, ...) as
arguments of its ``Registry``. This module imports nothing from the framework:
every registry is created with the base class it holds and kept in
``REGISTRIES``, so ``registry_for(cls)`` finds a class's registry without
importing the modules that define the kinds.
"""
import difflib
import threading

#: every registry created with a base class, in creation order
REGISTRIES = []

_SCOPES = threading.local()


class custom_object_scope:
    """Inside ``with custom_object_scope({'CustomDense': CustomDense}):`` (this thread only), configs
    and model files may name the objects given: classes of any registry's kind, or functions. What
    a user passes here is their own code, chosen by them; a file can still only name it.

    Args:
        custom_objects: a dict of name -> class or function (None: nothing added), or several dicts.
    """

    def __init__(self, *custom_objects):
        self.objects = {}
        for objects in custom_objects:
            if objects is not None and not isinstance(objects, dict):
                raise TypeError(f"custom_objects must be a dict of name -> class or function, received "
                                f"{type(objects).__name__}")
            self.objects.update(objects or {})

    def __enter__(self):
        stack = _SCOPES.__dict__.setdefault("stack", [])
        stack.append(self.objects)
        return self

    def __exit__(self, *exc):
        _SCOPES.stack.pop()
        return False


CustomObjectScope = custom_object_scope


def custom_object(name):
    """The object ``name`` stands for in the innermost ``custom_object_scope`` that has it, or None."""
    for objects in reversed(getattr(_SCOPES, "stack", ())):
        if name in objects:
            return objects[name]
    return None


def did_you_mean(name, choices, limit=3):
    """A suggestion phrase for an unknown name, e.g. "did you mean 'relu'?"."""
    close = difflib.get_close_matches(str(name), list(choices), n=limit, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown_name_message(kind, name, choices):
    hint = did_you_mean(name, choices)
    listed = ", ".join(sorted(choices))
    return f"Unknown {kind} {name!r}." + (f" {hint[0].upper()}{hint[1:]}" if hint else "") + f" Valid choices: {listed}"


def registry_for(cls):
    """The registry whose base class ``cls`` subclasses, or None."""
    if isinstance(cls, type):
        for registry in REGISTRIES:
            if issubclass(cls, registry.base):
                return registry
    return None


def instantiate(cls, name):
    """The default way a registered name becomes an object: the class with its default arguments."""
    return cls()


class Registry:
    """Maps names (and aliases) of one kind of object to the object itself, and resolves
    identifiers of that kind (``get``), to and from ``{'class_name', 'config'}`` dicts.

    Args:
        kind: the kind's name in messages ('loss', 'learning rate schedule', ...).
        base: the base class of the kind; with it the registry joins ``REGISTRIES``.
        **rules: how the kind departs from the shared rules of ``get``; see ``configure``.
    """

    #: the shared rules of ``get`` / ``deserialize``; a kind changes some of them (see ``configure``)
    RULES = {"optional": True, "from_name": instantiate, "classes": True, "from_callable": None, "any_case": False,
             "function_dicts": False, "bad_identifier": "Could not interpret {kind} identifier: {identifier!r}"}

    def __init__(self, kind, base=None, **rules):
        self.kind = kind
        self.base = base
        self._entries = {}
        self.configure(**{**self.RULES, **rules})
        if base is not None:
            REGISTRIES.append(self)

    def configure(self, **rules):
        """Set the kind's rules (a module may set those that need its later classes here).

        Args:
            optional: None passes through ``get`` and ``serialize`` (default True).
            from_name: ``from_name(cls, name)`` makes the object a registered name stands for
                (default: ``cls()``); None when names alone are not accepted.
            classes: a subclass of ``base`` given to ``get`` is instantiated with no
                arguments (default True).
            from_callable: ``from_callable(fn)`` makes the object for any other callable given
                to ``get``, or returns None to refuse it; None (the default): refused.
            any_case: a name registered only in lower case is found in any case (default False).
            function_dicts: ``{'class_name': 'function', 'config': identifier}`` (Keras's form of
                a serialized function) deserializes as ``get(identifier)`` (default False).
            bad_identifier: the message for an identifier ``get`` cannot interpret; a format
                string that may name ``{kind}``, ``{identifier!r}`` and ``{names}`` (the
                registered names).
        """
        for rule, value in rules.items():
            if rule not in self.RULES:
                raise TypeError(f"Registry.configure: unknown rule {rule!r}")
            setattr(self, rule, value)
        return self

    def register(self, *names):
        """Decorator: register an object under its name(s); the first is canonical."""
        def decorate(obj):
            keys = names or (obj.__name__,)
            for key in keys:
                self._entries[key] = obj
            if isinstance(obj, type) and "registered_name" not in vars(obj):
                obj.registered_name = keys[0]
            elif not isinstance(obj, type) and not hasattr(obj, "registered_name"):
                try:
                    obj.registered_name = keys[0]
                except (AttributeError, TypeError):
                    pass
            return obj
        return decorate

    def add(self, name, obj):
        self._entries[name] = obj

    def lookup(self, name):
        """The object registered under ``name`` (or given for it in a ``custom_object_scope``, when it
        is of this registry's kind); ValueError listing choices otherwise."""
        scoped = custom_object(name) if isinstance(name, str) else None
        if scoped is not None and (self.base is None and callable(scoped)
                                   or isinstance(scoped, type) and self.base is not None
                                   and issubclass(scoped, self.base)):
            return scoped
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(unknown_name_message(self.kind, name, self._entries)) from None

    def _find(self, name):
        """``lookup``, trying the lower-case form of a name only that form is registered under
        when the kind accepts any case."""
        if self.any_case and isinstance(name, str) and name not in self._entries and name.lower() in self._entries:
            name = name.lower()
        return self.lookup(name)

    def get(self, identifier):
        """An object of this kind from None, an instance, a registered name, a
        ``{'class_name', 'config'}`` dict, a class or a callable, as the kind's rules allow;
        ValueError (``bad_identifier``) otherwise."""
        if identifier is None and self.optional:
            return None
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, str) and self.from_name is not None:
            return self.from_name(self._find(identifier), identifier)
        if self.classes and isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if self.from_callable is not None and callable(identifier):
            made = self.from_callable(identifier)
            if made is not None:
                return made
        raise ValueError(self.bad_identifier.format(kind=self.kind, identifier=identifier,
                                                    names=", ".join(self.names())))

    def serialize(self, obj):
        """``{'class_name', 'config'}`` for an instance of a class registered here itself
        (an unregistered subclass does not inherit its parent's name); None stays None for
        an optional kind."""
        if obj is None and self.optional:
            return None
        cls = type(obj)
        name = vars(cls).get("registered_name")
        if not isinstance(obj, self.base) or name not in self._entries or self._entries[name] is not cls:
            raise ValueError(f"Cannot serialize {obj!r}: only registered {self.base.__name__} subclasses serialize "
                             f"(register the class with the {self.kind} registry's register()).")
        return {"class_name": name, "config": obj.get_config()}

    def deserialize(self, config):
        """An object from ``serialize``'s output or, where the kind accepts names, a registered
        name. Only registry names are looked up."""
        if isinstance(config, str) and self.from_name is not None:
            return self.get(config)
        if self.function_dicts and isinstance(config, dict) and config.get("class_name") == "function":
            return self.get(config.get("config"))
        return self.from_config_dict(config)

    def from_config_dict(self, config):
        """An object from ``{'class_name': ..., 'config': {...}}``, found by registry name only."""
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"Expected {{'class_name': ..., 'config': {{...}}}}. Received: {config!r}")
        cls = self._find(config["class_name"])
        try:
            return cls.from_config(dict(config.get("config") or {}))
        except TypeError as e:
            raise ValueError(f"Invalid config for {self.kind} {config['class_name']!r}: {e}") from None

    def __contains__(self, name):
        return name in self._entries

    def names(self):
        return sorted(self._entries)


#: user functions (activations, losses, Lambda bodies) registered with ``register_serializable``:
#: how a saved model or a config names a function without ever holding its code
FUNCTIONS = Registry("function")


def function_name(fn):
    """The name ``fn`` is registered under in ``FUNCTIONS``, or None."""
    for name in FUNCTIONS.names():
        if FUNCTIONS.lookup(name) is fn:
            return getattr(fn, "registered_name", name)
    return None
