"""The Keras MNIST convnet on the MNIST sample: Conv32-Pool-Conv64-Pool-Flatten-Dropout-Dense10.

What it shows: Keras's classic convnet example running unchanged apart from its
import, in Keras's channels_last layout. Trained on the first 8,000 images of
``../shared/data/mnist`` (relative to the repository root), tested on the last
2,000, with Adam and batch 128 as in the reference run in
``../shared/data/README.md``, where Keras 3 reached 98.8% after 10 epochs.

Run from the repository root:

    python examples/mnist_convnet.py
    python examples/mnist_convnet.py --epochs 3 --validation-split 0.1 --verbose 1

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

KERAS_REFERENCE_ACCURACY = 0.988


def build_model():
    return fw.Sequential([
        fw.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def load_images():
    """MNIST sample as float32 (N, 28, 28, 1) in [0, 1] and integer labels."""
    (x_train, y_train), (x_test, y_test) = _mnist.load()
    x_train = (x_train.astype("float32") / 255.0)[..., None]
    x_test = (x_test.astype("float32") / 255.0)[..., None]
    return (x_train, y_train), (x_test, y_test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--validation-split", type=float, default=0.0)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                        help="0 silent, 1 progress bar, 2 one line per epoch (default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not _mnist.available():
        sys.exit(f"MNIST sample not found: expected {_mnist.IMAGES} and {_mnist.LABELS} in {_mnist.MNIST_DIR}\n"
                 "(the shared data folder sits next to the repository: ../shared/data/mnist).")

    (x_train, y_train), (x_test, y_test) = load_images()
    print(f"MNIST sample from {_mnist.MNIST_DIR}: x_train {x_train.shape}, x_test {x_test.shape}")

    fw.utils.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_split=args.validation_split, verbose=args.verbose)
    seconds = time.perf_counter() - start

    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    predicted = np.argmax(model.predict(x_test[:10], verbose=0), axis=-1)
    print(f"Trained {args.epochs} epochs in {seconds:.1f} s")
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f} "
          f"(Keras 3 reference for this model and split: {KERAS_REFERENCE_ACCURACY:.3f})")
    print(f"First 10 test predictions: {predicted.tolist()}")
    print(f"First 10 test labels:      {y_test[:10].tolist()}")


if __name__ == "__main__":
    main()
