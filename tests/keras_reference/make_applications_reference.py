"""Record Keras's application models for tests/test_applications.py.

Keras is a reference here, not a dependency of the project: install it only to re-record
(``pip install keras jax h5py``), then, from the project root::

    python tests/keras_reference/make_applications_reference.py

Writes, in this folder:

- ``applications.json``: for each case of application_cases.CASES (built with ``weights=None``),
  the layers in ``model.layers`` order (name and class name), the parameter counts (total and
  trainable) and the output shape; plus the versions of Keras and JAX that made it;
- ``applications_outputs.npz``: for each case of OUTPUT_CASES, Keras's ``predict`` on
  ``application_cases.inputs`` with the weights ``deterministic_weights`` gives (``<case>.y``);
  and for WEIGHTS_FILE_CASE, its prediction (``<case>.y``) with the weights Keras wrote to
  ``mobilenet_file.weights.h5`` (``model.save_weights``; random weights, Keras's initializers
  with seed 0, moving statistics made non-trivial).
"""
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from application_cases import (CASES, OUTPUT_CASES, WEIGHTS_FILE_CASE, deterministic_weights,  # noqa: E402
                               inputs)

HERE = os.path.dirname(os.path.abspath(__file__))


def build(constructor, arguments):
    keras.utils.clear_session()
    return getattr(keras.applications, constructor)(weights=None, **arguments)


def describe(model):
    return {"layers": [[layer.name, type(layer).__name__] for layer in model.layers],
            "params": int(model.count_params()),
            "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "output_shape": list(model.output_shape)}


def main():
    record = {"keras_version": keras.__version__, "jax_version": jax.__version__, "cases": {}}
    for case, (constructor, arguments) in CASES.items():
        model = build(constructor, arguments)
        record["cases"][case] = describe(model)
        print(case, record["cases"][case]["params"], flush=True)
    with open(os.path.join(HERE, "applications.json"), "w") as handle:
        json.dump(record, handle, indent=0)
        handle.write("\n")

    arrays = {}
    for case, (constructor, arguments) in OUTPUT_CASES.items():
        model = build(constructor, arguments)
        model.set_weights(deterministic_weights([w.shape for w in model.get_weights()]))
        arrays[f"{case}.y"] = model.predict(inputs(arguments["input_shape"]), verbose=0)
        print(case, float(np.abs(arrays[f"{case}.y"]).max()), flush=True)
    case, constructor, arguments = WEIGHTS_FILE_CASE
    keras.utils.set_random_seed(0)
    model = build(constructor, arguments)
    rng = np.random.default_rng(1)
    weights = [w if w.ndim > 1 else w + rng.uniform(0.1, 0.5, w.shape).astype("float32")
               for w in model.get_weights()]
    model.set_weights(weights)
    model.save_weights(os.path.join(HERE, "mobilenet_file.weights.h5"))
    arrays[f"{case}.y"] = model.predict(inputs(arguments["input_shape"]), verbose=0)
    np.savez_compressed(os.path.join(HERE, "applications_outputs.npz"), **arrays)


if __name__ == "__main__":
    main()
