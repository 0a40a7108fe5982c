"""Safe YAML reading that remembers where every value was written.

``read_yaml(path)`` returns plain data (dicts, lists, strings, numbers, booleans,
None) and a ``Locations`` table mapping each value's path, e.g.
``('fit', 'callbacks', 0, 'EarlyStopping', 'patience')``, to the file and line
it came from, so every later problem can be reported as ``file:line: message``.

Only the YAML core schema is constructed, by this module, from the node tree
that the library's bounded reader (``framework.config.bounded_yaml``, a
``yaml.SafeLoader`` composer with limits on size, alias expansion and nesting)
builds: any other tag (``!!python/object``, ``!!binary``, ``!custom``, ...) is an
error naming its line, nothing is ever imported or called. Anchors, aliases and
``<<`` merge keys work; recursive aliases, alias bombs and too-deep nesting are
refused before any value is built.
"""
import os

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from framework.config.bounded_yaml import MAX_BYTES, YAMLLimitError, compose_yaml, cut, short

_CORE = "tag:yaml.org,2002:"
MAX_VALUES = 1_000_000  # values built from one document (aliases count each time they are expanded)


class Problem:
    """One problem in a config: where (``source``, ``line``) and what (``message``).

    Args:
        source: the file (or ``--set ...`` argument) it is in, or None.
        line: its 1-based line, or None when unknown.
        message: what is wrong, and what would be right.
    """

    __slots__ = ("source", "line", "message")

    def __init__(self, source, line, message):
        self.source, self.line, self.message = source, line, message

    def __str__(self):
        if self.source is None:
            return self.message
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}: {self.message}"

    def __repr__(self):
        return f"Problem({self.source!r}, {self.line!r}, {self.message!r})"

    def __eq__(self, other):
        return isinstance(other, Problem) and (self.source, self.line, self.message) == \
            (other.source, other.line, other.message)

    def __hash__(self):
        return hash((self.source, self.line, self.message))


class ConfigError(ValueError):
    """Everything wrong with a config, found before any work is done.

    ``problems`` is a list of ``Problem`` (each prints as ``file:line: message``);
    ``str(error)`` lists them all, one per line.

    Args:
        problems: a list of ``Problem`` objects or texts, or a single one.
    """

    def __init__(self, problems):
        if isinstance(problems, (str, Problem)):
            problems = [problems]
        self.problems = [p if isinstance(p, Problem) else Problem(None, None, str(p)) for p in problems]
        super().__init__(self._text())

    def _text(self):
        lines = [str(p) for p in self.problems]
        if len(lines) == 1:
            return lines[0]
        return f"{len(lines)} problems in the config:\n" + "\n".join(lines)

    def __str__(self):
        return self._text()


class Locations:
    """Where each value (and each mapping key) of a config was written.

    ``where(path)`` gives ``(source, line)`` of the value at ``path``, or of its
    nearest ancestor that has one; ``key=True`` prefers the line of the key that
    leads to ``path`` (for "unknown key" problems).

    Args:
        source: the file the values come from (the default source of every path).
    """

    def __init__(self, source):
        self.source = source
        self.values = {}
        self.keys = {}

    def where(self, path, key=False):
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            if path[:n] in self.values:
                return self.values[path[:n]]
        return (self.source, None)

    def problem(self, path, message, key=False):
        source, line = self.where(path, key)
        return Problem(source, line, message)

    def replace(self, path, source, line=None, values=None, keys=None):
        """Forget what was recorded at and under ``path``; record ``source``/``line`` there instead
        (plus, relative to ``path``, the ``values``/``keys`` of a parsed replacement)."""
        path = tuple(path)
        n = len(path)
        for table in (self.values, self.keys):
            for p in [p for p in table if p[:n] == path]:
                del table[p]
        self.values[path] = (source, line)
        self.keys[path] = (source, line)
        for table, extra in ((self.values, values), (self.keys, keys)):
            for sub in extra or {}:
                if sub:
                    table[path + sub] = (source, line)

    def copy(self):
        other = Locations(self.source)
        other.values = dict(self.values)
        other.keys = dict(self.keys)
        return other


def tag_name(tag):
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


class _Builder:
    """Plain Python values from a composed node tree, recording locations as it goes."""

    def __init__(self, locations):
        self.locations = locations
        self.source = locations.source
        self.problems = []
        self.count = 0
        self.active = set()
        self.scalars = SafeConstructor()

    def _line(self, node):
        return node.start_mark.line + 1

    def _problem(self, node, message):
        self.problems.append(Problem(self.source, self._line(node), message))

    def build(self, node, path=()):
        self.count += 1
        if self.count > MAX_VALUES:
            raise ConfigError([Problem(self.source, self._line(node),
                                       f"the document expands to more than {MAX_VALUES:,} values (alias bomb?)")])
        self.locations.values[path] = (self.source, self._line(node))
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if id(node) in self.active:
            self._problem(node, "recursive alias: a mapping or list that contains itself")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _CORE + "seq":
                    self._problem(node, _tag_message(node.tag))
                    return None
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                if node.tag != _CORE + "map":
                    self._problem(node, _tag_message(node.tag))
                    return None
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        self._problem(node, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover
        return None

    def _scalar(self, node):
        tag = node.tag
        if tag == _CORE + "str" or tag == _CORE + "timestamp":  # dates stay text: configs are plain data
            return node.value
        if tag == _CORE + "null":
            return None
        if tag == _CORE + "bool":
            return self.scalars.construct_yaml_bool(node)
        if tag == _CORE + "int":
            try:
                return self.scalars.construct_yaml_int(node)
            except ValueError:
                self._problem(node, f"{short(node.value)} is not an integer")
                return None
        if tag == _CORE + "float":
            try:
                return self.scalars.construct_yaml_float(node)
            except ValueError:
                self._problem(node, f"{short(node.value)} is not a number")
                return None
        self._problem(node, _tag_message(tag))
        return None

    def _key(self, node):
        if not isinstance(node, ScalarNode):
            self._problem(node, "mapping keys must be plain scalars (a name or a number), not a "
                          + ("list" if isinstance(node, SequenceNode) else "mapping"))
            return _BAD
        return self._scalar(node)

    def _mapping(self, node, path):
        result, first_line, merged = {}, {}, {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _CORE + "merge":
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, MappingNode):
                        self._problem(source, "a '<<' merge key takes a mapping (or a list of mappings) to merge")
                        continue
                    value = self.build(source, path)
                    if isinstance(value, dict):
                        for k, v in value.items():
                            merged.setdefault(k, v)
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _CORE + "merge":
                continue
            key = self._key(key_node)
            if key is _BAD:
                continue
            line = self._line(key_node)
            if key in result:
                self._problem(key_node, f"duplicate key {key!r} (first written at line {first_line[key]})")
                continue
            first_line[key] = line
            self.locations.keys[path + (key,)] = (self.source, line)
            result[key] = self.build(value_node, path + (key,))
        for k, v in merged.items():
            result.setdefault(k, v)
        return result


_BAD = object()


def _tag_message(tag):
    return (f"YAML tag {tag_name(tag)} is not allowed: a config holds plain data only (mappings, lists, "
            "strings, numbers, booleans and null), and nothing in it is ever imported or called")


def parse_yaml(text, source, locations=None):
    """``(data, locations)`` from YAML text; ConfigError (with lines) on syntax errors, bad tags, or
    a text past the bounded reader's limits (framework.config.bounded_yaml: size, alias expansion,
    nesting)."""
    locations = locations if locations is not None else Locations(source)
    try:
        node = compose_yaml(text, source)
    except YAMLLimitError as e:
        raise ConfigError([Problem(source, e.line, e.problem)]) from None
    if node is None:
        return None, locations
    builder = _Builder(locations)
    data = builder.build(node)
    if builder.problems:
        raise ConfigError(builder.problems)
    return data, locations


def read_yaml(path):
    """``(data, locations)`` from a YAML file, read safely (see the module docstring)."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)  # the bounded reader refuses a longer text
    except OSError as e:
        raise ConfigError([Problem(source, None, f"cannot read the config: {e.strerror or e}")]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError([Problem(source, None, f"the config is larger than {MAX_BYTES:,} bytes, the limit")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(source, None, f"the config is not UTF-8 text: {cut(e)}")]) from None
    return parse_yaml(text, source)


def dump_yaml(data):
    """YAML text for plain data, keys in the order given (``yaml.safe_dump``)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
