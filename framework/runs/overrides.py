"""Command-line overrides: ``key.path=value`` (``--set``) applied to a raw config, keys checked."""
import copy

from framework.runs import catalog
from framework.runs.catalog import argument_kind, constructor_params, find, is_registered, suggestion
from framework.runs.messages import describe, dotted, in_where, keypath
from framework.runs.raw import RawConfig
from framework.runs.schema import keys
from framework.runs.yaml_source import ConfigError, Locations, Problem, parse_yaml


def apply_overrides(raw, overrides):
    """A copy of ``raw`` (a ``RawConfig`` or plain dict) with ``key.path=value`` overrides applied.

    Values are parsed as YAML (safely): ``fit.epochs=3``, ``data.scale=0.5``,
    ``compile.metrics=[accuracy, mse]``, ``compile.optimizer={Adam: {learning_rate: 0.01}}``.
    Path parts: mapping keys; list positions (``fit.callbacks.0``, negative from the end) or, in a
    list, the name of an entry (``fit.callbacks.EarlyStopping.patience=5``,
    ``model.nodes.h.layer.Dense.units=32``). Setting an argument of a class given by name alone
    turns it into the mapping form: ``compile.optimizer.Adam.learning_rate=0.01`` on
    ``optimizer: adam`` gives ``{Adam: {learning_rate: 0.01}}``. Keys of fixed sections and
    constructor arguments are checked, with close matches. Problems of all overrides are raised
    together as ConfigError; each names its ``--set`` argument.
    """
    plain = not isinstance(raw, RawConfig)
    work = RawConfig(copy.deepcopy(raw) if raw is not None else {}, Locations("<config>")) if plain \
        else raw.copy()
    if work.data is None:
        work.data = {}
    problems = []
    for text in overrides or ():
        _apply_override(work, text, problems)
    if problems:
        raise ConfigError(problems)
    return work.data if plain else work


def _apply_override(work, text, problems):
    label = f"--set {text}"

    def fail(message):
        problems.append(Problem(label, None, message))

    if not isinstance(text, str) or "=" not in text:
        fail("an override is key.path=value, e.g. fit.epochs=3")
        return
    key, _, value_text = text.partition("=")
    parts = [p.strip() for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        fail(f"empty part in the key {key.strip()!r}")
        return
    try:
        value, value_locations = parse_yaml(value_text, label)
    except ConfigError as e:
        problems.extend(Problem(label, None, p.message) for p in e.problems)
        return
    if not isinstance(work.data, dict):
        fail("the config is not a mapping")
        return
    node, path = work.data, ()
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            index, by_class = _list_index(node, part, path, fail)
            if index is None:
                return
            if by_class and not last:  # fit.callbacks.EarlyStopping.patience: into the arguments
                path, node = path + (index,), node[index]
                if node.get(part) is None:
                    node[part] = {}
                path, node = path + (part,), node[part]
                continue
            if last:
                node[index] = value
                work.locations.replace(path + (index,), label, None, value_locations.values, value_locations.keys)
                return
            path, node = path + (index,), node[index]
            if isinstance(node, str):  # a class by name alone: {Name: {}} to set its arguments
                converted = _name_to_mapping(node, parts[i + 1])
                if converted is None:
                    if _slot_kind(path) is not None:
                        fail(_unknown_override_key(work.data, path, {node: {}}, parts[i + 1]))
                    else:
                        fail(f"{keypath(path)} is {node!r}, which has no part {parts[i + 1]!r}")
                    return
                _set_in(work.data, path, converted)
                node = converted
            continue
        if not isinstance(node, dict):
            fail(f"{keypath(path)} is {describe(node)}, not a mapping: cannot set {part!r} in it")
            return
        part = _match_key(node, part)
        if part not in node:
            message = _unknown_override_key(work.data, path, node, part)
            if message:
                fail(message)
                return
        if last:
            node[part] = value
            work.locations.replace(path + (part,), label, None, value_locations.values, value_locations.keys)
            return
        child = node.get(part)
        if child is None:
            node[part] = child = {}
            work.locations.replace(path + (part,), label)
        elif isinstance(child, str):
            converted = _name_to_mapping(child, parts[i + 1])
            if converted is None:
                if _slot_kind(path + (part,)) is not None:
                    fail(_unknown_override_key(work.data, path + (part,), {child: {}}, parts[i + 1]))
                else:
                    fail(f"{keypath(path + (part,))} is {child!r}, which has no part {parts[i + 1]!r}")
                return
            node[part] = child = converted
        path, node = path + (part,), child


def _set_in(data, path, value):
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _match_key(node, part):
    """The existing key ``part`` stands for (overrides are text: '0' may mean the integer key 0)."""
    if part in node:
        return part
    try:
        number = int(part)
    except ValueError:
        return part
    return number if number in node else part


def _list_index(items, part, path, fail):
    """``(index, by_class)``: the entry ``part`` names (a position, a node's name, or the class of a
    ``{Name: {...}}`` entry; by_class is then True), or ``(None, False)`` after reporting."""
    try:
        index = int(part)
    except ValueError:
        named = [i for i, item in enumerate(items) if isinstance(item, dict) and item.get("name") == part]
        classes = [i for i, item in enumerate(items)
                   if (isinstance(item, dict) and "name" not in item and list(item) == [part]) or item == part]
        matches = named or classes
        if len(matches) == 1:
            if classes and isinstance(items[matches[0]], str):
                items[matches[0]] = {part: {}}
            return matches[0], not named
        names = [item.get("name") or next(iter(item), None) if isinstance(item, dict) else item for item in items]
        if not matches:
            fail(f"no entry {part!r} in {keypath(path)}; " + suggestion(part, [n for n in names if n], "entries")
                 + " (or give a position, 0 to " + str(len(items) - 1) + ")")
        else:
            fail(f"{len(matches)} entries of {keypath(path)} are {part!r} (positions "
                 f"{', '.join(map(str, matches))}); give the position instead")
        return None, False
    if not -len(items) <= index < len(items):
        fail(f"{keypath(path)} has {len(items)} entries; position {index} is out of range")
        return None, False
    return index % len(items), False


def _name_to_mapping(name, next_part):
    """``{next_part: {}}`` when the name ``name`` and ``next_part`` are the same registered class."""
    if name == next_part:
        return {next_part: {}}
    for kind in catalog.PLURAL:
        try:
            if find(kind, name) is find(kind, next_part):
                return {next_part: {}}
        except KeyError:
            continue
    return None


def _slot_kind(path):
    """The kind of class written at ``path`` (a ``{Name: {arguments}}`` slot), or None."""
    n = len(path)
    if n == 3 and path[:2] == ("model", "layers") and isinstance(path[2], int):
        return "layer"
    if n == 4 and path[:2] == ("model", "nodes") and path[3] == "layer":
        return "layer"
    if path == ("compile", "optimizer"):
        return "optimizer"
    if path[:2] == ("compile", "loss") and n <= 3:
        return "loss"
    if path[:2] in (("compile", "metrics"), ("compile", "weighted_metrics")) and 3 <= n <= 4:
        return "metric"
    if n == 3 and path[:2] == ("fit", "callbacks"):
        return "callback"
    if n >= 2:
        owner = _slot_kind(path[:-2])
        if owner == "layer":
            return argument_kind(str(path[-1]))
        if owner == "optimizer" and path[-1] == "learning_rate":
            return "schedule"
    return None


def _class_arguments(kind, name):
    try:
        obj = find(kind, name)
    except KeyError:
        return None
    if kind == "activation":
        return list(getattr(obj, "_defaults", {}) or {})
    params, open_ = constructor_params(obj)
    return None if open_ else list(params)


def _unknown_override_key(data, path, node, part):
    """A message when ``part`` may not be added to the mapping ``node`` at ``path``, else None."""
    kind = _slot_kind(path)
    if kind is not None and len(node) == 1 and is_registered(kind, next(iter(node))):
        existing = next(iter(node))
        return (f"{keypath(path)} is {existing}; to use {part} instead, replace it first: "
                f"--set {keypath(path)}={part} (or {keypath(path)}={{{part}: {{...}}}})")
    if len(path) >= 1 and _slot_kind(path[:-1]) is not None:
        owner_kind = _slot_kind(path[:-1])
        arguments = _class_arguments(owner_kind, path[-1])
        if arguments is not None and part not in arguments:
            return f"unknown argument {part!r} for {owner_kind} {path[-1]}; " + suggestion(part, arguments, "arguments")
        return None
    allowed, where = None, dotted(path)
    if path == ():
        allowed = keys("top")
    elif path in (("compile",), ("data",), ("fit",)):
        allowed = keys(path[0])
    elif path == ("model",):
        if "nodes" in node or "inputs" in node:
            allowed = keys("functional")
        elif "layers" in node or "input_shape" in node:
            allowed = keys("sequential")
        else:
            allowed = keys("sequential") + [k for k in keys("functional") if k not in keys("sequential")]
    elif len(path) == 3 and path[:2] == ("model", "nodes"):
        allowed = keys("node")
    elif len(path) == 3 and path[:2] == ("model", "inputs"):
        allowed = keys("input")
    if allowed is None or part in allowed:
        return None
    return f"unknown key {part!r} {in_where(where)}; " + suggestion(part, allowed, "keys")
