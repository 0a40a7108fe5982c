"""The model behind ``layer(x)`` on NumPy arrays (see ``framework.layers.eager``)."""
from framework.layers import eager
from framework.layers.core import Input
from framework.models.functional import Model


def one_layer_model(input_specs, call):
    """A model from ``Input``s of ``input_specs`` ((sample shape, dtype) each) to ``call(inputs)``."""
    inputs = [Input(shape, dtype=dtype) for shape, dtype in input_specs]
    return Model(inputs if len(inputs) > 1 else inputs[0], call(inputs))


eager.install_model_maker(one_layer_model)
