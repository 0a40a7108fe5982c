"""A conditional GAN on the MNIST sample: ask for a digit, get that digit (Keras's conditional_gan example).

What it shows (Keras's "Conditional GAN", scaled to run on two cores):

- the class label, one-hot, goes in twice: concatenated to the noise vector the generator reads, and
  broadcast over the 28 x 28 pixels as 10 extra image channels the discriminator reads beside the
  image (real or generated), so the discriminator judges "is this a real *3*?";
- a ``keras.Model`` subclass whose ``train_step`` receives ``(images, one_hot_labels)`` from ``fit`` and
  trains the discriminator, then the generator, each in its own ``GradientTape`` with its own optimizer;
  the generator's gradient flows back through ``ops.concatenate`` and the discriminator into its weights;
- ``Mean`` trackers for both losses; a PNG grid with one row per noise vector and the digits 0 to 9
  across, written with ``framework.utils.save_image_grid`` at the end of every epoch.

Run from the repository root (about 4 minutes on 2 cores; ``--epochs``/``--steps`` make it shorter):

    python examples/conditional_gan.py
    python examples/conditional_gan.py --epochs 1 --steps 20 --output /tmp/cgan

The grid is written to ``<output>/conditional_gan_digits.png`` (``--output`` defaults to ``outputs``).
"""
import argparse
import os
import sys
import time

import numpy as np

import framework as keras
from framework import layers, ops

NUM_CLASSES = 10
IMAGE_SIZE = 28
LATENT_DIM = 64


def build_discriminator():
    return keras.Sequential([
        keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1 + NUM_CLASSES)),   # the image and its label's 10 maps
        layers.Conv2D(32, 4, strides=2, padding="same"),               # 14 x 14
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(64, 4, strides=2, padding="same"),               # 7 x 7
        layers.LeakyReLU(negative_slope=0.2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(1),                                               # a logit: generated vs real
    ], name="discriminator")


def build_generator(latent_dim=LATENT_DIM):
    return keras.Sequential([
        keras.Input(shape=(latent_dim + NUM_CLASSES,)),                # the noise and the one-hot label
        layers.Dense(7 * 7 * 64, use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((7, 7, 64)),
        layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False),     # 14 x 14
        layers.BatchNormalization(),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid"),  # 28 x 28
    ], name="generator")


def label_maps(one_hot_labels):
    """(batch, 10) one-hot labels as (batch, 28, 28, 10) constant image channels."""
    batch = ops.shape(one_hot_labels)[0]
    return ops.broadcast_to(ops.reshape(one_hot_labels, (batch, 1, 1, NUM_CLASSES)),
                            (batch, IMAGE_SIZE, IMAGE_SIZE, NUM_CLASSES))


class ConditionalGAN(keras.Model):
    """A generator of digits of a chosen class and a discriminator that sees the class too.

    Args:
        discriminator: a model from (28, 28, 11) images-with-label-maps to a logit (generated vs real).
        generator: a model from (latent_dim + 10,) noise-with-label to (28, 28, 1) images in [0, 1].
        latent_dim: the size of the noise vectors.
        seed: the seed of the noise stream.
    """

    def __init__(self, discriminator, generator, latent_dim, seed=1337):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")

    @property
    def metrics(self):
        return [self.gen_loss_tracker, self.disc_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, data):
        # Unpack the data: real images and their one-hot labels
        real_images, one_hot_labels = data
        image_one_hot_labels = label_maps(one_hot_labels)
        batch_size = ops.shape(real_images)[0]

        # Sample noise, append the labels, and decode to fake images of those classes
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        random_vector_labels = ops.concatenate([random_latent_vectors, one_hot_labels], axis=1)
        generated_images = self.generator(random_vector_labels, training=True)

        # The discriminator sees each image with its label maps; fake ones are labelled 1, real ones 0
        fake_image_and_labels = ops.concatenate([generated_images, image_one_hot_labels], -1)
        real_image_and_labels = ops.concatenate([real_images, image_one_hot_labels], -1)
        combined_images = ops.concatenate([fake_image_and_labels, real_image_and_labels], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)

        # Train the discriminator
        with keras.GradientTape() as tape:
            predictions = self.discriminator(combined_images, training=True)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        # Train the generator (only its optimizer is applied) with labels that say "all real images"
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim), seed=self.seed_generator)
        random_vector_labels = ops.concatenate([random_latent_vectors, one_hot_labels], axis=1)
        misleading_labels = ops.zeros((batch_size, 1))
        with keras.GradientTape() as tape:
            fake_images = self.generator(random_vector_labels, training=True)
            fake_image_and_labels = ops.concatenate([fake_images, image_one_hot_labels], -1)
            predictions = self.discriminator(fake_image_and_labels, training=True)
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        # Monitor the losses
        self.gen_loss_tracker.update_state(g_loss)
        self.disc_loss_tracker.update_state(d_loss)
        return {"g_loss": self.gen_loss_tracker.result(), "d_loss": self.disc_loss_tracker.result()}


def generate(generator, noise):
    """For each noise vector (a row), the digits 0..9: images of shape (rows * 10, 28, 28, 1)."""
    rows = len(noise)
    labels = np.tile(np.eye(NUM_CLASSES, dtype="float32"), (rows, 1))
    inputs = np.concatenate([np.repeat(noise, NUM_CLASSES, axis=0), labels], axis=1)
    return generator.predict(inputs, verbose=0)


class DigitGrid(keras.callbacks.Callback):
    """Writes ``rows`` x 10 generated digits (row: one noise vector, columns: the classes 0-9) to ``path``
    at the end of every epoch.

    Args:
        path: the PNG file (rewritten each epoch).
        rows: how many noise vectors.
        latent_dim: the size of the noise vectors.
        seed: the seed of the fixed noise.
    """

    def __init__(self, path, rows=10, latent_dim=LATENT_DIM, seed=42):
        super().__init__()
        self.path = path
        self.noise = np.random.default_rng(seed).standard_normal((rows, latent_dim)).astype("float32")

    def on_epoch_end(self, epoch, logs=None):
        keras.utils.save_image_grid(self.path, generate(self.model.generator, self.noise), cols=NUM_CLASSES)


def build(seed=0, latent_dim=LATENT_DIM, learning_rate=2e-4):
    """The compiled conditional GAN, its weights drawn from ``seed``."""
    keras.utils.set_random_seed(seed)
    gan = ConditionalGAN(discriminator=build_discriminator(), generator=build_generator(latent_dim),
                         latent_dim=latent_dim, seed=seed + 1337)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return gan


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=None, help="batches per epoch (default: the whole sample)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default="outputs", help="folder for conditional_gan_digits.png (created if needed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None):
    """Trains the conditional GAN on the 10,000 digits of the sample; returns ``{"history", "gan", "image"}``."""
    args = parse_args(argv)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_sample()
    images = (np.concatenate([x_train, x_test]).astype("float32") / 255.0)[..., None]  # all 10,000 digits
    one_hot = keras.utils.to_categorical(np.concatenate([y_train, y_test]), NUM_CLASSES)
    os.makedirs(args.output, exist_ok=True)
    image = os.path.join(args.output, "conditional_gan_digits.png")
    gan = build(args.seed)
    start = time.perf_counter()
    history = gan.fit(images, one_hot, batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps,
                      verbose=args.verbose, callbacks=[DigitGrid(image)])
    logs = {k: v[-1] for k, v in history.history.items()}
    print(f"{args.epochs} epochs in {time.perf_counter() - start:.0f} s: discriminator loss {logs['d_loss']:.3f}, "
          f"generator loss {logs['g_loss']:.3f}; digits 0-9 (one row per noise vector) in {image}")
    return {"history": history.history, "gan": gan, "image": image}


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
