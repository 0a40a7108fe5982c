"""Weight constraints (applied after each optimizer update).

The constraint classes themselves arrive with the training-kit issue; until
then only ``None`` is accepted, and anything else is a clear error rather
than a silently ignored argument.
"""


def get(identifier):
    if identifier is None:
        return None
    raise NotImplementedError(f"Weight constraints are not supported yet (received {identifier!r}); "
                              "pass None")


def serialize(constraint):
    return None
