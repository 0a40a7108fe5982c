"""Name registries: every serializable object kind maps names to classes.

Deserialization only ever looks names up here; nothing is imported from a
module path found in a file. An unknown name is an error that lists the
valid choices, closest first.
"""
import difflib


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


class Registry:
    """Maps names (and aliases) of one kind of object to the object itself."""

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

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
        """The object registered under ``name``; ValueError listing choices otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(unknown_name_message(self.kind, name, self._entries)) from None

    def serialize(self, obj, base):
        """``{'class_name', 'config'}`` for an instance of a class registered here itself
        (an unregistered subclass does not inherit its parent's name)."""
        cls = type(obj)
        name = vars(cls).get("registered_name")
        if not isinstance(obj, base) or name not in self._entries or self._entries[name] is not cls:
            raise ValueError(f"Cannot serialize {obj!r}: only registered {base.__name__} subclasses serialize "
                             f"(register the class with the {self.kind} registry's register()).")
        return {"class_name": name, "config": obj.get_config()}

    def from_config_dict(self, config):
        """An object from ``{'class_name': ..., 'config': {...}}``, found by registry name only."""
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"Expected {{'class_name': ..., 'config': {{...}}}}. Received: {config!r}")
        cls = self.lookup(config["class_name"])
        try:
            return cls.from_config(dict(config.get("config") or {}))
        except TypeError as e:
            raise ValueError(f"Invalid config for {self.kind} {config['class_name']!r}: {e}") from None

    def __contains__(self, name):
        return name in self._entries

    def names(self):
        return sorted(self._entries)
