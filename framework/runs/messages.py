"""How problems are worded: config paths, values and exceptions as messages show them."""


def dotted(path):
    """A path as a message shows it: fit.callbacks[0].EarlyStopping (or "the top level")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out or "the top level"


def keypath(path):
    """A path as an override writes it: fit.callbacks.0.EarlyStopping."""
    return ".".join(map(str, path)) or "the top level"


def in_where(where):
    """Where a key is, for "unknown key ... <here>": "at the top level" or "in fit"."""
    return "at the top level" if where == "the top level" else f"in {where}"


def describe(value):
    """A received value in words: null, true, a mapping, a list, the text 'x', int 3."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}"


def error_text(error):
    """An exception's message without a final period (its class name when it has none)."""
    text = str(error) or type(error).__name__
    return text.strip().rstrip(".")
