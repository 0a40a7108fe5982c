"""A small functional image model with a residual block and BatchNormalization, on the MNIST sample.

What it shows (Keras's functional API on images):

- ``Conv2D(padding="same")`` keeping the spatial size so a block's output can be
  added to its input (``x = layers.add([x, shortcut])``);
- ``BatchNormalization`` after each convolution: batch statistics while
  training, moving statistics in ``evaluate`` / ``predict``;
- a strided convolution to downsample, ``GlobalAveragePooling2D`` and a softmax head.

Run from the repository root (about a minute; ``--samples`` and ``--epochs`` make it shorter):

    python examples/resnet_batchnorm.py
    python examples/resnet_batchnorm.py --samples 1000 --epochs 1

Exits with a message (status 1) when the MNIST folder is absent.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _mnist, next to this file

import framework as fw  # noqa: E402
from framework import layers  # noqa: E402

import _mnist  # noqa: E402


def conv_bn(x, filters, strides=1, relu=True):
    """Conv2D (no bias: BatchNormalization's beta replaces it) -> BatchNormalization -> ReLU."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x) if relu else x


def residual_block(x, filters):
    shortcut = x
    x = conv_bn(x, filters)
    x = conv_bn(x, filters, relu=False)
    x = layers.add([x, shortcut])
    return layers.ReLU()(x)


def build_model():
    inputs = fw.Input((28, 28, 1), name="image")
    x = conv_bn(inputs, 16)
    x = residual_block(x, 16)
    x = conv_bn(x, 32, strides=2)          # 14 x 14
    x = residual_block(x, 32)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax", name="digit")(x)
    return fw.Model(inputs, outputs, name="small_resnet")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=8000, help="training images (of the first 8,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not _mnist.available():
        sys.exit(f"MNIST sample not found: expected {_mnist.IMAGES} and {_mnist.LABELS} in {_mnist.MNIST_DIR}")
    (x_train, y_train), (x_test, y_test) = _mnist.load()
    x_train = (x_train[:args.samples].astype("float32") / 255.0)[..., None]
    y_train = y_train[:args.samples]
    x_test = (x_test.astype("float32") / 255.0)[..., None]

    fw.utils.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=2)
    print(f"Trained {args.epochs} epochs in {time.perf_counter() - start:.1f} s")
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f} (BatchNormalization in inference mode)")


if __name__ == "__main__":
    main()
