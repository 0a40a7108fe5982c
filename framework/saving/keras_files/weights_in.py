"""Reading weights from Keras's HDF5 layouts into a model: Keras 3's ``layers/<name>/vars/<i>``
(``weight_paths``) and the legacy layout of ``model.save("x.h5")`` (tf.keras 2 and Keras 3:
``model_weights/<layer>/...`` with the ``layer_names`` and ``weight_names`` attributes).

Each array is checked against its variable's shape before it is read (``safe_h5.read_array``);
every array is read and checked before any variable changes, and a file holding weights the
model does not have (or lacking some it has) is refused, naming the layer.
"""
import numpy as np

from framework.config.bounded_yaml import short
from framework.layers.core import InputLayer
from framework.saving.keras_files import safe_h5
from framework.saving.keras_files.refusal import KerasFileError
from framework.saving.keras_files.weight_paths import keras_layer_order, walk


def read_keras3(h5file, model, where, orders=None):
    """``[(variable, array)]`` for every weight of ``model`` from Keras 3's layout. ``orders`` maps
    ``id(model)`` to its layers in a config's order (Keras's); otherwise Keras's order is computed."""
    pairs, used = [], set()
    for path, layer, variables in walk(model, orders=orders):
        group = h5file.get(path)
        if group is None or not hasattr(group, "keys"):
            raise KerasFileError(f"{where}: has no group /{path} for the weights of layer '{layer.name}' "
                                 f"({type(layer).__name__}); the file was saved from another architecture")
        keys = sorted(group.keys(), key=lambda k: (len(k), k))
        expected = [str(i) for i in range(len(variables))]
        if keys != expected:
            raise KerasFileError(f"{where}: /{path} holds {short(keys)}; layer '{layer.name}' "
                                 f"({type(layer).__name__}) has {len(variables)} weights ({', '.join(expected)})")
        for key, variable in zip(expected, variables):
            array = safe_h5.read_array(group[key], variable.shape, where, f"/{path}/{key}")
            pairs.append((variable, array))
            used.add(f"{path}/{key}")
    extra = []
    layers = h5file.get("layers")
    if layers is not None:
        layers.visititems(lambda name, obj: extra.append(name) if hasattr(obj, "shape") and
                          f"layers/{name}" not in used else None)
    if extra:
        raise KerasFileError(f"{where}: holds weights the model does not have: {short(['/layers/' + e for e in extra])}")
    return pairs


def is_legacy(h5file):
    """True for the legacy layout (``layer_names`` at the root or in ``model_weights``)."""
    group = h5file.get("model_weights", h5file)
    return "layer_names" in group.attrs


def read_legacy(h5file, model, where):
    """``[(variable, array)]`` from the legacy layout, matched by layer name when every name of the file
    is a layer of the model, else by order of the layers that have weights (as Keras's legacy reader)."""
    group = h5file.get("model_weights", h5file)
    base = "/model_weights" if "model_weights" in h5file else ""
    names = safe_h5.read_strings(group, "layer_names", where, base or "/") or []
    stored = []
    for name in names:
        layer_group = group.get(name)
        if layer_group is None:
            raise KerasFileError(f"{where}: layer_names lists {short(name)}, which the file does not hold")
        weight_names = safe_h5.read_strings(layer_group, "weight_names", where, f"{base}/{name}") or []
        if weight_names:
            stored.append((name, layer_group, weight_names))
    layers = [layer for layer in keras_layer_order(model) if not isinstance(layer, InputLayer) and layer.weights]
    by_name = {layer.name: layer for layer in layers}
    if all(name in by_name for name, _, _ in stored) and len(stored) == len(layers):
        matched = [(by_name[name], name, g, w) for name, g, w in stored]
    elif len(stored) == len(layers):
        matched = [(layer, name, g, w) for layer, (name, g, w) in zip(layers, stored)]
    else:
        raise KerasFileError(f"{where}: holds weights for {len(stored)} layers ({short([s[0] for s in stored])}); "
                             f"the model has {len(layers)} layers with weights ({short([l.name for l in layers])})")
    pairs = []
    for layer, name, layer_group, weight_names in matched:
        variables = list(layer.weights)
        if len(weight_names) != len(variables):
            raise KerasFileError(f"{where}: {base}/{name} holds {len(weight_names)} weights; layer '{layer.name}' "
                                 f"({type(layer).__name__}) has {len(variables)}")
        for weight_name, variable in zip(weight_names, variables):
            dataset = layer_group.get(weight_name)
            if dataset is None:
                raise KerasFileError(f"{where}: {base}/{name}: weight_names lists {short(weight_name)}, which the "
                                     "file does not hold")
            pairs.append((variable, safe_h5.read_array(dataset, variable.shape, where,
                                                       f"{base}/{name}/{weight_name}")))
    return pairs


def assign(pairs):
    for variable, array in pairs:
        variable.assign(np.asarray(array, dtype=variable.dtype))
