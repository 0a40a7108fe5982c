"""A DCGAN on the MNIST sample with a custom ``train_step`` and two optimizers, as Keras's DCGAN example.

What it shows (Keras's "DCGAN to generate face images", scaled to 28 x 28 digits):

- a generator that upsamples noise with ``Conv2DTranspose(strides=2)`` (7x7 -> 14x14 -> 28x28, with
  ``BatchNormalization``) and a discriminator of strided ``Conv2D`` + ``LeakyReLU`` layers with ``Dropout``;
- a ``keras.Model`` subclass holding both, whose ``compile`` takes one optimizer per network and a loss,
  and whose ``train_step`` trains them in turn, each inside its own ``GradientTape``:
  the discriminator on generated images labelled 1 and real images labelled 0 (with a little noise on
  the labels), then the generator through the discriminator with "all real" labels;
  each optimizer is applied to its own network's weights only (no frozen copy is needed);
- ``Mean`` trackers listed by the ``metrics`` property, reset by ``fit`` each epoch;
- a callback that writes a PNG grid of generated digits (fixed noise) at the end of every epoch,
  with ``framework.utils.save_image_grid`` (no image library needed).

The older recipe (a compiled discriminator frozen inside a stacked ``gan``, trained with
``train_on_batch``) is ``examples/dcgan_mnist.py``.

Run from the repository root (about 4 minutes on 2 cores; ``--epochs``/``--steps`` make it shorter):

    python examples/dcgan.py
    python examples/dcgan.py --epochs 1 --steps 20 --output /tmp/dcgan

The grid is written to ``<output>/dcgan_digits.png`` (``--output`` defaults to ``outputs``).
"""
import argparse
import os
import sys
import time

import numpy as np

import framework as keras
from framework import layers, ops

LATENT_DIM = 64


def build_discriminator():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 4, strides=2, padding="same"),         # 14 x 14
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(64, 4, strides=2, padding="same"),         # 7 x 7
        layers.LeakyReLU(negative_slope=0.2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ], name="discriminator")


def build_generator(latent_dim=LATENT_DIM):
    return keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        layers.Dense(7 * 7 * 64, use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((7, 7, 64)),
        layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False),      # 14 x 14
        layers.BatchNormalization(),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid"),  # 28 x 28
    ], name="generator")


class GAN(keras.Model):
    """The discriminator and the generator, trained against each other by ``train_step``.

    Args:
        discriminator: a model from (28, 28, 1) images to the probability that they are generated.
        generator: a model from (latent_dim,) noise to (28, 28, 1) images in [0, 1].
        latent_dim: the size of the noise vectors.
        seed: the seed of the noise and label-noise stream.
    """

    def __init__(self, discriminator, generator, latent_dim, seed=1337):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0]
        # Sample random points in the latent space and decode them to fake images
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(random_latent_vectors, training=True)
        # Combine them with real images; generated images are labelled 1, real ones 0
        combined_images = ops.concatenate([generated_images, real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        # Add random noise to the labels - important trick!
        labels += 0.05 * keras.random.uniform(ops.shape(labels), seed=self.seed_generator)

        # Train the discriminator
        with keras.GradientTape() as tape:
            predictions = self.discriminator(combined_images, training=True)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        # Train the generator through the discriminator, with labels that say "all real images";
        # only the generator's optimizer is applied, so the discriminator's weights stay as they are
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = ops.zeros((batch_size, 1))
        with keras.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors, training=True), training=True)
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


class GANMonitor(keras.callbacks.Callback):
    """Writes a grid of digits generated from fixed noise to ``path`` at the end of every epoch.

    Args:
        path: the PNG file (rewritten each epoch; a viewer sees the last complete grid).
        num_img: how many digits (a square number gives a square grid).
        latent_dim: the size of the noise vectors.
        seed: the seed of the fixed noise.
    """

    def __init__(self, path, num_img=64, latent_dim=LATENT_DIM, seed=42):
        super().__init__()
        self.path = path
        self.noise = np.random.default_rng(seed).standard_normal((num_img, latent_dim)).astype("float32")

    def on_epoch_end(self, epoch, logs=None):
        images = self.model.generator.predict(self.noise, verbose=0)
        keras.utils.save_image_grid(self.path, images)


def build(seed=0, latent_dim=LATENT_DIM, learning_rate=2e-4):
    """The compiled GAN, its weights drawn from ``seed``."""
    keras.utils.set_random_seed(seed)
    gan = GAN(discriminator=build_discriminator(), generator=build_generator(latent_dim), latent_dim=latent_dim,
              seed=seed + 1337)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5),
        loss_fn=keras.losses.BinaryCrossentropy(),
    )
    return gan


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=None, help="batches per epoch (default: the whole sample)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default="outputs", help="folder for dcgan_digits.png (created if needed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None):
    """Trains the GAN on the 10,000 digits of the sample; returns ``{"history", "gan", "image"}`` (the
    History's dict, the model, the PNG path)."""
    args = parse_args(argv)
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_sample()
    real = (np.concatenate([x_train, x_test]).astype("float32") / 255.0)[..., None]  # all 10,000 digits
    os.makedirs(args.output, exist_ok=True)
    image = os.path.join(args.output, "dcgan_digits.png")
    gan = build(args.seed)
    start = time.perf_counter()
    history = gan.fit(real, batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps,
                      verbose=args.verbose, callbacks=[GANMonitor(image)])
    logs = {k: v[-1] for k, v in history.history.items()}
    print(f"{args.epochs} epochs in {time.perf_counter() - start:.0f} s: discriminator loss {logs['d_loss']:.3f}, "
          f"generator loss {logs['g_loss']:.3f}; 64 generated digits in {image}")
    return {"history": history.history, "gan": gan, "image": image}


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
