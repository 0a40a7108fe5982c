"""A Keras-made model imported here against the same file run by Keras 3: predict and train step, batch 128.

The file is tests/keras_files/convnet.keras, the MNIST convnet saved by Keras 3.15.1
(tests/keras_files/make_fixtures.py): Conv2D(8) - MaxPool - Conv2D(16) - MaxPool - Flatten - Dropout -
Dense(10, softmax), RMSprop, categorical cross-entropy. Ours loads it with framework.models.load_model;
Keras 3 (optional, never a dependency) loads it with keras.models.load_model on JAX and on TensorFlow.
Timed side by side by benchmarks/harness.py: alternating rounds, each in a fresh child process, medians.
Rows: "predict batch" (predict_on_batch) and "train step" (train_on_batch, the compile settings read
from the file). Run:
    python benchmarks/keras_import.py [--rounds 6] [--steps 40]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import keras_contenders, main, median_ms  # noqa: E402

FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "keras_files", "convnet.keras")
BATCH, CLASSES = 128, 10


def ours(x, y):
    import framework as fw
    model = fw.models.load_model(FILE)
    model.train_on_batch(x, y)
    model.predict_on_batch(x)
    return {"predict batch": lambda: model.predict_on_batch(x), "train step": lambda: model.train_on_batch(x, y)}


def keras_model(x, y):
    """The same file in Keras 3 (on the backend benchmarks/harness.py sets)."""
    import keras
    model = keras.models.load_model(FILE)
    model.train_on_batch(x, y)
    model.predict_on_batch(x)
    return {"predict batch": lambda: model.predict_on_batch(x), "train step": lambda: model.train_on_batch(x, y)}


def data():
    rng = np.random.default_rng(0)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, BATCH)]
    return rng.random((BATCH, 28, 28, 1), dtype=np.float32), y


def measure_ours(x, y):
    import time
    import framework as fw
    start = time.perf_counter()
    model = fw.models.load_model(FILE)
    print(f"framework: load_model {1e3 * (time.perf_counter() - start):.1f} ms; predict batch "
          f"{median_ms(lambda: model.predict_on_batch(x), 20):.3f} ms (first plans built)")


CONTENDERS = {"framework": ours, **keras_contenders(keras_model)}

if __name__ == "__main__":
    main(os.path.abspath(__file__), __doc__, CONTENDERS, data, measure_ours)
