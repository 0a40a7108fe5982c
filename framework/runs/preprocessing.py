"""A run's data options (``data.reshape``, ``scale``, ``normalize``) as layers at the front of its model.

The model a run trains and saves takes the data as loaded: ``Input`` of the raw sample shape, then
``Reshape`` (data.reshape), ``Rescaling`` (data.scale) and ``Normalization`` (data.normalize, with the
statistics of the scaled training inputs as its weights), then the declared model. So ``model.fw``
evaluated or used for predictions on raw data (``framework evaluate`` / ``predict``) gives what the
run reported. The layers are named ``data_reshape``, ``data_scale``, ``data_normalize`` (with
``_<input name>`` after them for a model of several inputs).

``normalize: standardize`` uses the per-element mean and standard deviation of the training
inputs, ``minmax`` the minimum and the range (the Normalization layer's ``mean`` and ``variance``
are these centres and squared spreads); a spread of 0 (a constant feature) is taken as 1.
"""
import numpy as np

from framework.layers.preprocessing import Normalization, Rescaling
from framework.layers.reshaping import Reshape

OPTIONS = ("reshape", "scale", "normalize")
#: the prefix of the layers a run puts in front of its model
PREFIX = "data_"


def options(data_spec):
    """The data options of a checked data section that become layers: ``{name: value}``."""
    return {k: data_spec[k] for k in OPTIONS if data_spec.get(k) is not None}


class InputSummary:
    """What the front layers need from the training inputs, per model input name.

    Args:
        shapes: ``{input name: sample shape of the raw training array}``.
        statistics: ``{input name: (centre, spread, count)}`` for data.normalize, else None.
    """

    def __init__(self, shapes, statistics):
        self.shapes = shapes
        self.statistics = statistics


def summarize(xs, data_spec):
    """An ``InputSummary`` of the raw training inputs ``xs`` (``{input name: array}``, floats)."""
    shapes = {name: tuple(np.shape(a)[1:]) for name, a in xs.items()}
    how = data_spec.get("normalize")
    if how is None:
        return InputSummary(shapes, None)
    statistics = {}
    for name, array in xs.items():
        values = np.asarray(array, dtype=np.float64)
        if data_spec.get("reshape") is not None:
            values = values.reshape((len(values),) + tuple(data_spec["reshape"]))
        if data_spec.get("scale") is not None:
            values = values * float(data_spec["scale"])
        if how == "standardize":
            centre, spread = values.mean(axis=0), values.std(axis=0)
        else:
            low = values.min(axis=0)
            centre, spread = low, values.max(axis=0) - low
        statistics[name] = (centre, np.where(spread > 0, spread, 1.0), len(values))
    return InputSummary(shapes, statistics)


class FrontLayers:
    """Makes the front layers of each input while the model is built, and fills the Normalization
    statistics once it is (``finish``).

    Args:
        data_spec: the checked data section.
        summary: the ``InputSummary`` of the training inputs (needed with data.reshape, for the raw
            shapes, and data.normalize, for the statistics; None with data.scale alone).
        several: whether the model has several inputs (layer names then end in the input name).
    """

    def __init__(self, data_spec, summary, several):
        self.spec = data_spec
        self.summary = summary
        self.several = several
        self._normalizations = []

    def __call__(self, name, declared_shape):
        """``(input shape, layers)`` for the model input ``name`` declared with ``declared_shape``."""
        suffix = f"_{name}" if self.several else ""
        if name is None:  # the one input of a Sequential
            name = next(iter(self.summary.shapes)) if self.summary is not None else None
        layers = []
        shape = tuple(declared_shape)
        if self.spec.get("reshape") is not None:
            shape = self.summary.shapes[name]
            layers.append(Reshape(tuple(self.spec["reshape"]), name=f"{PREFIX}reshape{suffix}"))
        if self.spec.get("scale") is not None:
            layers.append(Rescaling(float(self.spec["scale"]), name=f"{PREFIX}scale{suffix}"))
        if self.spec.get("normalize") is not None:
            axes = list(range(1, len(declared_shape) + 1))
            layer = Normalization(axis=axes, name=f"{PREFIX}normalize{suffix}")
            self._normalizations.append((name, layer))
            layers.append(layer)
        return shape, layers

    def finish(self):
        """Set each Normalization layer's weights to the run's statistics (the model is built)."""
        for name, layer in self._normalizations:
            centre, spread, count = self.summary.statistics[name]
            layer.set_weights([centre, spread ** 2, np.asarray(float(count))])


def has_front_layers(model):
    """True when a model starts with the layers a run made of its data options."""
    return any(layer.name.startswith(PREFIX) and isinstance(layer, (Reshape, Rescaling, Normalization))
               for layer in model.layers)
