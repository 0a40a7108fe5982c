"""Keras's guide ``writing_a_custom_training_loop_in_tensorflow.py`` with ``tf.GradientTape`` ->
``framework.GradientTape`` (and ``tf.concat`` / ``tf.random`` -> ``ops`` / ``framework.random``; the
``@tf.function`` decorator dropped: steps here always run compiled plans), on the MNIST sample."""
import numpy as np
import pytest

import framework as keras
from framework import ops


def _mnist():
    if not keras.datasets.mnist.SHARED_DIR.is_dir():
        pytest.skip(f"MNIST sample not found in {keras.datasets.mnist.SHARED_DIR}")
    return keras.datasets.mnist.load_sample()


def get_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def _batches(x, y, batch_size, shuffle_seed=None):
    order = np.arange(len(x)) if shuffle_seed is None else np.random.default_rng(shuffle_seed).permutation(len(x))
    for start in range(0, len(x), batch_size):
        rows = order[start:start + batch_size]
        yield x[rows], y[rows]


def test_guide_a_first_end_to_end_example_and_metrics():
    keras.utils.set_random_seed(0)
    (x_train, y_train), _ = _mnist()
    x_train = np.reshape(x_train, (-1, 784)).astype("float32") / 255.0
    x_val, y_val = x_train[-2000:], y_train[-2000:]
    x_train, y_train = x_train[:-2000], y_train[:-2000]
    model = get_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    val_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    batch_size = 32
    losses = []
    for epoch in range(2):
        for step, (x_batch_train, y_batch_train) in enumerate(_batches(x_train, y_train, batch_size, epoch)):
            with keras.GradientTape() as tape:
                logits = model(x_batch_train, training=True)  # Logits for this minibatch
                loss_value = loss_fn(y_batch_train, logits)
            grads = tape.gradient(loss_value, model.trainable_weights)
            optimizer.apply(grads, model.trainable_weights)
            train_acc_metric.update_state(y_batch_train, logits)
            losses.append(float(loss_value))
        train_acc = float(train_acc_metric.result())
        train_acc_metric.reset_state()
        for x_batch_val, y_batch_val in _batches(x_val, y_val, batch_size):
            val_logits = model(x_batch_val, training=False)
            val_acc_metric.update_state(y_batch_val, val_logits)
        val_acc = float(val_acc_metric.result())
        val_acc_metric.reset_state()
    assert np.mean(losses[-50:]) < 0.5 * np.mean(losses[:50])
    assert train_acc > 0.9 and val_acc > 0.9


def test_guide_losses_tracked_by_the_model():
    class ActivityRegularizationLayer(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * ops.sum(inputs))
            return inputs

    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu")(inputs)
    x = ActivityRegularizationLayer()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(0)
    x_batch, y_batch = rng.random((32, 784)).astype("float32"), rng.integers(0, 10, 32)

    def train_step(x, y):
        with keras.GradientTape() as tape:
            logits = model(x, training=True)
            loss_value = loss_fn(y, logits)
            # Add any extra losses created during the forward pass.
            loss_value += sum(model.losses)
        return loss_value, tape.gradient(loss_value, model.trainable_weights)

    loss_value, grads = train_step(x_batch, y_batch)
    hidden = np.maximum(x_batch @ model.layers[1].kernel.numpy() + model.layers[1].bias.numpy(), 0)
    assert float(loss_value) == pytest.approx(float(loss_fn(y_batch, model.predict(x_batch, verbose=0)))
                                              + 1e-2 * hidden.sum(), rel=1e-5)
    # the same gradients as fit's, whose loss includes the term
    model.compile(optimizer="sgd", loss=loss_fn)
    from framework.training.batches import fill_batch, source_views
    plan = model.plan("train", 32)
    fill_batch(plan, *source_views([x_batch], [y_batch.astype("float32")], [None]), None, 0)
    plan.run_forward()
    plan.run_losses()
    for step in plan.backward:
        step()
    arena = model.parameter_arena()
    for weight, grad in zip(model.trainable_weights, grads):
        np.testing.assert_allclose(grad, arena.grad_views[id(weight)], rtol=1e-5, atol=1e-7)


def test_guide_a_gan_training_loop_from_scratch():
    keras.utils.set_random_seed(2)
    (x_train, _), _ = _mnist()
    images = x_train[:64].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    discriminator = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
        keras.layers.LeakyReLU(negative_slope=0.2),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(1),
    ], name="discriminator")
    latent_dim = 16
    generator = keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        keras.layers.Dense(7 * 7 * 8),
        keras.layers.LeakyReLU(negative_slope=0.2),
        keras.layers.Reshape((7, 7, 8)),
        keras.layers.Conv2DTranspose(8, (4, 4), strides=(4, 4), padding="same"),
        keras.layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"),
    ], name="generator")
    d_optimizer = keras.optimizers.Adam(learning_rate=0.0003)
    g_optimizer = keras.optimizers.Adam(learning_rate=0.0004)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    batch_size = 32

    def train_step(real_images):
        random_latent_vectors = keras.random.normal(shape=(batch_size, latent_dim))
        generated_images = generator(random_latent_vectors)
        combined_images = ops.concatenate([generated_images, real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((real_images.shape[0], 1))], axis=0)
        labels += 0.05 * keras.random.uniform(labels.shape)
        with keras.GradientTape() as tape:
            predictions = discriminator(combined_images)
            d_loss = loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, discriminator.trainable_weights)
        d_optimizer.apply(grads, discriminator.trainable_weights)
        random_latent_vectors = keras.random.normal(shape=(batch_size, latent_dim))
        misleading_labels = ops.zeros((batch_size, 1))
        with keras.GradientTape() as tape:
            predictions = discriminator(generator(random_latent_vectors))
            g_loss = loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, generator.trainable_weights)
        g_optimizer.apply(grads, generator.trainable_weights)
        return d_loss, g_loss, generated_images

    before = generator.get_weights()
    for step in range(4):
        d_loss, g_loss, generated = train_step(images[(step % 2) * 32:(step % 2 + 1) * 32])
    assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss)) and generated.shape == (32, 28, 28, 1)
    assert all(not np.array_equal(a, b) for a, b in zip(before, generator.get_weights()))
