"""framework.grad / value_and_grad: JAX's function transforms on the gradient tape."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops


def test_grad_of_an_elementwise_function_is_its_derivative():
    x = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(fw.grad(lambda v: ops.sum(ops.sin(v) * v))(x), np.cos(x) * x + np.sin(x), rtol=1e-12)


def test_value_and_grad_with_several_arguments_and_aux():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])

    def f(p, q):
        value = ops.sum(p * p * q)
        return value, {"p_squared": p * p}

    (value, aux), (dp, dq) = fw.value_and_grad(f, argnums=(0, 1), has_aux=True)(a, b)
    assert float(value) == pytest.approx(np.sum(a * a * b))
    np.testing.assert_allclose(aux["p_squared"], a * a)
    np.testing.assert_allclose(dp, 2 * a * b)
    np.testing.assert_allclose(dq, a * a)
    only_q, aux_again = fw.grad(f, argnums=1, has_aux=True)(a, b)
    np.testing.assert_allclose(only_q, a * a)
    assert set(aux_again) == {"p_squared"}


def test_an_argument_the_value_does_not_use_gets_zeros():
    _, (da, db) = fw.value_and_grad(lambda p, q: ops.sum(p * 3.0), argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_allclose(da, [3.0, 3.0])
    np.testing.assert_allclose(db, np.zeros(3))


def test_gradient_with_respect_to_a_models_variables_equals_the_tapes():
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((3,)), layers.Dense(4, activation="tanh"), layers.Dense(1)])
    x, y = np.random.default_rng(1).standard_normal((8, 3)), np.random.default_rng(2).standard_normal((8, 1))
    loss_fn = fw.losses.MeanSquaredError()
    value, grads = fw.value_and_grad(lambda variables: loss_fn(y, model(x, training=True)))(model.trainable_variables)
    with fw.GradientTape() as tape:
        expected_value = loss_fn(y, model(x, training=True))
    expected = tape.gradient(expected_value, model.trainable_variables)
    assert float(value) == float(expected_value)
    assert isinstance(grads, list) and len(grads) == 4
    for g, e in zip(grads, expected):
        np.testing.assert_array_equal(g, e)


def test_nested_grad_through_ops_is_refused_clearly_not_zero():
    """Second derivatives go through a model call's input gradient (a gradient penalty: see
    test_second_derivatives.py); through ops alone they are refused, never a silent zero."""
    first = fw.grad(lambda v: ops.sum(ops.multiply(ops.multiply(v, v), v)))
    with pytest.raises(NotImplementedError, match="A second derivative"):
        fw.grad(lambda v: ops.sum(first(v)))(np.array([0.3, -1.2, 2.0]))


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="must return a scalar, received shape \\(3,\\)"):
        fw.grad(lambda v: v * 2.0)(np.ones(3))
    with pytest.raises(TypeError, match="argnums=2 but the function received 1 positional"):
        fw.grad(lambda v: ops.sum(v), argnums=2)(np.ones(3))
    with pytest.raises(TypeError, match="argument 0 is ndarray int64; differentiate against float"):
        fw.grad(lambda v: ops.sum(v))(np.arange(3))
    with pytest.raises(ValueError, match="argnums must be"):
        fw.grad(lambda v: ops.sum(v), argnums=())
    with pytest.raises(ValueError, match=r"has_aux=True\): the function must return \(value, aux\)"):
        fw.grad(lambda v: ops.sum(v), has_aux=True)(np.ones(2))
