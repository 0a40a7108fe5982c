"""Configuration: global numeric settings and the name registries."""
from framework.backend import epsilon, floatx, set_epsilon, set_floatx
from framework.config.registry import Registry
