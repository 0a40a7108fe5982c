"""Model classes."""
from framework.models.functional import Model
from framework.models.sequential import Sequential

Functional = Model
