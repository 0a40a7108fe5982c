"""The application constructors and arguments that tests/test_applications.py checks against Keras.

Shared by the recording script (make_applications_reference.py, which runs Keras) and the tests
(which do not import Keras). ``CASES`` maps a case id to ``(constructor name, keyword arguments)``;
``OUTPUT_CASES`` are the cases whose predictions are compared, with weights made by
``deterministic_weights`` on both sides (or, for ``WEIGHTS_FILE_CASE``, a ``.weights.h5`` Keras wrote).
"""
import numpy as np

SMALL = {"include_top": False, "pooling": "avg"}

CASES = {
    "ResNet50": ("ResNet50", {}),
    "ResNet50_small": ("ResNet50", {**SMALL, "input_shape": (64, 64, 3)}),
    "ResNet101": ("ResNet101", {}),
    "ResNet152": ("ResNet152", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"}),
    "ResNet50V2": ("ResNet50V2", {}),
    "ResNet101V2": ("ResNet101V2", {"include_top": False, "input_shape": (32, 32, 3)}),
    "ResNet152V2": ("ResNet152V2", {"classes": 10, "classifier_activation": None}),
    "VGG16": ("VGG16", {"input_shape": (32, 32, 3)}),
    "VGG16_small": ("VGG16", {**SMALL, "input_shape": (32, 32, 3)}),
    "VGG19": ("VGG19", {"include_top": False, "input_shape": (48, 48, 3), "pooling": "max"}),
    "MobileNet": ("MobileNet", {}),
    "MobileNet_alpha": ("MobileNet", {"alpha": 0.5, "depth_multiplier": 2, "input_shape": (96, 96, 3),
                                      "classes": 7, "dropout": 0.2}),
    "MobileNet_notop": ("MobileNet", {**SMALL, "alpha": 0.25, "input_shape": (32, 32, 3)}),
    "MobileNetV2": ("MobileNetV2", {}),
    "MobileNetV2_alpha": ("MobileNetV2", {**SMALL, "alpha": 0.35, "input_shape": (96, 96, 3)}),
    "MobileNetV2_wide": ("MobileNetV2", {"alpha": 1.4, "input_shape": (96, 96, 3), "classes": 5}),
    "DenseNet121": ("DenseNet121", {}),
    "DenseNet121_small": ("DenseNet121", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"}),
    "Xception": ("Xception", {}),
    "Xception_small": ("Xception", {**SMALL, "input_shape": (71, 71, 3)}),
    "EfficientNetB0": ("EfficientNetB0", {}),
    "EfficientNetB0_small": ("EfficientNetB0", {**SMALL, "input_shape": (64, 64, 3)}),
    "EfficientNetB1": ("EfficientNetB1", {}),
    "EfficientNetB2": ("EfficientNetB2", {"include_top": False, "input_shape": (64, 64, 3)}),
    "EfficientNetB3": ("EfficientNetB3", {"classes": 10, "classifier_activation": None}),
    "MobileNetV3Small": ("MobileNetV3Small", {}),
    "MobileNetV3Small_min": ("MobileNetV3Small", {"minimalistic": True, "alpha": 0.75, "input_shape": (96, 96, 3),
                                                  "classes": 10}),
    "MobileNetV3Large": ("MobileNetV3Large", {}),
    "MobileNetV3Large_notop": ("MobileNetV3Large", {**SMALL, "input_shape": (64, 64, 3),
                                                    "include_preprocessing": False}),
    "ConvNeXtTiny": ("ConvNeXtTiny", {}),
    "ConvNeXtTiny_small": ("ConvNeXtTiny", {**SMALL, "input_shape": (32, 32, 3)}),
}

#: case id -> (constructor, arguments, input shape of the compared batch)
OUTPUT_CASES = {
    "ResNet50_out": ("ResNet50", {"include_top": False, "input_shape": (64, 64, 3), "pooling": "avg"}),
    "MobileNetV2_out": ("MobileNetV2", {"alpha": 0.35, "input_shape": (96, 96, 3), "classes": 10}),
    "EfficientNetB0_out": ("EfficientNetB0", {"include_top": False, "input_shape": (64, 64, 3), "pooling": "avg"}),
    "MobileNetV3Small_out": ("MobileNetV3Small", {"include_top": False, "input_shape": (64, 64, 3),
                                                  "pooling": "avg"}),
    "ConvNeXtTiny_out": ("ConvNeXtTiny", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}),
}

#: the case whose weights Keras writes to a .weights.h5 file (small: about 0.9 MB)
WEIGHTS_FILE_CASE = ("MobileNet_file", "MobileNet",
                     {"alpha": 0.25, "include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"})

BATCH = 2


def inputs(shape, seed=0):
    """A batch of images in [0, 255], as the applications' preprocessing expects."""
    return np.random.default_rng(seed).uniform(0.0, 255.0, (BATCH,) + tuple(shape)).astype("float32")


def deterministic_weights(shapes, seed=0):
    """Weights for a model with these weight shapes (``get_weights()`` order), the same on both sides.

    Kernels ~ N(0, 1/fan_in) keep activations of order one through deep stacks; 1-D weights
    (biases, normalization scales, moving statistics) are drawn near the values that keep the
    signal alive: a 1-D weight is in [0.5, 1.5] (which suits scales and variances), offsets
    small. Which 1-D weight is which cannot be told from its shape, so all 1-D weights use
    [0.5, 1.5]; a bias or a mean of that size only shifts activations.
    """
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1])) if len(shape) == 2 else int(np.prod(shape[:-2]) * max(1, shape[-2]))
            out.append(rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), shape).astype("float32"))
        else:
            out.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
    return out
