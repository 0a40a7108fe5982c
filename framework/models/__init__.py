"""Model classes."""
from framework.models import eager  # noqa: F401  (installs what runs a layer on arrays)
from framework.models.functional import Model
from framework.models.sequential import Sequential
from framework.saving import load_model
from framework.saving.model_config import model_from_config, model_from_json, model_from_yaml

Functional = Model
