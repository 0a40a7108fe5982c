"""WGAN-GP on the MNIST sample: Keras's "WGAN-GP override Model.train_step" example, scaled to 2 cores.

What it shows:

- a critic (no sigmoid) trained ``d_steps`` times per generator step on the Wasserstein loss
  ``mean(critic(fake)) - mean(critic(real))`` plus a *gradient penalty*: the gradient of the critic with
  respect to images interpolated between real and fake ones, taken in an inner ``GradientTape``, whose
  norm is pulled towards 1. The outer tape differentiates that penalty again with respect to the
  critic's weights: a second derivative (docs/custom-training.md, "Second derivatives");
- the generator trained through the critic with ``-mean(critic(fake))``;
- two Adam optimizers (``beta_1=0.5, beta_2=0.9``, as the paper), each applied to its own network;
- a PNG grid of generated digits written at the end of every epoch (``framework.utils.save_image_grid``).

Run from the repository root (a few minutes on 2 cores; ``--epochs``/``--steps`` make it shorter):

    python examples/wgan_gp.py
    python examples/wgan_gp.py --epochs 1 --steps 10 --output /tmp/wgan

The grid is written to ``<output>/wgan_gp_digits.png`` (``--output`` defaults to ``outputs``).
"""
import argparse
import os
import sys
import time

import numpy as np

import framework as keras
from framework import layers, ops

LATENT_DIM = 64


def build_critic():
    image = layers.Input(shape=(28, 28, 1))
    x = layers.ZeroPadding2D((2, 2))(image)                                   # 32 x 32
    for filters, dropout in ((32, False), (64, True), (128, False)):
        x = layers.Conv2D(filters, (5, 5), strides=(2, 2), padding="same")(x)  # 16, 8, 4
        x = layers.LeakyReLU(0.2)(x)
        if dropout:
            x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(image, layers.Dense(1)(x), name="critic")


def build_generator(latent_dim=LATENT_DIM):
    noise = layers.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, use_bias=False)(noise)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.UpSampling2D((2, 2))(x)                                         # 14 x 14
    x = layers.Conv2D(32, (3, 3), padding="same", use_bias=False)(x)
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    x = layers.UpSampling2D((2, 2))(x)                                         # 28 x 28
    x = layers.Conv2D(1, (3, 3), padding="same", use_bias=False)(x)
    x = layers.Activation("tanh")(layers.BatchNormalization()(x))              # images in [-1, 1]
    return keras.Model(noise, x, name="generator")


class WGAN(keras.Model):
    def __init__(self, critic, generator, latent_dim=LATENT_DIM, d_steps=3, gp_weight=10.0):
        super().__init__()
        self.critic = critic
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_steps = d_steps
        self.gp_weight = gp_weight
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.gp_tracker = keras.metrics.Mean(name="gp")

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.gp_tracker]

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def gradient_penalty(self, real_images, fake_images):
        alpha = keras.random.uniform((len(real_images), 1, 1, 1))
        interpolated = real_images + alpha * (fake_images - real_images)
        with keras.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]      # recorded by the outer tape
        norm = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]))
        return ops.mean((norm - 1.0) ** 2)

    def train_step(self, real_images):
        batch_size = len(real_images)
        for _ in range(self.d_steps):
            noise = keras.random.normal((batch_size, self.latent_dim))
            with keras.GradientTape() as tape:
                fake_images = self.generator(noise, training=True)
                d_cost = ops.mean(self.critic(fake_images, training=True)) - \
                    ops.mean(self.critic(real_images, training=True))
                gp = self.gradient_penalty(real_images, fake_images)
                d_loss = d_cost + gp * self.gp_weight
            grads = tape.gradient(d_loss, self.critic.trainable_weights)
            self.d_optimizer.apply(grads, self.critic.trainable_weights)
        noise = keras.random.normal((batch_size, self.latent_dim))
        with keras.GradientTape() as tape:
            g_loss = -ops.mean(self.critic(self.generator(noise, training=True), training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.gp_tracker.update_state(gp)
        return {m.name: m.result() for m in self.metrics}


class DigitGrid(keras.callbacks.Callback):
    """Writes generated digits (fixed noise, 8 x 8) to ``path`` at the end of every epoch."""

    def __init__(self, path, latent_dim=LATENT_DIM, count=64):
        super().__init__()
        self.path = path
        self.noise = np.random.default_rng(0).standard_normal((count, latent_dim)).astype("float32")

    def on_epoch_end(self, epoch, logs=None):
        images = self.model.generator.predict(self.noise, verbose=0)
        keras.utils.save_image_grid(self.path, (images + 1.0) / 2.0)


def load_digits(limit=None):
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_sample()
    digits = np.concatenate([x_train, x_test])[:limit].astype("float32")
    return (digits.reshape(-1, 28, 28, 1) - 127.5) / 127.5                    # [-1, 1], as the generator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50, help="steps per epoch (0: all the data)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default="outputs")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    os.makedirs(args.output, exist_ok=True)
    grid = os.path.join(args.output, "wgan_gp_digits.png")
    wgan = WGAN(build_critic(), build_generator())
    wgan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.9),
                 g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.9))
    start = time.time()
    history = wgan.fit(load_digits(), batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps or None,
                       callbacks=[DigitGrid(grid)], verbose=2)
    print(f"trained in {time.time() - start:.0f} s; digits in {grid}")
    return history, grid


if __name__ == "__main__":
    main(sys.argv[1:])
