"""Data adapters: arrays, lists and dicts in, validated contiguous arrays out.

Everything here runs once per fit/evaluate/predict call, never per step:
shapes are checked, sample counts compared, and each array made C-contiguous
with a 2-D (samples, features) view that the batch gather reads.
"""
import numpy as np

from framework.graph.shapes import format_shape


def as_array(value, what):
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{what}: cannot use an object array (ragged or mixed data); give numeric arrays")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what}: unsupported dtype {array.dtype}; give numbers or booleans")
    if array.ndim == 0:
        raise ValueError(f"{what}: expected an array with a sample axis, received a scalar")
    return np.ascontiguousarray(array)


def structure_to_list(value, names, what):
    """Order ``value`` (array, list/tuple or dict by name) as a list matching ``names``."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        missing = [n for n in names if n not in value]
        if unknown or missing:
            raise ValueError(f"{what}: expected keys {names}, received {list(value)}"
                             + (f" (unknown: {unknown})" if unknown else "") + (f" (missing: {missing})" if missing else ""))
        return [value[n] for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"{what}: the model has {len(names)} ({', '.join(names)}), received a list of {len(value)}")
        return list(value)
    if isinstance(value, (list, tuple)) and len(names) == 1 and len(value) == 1 and not np.isscalar(value[0]) \
            and np.asarray(value[0]).ndim >= 1 and isinstance(value[0], np.ndarray):
        return [value[0]]
    if len(names) > 1:
        raise ValueError(f"{what}: the model has {len(names)} ({', '.join(names)}); give a list or a dict")
    return [value]


def adapt_inputs(model, x):
    """Model inputs as contiguous arrays, checked against the declared shapes."""
    fast = getattr(model, "_single_input_tail", None)
    if fast is not None and type(x) is np.ndarray and x.shape[1:] == fast and x.flags.c_contiguous \
            and x.dtype.kind in "biuf":
        return [x]
    if x is None:
        raise ValueError("No input data: pass x")
    arrays = [as_array(a, f"input '{n}'") for a, n in zip(structure_to_list(x, model_input_names(model), "x"),
                                                          model_input_names(model))]
    if getattr(model, "built", False) and model.inputs:
        for array, tensor, name in zip(arrays, model.inputs, model_input_names(model)):
            expected = tensor.shape[1:]
            received = array.shape[1:]
            if len(expected) != len(received) or any(e is not None and e != r for e, r in zip(expected, received)):
                raise ValueError(f"Input '{name}' expects samples of shape {format_shape(expected)} "
                                 f"(data of shape {format_shape((None,) + tuple(expected))}), received data of shape "
                                 f"{format_shape(array.shape)}")
    return arrays


def model_input_names(model):
    """Names data is matched by: the keys of a dict given to Model(inputs=...), else the Input names."""
    if not (getattr(model, "built", False) and model.inputs):
        return ["input"]
    kind, keys = model.input_structure
    return list(keys) if kind == "dict" else model.input_names


def adapt_targets(y, output_names, target_shapes, loss_names):
    """Targets per output, reshaped to the loss's target shape ((N,) and (N, 1) are interchangeable)."""
    arrays = structure_to_list(y, output_names, "y")
    out = []
    for array, name, shape, loss in zip(arrays, output_names, target_shapes, loss_names):
        if array is None:
            out.append(None)
            continue
        array = as_array(array, f"target '{name}'")
        tail = tuple(shape[1:])
        if array.shape[1:] != tail:
            if all(d is not None for d in tail) and array.size == array.shape[0] * int(np.prod(tail)) and \
                    _only_unit_axes_differ(array.shape[1:], tail):
                array = array.reshape((array.shape[0],) + tail)
            else:
                hint = ""
                if loss == "categorical_crossentropy" and array.ndim == len(tail):
                    hint = "; for integer class labels use sparse_categorical_crossentropy"
                elif loss == "sparse_categorical_crossentropy" and array.shape[1:] == tail + (tail[-1:] or ()):
                    hint = "; for one-hot targets use categorical_crossentropy"
                raise ValueError(f"Output '{name}' (loss {loss}) expects targets of shape "
                                 f"{format_shape((None,) + tail)}, received {format_shape(array.shape)}{hint}")
        out.append(array)
    return out


def _only_unit_axes_differ(a, b):
    return [d for d in a if d != 1] == [d for d in b if d != 1]


def check_sample_counts(groups):
    """All arrays must have the same number of samples; name the offender otherwise."""
    counts = [(what, len(a)) for what, arrays in groups for a in arrays if a is not None]
    if not counts:
        return 0
    first_what, first = counts[0]
    for what, count in counts[1:]:
        if count != first:
            raise ValueError(f"Mismatched sample counts: {first_what} has {first} samples but {what} has {count}")
    return first


def sample_weights_per_output(sample_weight, class_weight, targets, output_names):
    """One float64 (N,) weight array per output (None where all ones)."""
    n_out = len(output_names)
    if sample_weight is None:
        weights = [None] * n_out
    elif isinstance(sample_weight, (dict, list, tuple)) and n_out > 1:
        weights = structure_to_list(sample_weight, output_names, "sample_weight")
    else:
        weights = [sample_weight] * n_out
    result = []
    for w, y in zip(weights, targets):
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            if w.ndim != 1:
                w = w.reshape(len(w), -1)[:, 0] if w.ndim == 2 and w.shape[1] == 1 else None
                if w is None:
                    raise ValueError("sample_weight must have one value per sample (shape (N,))")
        result.append(w)
    if class_weight is not None:
        if sample_weight is not None:
            raise ValueError("You cannot use class_weight and sample_weight at the same time; fold the class "
                             "weights into sample_weight")
        if n_out > 1:
            raise ValueError("class_weight is only supported for models with a single output")
        y = targets[0]
        labels = y.reshape(len(y), -1)
        labels = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0]
        labels = np.rint(labels).astype(np.int64) if labels.dtype.kind == "f" else labels.astype(np.int64)
        if labels.size and labels.min() < 0:
            raise ValueError(f"class_weight needs class labels >= 0, found {labels.min()}")
        # classes missing from class_weight count 1.0, as in Keras
        table = np.ones(max([int(k) for k in class_weight] + [int(labels.max()) if labels.size else 0]) + 1)
        for k, v in class_weight.items():
            table[int(k)] = v
        result[0] = table[labels]
    return result
