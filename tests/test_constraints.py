"""Weight constraints: Keras 3 formulas (eager and bound in place), axes, config, lookup, allocation."""

import numpy as np
import pytest
import yaml

from framework import constraints as C
from framework import layers
from helpers import assert_no_allocation

EPS = 1e-7


# ----------------------------------------------------------------------------- reference formulas
# keras/src/constraints/constraints.py, in float64

def _norms(w, axis):
    axis = tuple(axis) if isinstance(axis, list) else axis
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


def ref_max_norm(w, max_value=2, axis=0):
    n = _norms(w, axis)
    return w * (np.clip(n, 0, max_value) / (EPS + n))


def ref_unit_norm(w, axis=0):
    return w / (EPS + _norms(w, axis))


def ref_min_max_norm(w, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
    n = _norms(w, axis)
    return w * ((rate * np.clip(n, min_value, max_value) + (1 - rate) * n) / (EPS + n))


def ref_non_neg(w):
    return np.maximum(w, 0)


# name, factory(axis), reference(w, axis)
NORM_CASES = [
    ("max_norm", lambda axis: C.MaxNorm(max_value=1.5, axis=axis), lambda w, axis: ref_max_norm(w, 1.5, axis)),
    ("max_norm_default", lambda axis: C.MaxNorm(axis=axis), lambda w, axis: ref_max_norm(w, 2, axis)),
    ("unit_norm", lambda axis: C.UnitNorm(axis=axis), lambda w, axis: ref_unit_norm(w, axis)),
    ("min_max_norm", lambda axis: C.MinMaxNorm(min_value=0.8, max_value=1.6, axis=axis),
     lambda w, axis: ref_min_max_norm(w, 0.8, 1.6, 1.0, axis)),
    ("min_max_norm_rate", lambda axis: C.MinMaxNorm(min_value=0.5, max_value=1.0, rate=0.3, axis=axis),
     lambda w, axis: ref_min_max_norm(w, 0.5, 1.0, 0.3, axis)),
]
NORM_IDS = [c[0] for c in NORM_CASES]
# shapes and axes: Dense kernels, a bias, Conv2D kernels (kh, kw, in, filters) with Keras's [0, 1, 2],
# and axis sets whose kept and reduced axes alternate
SHAPE_AXES = [
    ((6, 5), 0), ((6, 5), 1), ((6, 5), -1), ((6, 5), [0, 1]), ((6, 5), None), ((7,), 0),
    ((3, 3, 4, 5), [0, 1, 2]), ((3, 3, 4, 5), 3), ((3, 3, 4, 5), [0, 2]), ((3, 3, 4, 5), [1, 3]),
    ((3, 3, 4, 5), [3, 0]), ((3, 3, 4, 5), 1), ((2, 3, 2, 4, 3), [0, 2, 4]),
]
SHAPE_IDS = [f"{s}-{a}" for s, a in SHAPE_AXES]


def weight(shape, rng, dtype=np.float64):
    # norms spread on both sides of the bounds used above
    w = rng.normal(size=shape) * rng.uniform(0.05, 1.0, size=shape[-1:])
    return np.ascontiguousarray(w, dtype)


# ----------------------------------------------------------------------------- values

@pytest.mark.parametrize("shape,axis", SHAPE_AXES, ids=SHAPE_IDS)
@pytest.mark.parametrize("name,factory,ref", NORM_CASES, ids=NORM_IDS)
def test_norm_constraints_match_keras_formula(name, factory, ref, shape, axis):
    rng = np.random.default_rng(len(shape))
    w = weight(shape, rng)
    constraint = factory(axis)
    expected = ref(w, axis)
    eager = constraint(w)
    assert eager.shape == w.shape and eager.dtype == np.float64
    np.testing.assert_allclose(eager, expected, rtol=1e-14, atol=1e-15)
    before = w.copy()
    apply = constraint.bind(w)
    np.testing.assert_array_equal(w, before)  # binding does not touch the weight
    assert apply() is None
    np.testing.assert_allclose(w, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(w, eager, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape,axis", [((6, 5), 0), ((3, 3, 4, 5), [0, 1, 2]), ((3, 3, 4, 5), [0, 2])])
@pytest.mark.parametrize("name,factory,ref", NORM_CASES, ids=NORM_IDS)
def test_float32_in_place_equals_eager(name, factory, ref, shape, axis):
    rng = np.random.default_rng(3)
    w = weight(shape, rng, np.float32)
    w64 = w.astype(np.float64)
    constraint = factory(axis)
    eager = constraint(w)
    assert eager.dtype == np.float32  # computed in the weight's dtype, as Keras
    constraint.bind(w)()
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, eager, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(w, ref(w64, axis), rtol=2e-6, atol=1e-7)


def test_norms_after_projection():
    rng = np.random.default_rng(4)
    w = weight((8, 6), rng) * 3
    C.MaxNorm(1.0).bind(w)()
    assert (np.linalg.norm(w, axis=0) <= 1.0).all()
    w = weight((3, 3, 4, 5), rng)
    C.UnitNorm(axis=[0, 1, 2]).bind(w)()
    np.testing.assert_allclose(np.sqrt((w ** 2).sum((0, 1, 2))), 1.0, rtol=1e-6)  # 1 up to Keras's epsilon
    w = weight((8, 6), rng)
    n0 = np.linalg.norm(w, axis=1)
    C.MinMaxNorm(0.4, 0.6, axis=1).bind(w)()
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), np.clip(n0, 0.4, 0.6) * n0 / (n0 + EPS), rtol=1e-12)


def test_epsilon_is_added_as_keras_does():
    w = np.array([[3.0], [4.0]])  # norm 5 over axis 0
    np.testing.assert_array_equal(C.UnitNorm()(w), w / (5.0 + EPS))
    np.testing.assert_array_equal(C.MaxNorm(1)(w), w * (1 / (5.0 + EPS)))
    small = np.array([[0.3], [0.4]])  # norm 0.5 < max_value: still scaled by 0.5 / (0.5 + eps)
    np.testing.assert_array_equal(C.MaxNorm(2)(small), small * (0.5 / (0.5 + EPS)))
    zero = np.zeros((3, 2))
    for c in (C.MaxNorm(), C.UnitNorm(), C.MinMaxNorm(min_value=1.0)):
        np.testing.assert_array_equal(c(zero), zero)  # 0 / (eps + 0) stays finite
        z = zero.copy()
        c.bind(z)()
        np.testing.assert_array_equal(z, zero)


def test_non_neg():
    rng = np.random.default_rng(5)
    for shape in [(6, 5), (7,), (3, 3, 4, 5)]:
        w = weight(shape, rng)
        expected = ref_non_neg(w)
        np.testing.assert_array_equal(C.NonNeg()(w), expected)
        C.NonNeg().bind(w)()
        np.testing.assert_array_equal(w, expected)
    w = np.array([-1.0, np.nan, 2.0], np.float32)
    C.NonNeg().bind(w)()
    assert w[0] == 0 and np.isnan(w[1]) and w[2] == 2


def test_nan_propagates_through_norm_constraints():
    w = np.array([[np.nan, 1.0], [2.0, 3.0]])
    C.MaxNorm(1.0).bind(w)()
    assert np.isnan(w[:, 0]).all() and np.isfinite(w[:, 1]).all()


def test_base_constraint_is_identity_and_custom_subclass_binds():
    w = np.arange(6.0).reshape(2, 3)
    assert C.Constraint()(w) is w
    C.Constraint().bind(w)()
    np.testing.assert_array_equal(w, np.arange(6.0).reshape(2, 3))

    class Halve(C.Constraint):
        def __call__(self, w):
            return w * 0.5

    Halve().bind(w)()
    np.testing.assert_array_equal(w, np.arange(6.0).reshape(2, 3) * 0.5)


def test_plain_function_constraint():
    c = C.get(lambda w: np.clip(w, -1, 1))
    assert isinstance(c, C.Constraint)
    w = np.array([-3.0, 0.5, 2.0])
    np.testing.assert_array_equal(c(w), [-1, 0.5, 1])
    c.bind(w)()
    np.testing.assert_array_equal(w, [-1, 0.5, 1])
    with pytest.raises(ValueError):
        C.serialize(c)


def test_bind_works_on_views_and_checks_buffers():
    arena = np.zeros(40)
    view = arena[5:35].reshape(6, 5)  # a weight living in a parameter arena
    view[...] = weight((6, 5), np.random.default_rng(6)) * 3
    expected = ref_max_norm(view.copy(), 1.0, 0)
    C.MaxNorm(1.0).bind(view)()
    np.testing.assert_allclose(arena[5:35].reshape(6, 5), expected, rtol=1e-13)
    assert not arena[:5].any() and not arena[35:].any()
    with pytest.raises(ValueError, match="contiguous"):
        C.MaxNorm().bind(np.ones((4, 3)).T)
    with pytest.raises(ValueError, match="float"):
        C.NonNeg().bind(np.ones(3, dtype=np.int64))
    with pytest.raises(ValueError, match="out of range"):
        C.MaxNorm(axis=2).bind(np.ones((4, 3)))
    with pytest.raises(ValueError, match="out of range"):
        C.UnitNorm(axis=[0, 5])(np.ones((4, 3)))
    with pytest.raises(ValueError, match="axis"):
        C.MaxNorm(axis="rows")


def test_high_rank_alternating_axes():
    rng = np.random.default_rng(7)
    w = weight((2, 2, 2, 2, 2, 2, 2), rng)
    axis = [1, 3, 5]  # K R K R K R K: seven runs
    expected = ref_unit_norm(w, axis)
    C.UnitNorm(axis=axis).bind(w)()
    np.testing.assert_allclose(w, expected, rtol=1e-13)


# ----------------------------------------------------------------------------- allocation

@pytest.mark.parametrize("constraint,shape", [
    (C.MaxNorm(), (128, 64)), (C.UnitNorm(axis=1), (128, 64)), (C.MinMaxNorm(0.5, 1.0, 0.5), (128, 64)),
    (C.MaxNorm(axis=[0, 1, 2]), (3, 3, 16, 32)), (C.UnitNorm(axis=[0, 2]), (3, 3, 16, 32)), (C.NonNeg(), (128, 64)),
], ids=lambda v: type(v).__name__ if isinstance(v, C.Constraint) else str(v))
def test_bound_constraint_does_not_allocate(constraint, shape):
    w = weight(shape, np.random.default_rng(8), np.float32)
    assert_no_allocation(constraint.bind(w))


# ----------------------------------------------------------------------------- registry and config

@pytest.mark.parametrize("name,cls", [
    ("max_norm", C.MaxNorm), ("MaxNorm", C.MaxNorm), ("non_neg", C.NonNeg), ("NonNeg", C.NonNeg),
    ("unit_norm", C.UnitNorm), ("UnitNorm", C.UnitNorm), ("min_max_norm", C.MinMaxNorm),
    ("MinMaxNorm", C.MinMaxNorm), ("constraint", C.Constraint),
])
def test_get_by_name(name, cls):
    assert type(C.get(name)) is cls


def test_get_other_identifiers():
    assert C.get(None) is None
    inst = C.MaxNorm(3)
    assert C.get(inst) is inst
    assert type(C.get(C.UnitNorm)) is C.UnitNorm
    got = C.get({"class_name": "MinMaxNorm", "config": {"min_value": 0.5, "max_value": 2.0, "rate": 0.5, "axis": 1}})
    assert (got.min_value, got.max_value, got.rate, got.axis) == (0.5, 2.0, 0.5, 1)
    assert C.max_norm is C.MaxNorm and C.non_neg is C.NonNeg  # Keras's shortcut names
    with pytest.raises(ValueError, match="Valid choices") as e:
        C.get("max_nrom")
    assert "max_norm" in str(e.value)
    with pytest.raises(ValueError, match="constraint identifier"):
        C.get(42)
    with pytest.raises(ValueError):
        C.get({"class_name": "os.system", "config": {}})


def test_keras_defaults():
    assert C.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert C.UnitNorm().get_config() == {"axis": 0}
    assert C.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert C.NonNeg().get_config() == {}


@pytest.mark.parametrize("constraint", [
    C.MaxNorm(), C.MaxNorm(max_value=3.5, axis=[0, 1, 2]), C.NonNeg(), C.UnitNorm(axis=-1),
    C.MinMaxNorm(min_value=0.2, max_value=0.9, rate=0.5, axis=(0, 2)), C.Constraint(),
], ids=lambda c: type(c).__name__)
def test_config_round_trip(constraint):
    config = constraint.get_config()
    assert type(constraint).from_config(config).get_config() == config
    data = C.serialize(constraint)
    assert data["class_name"] == type(constraint).__name__
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    back = C.deserialize(data)
    assert type(back) is type(constraint) and back.get_config() == config
    w = weight((3, 3, 4, 5), np.random.default_rng(9))
    np.testing.assert_array_equal(back(w), constraint(w))
    assert C.serialize(None) is None


def test_dense_accepts_and_serializes_constraints():
    dense = layers.Dense(4, kernel_constraint="max_norm", bias_constraint=C.NonNeg())
    assert isinstance(dense.kernel_constraint, C.MaxNorm) and isinstance(dense.bias_constraint, C.NonNeg)
    config = dense.get_config()
    assert config["kernel_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}}
    assert config["bias_constraint"] == {"class_name": "NonNeg", "config": {}}
    clone = layers.Dense.from_config(config)
    assert clone.kernel_constraint.get_config() == {"max_value": 2, "axis": 0}
    dense.build((None, 6))
    assert dense.kernel.constraint is dense.kernel_constraint and dense.bias.constraint is dense.bias_constraint
    dense.kernel.value[...] = 5.0
    dense.kernel.constraint.bind(dense.kernel.value)()
    np.testing.assert_allclose(np.linalg.norm(dense.kernel.value, axis=0), 2.0, rtol=1e-6)
