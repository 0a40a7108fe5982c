"""The one YAML reader of the library: safe (the core schema only) and bounded.

Every YAML text the library reads goes through here: model-file members, ``model_from_yaml``
text, run configs (``framework.runs.yaml_source`` builds its own values from ``compose_yaml``'s
node tree) and the command line. ``yaml.safe_load`` refuses Python tags but has no bound on what
a small text can ask for: a 1 KB document of nested aliases ("billion laughs") expands to 10^9
values when anything walks it, and 100,000 nested ``[`` end in a ``RecursionError``. Here:

- the text may hold at most ``MAX_BYTES`` bytes (counted in UTF-8);
- the node tree may hold at most ``MAX_NODES`` nodes *after* alias expansion: each use of an
  alias counts the whole subtree it stands for, so an alias bomb is refused after reading it,
  before anything is built from it, in time linear in its text;
- nesting may be at most ``MAX_DEPTH`` levels, aliases and ``<<`` merges expanded;
- an alias to a mapping or list that contains it (a cycle) is refused.

A refused document raises ``YAMLLimitError`` (a ``ValueError`` and a ``yaml.YAMLError``) giving the
source, the line, and the limit; syntax errors and refused tags raise it too. Messages never quote
more than ``QUOTE_LIMIT`` characters of the input (see ``short``).
"""
import reprlib

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

MAX_BYTES = 16 * 2**20
MAX_NODES = 1_000_000
MAX_DEPTH = 200
QUOTE_LIMIT = 200

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 3, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = QUOTE_LIMIT, QUOTE_LIMIT, 40


def short(value, limit=QUOTE_LIMIT):
    """``repr(value)`` cut to about ``limit`` characters, without ever building the whole repr
    (a structure shared through aliases can be enormous once printed)."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def cut(text, limit=QUOTE_LIMIT):
    """``text`` itself when short, else its first ``limit`` characters and ``...``."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


class YAMLLimitError(yaml.YAMLError, ValueError):
    """A YAML text refused by the bounded reader: a syntax error, a refused tag, or a limit.

    ``str(error)`` is ``"source:line: problem"`` (``"source: problem"`` without a line).

    Args:
        source: where the text came from (a file, ``"model.yaml"``, ``"--data"``), or None.
        line: the 1-based line of the problem, or None.
        problem: what is wrong, already bounded in length.
    """

    def __init__(self, source, line, problem):
        where = "" if source is None else f"{source}:{line}: " if line else f"{source}: "
        Exception.__init__(self, where + problem)  # not the MRO: PyYAML's __init__s take other arguments
        self.source, self.line, self.problem = source, line, problem
        self.context = self.context_mark = self.problem_mark = self.note = None  # yaml.MarkedYAMLError's

    def __str__(self):
        return self.args[0]


class YAMLTagError(YAMLLimitError, yaml.constructor.ConstructorError):
    """A tag or value the safe schema cannot construct (``!!python/object/...``): a
    ``YAMLLimitError`` that is also PyYAML's ``ConstructorError``, as ``yaml.safe_load`` raises.

    Args:
        source: where the text came from, or None.
        line: the 1-based line of the problem, or None.
        problem: what is wrong, already bounded in length.
    """


class Limits:
    """The bounds one read applies (the module's defaults unless given).

    Args:
        max_bytes: the largest text accepted, in UTF-8 bytes.
        max_nodes: the most nodes the document may expand to, aliases counted at each use.
        max_depth: the deepest nesting accepted, aliases and merges expanded.
    """

    def __init__(self, max_bytes=None, max_nodes=None, max_depth=None):
        self.max_bytes = MAX_BYTES if max_bytes is None else int(max_bytes)
        self.max_nodes = MAX_NODES if max_nodes is None else int(max_nodes)
        self.max_depth = MAX_DEPTH if max_depth is None else int(max_depth)


_PARSER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader  # libyaml parses without recursion
_RESOLVER = yaml.resolver.Resolver()


def _events(text):
    parser = _PARSER(text)
    try:
        while parser.check_event():
            yield parser.get_event()
    finally:
        parser.dispose()


def _compose_events(events, source, limits):
    """The node tree of a single document, built iteratively (PyYAML's composer recurses once per
    level), counting nodes and nesting as it goes. Anchors, aliases and tags as PyYAML composes them."""
    anchors, stack, root, count, documents = {}, [], None, 0, 0

    def refuse(event, problem):
        return YAMLLimitError(source, event.start_mark.line + 1, problem)

    def attach(node):
        nonlocal root
        if not stack:
            root = node
            return
        parent = stack[-1]
        if isinstance(parent[0], SequenceNode):
            parent[0].value.append(node)
        elif parent[1] is None:
            parent[1] = node
        else:
            parent[0].value.append((parent[1], node))
            parent[1] = None

    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise refuse(event, "expected a single document in the stream, but found another document")
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        count += 1
        if count > limits.max_nodes:
            raise refuse(event, f"more than {limits.max_nodes:,} values")
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise refuse(event, f"YAML syntax error: found undefined alias {short(event.anchor)}")
            attach(anchors[event.anchor])
            continue
        if len(stack) + 1 > limits.max_depth:
            raise refuse(event, f"nested deeper than {limits.max_depth} levels")
        if event.anchor is not None and event.anchor in anchors:
            raise refuse(event, f"YAML syntax error: found duplicate anchor {short(event.anchor)}")
        tag = event.tag
        if isinstance(event, yaml.ScalarEvent):
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(ScalarNode, event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        else:
            kind = SequenceNode if isinstance(event, yaml.SequenceStartEvent) else MappingNode
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            anchors[event.anchor] = node
        attach(node)
        if not isinstance(node, ScalarNode):
            stack.append([node, None])
    return root


def _children(node):
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return ()


def check_expansion(root, source, limits):
    """Refuse a node tree that, aliases expanded, holds more than ``limits.max_nodes`` nodes or
    nests deeper than ``limits.max_depth``, or holds a cycle. Iterative: time and memory are
    linear in the number of distinct nodes."""
    done = {}  # id(node) -> (expanded size, expanded depth)
    on_path = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            size, depth = 1, 0
            for child in _children(node):
                child_size, child_depth = done[id(child)]
                size, depth = size + child_size, max(depth, child_depth)
            depth += 1
            line = node.start_mark.line + 1
            if size > limits.max_nodes:
                raise YAMLLimitError(source, line, f"the document expands to more than {limits.max_nodes:,} "
                                                   "values (aliases count at each use: an alias bomb?)")
            if depth > limits.max_depth:
                raise YAMLLimitError(source, line, f"nested deeper than {limits.max_depth} levels once aliases "
                                                   "and merges are expanded")
            done[key] = (size, depth)
            continue
        if key in done:
            continue
        if key in on_path:
            raise YAMLLimitError(source, node.start_mark.line + 1,
                                 "recursive alias: a mapping or list that contains itself")
        if isinstance(node, ScalarNode):
            done[key] = (1, 1)
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise YAMLLimitError(source, child.start_mark.line + 1,
                                     "recursive alias: a mapping or list that contains itself")
            if id(child) not in done:
                stack.append((child, False))


def _text(data, source, limits):
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if len(data) > limits.max_bytes:
            raise YAMLLimitError(source, None, f"{len(data):,} bytes of YAML; the limit is {limits.max_bytes:,}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise YAMLLimitError(source, None, f"not UTF-8 text (byte {e.start})") from None
    if not isinstance(data, str):
        raise YAMLLimitError(source, None, f"expected YAML text, received {type(data).__name__}")
    if len(data) > limits.max_bytes:  # at least one byte a character: no need to encode it to know
        raise YAMLLimitError(source, None, f"at least {len(data):,} bytes of YAML; the limit is {limits.max_bytes:,}")
    size = len(data.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise YAMLLimitError(source, None, f"{size:,} bytes of YAML; the limit is {limits.max_bytes:,}")
    return data


def _syntax_error(e, source, prefix, kind=YAMLLimitError):
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        what = " ".join(s for s in (e.context, e.problem) if s)
        return kind(source, None if mark is None else mark.line + 1, prefix + cut(what))
    return kind(source, None, prefix + cut(e))


def _compose(text, source, limits):
    try:
        node = _compose_events(_events(_text(text, source, limits)), source, limits)
    except YAMLLimitError:
        raise
    except yaml.YAMLError as e:
        raise _syntax_error(e, source, "YAML syntax error: ") from None
    if node is not None:
        check_expansion(node, source, limits)
    return node


def compose_yaml(text, source=None, limits=None):
    """The checked node tree of one YAML document (None when empty), for callers that construct
    values themselves. Raises ``YAMLLimitError``."""
    return _compose(text, source, limits or Limits())


def load_yaml(text, source=None, limits=None):
    """Like ``yaml.safe_load(text)``, bounded (see the module docstring); ``text`` is ``str`` or
    UTF-8 ``bytes``. Raises ``YAMLLimitError`` naming ``source`` and the line."""
    node = _compose(text, source, limits or Limits())
    if node is None:
        return None
    try:
        return SafeConstructor().construct_document(node)
    except yaml.YAMLError as e:
        raise _syntax_error(e, source, "not plain YAML (Python tags and other objects are refused): ",
                            YAMLTagError) from None


def read_yaml_file(path, source=None, limits=None):
    """``load_yaml`` of a file, reading at most the byte limit (plus one, to tell it was exceeded).
    OSError propagates."""
    limits = limits or Limits()
    source = str(path) if source is None else source
    with open(path, "rb") as f:
        data = f.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise YAMLLimitError(source, None, f"more than {limits.max_bytes:,} bytes of YAML; that is the limit")
    return load_yaml(data, source, limits)
