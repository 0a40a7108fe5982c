"""Feed training batches from a PyDataset: MNIST digits shifted at random on the fly.

A ``framework.utils.PyDataset`` hands ``fit`` one batch at a time from
``__getitem__``, so batches can be made as they are needed: here every image is
shifted by up to two pixels, differently in every epoch (``on_epoch_end``
draws a new order). Uses the MNIST sample in ../shared/data/mnist when present,
otherwise the generated 8x8 digits of quickstart.py. Run:

    python examples/pydataset_augmentation.py [--epochs 5]
"""
import argparse
import time

import numpy as np

import framework as fw
from framework import layers
from framework.utils import PyDataset

from quickstart import load_data


class ShiftedDigits(PyDataset):
    """Batches of images shifted by up to ``max_shift`` pixels, with their labels."""

    def __init__(self, images, labels, batch_size=128, max_shift=2, seed=0):
        super().__init__()
        self.images, self.labels = images, labels
        self.batch_size, self.max_shift = batch_size, max_shift
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(images))

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        batch = self.images[rows]
        shifts = self.rng.integers(-self.max_shift, self.max_shift + 1, size=(len(rows), 2))
        shifted = np.stack([np.roll(image, tuple(shift), axis=(0, 1)) for image, shift in zip(batch, shifts)])
        return shifted, self.labels[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.images))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test), description = load_data()
    print(f"Data: {description}")
    fw.utils.set_random_seed(0)
    model = fw.Sequential([
        fw.Input(x_train.shape[1:]),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(ShiftedDigits(x_train, y_train), epochs=args.epochs, validation_data=(x_test, y_test), verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy after {args.epochs} epochs on shifted batches: {accuracy:.4f} "
          f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
