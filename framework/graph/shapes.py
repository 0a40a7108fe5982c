"""Shapes as the graph records them: a batch axis first, ``None`` where a size is unknown."""


def format_shape(shape):
    """'(None, 28, 28)' for a shape, '[(None, 4), (None, 2)]' for a list of shapes."""
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def sample_shapes_match(expected, received):
    """True when two shapes agree past the batch axis, an unknown size (None) matching any."""
    tail_e, tail_r = tuple(expected[1:]), tuple(received[1:])
    return len(tail_e) == len(tail_r) and all(e is None or r is None or e == r for e, r in zip(tail_e, tail_r))
