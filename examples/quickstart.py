"""Quickstart: train, evaluate and use a small MLP classifier, end to end and offline.

What it shows: the Keras workflow on this library (Sequential -> compile -> fit
with validation_split -> evaluate -> predict) on real data when the MNIST
sample is present in ``../shared/data/mnist`` (relative to the repository
root; 8,000 training / 2,000 test images), and otherwise on a synthetic task
it generates: 8x8 images of noisy, randomly shifted digit glyphs 0-9. It
prints which data it used.

Run from the repository root:

    python examples/quickstart.py               # MNIST sample if present, else synthetic
    python examples/quickstart.py --synthetic   # always the generated digits
    python examples/quickstart.py --epochs 3 --verbose 1

Takes a few seconds (plus a one-time Numba compilation on a fresh machine).
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

# 5x7 glyphs of the digits 0-9 ('#' = ink), placed at a random offset in an 8x8 image.
GLYPHS = {
    0: [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
    1: ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
    2: [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
    3: ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
    4: ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
    5: ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
    6: ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
    7: ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
    8: [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
    9: [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
}


def synthetic_digits(n, rng):
    """``n`` 8x8 float32 images of digit glyphs with random shifts, ink levels, noise and
    dropped pixels, and their integer labels 0-9 (a small stand-in for MNIST)."""
    templates = np.array([[[c == "#" for c in row] for row in GLYPHS[d]] for d in range(10)], dtype=np.float32)
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 8, 8), dtype=np.float32)
    dy, dx = rng.integers(0, 2, size=n), rng.integers(0, 4, size=n)  # a 7x5 glyph fits 2 x 4 ways
    for i in range(n):
        images[i, dy[i]:dy[i] + 7, dx[i]:dx[i] + 5] = templates[labels[i]]
    images *= rng.uniform(0.6, 1.0, size=(n, 1, 1)).astype(np.float32)     # ink intensity
    images *= rng.random((n, 8, 8)) > 0.1                                  # 10% of pixels lost
    images += rng.normal(0.0, 0.25, size=images.shape).astype(np.float32)  # sensor noise
    return np.clip(images, 0.0, 1.0), labels


def load_data(force_synthetic=False):
    """((x_train, y_train), (x_test, y_test), description); images scaled to [0, 1]."""
    if not force_synthetic and _mnist.available():
        (x_train, y_train), (x_test, y_test) = _mnist.load()
        x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0
        return (x_train, y_train), (x_test, y_test), f"MNIST sample from {_mnist.MNIST_DIR} (8,000 train / 2,000 test)"
    rng = np.random.default_rng(1234)
    x, y = synthetic_digits(10_000, rng)
    why = "--synthetic given" if force_synthetic else f"{_mnist.MNIST_DIR} not found"
    return (x[:8000], y[:8000]), (x[8000:], y[8000:]), f"synthetic 8x8 digits, 8,000 train / 2,000 test ({why})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 5 on MNIST, 15 on the (smaller, faster) synthetic digits")
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2),
                        help="0 silent, 1 progress bar, 2 one line per epoch (default)")
    parser.add_argument("--synthetic", action="store_true", help="use the generated digits even if MNIST is present")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    fw.utils.set_random_seed(42)  # weights, shuffling and dropout repeat run to run
    (x_train, y_train), (x_test, y_test), description = load_data(args.synthetic)
    epochs = args.epochs or (5 if x_train.shape[1:] == (28, 28) else 15)
    print(f"Data: {description}")
    print(f"x_train {x_train.shape}, x_test {x_test.shape}, {len(np.unique(y_train))} classes")

    model = fw.Sequential([
        fw.Input(shape=x_train.shape[1:]),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1, verbose=args.verbose)

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {test_loss:.4f} - test accuracy: {test_accuracy:.4f}")

    probabilities = model.predict(x_test[:1], verbose=0)[0]
    predicted = int(np.argmax(probabilities))
    print(f"First test sample: predicted {predicted} (p={probabilities[predicted]:.3f}), true label {int(y_test[0])}")
    print(f"Done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
