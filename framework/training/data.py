"""Data adapters: arrays, lists and dicts in, validated contiguous arrays out.

Everything here runs once per fit/evaluate/predict call, never per step:
shapes are checked, sample counts compared, and each array made C-contiguous
with a 2-D (samples, features) view that the batch gather reads. Floats the gather
cannot read (float16) are cast to the model's float dtype; data for an integer input
is checked to fit it before it is narrowed; class weights are checked against the
output's classes (docs/training.md, "Data types and checks").
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
            and _copies_exactly(x.dtype, model.inputs[0].dtype):
        return [x]
    if x is None:
        raise ValueError("No input data: pass x")
    arrays = [as_array(a, f"input '{n}'") for a, n in zip(structure_to_list(x, model_input_names(model), "x"),
                                                          model_input_names(model))]
    if getattr(model, "built", False) and model.inputs:
        for i, (array, tensor, name) in enumerate(zip(arrays, model.inputs, model_input_names(model))):
            expected = tensor.shape[1:]
            received = array.shape[1:]
            if len(expected) != len(received) or any(e is not None and e != r for e, r in zip(expected, received)):
                raise ValueError(f"Input '{name}' expects samples of shape {format_shape(expected)} "
                                 f"(data of shape {format_shape((None,) + tuple(expected))}), received data of shape "
                                 f"{format_shape(array.shape)}")
            if not _copies_exactly(array.dtype, tensor.dtype):
                arrays[i] = fit_input_dtype(array, tensor.dtype, name, _float_dtype(model))
    return arrays


#: the float dtypes the batch gather reads; other floats (float16, longdouble) are cast first
GATHER_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _copies_exactly(data_dtype, input_dtype):
    """True when data of ``data_dtype`` goes into an input of ``input_dtype`` as is: no cast of an
    unsupported float, no integer narrowing that could change a value."""
    target = np.dtype(input_dtype)
    if data_dtype.kind == "f" and data_dtype not in GATHER_FLOATS:
        return False
    if target.kind in "iub":
        return np.can_cast(data_dtype, target, "safe")
    return data_dtype.kind in "biuf"


def _float_dtype(model):
    dtype = getattr(model, "arena_dtype", None)
    return np.dtype(dtype()) if dtype is not None else np.dtype(np.float32)


def fit_input_dtype(array, input_dtype, name, float_dtype):
    """``array`` ready for an input of ``input_dtype``: floats the gather cannot read (float16,
    longdouble) cast to the model's ``float_dtype`` (as Keras casts inputs); for an integer input,
    values that would change when narrowed (an int64 id of 2**32 + 3 into int32 is 3) are refused,
    naming the input, the first such sample and the range."""
    target = np.dtype(input_dtype)
    if array.dtype.kind == "f" and array.dtype not in GATHER_FLOATS:
        array = array.astype(float_dtype if target.kind == "f" else np.float64)
    if target.kind not in "iu" or np.can_cast(array.dtype, target, "safe") or array.size == 0:
        return array
    info = np.iinfo(target)
    flat = array.reshape(len(array), -1) if len(array) else array
    low, high = flat.min(), flat.max()
    if array.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(high)):
        bad = ~np.isfinite(flat)
    elif low < info.min or high > info.max:
        bad = (flat < info.min) | (flat > info.max)
    else:
        return array
    sample, position = np.unravel_index(int(np.flatnonzero(bad.reshape(-1))[0]), flat.shape)
    value = flat[sample, position].item()
    raise ValueError(f"Input '{name}' is {target.name}, but sample {sample} of the data ({array.dtype.name}) holds "
                     f"{value}, which {target.name} cannot hold (it holds [{info.min}, {info.max}]); casting it "
                     f"would silently change it. Give ids within that range, or declare Input(dtype=...) wide enough")


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
        if array.dtype.kind == "f" and array.dtype not in GATHER_FLOATS:  # float16 targets, as Keras casts them
            array = array.astype(np.float32 if array.dtype.itemsize < 4 else np.float64)
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


def sample_weights_per_output(sample_weight, class_weight, targets, output_names, outputs=None):
    """One float64 (N,) weight array per output (None where all ones). ``outputs`` (the model's
    output tensors) give the number of classes that ``class_weight`` keys must lie below."""
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
        classes = output_classes(outputs[0].shape) if outputs else None
        result[0] = class_weights_of(class_weight, targets[0], classes, output_names[0])
    return result


def output_classes(shape):
    """The number of classes an output of ``shape`` scores: its last axis (2 for a single unit),
    or None when unknown."""
    last = shape[-1] if len(shape) > 1 else 1
    return None if last is None else max(int(last), 2)


def class_weights_of(class_weight, y, classes, name):
    """Per-sample weights from ``class_weight`` ({class index: weight}) and targets ``y`` (labels or
    one-hot rows). Keys must be class indices in ``[0, classes)``; classes not given weigh 1.0 (as
    Keras). Nothing is allocated per class: an absurd key costs nothing but its error."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict mapping class indices to weights, received "
                        f"{type(class_weight).__name__}")
    table = {}
    for key, weight in class_weight.items():
        shown = repr(key)[:200]
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer, float, np.floating)) or \
                not float(key).is_integer():
            raise ValueError(f"class_weight key {shown} is not a class index (an integer >= 0)")
        index = int(key)
        if index < 0:
            raise ValueError(f"class_weight key {index} is negative; keys are class indices from 0"
                             + (f" to {classes - 1}" if classes else "") + " (a negative key does not count "
                             "from the end)")
        if classes is not None and index >= classes:
            raise ValueError(f"class_weight key {index} is out of range: output '{name}' has {classes} classes, "
                             f"so keys lie in [0, {classes - 1}]")
        try:
            table[index] = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"class_weight[{index}] must be a number, received {repr(weight)[:200]}") from None
    labels = y.reshape(len(y), -1)
    labels = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0]
    if labels.dtype.kind == "f":
        if labels.size and not np.isfinite(labels).all():
            raise ValueError(f"class_weight needs finite class labels; output '{name}' has "
                             f"{labels[~np.isfinite(labels)][0]} at sample {int(np.flatnonzero(~np.isfinite(labels))[0])}")
        labels = np.rint(labels)
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"class_weight needs class labels >= 0, found {labels.min()}")
    found, inverse = np.unique(labels, return_inverse=True)
    return np.array([table.get(int(c), 1.0) for c in found], dtype=np.float64)[inverse.reshape(-1)]
