"""Model classes."""
from framework.models.functional import Model
from framework.models.sequential import Sequential

from framework.config.model_config import model_from_config, model_from_json, model_from_yaml
from framework.saving import load_model

Functional = Model
