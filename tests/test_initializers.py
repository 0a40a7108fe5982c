"""Initializers: Keras fan rules, closed-form moments, orthogonality, seeding, config."""
import math

import numpy as np
import pytest

from framework import initializers
from framework.initializers import compute_fans
from framework.utils.random import set_random_seed

ALL_NAMES = ["zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
             "variance_scaling", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
             "lecun_normal", "lecun_uniform", "orthogonal", "identity"]
RANDOM_NAMES = ["random_normal", "random_uniform", "truncated_normal", "variance_scaling",
                "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
                "lecun_uniform", "orthogonal"]


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    ((3, 5), (3, 5)),
    ((4, 3, 5), (12, 20)),           # Conv1D (k, in, out)
    ((3, 2, 4, 6), (24, 36)),        # Conv2D (kh, kw, in, out)
])
def test_compute_fans(shape, fans):
    assert compute_fans(shape) == fans


# (class, expected variance factor, n chooser, distribution) for each Keras preset.
PRESETS = [
    (initializers.GlorotUniform, 1.0, "fan_avg", "uniform"),
    (initializers.GlorotNormal, 1.0, "fan_avg", "truncated_normal"),
    (initializers.HeNormal, 2.0, "fan_in", "truncated_normal"),
    (initializers.HeUniform, 2.0, "fan_in", "uniform"),
    (initializers.LecunNormal, 1.0, "fan_in", "truncated_normal"),
    (initializers.LecunUniform, 1.0, "fan_in", "uniform"),
]


def _n(shape, mode):
    fan_in, fan_out = compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


@pytest.mark.parametrize("cls, scale, mode, distribution", PRESETS)
def test_presets_match_keras_settings(cls, scale, mode, distribution):
    init = cls(seed=1)
    assert (init.scale, init.mode, init.distribution) == (scale, mode, distribution)
    assert init.get_config() == {"seed": 1}


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("shape", [(400, 300), (3, 3, 40, 64)])
def test_variance_scaling_moments(distribution, mode, shape):
    scale = 2.0
    x = initializers.VarianceScaling(scale, mode, distribution, seed=0)(shape, "float64")
    target_std = math.sqrt(scale / _n(shape, mode))
    assert abs(x.mean()) < 0.02 * target_std
    assert x.std() == pytest.approx(target_std, rel=0.02)   # truncated: corrected to the target
    if distribution == "uniform":
        assert np.abs(x).max() <= math.sqrt(3) * target_std
        assert np.abs(x).max() > 0.99 * math.sqrt(3) * target_std
    if distribution == "truncated_normal":
        assert np.abs(x).max() <= 2 * target_std / 0.87962566103423978


@pytest.mark.parametrize("cls, scale, mode, distribution", PRESETS)
def test_preset_moments(cls, scale, mode, distribution):
    shape = (500, 200)
    x = cls(seed=3)(shape, "float64")
    assert x.std() == pytest.approx(math.sqrt(scale / _n(shape, mode)), rel=0.02)


def test_random_normal_uniform_truncated():
    x = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=0)((200_000,), "float64")
    assert x.mean() == pytest.approx(1.0, abs=0.01) and x.std() == pytest.approx(0.5, rel=0.01)
    u = initializers.RandomUniform(minval=-0.2, maxval=0.6, seed=0)((200_000,), "float64")
    assert u.min() >= -0.2 and u.max() < 0.6
    assert u.mean() == pytest.approx(0.2, abs=0.01)
    assert u.std() == pytest.approx(0.8 / math.sqrt(12), rel=0.01)
    t = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=0)((200_000,), "float64")
    assert np.abs(t - 1.0).max() <= 1.0
    assert t.mean() == pytest.approx(1.0, abs=0.01)
    assert t.std() == pytest.approx(0.5 * 0.87962566103423978, rel=0.01)


def test_zero_fan_does_not_divide_by_zero():
    x = initializers.GlorotUniform(seed=0)((0, 5))
    assert x.shape == (0, 5)
    assert np.isfinite(initializers.HeNormal(seed=0)(()))


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (3, 3, 8, 16), (3, 3, 2, 32), (2, 5, 7)])
def test_orthogonal(shape):
    w = initializers.Orthogonal(gain=1.5, seed=0)(shape, "float64")
    assert w.shape == shape
    m = w.reshape(-1, shape[-1]) / 1.5
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-12)


def test_orthogonal_rejects_rank_below_two():
    with pytest.raises(ValueError, match="rank"):
        initializers.Orthogonal()((5,))


def test_identity_constant_zeros_ones():
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((3, 4)), 2.0 * np.eye(3, 4))
    with pytest.raises(ValueError):
        initializers.Identity()((2, 2, 2))
    np.testing.assert_array_equal(initializers.Constant(3.5)((2, 3)), np.full((2, 3), 3.5))
    np.testing.assert_array_equal(initializers.Constant()((2,)), np.zeros(2))
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.Ones()((4,)), np.ones(4))
    assert initializers.Ones()((3,), "int32").dtype == np.int32


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_contiguity_and_fresh_arrays(name, dtype):
    init = initializers.get(name)
    a, b = init((4, 4), dtype), init((4, 4), dtype)
    assert a.dtype == np.dtype(dtype) and a.flags.c_contiguous and a.flags.writeable
    assert not np.shares_memory(a, b)


def test_default_dtype_is_floatx():
    assert initializers.get("glorot_uniform")((3, 3)).dtype == np.float32


@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_float32_and_float64_agree_up_to_rounding(name):
    cfg = initializers.serialize(initializers.get(name))
    cfg["config"]["seed"] = 7
    init = initializers.deserialize(cfg)
    np.testing.assert_array_equal(init((5, 6), "float32"), init((5, 6), "float64").astype(np.float32))


@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_seeded_initializer_repeats(name):
    cfg = initializers.serialize(initializers.get(name))
    cfg["config"]["seed"] = 42
    init = initializers.deserialize(cfg)
    np.testing.assert_array_equal(init((8, 5)), init((8, 5)))
    cfg["config"]["seed"] = 43
    assert not np.array_equal(init((8, 5)), initializers.deserialize(cfg)((8, 5)))


@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_unseeded_follows_global_seed(name):
    init = initializers.get(name)
    set_random_seed(123)
    a, b = init((8, 5)), init((8, 5))
    assert not np.array_equal(a, b)  # consecutive calls draw new values
    set_random_seed(123)
    np.testing.assert_array_equal(init((8, 5)), a)
    set_random_seed(124)
    assert not np.array_equal(init((8, 5)), a)


def test_random_initializers_reject_int_dtype_and_bad_seed():
    with pytest.raises(ValueError, match="float"):
        initializers.RandomNormal()((2,), "int32")
    with pytest.raises(ValueError, match="seed"):
        initializers.RandomNormal(seed="x")


def test_variance_scaling_validation():
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="fan_avg"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="uniform"):
        initializers.VarianceScaling(distribution="cauchy")
    assert initializers.VarianceScaling(distribution="Normal").distribution == "truncated_normal"


@pytest.mark.parametrize("init", [
    initializers.Zeros(), initializers.Ones(), initializers.Constant(0.5), initializers.Constant([1.0, 2.0]),
    initializers.RandomNormal(0.1, 0.2, seed=1), initializers.RandomUniform(-1, 2, seed=2),
    initializers.TruncatedNormal(0.0, 3.0), initializers.VarianceScaling(0.5, "fan_out", "uniform", seed=4),
    initializers.GlorotUniform(seed=5), initializers.GlorotNormal(), initializers.HeNormal(seed=6),
    initializers.HeUniform(), initializers.LecunNormal(seed=7), initializers.LecunUniform(),
    initializers.Orthogonal(gain=2.0, seed=8), initializers.Identity(gain=3.0),
])
def test_config_round_trip(init):
    cfg = initializers.serialize(init)
    assert cfg["class_name"] == type(init).__name__
    back = initializers.deserialize(cfg)
    assert type(back) is type(init) and back.get_config() == init.get_config()
    assert type(init).from_config(init.get_config()).get_config() == init.get_config()
    for value in cfg["config"].values():
        assert value is None or isinstance(value, (int, float, str, list))
    if init.get_config().get("seed") is not None:
        np.testing.assert_array_equal(back((4, 3)), init((4, 3)))


def test_get_forms():
    assert initializers.get(None) is None
    for name in ALL_NAMES:
        assert isinstance(initializers.get(name), initializers.Initializer)
        cls = type(initializers.get(name))
        assert initializers.get(cls.__name__).__class__ is cls
    assert isinstance(initializers.get("he_normal"), initializers.HeNormal)
    inst = initializers.HeNormal()
    assert initializers.get(inst) is inst
    assert isinstance(initializers.get(initializers.Orthogonal), initializers.Orthogonal)
    got = initializers.get({"class_name": "RandomUniform", "config": {"minval": 0.0, "maxval": 1.0}})
    assert (got.minval, got.maxval, got.seed) == (0.0, 1.0, None)

    def plain(shape, dtype=None):
        return np.full(shape, 7.0, dtype=dtype)
    assert initializers.get(plain) is plain


def test_get_errors():
    with pytest.raises(ValueError, match="glorot_uniform") as e:
        initializers.get("glorot_unifrom")
    assert "Valid choices" in str(e.value)
    with pytest.raises(ValueError, match="Valid choices"):
        initializers.deserialize({"class_name": "NotAThing", "config": {}})
    with pytest.raises(ValueError, match="stdev"):
        initializers.deserialize({"class_name": "RandomNormal", "config": {"stdev": 1.0}})
    with pytest.raises(ValueError):
        initializers.get(3)


def test_unregistered_subclass_does_not_serialize_under_parent_name():
    class MyInit(initializers.GlorotUniform):
        pass
    with pytest.raises(ValueError, match="register"):
        initializers.serialize(MyInit())
