"""Automatic object names, as Keras gives them: 'dense', then 'dense_1', 'dense_2', ..."""
import re

_NAME_COUNTS = {}


def unique_name(prefix):
    """'dense', then 'dense_1', 'dense_2', ... as Keras names objects."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names():
    """Start every name counter again (``framework.utils.clear_session``)."""
    _NAME_COUNTS.clear()


def name_counters():
    """A copy of the counters, for ``restore_name_counters`` (building throwaway objects)."""
    return dict(_NAME_COUNTS)


def restore_name_counters(counters):
    """Put back counters taken with ``name_counters``."""
    _NAME_COUNTS.clear()
    _NAME_COUNTS.update(counters)


def snake_case(name):
    """'BatchNormalization' -> 'batch_normalization'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
