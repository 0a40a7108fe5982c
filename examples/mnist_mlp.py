"""The Keras MNIST MLP on the MNIST sample: Flatten-Dense(256)-Dense(128)-Dense(10, softmax).

What it shows: a Keras script running unchanged apart from its import. The
model, optimizer (Adam), batch size (128) and epochs (10) are those of the
reference run in ``../shared/data/README.md``, trained on the first 8,000
images of ``../shared/data/mnist`` (relative to the repository root) and
tested on the last 2,000. For reference, Keras 3 reached 96.5% test accuracy
with this model on this split.

Run from the repository root (a few seconds once the Numba kernels are cached):

    python examples/mnist_mlp.py
    python examples/mnist_mlp.py --epochs 3 --verbose 1

Exits with a message (status 1) when the MNIST folder is absent.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _mnist, next to this file

import framework as fw  # noqa: E402
from framework import layers  # noqa: E402

import _mnist  # noqa: E402

KERAS_REFERENCE_ACCURACY = 0.965


def build_model():
    return fw.Sequential([
        fw.Input(shape=(28, 28)),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                        help="0 silent, 1 progress bar, 2 one line per epoch (default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not _mnist.available():
        sys.exit(f"MNIST sample not found: expected {_mnist.IMAGES} and {_mnist.LABELS} in {_mnist.MNIST_DIR}\n"
                 "(the shared data folder sits next to the repository: ../shared/data/mnist). "
                 "Run examples/quickstart.py for an example that needs no data.")

    (x_train, y_train), (x_test, y_test) = _mnist.load()
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    print(f"MNIST sample from {_mnist.MNIST_DIR}: x_train {x_train.shape}, x_test {x_test.shape}")

    fw.utils.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer=fw.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - start

    loss, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    predicted = np.argmax(model.predict(x_test[:10], verbose=0), axis=-1)
    print(f"Trained {args.epochs} epochs in {seconds:.1f} s")
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f} "
          f"(Keras 3 reference for this model and split: {KERAS_REFERENCE_ACCURACY:.3f})")
    print(f"First 10 test predictions: {predicted.tolist()}")
    print(f"First 10 test labels:      {y_test[:10].tolist()}")


if __name__ == "__main__":
    main()
