"""Second derivatives through the tape: a gradient penalty (WGAN-GP's) differentiated again with respect
to a critic's weights, against finite differences in float64."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from gradcheck import float64_mode


def _critic(dropout=0.3):
    fw.utils.set_random_seed(11)
    return fw.Sequential([
        fw.Input((6, 6, 1)),
        layers.ZeroPadding2D((1, 1)),
        layers.Conv2D(3, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Dropout(dropout),
        layers.Conv2D(2, (2, 2), padding="valid", activation="tanh"),
        layers.Flatten(),
        layers.Dense(4, activation="sigmoid"),
        layers.Dense(1),
    ])


def _penalty(critic, images, training):
    """WGAN-GP's gradient penalty, as Keras's example writes it."""
    with fw.GradientTape() as gp_tape:
        gp_tape.watch(images)
        pred = critic(images, training=training)
    grads = gp_tape.gradient(pred, [images])[0]
    norm = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]))
    return ops.mean((norm - 1.0) ** 2), grads


def test_the_input_gradient_model_equals_the_first_order_gradient():
    with float64_mode():
        critic = _critic()
        images = np.random.default_rng(0).standard_normal((4, 6, 6, 1))
        with fw.GradientTape() as tape:
            tape.watch(images)
            pred = critic(images)
        first_order = tape.gradient(pred, images)
        with fw.GradientTape() as outer:
            outer.watch(images)
            _, rebuilt = _penalty(critic, images, training=False)
        np.testing.assert_allclose(np.asarray(rebuilt), first_order, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("training", [False, True])
def test_gradient_penalty_gradients_match_finite_differences(training):
    with float64_mode():
        critic = _critic()
        real = np.random.default_rng(1).standard_normal((3, 6, 6, 1))
        fake = np.random.default_rng(2).standard_normal((3, 6, 6, 1))
        alpha = np.random.default_rng(3).random((3, 1, 1, 1))

        def penalty_and_grads():
            fw.utils.set_random_seed(5)  # the same dropout masks at every evaluation:
            critic.__dict__.pop("_input_gradient_models", None)  # the penalty's graph draws them anew
            with fw.GradientTape() as tape:
                tape.watch(fake)
                interpolated = real + alpha * (tape.watch(fake) - real)
                gp, _ = _penalty(critic, interpolated, training)
            return gp, tape.gradient(gp, critic.trainable_weights + [fake])

        gp, grads = penalty_and_grads()
        for variable, grad in zip(critic.trainable_weights, grads):
            original = variable.numpy()
            numeric = np.zeros_like(original)
            indices = list(np.ndindex(*original.shape))
            if training:  # each evaluation rebuilds the penalty's graph: a sample of the entries
                indices = [indices[i] for i in np.random.default_rng(7).permutation(len(indices))[:4]]
            for index in indices:
                for sign in (1, -1):
                    bumped = original.copy()
                    bumped[index] += sign * 1e-6
                    variable.assign(bumped)
                    numeric[index] += sign * float(penalty_and_grads()[0]) / 2e-6
            variable.assign(original)
            if grad is None:  # not on the penalty's path (the last bias does not change the input gradient)
                grad = np.zeros_like(original)
            rows = tuple(np.array(indices).T)
            np.testing.assert_allclose(grad[rows], numeric[rows], rtol=1e-5, atol=1e-8, err_msg=variable.path)
        assert grads[-1] is not None and np.abs(grads[-1]).sum() > 0  # the penalty also reaches the generator


def test_layers_without_a_second_derivative_rule_are_named():
    model = fw.Sequential([fw.Input((4,)), layers.BatchNormalization(), layers.Dense(1)])
    x = np.ones((2, 4), "float32")
    with fw.GradientTape() as outer:
        outer.watch(x)
        with fw.GradientTape() as inner:
            inner.watch(x)
            pred = model(x)
        with pytest.raises(NotImplementedError, match=r"Second derivatives through layer 'batch_normalization.*' "
                                                      r"\(BatchNormalization\) are not available"):
            inner.gradient(pred, [x])


def _conv_block(x, filters, activation, kernel_size=(5, 5), strides=(2, 2), padding="same", use_bias=True,
                use_dropout=False, drop_value=0.5):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias)(x)
    x = activation(x)
    if use_dropout:
        x = layers.Dropout(drop_value)(x)
    return x


class WGAN(fw.Model):
    """Keras's WGAN-GP example (examples/generative/wgan_gp.py), tf.* swapped for ops / framework.random."""

    def __init__(self, discriminator, generator, latent_dim, discriminator_extra_steps=3, gp_weight=10.0):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_steps = discriminator_extra_steps
        self.gp_weight = gp_weight

    def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.d_loss_fn = d_loss_fn
        self.g_loss_fn = g_loss_fn

    def gradient_penalty(self, batch_size, real_images, fake_images):
        alpha = fw.random.normal([batch_size, 1, 1, 1], 0.0, 1.0)
        diff = fake_images - real_images
        interpolated = real_images + alpha * diff
        with fw.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.discriminator(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]))
        gp = ops.mean((norm - 1.0) ** 2)
        return gp

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = ops.shape(real_images)[0]
        for i in range(self.d_steps):
            random_latent_vectors = fw.random.normal(shape=(batch_size, self.latent_dim))
            with fw.GradientTape() as tape:
                fake_images = self.generator(random_latent_vectors, training=True)
                fake_logits = self.discriminator(fake_images, training=True)
                real_logits = self.discriminator(real_images, training=True)
                d_cost = self.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
                gp = self.gradient_penalty(batch_size, real_images, fake_images)
                d_loss = d_cost + gp * self.gp_weight
            d_gradient = tape.gradient(d_loss, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_gradient, self.discriminator.trainable_variables))
        random_latent_vectors = fw.random.normal(shape=(batch_size, self.latent_dim))
        with fw.GradientTape() as tape:
            generated_images = self.generator(random_latent_vectors, training=True)
            gen_img_logits = self.discriminator(generated_images, training=True)
            g_loss = self.g_loss_fn(gen_img_logits)
        gen_gradient = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gen_gradient, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


def test_keras_wgan_gp_example_trains():
    # the example's critic and generator, narrower (filters / 16) to keep the test short
    fw.utils.set_random_seed(3)
    img_input = layers.Input(shape=(28, 28, 1))
    x = layers.ZeroPadding2D((2, 2))(img_input)
    x = _conv_block(x, 4, layers.LeakyReLU(0.2))
    x = _conv_block(x, 8, layers.LeakyReLU(0.2), use_dropout=True, drop_value=0.3)
    x = _conv_block(x, 16, layers.LeakyReLU(0.2), use_dropout=True, drop_value=0.3)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    d_model = fw.Model(img_input, layers.Dense(1)(x), name="discriminator")
    noise = layers.Input(shape=(16,))
    x = layers.Dense(4 * 4 * 16, use_bias=False)(noise)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((4, 4, 16))(x)
    for filters, activation in ((8, layers.LeakyReLU(0.2)), (4, layers.LeakyReLU(0.2)), (1, layers.Activation("tanh"))):
        x = layers.UpSampling2D((2, 2))(x)
        x = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False)(x)
        x = activation(layers.BatchNormalization()(x))
    g_model = fw.Model(noise, layers.Cropping2D((2, 2))(x), name="generator")

    def discriminator_loss(real_img, fake_img):
        return ops.mean(fake_img) - ops.mean(real_img)

    def generator_loss(fake_img):
        return -ops.mean(fake_img)

    wgan = WGAN(discriminator=d_model, generator=g_model, latent_dim=16, discriminator_extra_steps=2)
    wgan.compile(
        d_optimizer=fw.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9),
        g_optimizer=fw.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9),
        g_loss_fn=generator_loss,
        d_loss_fn=discriminator_loss,
    )
    images = (np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32") - 0.5) / 0.5
    before = [w.copy() for w in d_model.get_weights()]
    history = wgan.fit(images, batch_size=16, epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert wgan.d_optimizer.iterations == 4 and wgan.g_optimizer.iterations == 2
    # every weight moves but the last bias, whose gradient is exactly zero (it cancels in the critic's loss
    # and does not change the input gradient), as in Keras
    moved = [not np.array_equal(a, b) for a, b in zip(before, d_model.get_weights())]
    assert moved == [True] * (len(moved) - 1) + [False]
