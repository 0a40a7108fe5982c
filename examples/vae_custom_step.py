"""Keras's convolutional VAE example with its custom ``train_step``, trained on the MNIST sample.

What it shows (Keras's "Variational AutoEncoder" example, same networks and loss):

- an encoder model with three outputs ``(z_mean, z_log_var, z)``, ``z`` drawn by a ``Sampling`` layer with
  the reparameterization trick ``z = z_mean + exp(z_log_var / 2) * epsilon``, ``epsilon`` from
  ``framework.random.normal`` (fresh noise at every step, seeded by a ``SeedGenerator``);
- a decoder model of ``Conv2DTranspose`` layers from the 2-D latent space back to 28 x 28 images;
- a ``keras.Model`` subclass holding both, whose ``train_step`` computes inside a ``GradientTape`` the
  reconstruction loss (binary cross-entropy summed over the pixels) and the KL divergence, both written
  with ``framework.ops``, takes the gradient of their sum for every weight of both models, and applies it
  with the optimizer given to ``compile``;
- three ``Mean`` trackers (total, reconstruction and KL loss) listed by the ``metrics`` property;
- a PNG of digits decoded from a grid of points of the latent space, as the example's
  ``plot_latent_space`` (here over [-2, 2] on both axes by default; written with
  ``framework.utils.save_image_grid``).

Keras's code sums ``keras.losses.binary_crossentropy(data, reconstruction)`` (averaged over the channel
axis) over axes (1, 2); here ``ops.binary_crossentropy`` (elementwise) summed over axes (1, 2, 3) gives the
same value and gradient, with every step written as an op the tape records.
``examples/vae.py`` is the other VAE of Keras's guides, trained by ``fit`` with ``add_loss``.

Run from the repository root (about 3 minutes on 2 cores; ``--epochs``/``--steps`` make it shorter):

    python examples/vae_custom_step.py
    python examples/vae_custom_step.py --epochs 1 --steps 10 --output /tmp/vae

The grid is written to ``<output>/vae_latent_space.png`` (``--output`` defaults to ``outputs``).
"""
import argparse
import os
import sys
import time

import numpy as np

import framework as keras
from framework import layers, ops

LATENT_DIM = 2


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build_encoder(latent_dim=LATENT_DIM):
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder(latent_dim=LATENT_DIM):
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    """An encoder and a decoder trained together on the VAE loss by ``train_step``.

    Args:
        encoder: a model from images to ``(z_mean, z_log_var, z)``.
        decoder: a model from latent points ``z`` to images in [0, 1].
    """

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with keras.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data, training=True)
            reconstruction = self.decoder(z, training=True)
            reconstruction_loss = ops.mean(ops.sum(ops.binary_crossentropy(data, reconstruction), axis=(1, 2, 3)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


def latent_space_grid(decoder, n=20, scale=2.0):
    """Digits decoded from an ``n`` x ``n`` grid of 2-D latent points over [-scale, scale]^2: the first
    latent coordinate grows left to right, the second bottom to top (as Keras's ``plot_latent_space``)."""
    grid_x = np.linspace(-scale, scale, n)
    grid_y = np.linspace(-scale, scale, n)[::-1]
    points = np.array([[x, y] for y in grid_y for x in grid_x], dtype="float32")
    return decoder.predict(points, verbose=0)


def build(seed=0, latent_dim=LATENT_DIM):
    """The compiled VAE (Adam, as Keras's example), its weights drawn from ``seed``."""
    keras.utils.set_random_seed(seed)
    vae = VAE(build_encoder(latent_dim), build_decoder(latent_dim))
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="batches per epoch (default: the whole sample)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--grid", type=int, default=20, help="the PNG shows grid x grid decoded latent points")
    parser.add_argument("--scale", type=float, default=2.0,
                        help="the grid spans [-scale, scale] on both latent axes (the prior's 95%% at 2)")
    parser.add_argument("--output", default="outputs", help="folder for vae_latent_space.png (created if needed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None):
    """Trains the VAE on the 10,000 digits of the sample; returns ``{"history", "vae", "image"}``."""
    args = parse_args(argv)
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_sample()
    mnist_digits = np.concatenate([x_train, x_test], axis=0)
    mnist_digits = np.expand_dims(mnist_digits, -1).astype("float32") / 255
    os.makedirs(args.output, exist_ok=True)
    image = os.path.join(args.output, "vae_latent_space.png")
    vae = build(args.seed)
    start = time.perf_counter()
    history = vae.fit(mnist_digits, epochs=args.epochs, batch_size=args.batch_size, steps_per_epoch=args.steps,
                      verbose=args.verbose)
    keras.utils.save_image_grid(image, latent_space_grid(vae.decoder, args.grid, args.scale),
                                 cols=args.grid)
    logs = {k: v[-1] for k, v in history.history.items()}
    print(f"{args.epochs} epochs in {time.perf_counter() - start:.0f} s: loss {logs['loss']:.2f} (reconstruction "
          f"{logs['reconstruction_loss']:.2f}, KL {logs['kl_loss']:.2f}); {args.grid} x {args.grid} decoded latent "
          f"points in {image}")
    return {"history": history.history, "vae": vae, "image": image}


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
