"""Checked specs: the form in which validation hands a config's classes and nodes to building."""


class Entry:
    """A checked ``{Name: {arguments}}``: where it is, its kind, name, class and arguments.

    Args:
        path: where it is written in the config (a tuple of keys and positions).
        kind: 'layer', 'loss', 'optimizer', 'metric', 'callback', 'schedule', ...
        name: the name as written.
        obj: the registered class (or function) the name stands for; None for metric names
            that compile resolves ('accuracy').
        args: the constructor arguments, a dict.
    """

    __slots__ = ("path", "kind", "name", "obj", "args")

    def __init__(self, path, kind, name, obj, args):
        self.path, self.kind, self.name, self.obj, self.args = path, kind, name, obj, args


class Node:
    """A checked node of the functional form.

    Args:
        path: where it is written in the config.
        name: the node's (and its layer's) name.
        entry: the ``Entry`` of its new layer, or None when it reuses one.
        reuse: the name of the node whose layer it calls again, or None.
        inputs: the names of the inputs / nodes it is applied to, a list.
        as_list: True when its inputs were written as a list (the layer is called on a list).
    """

    __slots__ = ("path", "name", "entry", "reuse", "inputs", "as_list")

    def __init__(self, path, name, entry, reuse, inputs, as_list):
        self.path, self.name, self.entry, self.reuse, self.inputs, self.as_list = \
            path, name, entry, reuse, inputs, as_list


FAILED = object()  # marks a part that failed checking (or building), after its problem was reported
