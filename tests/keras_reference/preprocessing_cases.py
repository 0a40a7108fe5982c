"""The preprocessing layers compared with Keras, written once for both libraries.

``CASES`` maps a case name to (layer class name, constructor arguments, input name); ``inputs()``
gives the inputs, exactly representable in float16 so neither library rounds them differently.
Random layers are given a degenerate range (lower == upper), so their one transform is fixed and
Keras's output does not depend on its random generator. make_preprocessing_reference.py records
Keras's outputs; tests/test_preprocessing_layers.py runs the same cases with framework.
"""
import numpy as np


def inputs():
    rng = np.random.default_rng(7)
    images = np.round(rng.uniform(0, 255, (2, 5, 6, 2))).astype(np.float32)
    features = np.round(rng.normal(3.0, 2.0, (16, 3)) * 8).astype(np.float32) / 8
    ids = np.array([[0, 2, 2, 5], [1, 1, 1, 0], [5, 4, 3, 2]], dtype=np.int32)
    return {"images": images, "features": features, "ids": ids, "id_column": ids[:, :1]}


#: name -> (class name, arguments, input name)
CASES = {
    "rescaling": ("Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, "images"),
    "rescaling_per_channel": ("Rescaling", {"scale": [0.5, 2.0]}, "images"),
    "category_multi_hot": ("CategoryEncoding", {"num_tokens": 6}, "ids"),
    "category_count": ("CategoryEncoding", {"num_tokens": 6, "output_mode": "count"}, "ids"),
    "category_one_hot": ("CategoryEncoding", {"num_tokens": 6, "output_mode": "one_hot"}, "ids"),
    "category_one_hot_column": ("CategoryEncoding", {"num_tokens": 6, "output_mode": "one_hot"}, "id_column"),
    "resizing_down_bilinear": ("Resizing", {"height": 3, "width": 4}, "images"),
    "resizing_down_nearest": ("Resizing", {"height": 3, "width": 4, "interpolation": "nearest"}, "images"),
    "resizing_up_bilinear": ("Resizing", {"height": 7, "width": 9}, "images"),
    "resizing_up_nearest": ("Resizing", {"height": 7, "width": 9, "interpolation": "nearest"}, "images"),
    "resizing_crop_to_aspect": ("Resizing", {"height": 4, "width": 2, "crop_to_aspect_ratio": True}, "images"),
    "center_crop": ("CenterCrop", {"height": 3, "width": 3}, "images"),
    "center_crop_larger": ("CenterCrop", {"height": 6, "width": 8}, "images"),
}
for _mode in ("reflect", "wrap", "constant", "nearest"):
    for _interpolation in ("bilinear", "nearest"):
        _common = {"fill_mode": _mode, "interpolation": _interpolation, "fill_value": 7.0}
        CASES[f"rotation_{_mode}_{_interpolation}"] = ("RandomRotation", {"factor": (0.1, 0.1), **_common}, "images")
        CASES[f"translation_{_mode}_{_interpolation}"] = (
            "RandomTranslation", {"height_factor": (0.3, 0.3), "width_factor": (-0.25, -0.25), **_common}, "images")
        CASES[f"zoom_{_mode}_{_interpolation}"] = (
            "RandomZoom", {"height_factor": (0.4, 0.4), "width_factor": (-0.3, -0.3), **_common}, "images")
CASES["zoom_in_keep_aspect"] = ("RandomZoom", {"height_factor": (-0.5, -0.5)}, "images")
CASES["rotation_negative"] = ("RandomRotation", {"factor": (-0.3, -0.3)}, "images")

#: Normalization: name -> (arguments, adapt on 'features' or None)
NORMALIZATION_CASES = {
    "normalization_adapt_last_axis": {"axis": -1},
    "normalization_adapt_scalar": {"axis": None},
    "normalization_adapt_invert": {"axis": -1, "invert": True},
    "normalization_given": {"axis": -1, "mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.25, 1.0]},
}
