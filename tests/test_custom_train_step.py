"""train_step / test_step / predict_step overrides run by fit / evaluate / predict, with the code of
Keras's guide ``custom_train_step_in_tensorflow.py`` (``tf.GradientTape`` -> ``framework.GradientTape``,
``tf.concat`` / ``tf.shape`` / ``tf.ones`` -> ``ops``), and a custom step equal to the built-in one."""
import numpy as np
import pytest

import framework as keras
from framework import layers, ops
from framework.callbacks import Callback, EarlyStopping

GradientTape = keras.GradientTape


class GuideModel(keras.Model):
    """The guide's first CustomModel."""

    def train_step(self, data):
        x, y = data
        with GradientTape() as tape:
            y_pred = self(x, training=True)  # Forward pass
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    np.random.seed(0)


def test_guide_a_first_simple_example():
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = GuideModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    history = model.fit(x, y, epochs=3, verbose=0)
    assert list(history.history) == ["loss", "mae"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the metrics are the epoch's: reset at each epoch start, as fit does for self.metrics
    assert model.metrics[0].name == "loss" and model.metrics[1].name == "mae"


def test_guide_going_lower_level_with_its_own_metrics_property():
    class CustomModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = keras.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            with GradientTape() as tape:
                y_pred = self(x, training=True)  # Forward pass
                loss = self.loss_fn(y, y_pred)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply(gradients, trainable_vars)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam")  # no loss: the step computes its own
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    seen = []

    class Epochs(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(self.model.loss_tracker.count if hasattr(self.model.loss_tracker, "count") else
                        float(self.model.loss_tracker.result()))

    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[Epochs()])
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(float(np.asarray(v)) == 0.0 for v in seen)  # reset at every epoch start
    # the epoch's loss is the mean over its batches, as the tracker averages them
    assert history.history["loss"][-1] == pytest.approx(float(model.loss_tracker.result()))


def test_guide_supporting_sample_weight():
    class CustomModel(keras.Model):
        def train_step(self, data):
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data
            with GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply(gradients, trainable_vars)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    sw = np.random.random((1000, 1))
    history = model.fit(x, y, sample_weight=sw, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_guide_providing_your_own_evaluation_step():
    class CustomModel(keras.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(loss="mse", metrics=["mae"])
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    loss, mae = model.evaluate(x, y, verbose=0)
    predicted = model.predict(x, verbose=0)
    # the loss tracker averages the batches' losses (32 rows each, 8 in the last), as Keras's Mean does
    batch_losses = [np.mean((predicted[i:i + 32] - y[i:i + 32]) ** 2) for i in range(0, 1000, 32)]
    assert loss == pytest.approx(float(np.mean(batch_losses)), rel=1e-5)
    assert mae == pytest.approx(float(np.mean(np.abs(predicted - y))), rel=1e-5)


def _gan_models(latent_dim):
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            # We want to generate 128 coefficients to reshape into a 7x7x128 map
            layers.Dense(7 * 7 * 128),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    return discriminator, generator


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.seed_generator = keras.random.SeedGenerator(1337)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        # Sample random points in the latent space
        batch_size = ops.shape(real_images)[0]
        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )
        # Decode them to fake images
        generated_images = self.generator(random_latent_vectors)
        # Combine them with real images
        combined_images = ops.concatenate([generated_images, real_images], axis=0)
        # Assemble labels discriminating real from fake images
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        # Add random noise to the labels - important trick!
        labels += 0.05 * keras.random.uniform(ops.shape(labels), seed=self.seed_generator)
        # Train the discriminator
        with GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        # Sample random points in the latent space
        random_latent_vectors = keras.random.normal(
            shape=(batch_size, self.latent_dim), seed=self.seed_generator
        )
        # Assemble labels that say "all real images"
        misleading_labels = ops.zeros((batch_size, 1))
        # Train the generator (note that we should *not* update the weights
        # of the discriminator)!
        with GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        # Update metrics and return their value.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {
            "d_loss": self.d_loss_tracker.result(),
            "g_loss": self.g_loss_tracker.result(),
        }


def test_guide_an_end_to_end_gan():
    # The guide's networks, trained on a few batches of the MNIST sample (random digits without it)
    latent_dim = 128
    discriminator, generator = _gan_models(latent_dim)
    if keras.datasets.mnist.SHARED_DIR.is_dir():
        (x_train, _), _ = keras.datasets.mnist.load_sample()
    else:
        x_train = np.random.default_rng(0).integers(0, 256, (256, 28, 28))
    all_digits = np.reshape(x_train[:256].astype("float32") / 255.0, (-1, 28, 28, 1))
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    d_before = [w.copy() for w in discriminator.get_weights()]
    g_before = [w.copy() for w in generator.get_weights()]
    history = gan.fit(all_digits, batch_size=32, epochs=1, steps_per_epoch=3, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert all(not np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights()))
    assert all(not np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))
    assert gan.d_optimizer.iterations == 3 and gan.g_optimizer.iterations == 3


class BuiltinLikeModel(keras.Model):
    """A train_step doing what the built-in one does, by the documented pieces."""

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        return self.compute_metrics(x, y, y_pred, sample_weight)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_custom_train_step_like_the_built_in_one_gives_the_same_weights_as_fit(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 6)).astype(dtype)
    y = rng.standard_normal((96, 2)).astype(dtype)

    def make(cls):
        keras.backend.set_floatx(dtype)
        try:
            keras.utils.set_random_seed(4)
            inputs = keras.Input((6,))
            h = layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-3))(inputs)
            model = cls(inputs, layers.Dense(2)(layers.Dropout(0.2)(h)))
            model.compile(keras.optimizers.Adam(0.01), "mse")
            keras.utils.set_random_seed(5)
            model.fit(x, y, batch_size=32, epochs=3, verbose=0)
            return model
        finally:
            keras.backend.set_floatx("float32")

    built_in, custom = make(keras.Model), make(BuiltinLikeModel)
    for a, b in zip(built_in.get_weights(), custom.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_with_a_custom_step_keeps_callbacks_validation_and_steps():
    inputs = keras.Input(shape=(4,))
    model = GuideModel(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x = np.random.random((200, 4))
    y = x.sum(axis=1, keepdims=True)
    history = model.fit(x, y, epochs=30, batch_size=20, steps_per_epoch=4, validation_split=0.25, verbose=0,
                        callbacks=[EarlyStopping(monitor="loss", patience=0, min_delta=10.0)])
    assert len(history.history["loss"]) == 2  # stopped by the callback after the second epoch
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    predicted = model.predict(x[150:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(float(np.mean((predicted - y[150:]) ** 2)), rel=1e-5)


def test_predict_step_and_the_batch_methods():
    class Doubling(keras.Model):
        def predict_step(self, data):
            return self(data) * 2.0

    inputs = keras.Input(shape=(3,))
    model = Doubling(inputs, layers.Dense(2)(inputs))
    x = np.random.random((10, 3)).astype("float32")
    plain = keras.Model(inputs, model.outputs[0])
    np.testing.assert_allclose(model.predict(x, batch_size=4, verbose=0), 2 * plain.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), 2 * plain.predict(x, verbose=0), rtol=1e-6)
    guide = GuideModel(inputs, layers.Dense(1)(inputs))
    guide.compile(optimizer="sgd", loss="mse")
    logs = guide.train_on_batch(x, x[:, :1], return_dict=True)
    assert set(logs) == {"loss"} and np.isfinite(logs["loss"])


def test_what_a_custom_step_cannot_take_is_refused():
    inputs = keras.Input(shape=(3,))
    model = GuideModel(inputs, layers.Dense(1)(inputs))
    with pytest.raises(ValueError, match="class_weight with an overridden train_step"):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((4, 3)), np.zeros((4, 1)), class_weight={0: 1.0}, verbose=0)

    class Returns(keras.Model):
        def train_step(self, data):
            return 1.0

    odd = Returns(inputs, layers.Dense(1)(inputs))
    odd.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="train_step/test_step must return a dict of logs, returned float"):
        odd.fit(np.ones((4, 3)), np.zeros((4, 1)), verbose=0)
