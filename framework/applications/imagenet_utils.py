"""What the application families share, as Keras's ``imagenet_utils``: the input shape rules,
``preprocess_input`` in its three modes, ``decode_predictions`` over the ImageNet class index,
and the small arithmetic of padding and channel rounding.

The class index (``imagenet_class_index.json``, 1000 entries, about 35 KB) is read from the
Keras cache folder (``$KERAS_HOME/models`` or ``~/.keras/models``), where Keras's own
``decode_predictions`` leaves it; ``framework.applications.download_class_index()`` fetches it
(checksummed) when it is missing.
"""
import json
import os

import numpy as np

from framework.applications.weights import CLASS_INDEX, keras_models_dir

#: per-channel means and deviations of ImageNet, RGB order
CAFFE_MEANS_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("caffe", "tf", "torch")
MAX_CLASS_INDEX_BYTES = 1 << 20

_class_index = None


def preprocess_input(x, data_format=None, mode="caffe"):
    """Images in [0, 255] scaled as a family's ImageNet weights expect.

    Args:
        x: an array of images, channels last (a single image or a batch), RGB, values in [0, 255].
        data_format: ``None`` or ``"channels_last"`` (the only layout of this library).
        mode: ``"caffe"`` (RGB to BGR, then ImageNet's channel means subtracted, no scaling),
            ``"tf"`` (to [-1, 1]) or ``"torch"`` (to [0, 1], then standardized per channel).

    Returns:
        A new float array (Keras changes a float input in place; this never does).
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(f"preprocess_input: data_format must be None or 'channels_last' (this library is "
                         f"channels-last), received {data_format!r}")
    if mode not in MODES:
        raise ValueError(f"preprocess_input: mode must be one of {MODES}, received {mode!r}")
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"preprocess_input: expected images with 3 channels on the last axis, received shape "
                         f"{x.shape}")
    x = x.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else "float32")
    if mode == "tf":
        return x / x.dtype.type(127.5) - x.dtype.type(1.0)
    if mode == "torch":
        return (x / x.dtype.type(255.0) - np.asarray(TORCH_MEAN, x.dtype)) / np.asarray(TORCH_STD, x.dtype)
    return x[..., ::-1] - np.asarray(CAFFE_MEANS_BGR, x.dtype)


def class_index_path():
    return os.path.join(keras_models_dir(), CLASS_INDEX.file_name)


def load_class_index(path=None):
    """``{"0": ["n01440764", "tench"], ...}`` from ``imagenet_class_index.json`` (the Keras cache by default)."""
    global _class_index
    if path is None and _class_index is not None:
        return _class_index
    where = path or class_index_path()
    if not os.path.isfile(where):
        raise FileNotFoundError(
            f"decode_predictions needs the ImageNet class index, which is not at {where}. Download "
            f"{CLASS_INDEX.url} (md5 {CLASS_INDEX.file_hash}) to that path, or call "
            "framework.applications.download_class_index()")
    if os.path.getsize(where) > MAX_CLASS_INDEX_BYTES:
        raise ValueError(f"{where}: {os.path.getsize(where)} bytes is too large for the ImageNet class index "
                         f"(at most {MAX_CLASS_INDEX_BYTES})")
    with open(where, encoding="utf-8") as handle:
        index = json.load(handle)
    if not (isinstance(index, dict) and len(index) == 1000 and all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(s, str) for s in v) for v in index.values())
            and set(index) == {str(i) for i in range(1000)}):
        raise ValueError(f"{where}: not an ImageNet class index (expected keys '0'..'999', each "
                         "[wordnet id, class name])")
    if path is None:
        _class_index = index
    return index


def decode_predictions(preds, top=5, class_index_file=None):
    """The ``top`` classes of each row of ImageNet predictions.

    Args:
        preds: an array of shape (samples, 1000).
        top: how many classes per sample.
        class_index_file: the class index JSON to use (default: the Keras cache's
            ``imagenet_class_index.json``).

    Returns:
        One list per sample of ``(wordnet id, class name, score)`` tuples, best first.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("decode_predictions expects a batch of predictions (a 2D array of shape (samples, "
                         f"1000)), received an array of shape {preds.shape}")
    index = load_class_index(class_index_file)
    results = []
    for row in preds:
        best = np.argsort(row)[-top:][::-1]
        results.append([tuple(index[str(i)]) + (row[i],) for i in best])
    return results


def obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights, where):
    """The input shape of an application model, checked as Keras checks it (channels last)."""
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(f"{where}: with include_top=True and weights='imagenet', input_shape must be "
                             f"{default_shape}; received input_shape={tuple(input_shape)}")
        return default_shape
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"{where}: input_shape must be a tuple of three integers (rows, cols, channels); "
                             f"received {input_shape}")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"{where}: ImageNet weights need 3 input channels; received input_shape={input_shape}")
        if any(d is not None and d < min_size for d in input_shape[:2]):
            raise ValueError(f"{where}: input size must be at least {min_size}x{min_size}; received "
                             f"input_shape={input_shape}")
        if require_flatten and None in input_shape:
            raise ValueError(f"{where}: with include_top=True the input shape must be static; received "
                             f"input_shape={input_shape}")
        return input_shape
    return default_shape if require_flatten else (None, None, 3)


def correct_pad(shape, kernel_size):
    """Zero padding ((top, bottom), (left, right)) before a stride-2 'valid' convolution, as Keras pads."""
    kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    rows, cols = shape[1], shape[2]
    adjust = (1, 1) if rows is None else (1 - rows % 2, 1 - cols % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def make_divisible(value, divisor=8, min_value=None):
    """``value`` rounded to a multiple of ``divisor``, never more than 10% below it (MobileNet's rule)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def validate_activation(classifier_activation, weights, where):
    if weights is None or classifier_activation in (None, "softmax"):
        return
    raise ValueError(f"{where}: with pretrained weights classifier_activation must be None or 'softmax'; "
                     f"received {classifier_activation!r}")
