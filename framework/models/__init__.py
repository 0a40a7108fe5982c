"""Model classes."""
from framework.models import eager  # noqa: F401  (installs what runs a layer on arrays)
from framework.models import double_backward
from framework.models.functional import Model
from framework.training import tape as _tape
from framework.models.sequential import Sequential
from framework.saving import load_model
from framework.saving.model_config import model_from_config, model_from_json, model_from_yaml

Functional = Model
_tape.install_input_gradient_model(double_backward.input_gradient_model)
