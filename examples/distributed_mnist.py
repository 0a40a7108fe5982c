"""The MNIST convnet trained data-parallel over MPI: the Keras script, plus one line.

What it shows: ``framework.distribute.initialize()`` is the only change to a single-process script.
Start it with mpirun; every process trains on its shard of each batch of 128 (the global batch),
the gradients are summed in one all-reduce per step, and rank 0 alone prints (the progress lines, the
summary, the test result). The weights and logs are those of one process training on the same
batches (docs/distributed.md). Trained on the first 8,000 images of ``../shared/data/mnist`` and tested
on the last 2,000, as examples/mnist_convnet.py.

Run from the repository root (as root, Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 and
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; see docs/distributed.md):

    OPENBLAS_NUM_THREADS=1 mpirun -n 2 python examples/distributed_mnist.py --epochs 2

Without mpirun it trains alone, as one process. Exits with a message (status 1) when the MNIST folder
is absent.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _mnist, next to this file

import framework as fw  # noqa: E402
from framework import distribute, layers  # noqa: E402

import _mnist  # noqa: E402


def build_model():
    return fw.Sequential([
        fw.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128, help="the global batch, split across processes")
    parser.add_argument("--train-samples", type=int, default=8000)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = parser.parse_args(argv)

    distribute.initialize()  # the one line data-parallel training needs
    say = print if distribute.is_rank_zero() else (lambda *a, **k: None)

    if not _mnist.available():
        sys.exit(f"MNIST sample not found: expected {_mnist.IMAGES} and {_mnist.LABELS} in {_mnist.MNIST_DIR}")
    (x_train, y_train), (x_test, y_test) = _mnist.load()
    x_train = x_train[:args.train_samples, :, :, None].astype("float32") / 255.0
    y_train = y_train[:args.train_samples]
    x_test = x_test[:, :, :, None].astype("float32") / 255.0

    fw.utils.set_random_seed(0)
    model = build_model()
    model.compile(optimizer=fw.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    say(f"{distribute.size()} process(es); global batch {args.batch_size}; {len(x_train)} training images")

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              validation_split=0.1)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)  # every process: the whole test set
    steps = distribute.statistics()
    say(f"Trained {args.epochs} epochs in {seconds:.1f} s ({args.epochs * len(x_train) * 0.9 / seconds:.0f} images/s); "
        f"{steps['calls']} all-reduces of {steps['bytes'] / 2 ** 20:.2f} MiB took {steps['seconds']:.2f} s")
    say(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")
    say(f"First 10 test predictions: {np.argmax(model.predict(x_test[:10], verbose=0), axis=-1).tolist()}")


if __name__ == "__main__":
    main()
