"""The generic part of checking a run config: problems reported at their lines, a section's
keys against the schema, integers, shapes and ``{Name: {arguments}}`` class entries.

The checks of the sections themselves build on ``Checker``: ``model_checks`` (the model)
and ``training_checks`` (compile, data, fit); ``validation`` puts them together.
"""
from framework.runs import catalog
from framework.runs.catalog import argument_kind, constructor_params, find, suggestion, unknown_name
from framework.runs.confinement import name_problem
from framework.runs.messages import describe, dotted, in_where
from framework.runs.schema import MISPLACED, SECTION_WHERE, SECTIONS, keys
from framework.runs.specs import Entry


class Checker:
    """Collects the problems of one config, each at the line where its value was written.

    Args:
        raw: the ``RawConfig`` being checked (its ``locations`` give the lines).
    """

    def __init__(self, raw):
        self.raw = raw
        self.locations = raw.locations
        self.problems = []

    def report(self, path, message, key=False):
        """Record ``message`` at the value (or, with ``key=True``, the key) at ``path``, once."""
        problem = self.locations.problem(path, message, key)
        if problem not in self.problems:
            self.problems.append(problem)

    # -- generic ---------------------------------------------------------------------------------
    def section(self, value, path, section, where=None, optional=()):
        """Check a mapping's keys against a section schema; report unknown and missing keys.
        True when ``value`` is a mapping holding every required key."""
        where = where or SECTION_WHERE.get(section, dotted(path))
        if not isinstance(value, dict):
            self.report(path, f"{where} must be a mapping, received {describe(value)}")
            return False
        allowed = keys(section)
        for key in value:
            if key not in allowed:
                hint = MISPLACED.get((section, key))
                self.report(path + (key,), f"unknown key {key!r} {in_where(where)}; "
                            + (hint or suggestion(key, allowed, "keys")), key=True)
        complete = True
        for field in SECTIONS[section]:
            if field.required and field.name not in value and field.name not in optional:
                complete = False
                self.report(path, f"missing key {field.name!r} {in_where(where)} ({field.doc})")
        return complete

    def integer(self, value, path, minimum=None, allow_none=False):
        """True when ``value`` is an integer ``>= minimum`` (or None when allowed); else report."""
        if value is None and allow_none:
            return True
        if not is_int(value) or (minimum is not None and value < minimum):
            bound = "" if minimum is None else f" >= {minimum}"
            self.report(path, f"{dotted(path)} must be an integer{bound}"
                        + (" or null" if allow_none else "") + f", received {describe(value)}")
            return False
        return True

    def shape(self, value, path):
        """The shape of one sample as a list (a lone integer ``n`` is ``[n]``), or None after reporting."""
        if not isinstance(value, list) or not value or not all(
                v is None or (is_int(v) and v > 0) for v in value):
            if is_int(value) and value > 0:
                return [value]
            self.report(path, f"{dotted(path)} must be a list of positive integers (the shape of one sample, "
                              f"without the batch axis), received {describe(value)}")
            return None
        return list(value)

    # -- class entries ---------------------------------------------------------------------------
    def entry(self, value, path, kind):
        """``{Name: {arguments}}`` or ``Name``: check the name and the argument names; an Entry or None."""
        if isinstance(value, str):
            name, args, name_path, args_path = value, {}, path, path
        elif isinstance(value, dict) and len(value) == 1:
            name, args = next(iter(value.items()))
            name_path, args_path = path + (name,), path + (name,)
            if args is None:
                args = {}
            if not isinstance(args, dict):
                self.report(args_path, f"the arguments of {kind} {name} must be a mapping "
                                       f"({{argument: value}}), received {describe(args)}")
                return None
        else:
            shown = f"a mapping with keys {', '.join(map(str, value))}" if isinstance(value, dict) \
                else describe(value)
            extra = ""
            if isinstance(value, dict) and len(value) > 1 and any(v is None for v in value.values()):
                extra = " (are the arguments indented under the name?)"
            self.report(path, f"a {kind} is written as a name or {{Name: {{arguments}}}}; received {shown}{extra}")
            return None
        try:
            obj = find(kind, name)
        except KeyError:
            self.report(name_path, unknown_name(kind, name), key=name_path != path)
            return None
        ok = self.arguments(kind, name, obj, args, args_path)
        if "name" in args and args["name"] is not None:
            problem = name_problem(args["name"], f"the name of {kind} {name}")
            if problem:
                self.report(args_path + ("name",), problem)
                ok = False
        return Entry(path, kind, name, obj, args) if ok else None

    def arguments(self, kind, name, obj, args, path):
        """Check argument names against the constructor and nested entries (initializers, schedules, ...)."""
        if kind == "activation":
            params, open_ = dict(getattr(obj, "_defaults", {}) or {}), False
        else:
            params, open_ = constructor_params(obj)
        ok = True
        if not open_:
            for arg in args:
                if arg not in params:
                    ok = False
                    self.report(path + (arg,), f"unknown argument {arg!r} for {kind} {name}; "
                                + suggestion(arg, list(params), "arguments"), key=True)
        for arg in catalog.required_params(params):
            if arg not in args:
                ok = False
                self.report(path, f"{kind} {name} is missing the required argument {arg!r}")
        for arg, value in args.items():
            sub = argument_kind(arg) if kind == "layer" else "schedule" if (
                kind == "optimizer" and arg == "learning_rate" and isinstance(value, (dict, str))) else None
            if sub is None or value is None:
                continue
            if sub == "schedule" and isinstance(value, str):
                self.report(path + (arg,), f"learning_rate must be a number or a schedule "
                                           f"{{Name: {{arguments}}}}, received {describe(value)}")
                ok = False
                continue
            if isinstance(value, (str, dict)):
                ok = self.entry(value, path + (arg,), sub) is not None and ok
        return ok


def is_int(value):
    """An integer, not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    """An integer or a float, not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
