"""``framework.grad`` and ``framework.value_and_grad``: JAX's function transforms, written on the tape.

``value_and_grad(fn)(*args)`` runs ``fn`` once inside a ``GradientTape`` and returns its value and the
gradient with respect to the arguments named by ``argnums``. An argument may be an array (watched for
the call), a variable, or a list / tuple / dict of them (each variable is a source: the gradient comes
in the same structure). Models, layers, losses and ops called inside ``fn`` are recorded as in any tape,
so ``value_and_grad(lambda w: loss_fn(y, model(x)))(model.trainable_variables)`` is a training gradient
and nested transforms give second derivatives.
"""
import numpy as np

from framework.training.tape import GradientTape
from framework.variables import Variable


def value_and_grad(fn, argnums=0, has_aux=False):
    """A function returning ``(value, gradient)`` of ``fn`` at its arguments.

    Args:
        fn: a function whose (first, with ``has_aux``) result is a scalar.
        argnums: which positional argument (an int), or which ones (a tuple), to differentiate against:
            a tuple gives a tuple of gradients.
        has_aux: ``fn`` returns ``(value, aux)``; the result is then ``((value, aux), gradient)``.
    """
    positions = _positions(argnums)

    def transformed(*args, **kwargs):
        if max(positions) >= len(args):
            raise TypeError(f"value_and_grad: argnums={argnums} but the function received {len(args)} positional "
                            "arguments")
        args = list(args)
        with GradientTape() as tape:
            for i in positions:
                args[i] = _watch(tape, args[i], i)
            result = fn(*args, **kwargs)
        value, aux = _split(result, has_aux)
        if np.ndim(value) != 0:
            raise ValueError(f"value_and_grad: the function must return a scalar, received shape {np.shape(value)} "
                             "(reduce it, e.g. with ops.mean or ops.sum)")
        grads = tape.gradient(value, [args[i] for i in positions], unconnected_gradients="zero")
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        return ((value, aux) if has_aux else value), grads

    return transformed


def grad(fn, argnums=0, has_aux=False):
    """A function returning the gradient of ``fn`` (and ``aux`` with ``has_aux``: ``(gradient, aux)``).

    Args:
        fn: a function whose (first, with ``has_aux``) result is a scalar.
        argnums: which positional argument (an int), or which ones (a tuple), to differentiate against.
        has_aux: ``fn`` returns ``(value, aux)``.
    """
    both = value_and_grad(fn, argnums, has_aux)

    def transformed(*args, **kwargs):
        (value, gradient) = both(*args, **kwargs)
        return (gradient, value[1]) if has_aux else gradient

    return transformed


def _positions(argnums):
    positions = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not positions or not all(isinstance(i, int) and i >= 0 for i in positions):
        raise ValueError(f"argnums must be a non-negative int or a tuple of them, received {argnums!r}")
    return positions


def _watch(tape, value, position):
    """An argument as the tape's source: arrays watched (lists and dicts of them too), variables as they are."""
    if isinstance(value, dict):
        return {k: _watch(tape, v, position) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_watch(tape, v, position) for v in value)
    if isinstance(value, Variable):
        return value
    if isinstance(value, (int, float)) or (isinstance(value, np.ndarray) and value.dtype.kind in "iub"):
        raise TypeError(f"value_and_grad: argument {position} is {type(value).__name__} "
                        f"{getattr(value, 'dtype', '')}; differentiate against float arrays or variables")
    return tape.watch(value if isinstance(value, np.ndarray) else np.asarray(value))


def _split(result, has_aux):
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ValueError("value_and_grad(has_aux=True): the function must return (value, aux)")
    return result[0], result[1]
