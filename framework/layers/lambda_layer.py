"""Lambda: a layer made of a function of framework.ops, traced like any ``call()``.

A saved model names the function by the name it is registered under
(``framework.utils.register_serializable``), never by its code, so loading a file
still runs no code from it; a Lambda whose function is not registered cannot be saved.
"""
import inspect

from framework.config.registry import FUNCTIONS, function_name
from framework.graph.shapes import format_shape
from framework.layers.layer import Layer


class Lambda(Layer):
    """Wraps ``function(inputs, **arguments)`` (written with framework.ops) as a layer.

    Args:
        function: the function of the layer's input (a tensor, or a list of tensors).
        output_shape: optional; when given, checked against the shape the function computes.
        mask: optional function ``mask(inputs, previous_mask)`` returning the output's mask
            (written with framework.ops), or None (the input's mask passes on).
        arguments: optional dict of keyword arguments given to ``function``.
    """

    supports_masking = True

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda '{self.name}': function must be callable, received {type(function).__name__}")
        self.function = function
        self.output_shape_given = output_shape
        self.mask_function = mask
        self.arguments = dict(arguments or {})
        self.takes_training = "training" in _parameters(function)

    def call(self, inputs, training=None):
        kwargs = dict(self.arguments)
        if self.takes_training:
            kwargs["training"] = training
        outputs = self.function(inputs, **kwargs)
        if self.output_shape_given is not None and hasattr(outputs, "shape"):
            expected = tuple(self.output_shape_given)
            if tuple(outputs.shape[-len(expected):]) != expected and tuple(outputs.shape) != expected:
                raise ValueError(f"Lambda '{self.name}': output_shape={format_shape(expected)} was given but the "
                                 f"function computes {format_shape(outputs.shape)}")
        return outputs

    def compute_mask(self, inputs, mask=None):
        if self.mask_function is not None:
            return self.mask_function(inputs, mask)
        return mask

    def get_config(self):
        name = function_name(self.function)
        if name is None:
            raise ValueError(f"Lambda '{self.name}' cannot be saved: its function "
                             f"{getattr(self.function, '__name__', self.function)!r} is not registered. Register it "
                             "with @framework.utils.register_serializable() so files can name it (files never hold code)")
        config = super().get_config()
        config.update({"function": name, "arguments": self.arguments})
        if self.output_shape_given is not None:
            config["output_shape"] = list(self.output_shape_given)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["function"] = FUNCTIONS.lookup(config["function"])
        return cls(**config)


def _parameters(function):
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


LAYERS = (Lambda,)
