"""Raw run configs: a config file as read, before overrides and validation."""
import copy
from pathlib import Path

from framework.runs.yaml_source import read_yaml


class RawConfig:
    """A config as read: plain ``data``, where each value was written (``locations``), and the file.

    Args:
        data: the config as plain data (dicts, lists, strings, numbers, booleans, None).
        locations: a ``Locations`` table: where each value was written.
        path: the config file, or None for configs made from data.
    """

    def __init__(self, data, locations, path=None):
        self.data = data
        self.locations = locations
        self.path = None if path is None else Path(path)

    def copy(self):
        """An independent copy (data and locations copied)."""
        return RawConfig(copy.deepcopy(self.data), self.locations.copy(), self.path)


def read_run_config(path):
    """The config file read safely (``RawConfig``), not yet validated. ConfigError on YAML problems."""
    data, locations = read_yaml(path)
    if data is None:
        data = {}
    return RawConfig(data, locations, path)
