"""Keras's own guides and examples, run with ``import framework as keras``.

The code of each test is the guide's (Keras 3 versions of keras-team's ``guides/`` and ``examples/``):
``making_new_layers_and_models_via_subclassing.py``, ``understanding_masking_and_padding.py``,
``sequential_model.py``, ``functional_api.py``, ``examples/demo_subclass.py`` and
``examples/demo_custom_layer_backend_agnostic.py``, with only the imports swapped, and data made smaller
(random NumPy data of the guide's shapes, or the MNIST sample of ``../shared/data/mnist`` for MNIST).
Each test asserts what the guide states or prints (its asserts, shapes, weight counts, a falling loss).

Only the guide sections that run today are here. Left out: ``keras.utils.plot_model``,
``keras.applications`` (VGG19, Xception), ``tf.data`` pipelines and GradientTape training loops, which
belong to other issues.
"""
import numpy as np
import pytest

import framework as keras
from framework import layers, ops


def _array(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    np.random.seed(0)


def _mnist_sample(needed=True):
    """The 8,000 / 2,000 MNIST sample of ../shared/data/mnist (keras.datasets.mnist.load_data() would
    download the 60,000 training images); random digits of MNIST's shapes when ``needed`` is False."""
    if keras.datasets.mnist.SHARED_DIR.is_dir():
        return keras.datasets.mnist.load_sample()
    if needed:
        pytest.skip(f"MNIST sample not found in {keras.datasets.mnist.SHARED_DIR}")
    rng = np.random.default_rng(0)
    return ((rng.integers(0, 256, (8000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 8000)),
            (rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 2000)))


# ===================================================================================================
# making_new_layers_and_models_via_subclassing.py
# ===================================================================================================

def test_subclassing_layer_with_weights_made_in_init():
    class Linear(keras.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(
                shape=(input_dim, units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(units,), initializer="zeros", trainable=True
            )

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    x = ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    w = _array(linear_layer.w)
    np.testing.assert_allclose(_array(y), np.ones((2, 2)) @ w, rtol=1e-6)
    assert _array(y).shape == (2, 4)


def test_subclassing_non_trainable_weight_compute_sum():
    class ComputeSum(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(
                initializer="zeros", shape=(input_dim,), trainable=False
            )

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    x = ops.ones((2, 2))
    my_sum = ComputeSum(2)
    y = my_sum(x)
    assert y.numpy().tolist() == [2.0, 2.0]
    y = my_sum(x)
    assert y.numpy().tolist() == [4.0, 4.0]
    assert len(my_sum.weights) == 1
    assert len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []


class Linear(keras.layers.Layer):
    """The guide's lazily built Linear (weights made in build())."""

    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer="random_normal",
            trainable=True,
        )
        self.b = self.add_weight(
            shape=(self.units,), initializer="random_normal", trainable=True
        )

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


def test_subclassing_deferred_weight_creation_in_build():
    linear_layer = Linear(32)
    assert linear_layer.weights == []
    y = linear_layer(ops.ones((2, 2)))
    assert [tuple(w.shape) for w in linear_layer.weights] == [(2, 32), (32,)]
    assert _array(y).shape == (2, 32)


def test_subclassing_layers_are_recursively_composable():
    class MLPBlock(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = Linear(32)
            self.linear_2 = Linear(32)
            self.linear_3 = Linear(1)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = keras.activations.relu(x)
            x = self.linear_2(x)
            x = keras.activations.relu(x)
            return self.linear_3(x)

    mlp = MLPBlock()
    y = mlp(ops.ones(shape=(3, 64)))  # The first call to the `mlp` will create the weights
    assert len(mlp.weights) == 6
    assert len(mlp.trainable_weights) == 6
    assert _array(y).shape == (3, 1)


class ActivityRegularizationLayer(keras.layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


def test_subclassing_add_loss_and_layer_losses():
    class OuterLayer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    layer = OuterLayer()
    assert len(layer.losses) == 0  # No losses yet since the layer has never been called
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1  # We created one loss value
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1  # This is the loss created during the call above


def test_subclassing_kernel_regularizer_losses_of_inner_layers():
    class OuterLayerWithKernelRegularizer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(
                32, kernel_regularizer=keras.regularizers.l2(1e-3)
            )

        def call(self, inputs):
            return self.dense(inputs)

    layer = OuterLayerWithKernelRegularizer()
    _ = layer(ops.zeros((1, 1)))
    # This is `1e-3 * sum(layer.dense.kernel ** 2)`, created by the `kernel_regularizer` above.
    assert len(layer.losses) == 1
    expected = 1e-3 * np.sum(_array(layer.dense.kernel) ** 2)
    np.testing.assert_allclose(float(_array(layer.losses[0])), expected, rtol=1e-5)


def test_subclassing_add_loss_with_fit():
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)

    x, y = np.random.random((2, 3)), np.random.random((2, 3))
    # If there is a loss passed in `compile`, the regularization losses get added to it
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], np.mean((x - y) ** 2) + 1e-2 * x.mean(), rtol=1e-4)

    # It's also possible not to pass any loss in `compile`
    model.compile(optimizer="adam")
    history = model.fit(x, y, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], 1e-2 * x.mean(), rtol=1e-4)


def test_subclassing_serialization_get_config_and_from_config():
    class Linear(keras.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {"units": self.units}

    layer = Linear(64)
    config = layer.get_config()
    assert config == {"units": 64}
    new_layer = Linear.from_config(config)
    assert new_layer.units == 64

    class Linear(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units})
            return config

    layer = Linear(64)
    config = layer.get_config()
    assert config["units"] == 64 and config["name"] == layer.name and config["trainable"] is True
    new_layer = Linear.from_config(config)
    assert new_layer.units == 64 and new_layer.name == layer.name
    assert _array(new_layer(np.ones((2, 3), "float32"))).shape == (2, 64)


class CustomDropout(keras.layers.Layer):
    """keras-io's copy of the guide's CustomDropout (the keras repo's copy has no seed generator)."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs, training=None):
        if training:
            return keras.random.dropout(
                inputs, rate=self.rate, seed=self.seed_generator
            )
        return inputs


def test_subclassing_privileged_training_argument_custom_dropout():
    layer = CustomDropout(0.5)
    x = np.ones((4, 8), "float32")
    np.testing.assert_array_equal(_array(layer(x)), x)  # inference: the identity
    dropped = _array(layer(x, training=True))
    assert set(np.unique(dropped)) == {0.0, 2.0}  # training: zeroed, the rest scaled by 1 / (1 - rate)

    # In a model, fit() runs the training branch and predict() the other one.
    inputs = keras.Input(shape=(8,))
    outputs = CustomDropout(0.5)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((32, 8)), np.random.random((32, 1)), epochs=1, verbose=0)
    probe = keras.Model(inputs, outputs)
    np.testing.assert_array_equal(probe.predict(x, verbose=0), x)


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


class UnseededSampling(layers.Layer):
    """The keras repo's copy of the guide's Sampling: keras.random.normal without a seed."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim))
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class Encoder(layers.Layer):
    """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

    def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", sampling=Sampling, **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.sampling = sampling()

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean = self.dense_mean(x)
        z_log_var = self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        return z_mean, z_log_var, z


class Decoder(layers.Layer):
    """Converts z, the encoded digit vector, back into a readable digit."""

    def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        x = self.dense_proj(inputs)
        return self.dense_output(x)


class VariationalAutoEncoder(keras.Model):
    """Combines the encoder and decoder into an end-to-end model for training."""

    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder",
                 sampling=Sampling, **kwargs):
        super().__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim, sampling=sampling)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        # Add KL divergence regularization loss.
        kl_loss = -0.5 * ops.mean(
            z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1
        )
        self.add_loss(kl_loss)
        return reconstructed


@pytest.mark.parametrize("sampling", [Sampling, UnseededSampling], ids=["keras-io", "keras-repo"])
def test_subclassing_end_to_end_vae_trained_with_fit(sampling):
    (x_train, _), _ = _mnist_sample(needed=False)
    x_train = x_train[:1024].reshape(1024, 784).astype("float32") / 255  # the guide: all 60,000

    vae = VariationalAutoEncoder(784, 64, 32, sampling=sampling)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    vae.compile(optimizer, loss=keras.losses.MeanSquaredError())
    history = vae.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)

    losses = history.history["loss"]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert len(vae.trainable_weights) == 10  # 3 Dense in the encoder, 2 in the decoder
    assert vae.predict(x_train[:5], verbose=0).shape == (5, 784)


def test_logistic_endpoint_add_loss_without_compiled_loss():
    # Keras 3 keeps this layer in training_with_built_in_methods.py (add_metric is gone in Keras 3).
    class LogisticEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)
            return ops.softmax(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)

    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")  # No loss argument!

    data = {
        "inputs": np.random.random((3, 3)),
        "targets": np.random.random((3, 10)),
    }
    history = model.fit(data, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    predicted = model.predict(data, verbose=0)
    np.testing.assert_allclose(predicted.sum(axis=-1), 1.0, rtol=1e-5)


# ===================================================================================================
# understanding_masking_and_padding.py
# ===================================================================================================

def test_masking_padding_sequence_data():
    raw_inputs = [
        [711, 632, 71],
        [73, 8, 3215, 55, 927],
        [83, 91, 1, 645, 1253, 927],
    ]
    padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
    assert padded_inputs.tolist() == [
        [711, 632, 71, 0, 0, 0],
        [73, 8, 3215, 55, 927, 0],
        [83, 91, 1, 645, 1253, 927],
    ]
    assert keras.utils.pad_sequences(raw_inputs)[0].tolist() == [0, 0, 0, 711, 632, 71]  # "pre" by default


def test_masking_mask_propagation_in_sequential_and_functional_models():
    model = keras.Sequential(
        [
            layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True),
            layers.LSTM(32),
        ]
    )
    padded = np.array([[711, 632, 71, 0, 0, 0]])
    unpadded = np.array([[711, 632, 71]])
    # The LSTM receives the mask and ignores the padded steps: the same output as its layers applied to
    # the unpadded sequence. (The built model itself takes only length-6 sequences, where Keras takes
    # any length.)
    embedding, lstm = model.layers
    np.testing.assert_allclose(model.predict(padded, verbose=0), _array(lstm(embedding(unpadded))), rtol=1e-5)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    outputs = layers.LSTM(32)(x)
    model = keras.Model(inputs, outputs)
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(unpadded, verbose=0), rtol=1e-5)
    assert model.predict(padded, verbose=0).shape == (1, 32)


def test_masking_custom_embedding_generating_a_mask():
    class CustomEmbedding(keras.layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.input_dim, self.output_dim),
                initializer="random_normal",
                dtype="float32",
            )

        def call(self, inputs):
            inputs = ops.cast(inputs, "int32")
            return ops.take(self.embeddings, inputs)

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return ops.not_equal(inputs, 0)

    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = np.random.random((3, 10)) * 9
    x = x.astype("int32")

    y = layer(x)
    mask = layer.compute_mask(x)
    # ops.take without an axis picks from the flattened table, in Keras as here, so the guide's layer
    # returns one number per id: (3, 10).
    assert _array(y).shape == (3, 10)
    np.testing.assert_array_equal(_array(y), _array(layer.embeddings).reshape(-1)[x])
    assert _array(mask).tolist() == (x != 0).tolist()


def test_masking_mask_generating_layers_attach_keras_mask():
    padded_inputs = keras.utils.pad_sequences([[711, 632, 71], [73, 8, 3215, 55, 927]], padding="post")
    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)
    expected = (padded_inputs != 0).tolist()
    assert _array(masked_output._keras_mask).tolist() == expected

    masking_layer = layers.Masking()
    unmasked_embedding = ops.cast(ops.tile(ops.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), "float32")
    masked_embedding = masking_layer(unmasked_embedding)
    assert _array(masked_embedding._keras_mask).tolist() == expected


def test_masking_passing_compute_mask_to_a_mask_consuming_layer():
    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            # Note that you could also prepare a `mask` tensor manually.
            # It only needs to be a boolean tensor
            # with the right shape, i.e. (batch_size, timesteps).
            mask = self.embedding.compute_mask(inputs)
            output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
            return output

    layer = MyLayer()
    x = np.random.random((32, 10)) * 100
    x = x.astype("int32")
    y = _array(layer(x))
    assert y.shape == (32, 32)
    # the LSTM ignored the masked steps: the same as its layers on the ids up to the first zero
    x[0, 4:] = 0
    y = _array(layer(x))
    np.testing.assert_allclose(y[0], _array(layer.lstm(layer.embedding(x[:1, :4])))[0], rtol=1e-5)
    # traced in a functional model, the mask computed with ops is an input of the LSTM's node
    inputs = keras.Input((10,), dtype="int32")
    np.testing.assert_allclose(keras.Model(inputs, layer(inputs)).predict(x, verbose=0), y, rtol=1e-5)


def test_masking_temporal_split_modifies_the_mask():
    class TemporalSplit(keras.layers.Layer):
        """Split the input tensor into 2 tensors along the time dimension."""

        def call(self, inputs):
            # Expect the input to be 3D and mask to be 2D, split the input tensor into 2
            # subtensors along the time axis (axis 1).
            return ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            # Also split the mask into 2 if it presents.
            if mask is None:
                return None
            return ops.split(mask, 2, axis=1)

    padded = keras.utils.pad_sequences([[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]],
                                       padding="post")
    masked_embedding = layers.Masking()(np.tile(padded[:, :, None], [1, 1, 10]).astype("float32"))
    first_half, second_half = TemporalSplit()(masked_embedding)
    assert _array(first_half._keras_mask).tolist() == (padded[:, :3] != 0).tolist()
    assert _array(second_half._keras_mask).tolist() == (padded[:, 3:] != 0).tolist()

    # in a functional model the split masks reach an LSTM on each half
    inputs = keras.Input((6,), dtype="int32")
    first, second = TemporalSplit()(layers.Embedding(50, 4, mask_zero=True)(inputs))
    assert first._keras_mask.shape == (None, 3)
    lstm = layers.LSTM(3)
    model = keras.Model(inputs, lstm(second))
    ids = np.array([[1, 2, 3, 4, 0, 0]])
    embedding = model.layers[1]
    np.testing.assert_allclose(model.predict(ids, verbose=0), _array(lstm(embedding(ids[:, 3:4]))), rtol=1e-5)


def test_masking_opting_in_to_mask_propagation():
    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Signal that the layer is safe for mask propagation
            self.supports_masking = True

        def call(self, inputs):
            return ops.relu(inputs)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    outputs = layers.LSTM(32)(x)  # Will receive the mask
    model = keras.Model(inputs, outputs)
    padded, unpadded = np.array([[5, 6, 7, 0, 0, 0]]), np.array([[5, 6, 7]])
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(unpadded, verbose=0), rtol=1e-5)


def test_masking_writing_layers_that_need_mask_information():
    class TemporalSoftmax(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
            inputs_exp = ops.exp(inputs) * broadcast_float_mask
            inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=-1, keepdims=True)
            return inputs_exp / inputs_sum

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)

    model = keras.Model(inputs, outputs)
    ids = np.random.randint(0, 10, size=(32, 100))
    with pytest.warns(UserWarning, match="not a boolean"), np.errstate(invalid="ignore"):
        y = _array(model(ids, np.random.random((32, 100, 1))))
    assert y.shape == (32, 100, 1)
    # exp(x) / exp(x) on real steps; 0 / 0 on the masked ones, as the guide's formula gives
    real = ids != 0
    np.testing.assert_allclose(y[real], 1.0, rtol=1e-6)
    assert np.isnan(y[~real]).all()


# ===================================================================================================
# sequential_model.py
# ===================================================================================================

def test_sequential_when_to_use_a_sequential_model():
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    x = ops.ones((3, 3))
    y = model(x)
    assert _array(y).shape == (3, 4)

    layer1 = layers.Dense(2, activation="relu", name="layer1")
    layer2 = layers.Dense(3, activation="relu", name="layer2")
    layer3 = layers.Dense(4, name="layer3")
    y = layer3(layer2(layer1(x)))
    assert _array(y).shape == (3, 4)
    # "is equivalent to this function": with the same weights, the same outputs.
    for source, target in zip(model.layers, (layer1, layer2, layer3)):
        target.set_weights(source.get_weights())
    np.testing.assert_allclose(_array(layer3(layer2(layer1(x)))), _array(model(x)), rtol=1e-6)


def test_sequential_creating_add_pop_and_name():
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )
    assert len(model.layers) == 3

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    assert len(model.layers) == 2

    model = keras.Sequential(name="my_sequential")
    model.add(layers.Dense(2, activation="relu", name="layer1"))
    model.add(layers.Dense(3, activation="relu", name="layer2"))
    model.add(layers.Dense(4, name="layer3"))
    assert model.name == "my_sequential"
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]


def test_sequential_specifying_the_input_shape_in_advance(capsys):
    layer = layers.Dense(3)
    assert layer.weights == []  # Empty
    x = ops.ones((1, 4))
    y = layer(x)
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )  # No weights at this stage!
    x = ops.ones((1, 4))
    y = model(x)
    assert len(model.weights) == 6
    assert _array(y).shape == (1, 4)
    model.summary()

    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    model.summary()
    assert len(model.layers) == 1  # the Input object is not a layer
    assert len(model.weights) == 2 and tuple(model.output_shape) == (None, 2)
    assert "Total params: 10" in capsys.readouterr().out.replace(",", "")


def test_sequential_add_and_summary_debugging_workflow():
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.summary()
    assert tuple(model.output_shape) == (None, 40, 40, 32)  # "The answer was: (40, 40, 32)"

    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    model.summary()
    assert tuple(model.output_shape) == (None, 4, 4, 32)  # "Now that we have 4x4 feature maps"

    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert tuple(model.output_shape) == (None, 10)


def test_sequential_feature_extraction():
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    x = ops.ones((1, 250, 250, 3))
    features = feature_extractor(x)
    assert [_array(f).shape for f in features] == [(1, 123, 123, 32), (1, 121, 121, 32), (1, 119, 119, 32)]
    np.testing.assert_allclose(_array(features[-1]), _array(initial_model(x)), rtol=1e-5, atol=1e-6)

    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    features = feature_extractor(ops.ones((1, 250, 250, 3)))
    assert _array(features).shape == (1, 121, 121, 32)


def test_sequential_transfer_learning_freeze_all_but_the_last_layer(tmp_path):
    model = keras.Sequential([
        keras.Input(shape=(784,)),  # the guide writes shape=(784), which Keras 3 itself refuses
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(10),
    ])
    # Presumably you would want to first load pre-trained weights.
    model.save_weights(str(tmp_path / "pretrained.weights.h5"))
    model.load_weights(str(tmp_path / "pretrained.weights.h5"))

    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False
    frozen = [w.copy() for layer in model.layers[:-1] for w in layer.get_weights()]
    last = [w.copy() for w in model.layers[-1].get_weights()]

    # Recompile and train (this will only update the weights of the last layer).
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((32, 784)), np.random.random((32, 10)), epochs=1, verbose=0)
    assert len(model.trainable_weights) == 2
    for before, after in zip(frozen, [w for layer in model.layers[:-1] for w in layer.get_weights()]):
        np.testing.assert_array_equal(before, after)
    assert not np.allclose(last[0], model.layers[-1].get_weights()[0])


# ===================================================================================================
# functional_api.py
# ===================================================================================================

def _mnist_model():
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def test_functional_introduction():
    inputs = keras.Input(shape=(784,))
    img_inputs = keras.Input(shape=(32, 32, 3))
    assert tuple(inputs.shape) == (None, 784)
    assert inputs.dtype == "float32"
    assert tuple(img_inputs.shape) == (None, 32, 32, 3)
    model = _mnist_model()
    model.summary()
    assert model.name == "mnist_model"
    assert model.count_params() == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10


def test_functional_training_evaluation_inference_and_saving(tmp_path):
    (x_train, y_train), (x_test, y_test) = _mnist_sample()
    x_train = x_train[:4000].reshape(4000, 784).astype("float32") / 255  # the guide: 60,000
    y_train = y_train[:4000]
    x_test = x_test.reshape(2000, 784).astype("float32") / 255  # the guide: 10,000

    model = _mnist_model()
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2, verbose=0)
    test_scores = model.evaluate(x_test, y_test, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][1] < history.history["loss"][0]
    assert test_scores[1] > 0.8  # Keras 3 reaches about 0.9 here

    # Save and serialize
    path = str(tmp_path / "my_model.keras")
    model.save(path)
    expected = model.predict(x_test[:8], verbose=0)
    del model
    model = keras.models.load_model(path)
    np.testing.assert_allclose(model.predict(x_test[:8], verbose=0), expected, rtol=1e-6)


def _encoder(name):
    encoder_input = keras.Input(shape=(28, 28, 1), name=name)
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)
    return encoder_input, encoder_output


def _decoder_layers(x):
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


def test_functional_same_graph_of_layers_defines_several_models():
    encoder_input, encoder_output = _encoder("img")
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    encoder.summary()
    decoder_output = _decoder_layers(encoder_output)
    autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
    autoencoder.summary()
    assert tuple(encoder.output_shape) == (None, 16)
    assert tuple(autoencoder.output_shape) == (None, 28, 28, 1)  # the same as the input shape
    # The two models share the encoder's layers.
    assert all(layer in autoencoder.layers for layer in encoder.layers)
    assert encoder.count_params() == 18672
    assert autoencoder.count_params() == 18672 + 9569


def test_functional_models_are_callable_like_layers():
    encoder_input, encoder_output = _encoder("original_img")
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder = keras.Model(decoder_input, _decoder_layers(decoder_input), name="decoder")
    decoder.summary()

    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoded_img = encoder(autoencoder_input)
    decoded_img = decoder(encoded_img)
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    autoencoder.summary()

    images = np.random.random((2, 28, 28, 1)).astype("float32")
    assert autoencoder.predict(images, verbose=0).shape == (2, 28, 28, 1)
    np.testing.assert_allclose(autoencoder.predict(images, verbose=0),
                               decoder.predict(encoder.predict(images, verbose=0), verbose=0), rtol=1e-5, atol=1e-6)


def test_functional_ensembling():
    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1 = get_model()
    model2 = get_model()
    model3 = get_model()

    inputs = keras.Input(shape=(128,))
    y1 = model1(inputs)
    y2 = model2(inputs)
    y3 = model3(inputs)
    outputs = layers.average([y1, y2, y3])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)

    x = np.random.random((4, 128)).astype("float32")
    expected = np.mean([m.predict(x, verbose=0) for m in (model1, model2, model3)], axis=0)
    np.testing.assert_allclose(ensemble_model.predict(x, verbose=0), expected, rtol=1e-5)


def test_functional_models_with_multiple_inputs_and_outputs():
    num_tags = 12  # Number of unique issue tags
    num_words = 10000  # Size of vocabulary obtained when preprocessing text data
    num_departments = 4  # Number of departments for predictions

    title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
    body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
    )

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.losses.CategoricalCrossentropy(from_logits=True),
        ],
        loss_weights=[1.0, 0.2],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "priority": keras.losses.BinaryCrossentropy(from_logits=True),
            "department": keras.losses.CategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
    )

    samples = 128  # the guide: 1280
    title_data = np.random.randint(num_words, size=(samples, 10))
    body_data = np.random.randint(num_words, size=(samples, 20))  # the guide: 100 words
    tags_data = np.random.randint(2, size=(samples, num_tags)).astype("float32")
    priority_targets = np.random.random(size=(samples, 1))
    dept_targets = np.random.randint(2, size=(samples, num_departments))

    history = model.fit(
        {"title": title_data, "body": body_data, "tags": tags_data},
        {"priority": priority_targets, "department": dept_targets},
        epochs=2,
        batch_size=32,
        verbose=0,
    )
    assert {"loss", "priority_loss", "department_loss"} <= set(history.history)
    total = history.history["loss"][0]
    np.testing.assert_allclose(total, history.history["priority_loss"][0]
                               + 0.2 * history.history["department_loss"][0], rtol=1e-3)
    assert history.history["loss"][1] < history.history["loss"][0]
    predictions = model.predict({"title": title_data[:3], "body": body_data[:3], "tags": tags_data[:3]}, verbose=0)
    assert predictions["priority"].shape == (3, 1) and predictions["department"].shape == (3, 4)


def test_functional_toy_resnet():
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])

    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)

    model = keras.Model(inputs, outputs, name="toy_resnet")
    model.summary()
    assert model.count_params() == 223242  # Keras 3's summary of this model

    # keras.datasets.cifar10.load_data(): random images and labels of CIFAR-10's shapes instead
    x_train = np.random.randint(0, 256, (80, 32, 32, 3)).astype("uint8")  # the guide: 1000 of 50,000
    y_train = np.random.randint(0, 10, (80, 1))
    x_train = x_train.astype("float32") / 255.0
    y_train = keras.utils.to_categorical(y_train, 10)
    assert y_train.shape == (80, 10)

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=1, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert np.isfinite(history.history["loss"][0])


def test_functional_shared_layers():
    shared_embedding = layers.Embedding(1000, 128)
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)
    assert tuple(encoded_input_a.shape) == tuple(encoded_input_b.shape) == (None, None, 128)

    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert len(model.weights) == 1  # one table, used twice
    ids = np.array([[1, 2, 3]])
    a, b = model.predict([ids, ids], verbose=0)
    np.testing.assert_array_equal(a, b)


def test_functional_extend_the_api_with_custom_layers():
    class CustomDense(layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = keras.Model(inputs, outputs)
    assert tuple(model.output_shape) == (None, 10)
    x = np.random.random((3, 4)).astype("float32")
    custom = model.layers[-1]
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ _array(custom.w) + _array(custom.b), rtol=1e-5)

    # "For serialization support in your custom layer, define a get_config() method"
    class CustomDense(CustomDense):
        def get_config(self):
            return {"units": self.units}

    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)

    model = keras.Model(inputs, outputs)
    config = model.get_config()

    new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
    assert type(new_model.layers[-1]) is CustomDense and new_model.layers[-1].units == 10
    assert tuple(new_model.output_shape) == (None, 10)
    # without custom_objects the unregistered class is refused by name; nothing else is looked up
    with pytest.raises(ValueError, match=r"layer class 'CustomDense' is a custom class that was not registered; "
                                         r"pass custom_objects=\{'CustomDense': <the class>\}"):
        keras.Model.from_config(config)
    with keras.utils.custom_object_scope({"CustomDense": CustomDense}):
        assert type(keras.Model.from_config(config).layers[-1]) is CustomDense


def test_functional_custom_rnn_with_a_fixed_batch_size():
    units = 32
    timesteps = 10
    input_dim = 5
    batch_size = 16

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = layers.Dense(1)

        def call(self, inputs):
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)
            return self.classifier(features)

    # Note that you specify a static batch size for the inputs with the `batch_shape`
    # arg, because the inner computation of `CustomRNN` requires a static batch size
    # (when you create the `state` zeros tensor).
    inputs = keras.Input(batch_shape=(batch_size, timesteps, input_dim))
    x = layers.Conv1D(32, 3)(inputs)
    outputs = CustomRNN()(x)

    model = keras.Model(inputs, outputs)

    rnn_model = CustomRNN()
    _ = rnn_model(ops.zeros((1, timesteps, input_dim)))
    assert _array(_).shape == (1, timesteps, 1)

    # the model runs at its fixed batch size, and says so for any other
    assert tuple(model.output_shape) == (batch_size, timesteps - 2, 1)
    data = np.random.random((batch_size, timesteps, input_dim)).astype("float32")
    rnn = model.layers[-1]
    conv = _array(model.layers[1](data))
    state, steps = np.zeros((batch_size, units), "float32"), []
    for t in range(conv.shape[1]):
        state = _array(rnn.projection_1(conv[:, t])) + _array(rnn.projection_2(state))
        steps.append(state)
    expected = _array(rnn.classifier(np.stack(steps, axis=1)))
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"fixed batch size of 16 \(Input\(batch_shape=...\)\), but this call runs "
                                         r"batches of 32 rows"):
        model.predict(np.concatenate([data, data[:4]]), verbose=0)


def test_functional_mix_and_match_a_functional_model_inside_a_custom_layer(capsys):
    units = 32
    timesteps = 10
    input_dim = 5

    # Define a Functional model
    inputs = keras.Input((None, units))
    x = layers.GlobalAveragePooling1D()(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            # Our previously-defined Functional model
            self.classifier = model

        def call(self, inputs):
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)
            print(features.shape)
            return self.classifier(features)

    rnn_model = CustomRNN()
    _ = rnn_model(ops.zeros((1, timesteps, input_dim)))
    assert "(1, 10, 32)" in capsys.readouterr().out
    assert _array(_).shape == (1, 1)
    assert len(rnn_model.weights) == 6  # two projections and the classifier's Dense


def test_functional_subclassed_mlp_code_block():
    class MLP(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense_1 = layers.Dense(64, activation='relu')
            self.dense_2 = layers.Dense(10)

        def call(self, inputs):
            x = self.dense_1(inputs)
            return self.dense_2(x)

    mlp = MLP()
    _ = mlp(ops.zeros((1, 32)))
    assert _array(_).shape == (1, 10)
    assert len(mlp.weights) == 4


# ===================================================================================================
# examples/demo_subclass.py and examples/demo_custom_layer_backend_agnostic.py
# ===================================================================================================

def test_demo_subclass():
    from framework import Model, losses, metrics, optimizers

    class MyModel(Model):
        def __init__(self, hidden_dim, output_dim):
            super().__init__()
            self.dense1 = layers.Dense(hidden_dim, activation="relu")
            self.dense2 = layers.Dense(hidden_dim, activation="relu")
            self.dense3 = layers.Dense(output_dim)

        def call(self, x):
            x = self.dense1(x)
            x = self.dense2(x)
            return self.dense3(x)

    model = MyModel(hidden_dim=256, output_dim=16)
    x = np.random.random((1000, 128))  # the example: 50,000 samples
    y = np.random.random((1000, 16))
    model.compile(
        optimizer=optimizers.SGD(learning_rate=0.001),
        loss=losses.MeanSquaredError(),
        metrics=[metrics.MeanSquaredError()],
    )
    history = model.fit(x, y, batch_size=32, epochs=2, validation_split=0.2, verbose=0)  # the example: 6
    model.summary()
    assert set(history.history) == {"loss", "mean_squared_error", "val_loss", "val_mean_squared_error"}
    assert history.history["loss"][1] < history.history["loss"][0]
    np.testing.assert_allclose(history.history["loss"], history.history["mean_squared_error"], rtol=1e-6)
    assert model.count_params() == 128 * 256 + 256 + 256 * 256 + 256 + 256 * 16 + 16


def test_demo_custom_layer_backend_agnostic():
    from framework import Model, initializers, losses, metrics, optimizers

    class MyDense(layers.Layer):
        def __init__(self, units, name=None):
            super().__init__(name=name)
            self.units = units

        def build(self, input_shape):
            input_dim = input_shape[-1]
            self.w = self.add_weight(
                shape=(input_dim, self.units),
                initializer=initializers.GlorotNormal(),
                name="kernel",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(self.units,),
                initializer=initializers.Zeros(),
                name="bias",
                trainable=True,
            )

        def call(self, inputs):
            # Use Keras ops to create backend-agnostic layers/metrics/etc.
            return ops.matmul(inputs, self.w) + self.b

    class MyDropout(layers.Layer):
        def __init__(self, rate, name=None):
            super().__init__(name=name)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            return keras.random.dropout(inputs, self.rate, seed=self.seed_generator)

    class MyModel(Model):
        def __init__(self, hidden_dim, output_dim):
            super().__init__()
            self.dense1 = MyDense(hidden_dim)
            self.dense2 = MyDense(hidden_dim)
            self.dense3 = MyDense(output_dim)
            self.dp = MyDropout(0.5)

        def call(self, x):
            x1 = self.dense1(x)
            x2 = self.dense2(x)
            # Why not use some ops here as well
            x = ops.concatenate([x1, x2], axis=-1)
            x = self.dp(x)
            return self.dense3(x)

    model = MyModel(hidden_dim=256, output_dim=16)
    x = np.random.random((1000, 128))  # the example: 50,000 samples
    y = np.random.random((1000, 16))
    model.compile(
        optimizer=optimizers.SGD(learning_rate=0.001),
        loss=losses.MeanSquaredError(),
        metrics=[metrics.MeanSquaredError()],
    )
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)  # the example: 5
    model.summary()
    assert set(history.history) == {"loss", "mean_squared_error"}
    assert history.history["loss"][1] < history.history["loss"][0]
    assert model.count_params() == 2 * (128 * 256 + 256) + 512 * 16 + 16
    assert [w.name for w in model.dense1.weights] == ["kernel", "bias"]
