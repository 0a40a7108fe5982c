"""The two checks every op case gets (tests/test_ops*.py): values on arrays and in a plan against a
NumPy reference, and the plan's gradients against finite differences in float64."""
import numpy as np

from gradcheck import check_gradients, float64_mode


def assert_op_matches(function, reference, model, xs, rtol=1e-5, atol=1e-6):
    """``function(*xs)`` on arrays and ``model.predict(xs)`` both equal ``reference(*xs)``."""
    expected = reference(*xs)
    np.testing.assert_allclose(function(*xs), expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(model.predict(xs if len(xs) > 1 else xs[0], verbose=0), expected, rtol=rtol, atol=atol)


def assert_op_gradients(make_model, make_data):
    """The gradients of a model made by ``make_model()`` on ``make_data()`` match finite differences."""
    with float64_mode():
        model, xs = make_model(), make_data()
        target = np.random.default_rng(1).standard_normal(model.predict(xs, verbose=0).shape)
        check_gradients(model, xs, [target])
