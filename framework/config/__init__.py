"""Configuration: global numeric settings and the name registries."""
from framework.backend import (backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx,  # noqa: F401
                               set_image_data_format)
from framework.config.registry import Registry
