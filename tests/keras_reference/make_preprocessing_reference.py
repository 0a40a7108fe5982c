"""Record Keras 3's outputs of the preprocessing cases for tests/test_preprocessing_layers.py.

Recorded with Keras 3.15.1 on JAX (CPU, float32); the versions are stored in the npz. Keras is a
reference here, not a dependency: install it only to re-record (``pip install keras jax``), then
run from the project root::

    python tests/keras_reference/make_preprocessing_reference.py

Each case of preprocessing_cases.py is built in Keras and called with ``training=True`` (the
random layers have fixed transforms there); Normalization cases are adapted on the 'features'
input first (unless given mean and variance). Stored: one array per case name (under 30 KB).
"""
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from preprocessing_cases import CASES, NORMALIZATION_CASES, inputs  # noqa: E402

OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preprocessing.npz")


def main():
    data = inputs()
    out = {}
    for name, (class_name, args, source) in CASES.items():
        layer = getattr(keras.layers, class_name)(**args)
        out[name] = np.asarray(layer(data[source], training=True))
    for name, args in NORMALIZATION_CASES.items():
        layer = keras.layers.Normalization(**args)
        if "mean" not in args:
            layer.adapt(data["features"])
        out[name] = np.asarray(layer(data["features"]))
    out["keras_version"] = np.array(keras.__version__)
    out["jax_version"] = np.array(jax.__version__)
    np.savez_compressed(OUTPUT, **out)
    print(f"wrote {OUTPUT}: {len(out) - 2} cases")


if __name__ == "__main__":
    main()
