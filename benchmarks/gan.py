"""A GAN training step, written as each framework's users write it, side by side: the Keras guide's
GAN (custom_train_step_in_tensorflow.py: a Conv2D + LeakyReLU discriminator, a Dense +
Conv2DTranspose generator, 28x28x1 images, batch 64 real + 64 fake) with one discriminator update
and one generator update per step, Adam, binary cross-entropy from logits, float32.

- framework: the guide's ``train_step`` with ``framework.GradientTape`` and two optimizers;
- pytorch: the same networks in eager PyTorch (``zero_grad`` / ``backward`` / ``step``);
- keras-tf: the guide's own code on Keras 3 with TensorFlow (``tf.GradientTape``), when installed;
- keras-jax: Keras 3 on JAX as its JAX guide writes a custom step (``stateless_call``,
  ``jax.value_and_grad``, ``stateless_apply``, one ``jax.jit``), when installed.

Ours also times, on the MLP 784-512-256-10 at batch 128, a custom ``train_step`` doing what the
built-in step does (tape, ``compute_loss``, ``optimizer.apply``) beside the built-in compiled step:
called alone, and in ``fit`` over 10 batches (as users run it: shuffled batches gathered from the data).
Before the rounds, the parent process also times the built-in and custom steps in alternating blocks and
prints the median ratio of adjacent blocks, which the machine's slow phases (seconds long) disturb least.
All run in fresh child processes, alternating, medians (benchmarks/harness.py). Run:
    python benchmarks/gan.py [--rounds 3] [--steps 8] [--only mlp]
``--only mlp`` times the two MLP rows alone (ours only, without the GAN or the other frameworks).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, timed  # noqa: E402

BATCH, LATENT = 64, 128
#: environment variable naming the rows to time ('mlp': the MLP rows alone), inherited by the child processes
ONLY = "FRAMEWORK_BENCH_GAN_ONLY"


def _networks(keras, layers):
    discriminator = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ], name="discriminator")
    generator = keras.Sequential([
        keras.Input(shape=(LATENT,)),
        layers.Dense(7 * 7 * 128),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((7, 7, 128)),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ], name="generator")
    return discriminator, generator


def framework_gan(real, _):
    if os.environ.get(ONLY) == "mlp":
        return _mlp_steps()
    import framework as fw
    from framework import layers, ops
    fw.utils.set_random_seed(0)
    discriminator, generator = _networks(fw, layers)
    d_optimizer, g_optimizer = fw.optimizers.Adam(3e-4), fw.optimizers.Adam(3e-4)
    loss_fn = fw.losses.BinaryCrossentropy(from_logits=True)
    seed = fw.random.SeedGenerator(1337)

    def step():
        n = real.shape[0]
        generated = generator(fw.random.normal(shape=(n, LATENT), seed=seed))
        combined = ops.concatenate([generated, real], axis=0)
        labels = ops.concatenate([ops.ones((n, 1)), ops.zeros((n, 1))], axis=0)
        labels += 0.05 * fw.random.uniform(ops.shape(labels), seed=seed)
        with fw.GradientTape() as tape:
            d_loss = loss_fn(labels, discriminator(combined))
        grads = tape.gradient(d_loss, discriminator.trainable_weights)
        d_optimizer.apply(grads, discriminator.trainable_weights)
        misleading = ops.zeros((n, 1))
        with fw.GradientTape() as tape:
            g_loss = loss_fn(misleading, discriminator(generator(fw.random.normal(shape=(n, LATENT), seed=seed))))
        grads = tape.gradient(g_loss, generator.trainable_weights)
        g_optimizer.apply(grads, generator.trainable_weights)
    return {"gan train step": step, **_mlp_steps()}


def _mlp_steps():
    """The MLP's built-in step (as fit runs it: the batch gathered into the plan, then the plan's step) and a
    custom train_step doing the same, at batch 128."""
    import framework as fw
    from framework import layers
    from framework.training.batches import fill_batch, source_views

    class Custom(fw.Model):
        def train_step(self, data):
            x, y = data
            with fw.GradientTape() as tape:
                loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
            return {"loss": loss}

    rng = np.random.default_rng(1)
    x, y = rng.random((128, 784), dtype=np.float32), rng.integers(0, 10, 128).astype(np.float32)
    made = []
    for cls in (fw.Model, Custom):
        fw.utils.set_random_seed(0)
        inputs = fw.Input((784,))
        h = layers.Dense(256, activation="relu")(layers.Dense(512, activation="relu")(inputs))
        model = cls(inputs, layers.Dense(10)(h))
        model.compile(fw.optimizers.Adam(), fw.losses.SparseCategoricalCrossentropy(from_logits=True))
        made.append(model)
    builtin, custom = made
    builtin.train_on_batch(x, y)
    plan = builtin.plan("train", 128)
    views = source_views(*builtin._prepare(x, y))

    def builtin_step():  # what fit does per batch: the batch gathered into the plan, then its train step
        fill_batch(plan, *views, None, 0)
        return plan.train_step()

    # as users run the steps: fit over 10 batches of 128 shuffled from 1,280 samples, with either step
    many_x, many_y = rng.random((1280, 784), dtype=np.float32), rng.integers(0, 10, 1280).astype(np.float32)
    for model in made:
        model.fit(many_x, many_y, batch_size=128, epochs=1, verbose=0)
    return {"mlp built-in train step": builtin_step, "mlp custom train_step": lambda: custom.train_step((x, y)),
            **{f"mlp fit, 10 {kind} steps": (lambda m=model: m.fit(many_x, many_y, batch_size=128, epochs=1, verbose=0))
               for kind, model in (("built-in", builtin), ("custom", custom))}}


def pytorch(real, _):
    import torch
    from torch import nn
    torch.manual_seed(0)
    discriminator = nn.Sequential(
        nn.Conv2d(1, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(128, 1))
    generator = nn.Sequential(
        nn.Linear(LATENT, 7 * 7 * 128), nn.LeakyReLU(0.2), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 7, padding=3), nn.Sigmoid())
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=3e-4)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=3e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    images = torch.from_numpy(np.ascontiguousarray(real.transpose(0, 3, 1, 2)))

    def step():
        n = images.shape[0]
        generated = generator(torch.randn(n, LATENT)).detach()
        combined = torch.cat([generated, images])
        labels = torch.cat([torch.ones(n, 1), torch.zeros(n, 1)]) + 0.05 * torch.rand(2 * n, 1)
        d_optimizer.zero_grad()
        loss_fn(discriminator(combined), labels).backward()
        d_optimizer.step()
        g_optimizer.zero_grad()
        loss_fn(discriminator(generator(torch.randn(n, LATENT))), torch.zeros(n, 1)).backward()
        g_optimizer.step()
    return {"gan train step": step}


def keras_tf(real, _):
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf
    from keras import layers
    keras.utils.set_random_seed(0)
    discriminator, generator = _networks(keras, layers)
    d_optimizer, g_optimizer = keras.optimizers.Adam(3e-4), keras.optimizers.Adam(3e-4)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    images = tf.constant(real)

    @tf.function
    def step_fn(real_images):
        n = tf.shape(real_images)[0]
        generated = generator(tf.random.normal(shape=(n, LATENT)))
        combined = tf.concat([generated, real_images], axis=0)
        labels = tf.concat([tf.ones((n, 1)), tf.zeros((n, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = loss_fn(labels, discriminator(combined))
        grads = tape.gradient(d_loss, discriminator.trainable_weights)
        d_optimizer.apply(grads, discriminator.trainable_weights)
        with tf.GradientTape() as tape:
            g_loss = loss_fn(tf.zeros((n, 1)), discriminator(generator(tf.random.normal(shape=(n, LATENT)))))
        grads = tape.gradient(g_loss, generator.trainable_weights)
        g_optimizer.apply(grads, generator.trainable_weights)
    return {"gan train step": lambda: step_fn(images)}


def keras_jax(real, _):
    """The JAX guide's way (custom_train_step_in_jax.py): stateless_call, jax.value_and_grad and
    stateless_apply inside one jax.jit step."""
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras
    from keras import layers
    keras.utils.set_random_seed(0)
    discriminator, generator = _networks(keras, layers)
    d_optimizer, g_optimizer = keras.optimizers.Adam(3e-4), keras.optimizers.Adam(3e-4)
    d_optimizer.build(discriminator.trainable_variables)
    g_optimizer.build(generator.trainable_variables)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    images = jax.numpy.asarray(real)

    @jax.jit
    def step_fn(state, real_images, key):
        d_tv, d_ntv, g_tv, g_ntv, d_ov, g_ov = state
        k1, k2, k3 = jax.random.split(key, 3)
        n = real_images.shape[0]
        generated, _ = generator.stateless_call(g_tv, g_ntv, jax.random.normal(k1, (n, LATENT)))
        combined = jax.numpy.concatenate([generated, real_images], axis=0)
        labels = jax.numpy.concatenate([jax.numpy.ones((n, 1)), jax.numpy.zeros((n, 1))], axis=0)
        labels += 0.05 * jax.random.uniform(k2, labels.shape)

        def d_loss(d_trainable):
            predictions, new_ntv = discriminator.stateless_call(d_trainable, d_ntv, combined)
            return loss_fn(labels, predictions), new_ntv
        (_, d_ntv), grads = jax.value_and_grad(d_loss, has_aux=True)(d_tv)
        d_tv, d_ov = d_optimizer.stateless_apply(d_ov, grads, d_tv)

        def g_loss(g_trainable):
            fake, new_ntv = generator.stateless_call(g_trainable, g_ntv, jax.random.normal(k3, (n, LATENT)))
            predictions, _ = discriminator.stateless_call(d_tv, d_ntv, fake)
            return loss_fn(jax.numpy.zeros((n, 1)), predictions), new_ntv
        (_, g_ntv), grads = jax.value_and_grad(g_loss, has_aux=True)(g_tv)
        g_tv, g_ov = g_optimizer.stateless_apply(g_ov, grads, g_tv)
        return d_tv, d_ntv, g_tv, g_ntv, d_ov, g_ov

    values = lambda variables: [v.value for v in variables]  # noqa: E731
    state = [(values(discriminator.trainable_variables), values(discriminator.non_trainable_variables),
              values(generator.trainable_variables), values(generator.non_trainable_variables),
              values(d_optimizer.variables), values(g_optimizer.variables))]
    key = jax.random.PRNGKey(0)

    def step():
        state[0] = jax.block_until_ready(step_fn(state[0], images, key))
    return {"gan train step": step}


CONTENDERS = {"framework": framework_gan, "pytorch": pytorch, "keras-tf": keras_tf, "keras-jax": keras_jax}


def data():
    rng = np.random.default_rng(0)
    return rng.random((BATCH, 28, 28, 1), dtype=np.float32), None


def measure_ours(real, _, blocks=40):
    """The MLP's built-in and custom steps timed in alternating blocks, so that both see the same moments of
    the machine (its slow phases last seconds and can cover one row's calls but not the other's): each
    block's first call is not counted (it finds the other model's data in the caches), the others give the
    block's median; printed: the median over blocks of each, and of the ratio of adjacent blocks."""
    print(f"batch {BATCH} real + {BATCH} fake images; the MLP rows at batch 128")
    rows = _mlp_steps()
    for label, (builtin, custom), size in (
            ("step", (rows["mlp built-in train step"], rows["mlp custom train_step"]), 8),
            ("fit over 10 batches", (rows["mlp fit, 10 built-in steps"], rows["mlp fit, 10 custom steps"]), 3)):
        pairs = [[float(np.median(timed(fn, size)[1:])) for fn in (builtin, custom)] for _ in range(blocks)]
        ratios = sorted(c / b for b, c in pairs)
        print(f"MLP {label}, {blocks} alternating blocks of {size} calls: built-in "
              f"{np.median([b for b, _ in pairs]) * 1e3:.3f} ms, custom {np.median([c for _, c in pairs]) * 1e3:.3f} ms, "
              f"custom / built-in: median {np.median(ratios):.3f}, middle half {ratios[len(ratios) // 4]:.3f}-"
              f"{ratios[3 * len(ratios) // 4]:.3f}")


def _take_only_flag(argv):
    """Remove ``--only WHAT`` from ``argv`` (the harness does not know it) and set ``ONLY`` for the children."""
    if "--only" not in argv:
        return
    at = argv.index("--only")
    if at + 1 >= len(argv) or argv[at + 1] != "mlp":
        sys.exit("gan.py: --only takes 'mlp' (the MLP rows alone)")
    os.environ[ONLY] = argv[at + 1]
    del argv[at:at + 2]


if __name__ == "__main__":
    _take_only_flag(sys.argv)
    contenders = {"framework": framework_gan} if os.environ.get(ONLY) == "mlp" else CONTENDERS
    main(__file__, __doc__, contenders, data, measure_ours, child_counts=(8, 10))
