"""A small DCGAN on the MNIST sample, trained with the classic Keras recipe.

What it shows:

- a generator that upsamples noise with ``Conv2DTranspose(strides=2)`` (7x7 -> 14x14 -> 28x28);
- a discriminator of strided ``Conv2D`` layers with ``LeakyReLU``;
- the classic Keras GAN recipe: compile the discriminator, then set
  ``discriminator.trainable = False`` and compile the stacked ``gan``
  (generator -> discriminator). ``trainable`` is captured at compile, so
  ``discriminator.train_on_batch`` still trains the discriminator while
  ``gan.train_on_batch`` trains only the generator;
- generated digits written as a PGM image (plain NumPy, any image viewer opens it)
  and printed as text.

Run from the repository root (a few minutes; ``--steps`` makes it shorter):

    python examples/dcgan_mnist.py
    python examples/dcgan_mnist.py --steps 50 --output /tmp/dcgan.pgm

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

LATENT = 32


def build_generator():
    return fw.Sequential([
        fw.Input((LATENT,)),
        layers.Dense(7 * 7 * 64),
        layers.LeakyReLU(0.2),
        layers.Reshape((7, 7, 64)),
        layers.Conv2DTranspose(64, 4, strides=2, padding="same"),   # 14 x 14
        layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(32, 4, strides=2, padding="same"),   # 28 x 28
        layers.LeakyReLU(0.2),
        layers.Conv2D(1, 5, padding="same", activation="sigmoid"),
    ], name="generator")


def build_discriminator():
    return fw.Sequential([
        fw.Input((28, 28, 1)),
        layers.Conv2D(32, 4, strides=2, padding="same"),            # 14 x 14
        layers.LeakyReLU(0.2),
        layers.Conv2D(64, 4, strides=2, padding="same"),            # 7 x 7
        layers.LeakyReLU(0.2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ], name="discriminator")


def write_pgm(path, images, columns=8):
    """A grid of (N, 28, 28) images in [0, 1] as a binary PGM file."""
    rows = -(-len(images) // columns)
    grid = np.zeros((rows * 28, columns * 28), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28] = np.clip(image * 255, 0, 255).astype(np.uint8)
    with open(path, "wb") as f:
        f.write(f"P5 {grid.shape[1]} {grid.shape[0]} 255\n".encode())
        f.write(grid.tobytes())


def as_text(image):
    """A 14 x 28 character sketch of one 28 x 28 image."""
    shades = " .:-=+*#%@"
    small = image.reshape(14, 2, 28).mean(axis=1)
    return "\n".join("".join(shades[min(int(v * 10), 9)] for v in row) for row in small)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps (batches)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default="dcgan_samples.pgm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not _mnist.available():
        sys.exit(f"MNIST sample not found: expected {_mnist.IMAGES} and {_mnist.LABELS} in {_mnist.MNIST_DIR}")
    (images, _), _ = _mnist.load()
    images = (images.astype("float32") / 255.0)[..., None]

    fw.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    generator, discriminator = build_generator(), build_discriminator()
    discriminator.compile(optimizer=fw.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy",
                          metrics=["accuracy"])
    discriminator.trainable = False            # frozen inside `gan` only: captured when gan compiles
    gan = fw.Sequential([generator, discriminator], name="gan")
    gan.compile(optimizer=fw.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")

    half = args.batch_size
    real_labels, fake_labels = np.ones((half, 1), "float32"), np.zeros((half, 1), "float32")
    d_labels = np.concatenate([real_labels * 0.9, fake_labels])   # one-sided label smoothing
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        real = images[rng.integers(0, len(images), half)]
        noise = rng.normal(size=(half, LATENT)).astype("float32")
        fake = generator.predict(noise, batch_size=half, verbose=0)
        d_loss, d_acc = discriminator.train_on_batch(np.concatenate([real, fake]), d_labels)
        noise = rng.normal(size=(2 * half, LATENT)).astype("float32")
        g_loss = gan.train_on_batch(noise, np.ones((2 * half, 1), "float32"))
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:4d}  discriminator loss {d_loss:.3f} acc {d_acc:.2f}  generator loss {g_loss:.3f}"
                  f"  ({time.perf_counter() - start:.0f} s)")
    samples = generator.predict(rng.normal(size=(16, LATENT)).astype("float32"), verbose=0)[..., 0]
    write_pgm(args.output, samples)
    print(f"16 generated digits written to {args.output}; one of them:")
    print(as_text(samples[0]))


if __name__ == "__main__":
    main()
