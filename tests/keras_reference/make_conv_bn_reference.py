"""Record Keras 3's float64 training trajectory for tests/test_keras_parity.py.

Recorded with Keras 3.15.1 on JAX 0.10.2 (NumPy 2.x), CPU; the versions used are also stored in
the npz (``keras_version``, ``jax_version``, ``numpy_version``). Keras is a reference here, not
a dependency: install it only to re-record (``pip install keras jax``), then run from the
project root::

    python tests/keras_reference/make_conv_bn_reference.py

For each case of cases.py it builds the Keras model, sets the float16-exact starting weights,
and runs STEPS Adam steps (``train_on_batch``) on one batch. Stored per case, with keys
``<case>.<item>``: ``x`` and ``y`` (float16, exact), ``weights0`` (the starting weights, float16,
flattened and concatenated in ``get_weights()`` order), and one row per step: ``loss``
(STEPS,) (the batch's loss before that step's update, training-mode forward), ``weights``
(STEPS, n) (all weights after the step, flattened as ``weights0``) and ``predict``
(STEPS, batch, classes) (inference outputs on ``x`` after the step). Under 40 KB in all.

float64 in Keras on JAX is not float64 throughout: ``keras.backend.result_type`` maps float64
to float32 on every backend but TensorFlow (``BIT64_TO_BIT32_DTYPE``), even with
``jax_enable_x64``, and BatchNormalization computes in ``result_type(inputs.dtype, "float32")``,
so its statistics and outputs are float32 (about 1e-7 off) in a "float64" model. This script
sets that mapping as Keras's TensorFlow backend has it (float64 stays float64) and checks, before
recording, that BatchNormalization then agrees with the float64 formula to 1e-13.
"""
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.backend.common import dtypes as keras_dtypes  # noqa: E402

from cases import CASES, STEPS, build, data, initial_weights  # noqa: E402

OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_dilated_avgpool_bn.npz")


def float64_keras():
    keras.config.set_floatx("float64")
    keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    x = np.random.default_rng(0).normal(2.0, 3.0, (16, 3, 3, 4))
    layer = keras.layers.BatchNormalization()
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    error = np.abs(np.asarray(layer(x, training=True)) - (x - mean) / np.sqrt(var + 1e-3)).max()
    if error > 1e-13:
        sys.exit(f"Keras's BatchNormalization is not float64 here (error {error:.2g}); the reference "
                 "would carry float32 rounding. Check how this Keras version picks its compute dtype.")


def record(case):
    model = build(keras, case)
    shapes = [w.shape for w in model.get_weights()]
    start = initial_weights(case, shapes)
    model.set_weights([w.astype(np.float64) for w in start])
    x, y = data(case)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    losses, weights, outputs = [], [], []
    for _ in range(STEPS):
        model.reset_metrics()  # the loss of this batch alone, whichever way the Keras version accumulates
        losses.append(float(model.train_on_batch(x64, y64)))
        weights.append(np.concatenate([w.ravel() for w in model.get_weights()]))
        outputs.append(model.predict(x64, verbose=0))
    out = {"x": x, "y": y, "weights0": np.concatenate([w.ravel() for w in start]), "loss": np.array(losses),
           "weights": np.stack(weights), "predict": np.stack(outputs)}
    return {f"{case}.{key}": value for key, value in out.items()}


def main():
    float64_keras()
    arrays = {"keras_version": np.array(keras.__version__), "jax_version": np.array(jax.__version__),
              "numpy_version": np.array(np.__version__)}
    for case in CASES:
        arrays.update(record(case))
    np.savez_compressed(OUTPUT, **arrays)
    print(f"wrote {OUTPUT} ({os.path.getsize(OUTPUT)} bytes), Keras {keras.__version__}, JAX {jax.__version__}")


if __name__ == "__main__":
    main()
