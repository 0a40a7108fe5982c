"""The generative examples (DCGAN, conditional GAN, VAE with custom train_steps) run a few steps on the
MNIST sample: finite losses, every weight moved, and a PNG grid of the expected size."""
import runpy
from pathlib import Path

import numpy as np
import pytest

import framework as keras
from test_images import read

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MNIST = keras.datasets.mnist.SHARED_DIR
FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def mnist_sample():
    missing = [name for name in FILES if not (MNIST / name).is_file()]
    if missing:
        pytest.skip(f"MNIST sample not found in {MNIST} (missing {', '.join(missing)})")


def _example(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def _weights(*models):
    return [w.copy() for m in models for w in m.get_weights()]


def _run(module, tmp_path, *extra):
    argv = ["--epochs", "1", "--steps", "3", "--batch-size", "16", "--output", str(tmp_path / "out"),
            "--verbose", "0", *extra]
    return module["main"](argv)


def _all_moved(before, after):
    assert len(before) == len(after)
    for i, (a, b) in enumerate(zip(before, after)):
        assert not np.array_equal(a, b), f"weight {i} of shape {a.shape} did not change"


def test_dcgan_trains_both_networks_and_writes_the_grid(mnist_sample, tmp_path):
    module = _example("dcgan.py")
    fresh = module["build"](0)
    before = _weights(fresh.generator, fresh.discriminator)
    result = _run(module, tmp_path)
    gan, history = result["gan"], result["history"]
    assert set(history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v[0]) and v[0] > 0 for v in history.values())
    assert int(gan.d_optimizer.iterations) == 3 and int(gan.g_optimizer.iterations) == 3
    _all_moved(before, _weights(gan.generator, gan.discriminator))
    assert result["image"] == str(tmp_path / "out" / "dcgan_digits.png")
    assert read(result["image"]).shape == (8 * 28, 8 * 28, 1)  # 64 digits, 8 x 8


def test_conditional_gan_conditions_on_labels_and_writes_digits_0_to_9_per_row(mnist_sample, tmp_path):
    module = _example("conditional_gan.py")
    one_hot = keras.utils.to_categorical([3, 0, 9], 10)
    maps = module["label_maps"](one_hot)
    assert maps.shape == (3, 28, 28, 10)
    np.testing.assert_array_equal(maps[:, 5, 17, :], one_hot)  # every pixel carries its image's label
    np.testing.assert_array_equal(maps.min(axis=(1, 2)), maps.max(axis=(1, 2)))
    fresh = module["build"](0)
    before = _weights(fresh.generator, fresh.discriminator)
    result = _run(module, tmp_path)
    gan, history = result["gan"], result["history"]
    assert set(history) == {"g_loss", "d_loss"}
    assert all(np.isfinite(v[0]) and v[0] > 0 for v in history.values())
    _all_moved(before, _weights(gan.generator, gan.discriminator))
    assert read(result["image"]).shape == (10 * 28, 10 * 28, 1)  # 10 noise vectors x the classes 0-9

    class Echo:  # a "generator" that draws its input's label as the image's brightness
        def predict(self, inputs, verbose=0):
            label = inputs[:, -10:].argmax(axis=1).astype("float32")
            return np.broadcast_to((label / 9)[:, None, None, None], (len(inputs), 28, 28, 1))

    images = module["generate"](Echo(), np.zeros((2, module["LATENT_DIM"]), "float32"))
    np.testing.assert_allclose(images[:, 0, 0, 0], np.tile(np.arange(10) / 9, 2))  # 0..9 across each row


def test_vae_custom_step_tracks_its_three_losses_and_writes_the_latent_grid(mnist_sample, tmp_path):
    module = _example("vae_custom_step.py")
    fresh = module["build"](0)
    before = _weights(fresh.encoder, fresh.decoder)
    result = _run(module, tmp_path, "--grid", "4")
    vae, history = result["vae"], result["history"]
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    total, reconstruction, kl = (history[k][0] for k in ("loss", "reconstruction_loss", "kl_loss"))
    assert np.isfinite(total) and 0 < reconstruction and 0 <= kl
    assert total == pytest.approx(reconstruction + kl, rel=1e-5)  # each tracker averages the same 3 steps
    _all_moved(before, _weights(vae.encoder, vae.decoder))
    assert read(result["image"]).shape == (4 * 28, 4 * 28, 1)
    # the sampling layer draws fresh noise at every call: the same digits give different codes z
    digits = np.zeros((2, 28, 28, 1), "float32")
    z_first, z_second = vae.encoder.predict(digits, verbose=0)[2], vae.encoder.predict(digits, verbose=0)[2]
    assert not np.array_equal(z_first, z_second)
