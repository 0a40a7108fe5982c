"""Built-in activation functions, as in ``keras.activations``.

Each activation is an :class:`ActivationFunction`: callable eagerly on NumPy
arrays like the Keras function (``relu(x, max_value=6.0)``), and able to bind
itself to preallocated plan buffers (``bind_forward`` and friends) so that a
training step runs Numba kernels with no lookups and no allocation.

A user's activation function written with ``framework.ops`` becomes a
:class:`FunctionActivation`: the layer's kernels then apply 'linear', and the
layer traces the function after them, so its gradient is derived from the ops.
It saves by the name it is registered under (``register_serializable``).
"""
import math
from functools import partial

import numpy as np

from framework.backend import floatx
from framework.config.registry import FUNCTIONS, Registry, function_name
from framework.kernels import activations as K

__all__ = [
    "ActivationFunction", "FunctionActivation", "get", "serialize", "deserialize",
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid",
    "hard_sigmoid", "tanh", "softplus", "softsign", "silu", "swish", "exponential",
    "softmax", "log_softmax",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_AXIS_KERNELS = {
    "softmax": (K.softmax_forward, K.softmax_backward),
    "log_softmax": (K.log_softmax_forward, K.log_softmax_backward),
}


def _noop():
    pass


def _chain(first, second):
    """One callable running two bound kernel calls in order."""
    def run():
        first()
        second()
    return run


def _check(where, arrays, same_shape=True):
    """Bind-time validation: float32/float64 of one dtype, C-contiguous, one shape."""
    first = None
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{where}: {name} must be a NumPy array, got {type(a).__name__}")
        if a.dtype not in _FLOATS:
            raise TypeError(f"{where}: {name} must be float32 or float64, got {a.dtype}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{where}: {name} must be C-contiguous")
        if first is None:
            first = a
        elif a.dtype != first.dtype:
            raise TypeError(f"{where}: {name} has dtype {a.dtype}, expected {first.dtype}")
        elif same_shape and a.shape != first.shape:
            raise ValueError(f"{where}: {name} has shape {a.shape}, expected {first.shape}")
    return first.dtype


def _same_buffer(a, b):
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


class ActivationFunction:
    """A built-in activation with its Keras keyword arguments fixed.

    Attributes:
        name: canonical Keras name (``'silu'`` for swish too).
        kind: kernel code from ``framework.kernels.activations``; None for the
            axis-wise softmax family.
        params: ``(p0, p1, p2)`` floats handed to the kernels.
        needs_input: whether backward needs the pre-activation x, or works
            from the output y alone (then callers may pass x=None).
        axis: reduction axis for softmax / log_softmax (None otherwise).
        config: the Keras keyword arguments, e.g. ``{'alpha': 1.0}``.
    """

    def __init__(self, name, kind, defaults=None, doc="", **values):
        self.name = self.__name__ = name
        self.kind = kind
        self._defaults = dict(defaults or {})
        self.config = {key: _standardize(name, key, values.get(key, default))
                       for key, default in self._defaults.items()}
        self.axis = self.config["axis"] if kind is None else None
        slots = [] if kind is None else [_to_param(v) for v in self.config.values()]
        self.params = tuple(slots + [0.0] * (3 - len(slots)))
        self.needs_input = kind is not None and _needs_input(kind, *self.params)
        self.__doc__ = doc or self.__class__.__doc__

    # -- eager use --------------------------------------------------------

    def __call__(self, x, **kwargs):
        """Apply to an array-like; returns a new array (ints and float16 become floatx())."""
        fn = self.with_params(**kwargs) if kwargs else self
        x = np.asarray(x)
        if x.dtype not in _FLOATS:
            x = x.astype(floatx(), order="C")
        elif not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        y = np.empty_like(x)
        fn.bind_forward(x, y)()
        return y

    def with_params(self, **kwargs):
        """A new ActivationFunction with some Keras keyword arguments changed."""
        unknown = sorted(set(kwargs) - set(self._defaults))
        if unknown:
            valid = ", ".join(self._defaults) or "none"
            raise TypeError(f"Activation {self.name!r} got unexpected keyword argument(s) "
                            f"{', '.join(unknown)}; valid arguments: {valid}")
        return ActivationFunction(self.name, self.kind, self._defaults, self.__doc__,
                                  **{**self.config, **kwargs})

    def get_config(self):
        return serialize(self)

    # -- plan binding: validation, reshapes and casts happen here, once ---

    def _typed(self, dtype):
        return tuple(dtype.type(p) for p in self.params)

    def _view3(self, a, axis=None):
        """a as (outer, n, inner) around the reduction axis (a C-contiguous view)."""
        axis = self.axis if axis is None else axis
        ax = axis + a.ndim if axis < 0 else axis
        if not 0 <= ax < a.ndim:
            raise ValueError(f"{self.name}: axis {axis} is out of range for an array "
                             f"of shape {a.shape}")
        outer = math.prod(a.shape[:ax])
        return a.reshape(outer, a.shape[ax], math.prod(a.shape[ax + 1:]))

    def bind_forward(self, x, y):
        """A callable computing y = f(x) in place; x, y same shape, C-contiguous; y may be x."""
        dtype = _check(f"{self.name}.bind_forward", {"x": x, "y": y})
        if self.kind is None:
            return partial(_AXIS_KERNELS[self.name][0], self._view3(x), self._view3(y))
        if self.kind == K.LINEAR and _same_buffer(x, y):
            return _noop
        return partial(K.specialized(self.kind).forward, x.reshape(-1), y.reshape(-1), *self._typed(dtype))

    def bind_backward(self, x, y, dy, dx):
        """A callable computing dx = dy * f'(x); x may be None unless needs_input; dx may be dy."""
        if x is None:
            if self.needs_input:
                raise ValueError(f"{self.name}.bind_backward needs the pre-activation x")
            x = y
        dtype = _check(f"{self.name}.bind_backward", {"x": x, "y": y, "dy": dy, "dx": dx})
        if self.kind is None:
            return partial(_AXIS_KERNELS[self.name][1],
                           self._view3(y), self._view3(dy), self._view3(dx))
        if self.kind == K.LINEAR and _same_buffer(dy, dx):
            return _noop
        return partial(K.specialized(self.kind).backward, x.reshape(-1), y.reshape(-1), dy.reshape(-1),
                       dx.reshape(-1), *self._typed(dtype))

    def _check_2d(self, where, b, **arrays):
        dtype = _check(where, arrays)
        name, first = next(iter(arrays.items()))
        if first.ndim != 2:
            raise ValueError(f"{where}: expected 2-D (rows, units) buffers, got shape {first.shape}")
        _check(where, {name: first, "bias": b}, same_shape=False)
        if b.shape != (first.shape[1],):
            raise ValueError(f"{where}: bias has shape {b.shape}, expected ({first.shape[1]},)")
        if self.kind is None and self.axis != -1:
            raise NotImplementedError(
                f"{where}: fused bias + {self.name} works along the last axis only (axis=-1), "
                f"got axis={self.axis}; use bind_forward/bind_backward on the full-shaped buffers")
        return dtype

    def bind_bias_forward(self, z, b, y):
        """A callable doing z += b (z: rows x units), then y = f(z); y may be z.

        Softmax family: two kernel calls (bias add, then softmax along the last axis).
        """
        dtype = self._check_2d(f"{self.name}.bind_bias_forward", b, z=z, y=y)
        if self.kind is None:
            add = partial(K.specialized(K.LINEAR).bias_forward, z, b, z, *self._typed(dtype))
            return _chain(add, partial(_AXIS_KERNELS[self.name][0], self._view3(z, -1),
                                       self._view3(y, -1)))
        return partial(K.specialized(self.kind).bias_forward, z, b, y, *self._typed(dtype))

    def bind_backward_bias_grad(self, x, y, dy, dz, db):
        """A callable doing dz = dy * f'(x) and db = dz summed over rows (written).

        2-D buffers; x may be None unless needs_input; dz may be dy.
        """
        if x is None:
            if self.needs_input:
                raise ValueError(f"{self.name}.bind_backward_bias_grad needs the pre-activation x")
            x = y
        where = f"{self.name}.bind_backward_bias_grad"
        dtype = self._check_2d(where, db, x=x, y=y, dy=dy, dz=dz)
        p = self._typed(dtype)
        if self.kind is None:
            grad = partial(_AXIS_KERNELS[self.name][1], self._view3(y, -1), self._view3(dy, -1),
                           self._view3(dz, -1))
            return _chain(grad, partial(K.specialized(K.LINEAR).backward_bias_grad, dz, dz, dz, dz, db, *p))
        return partial(K.specialized(self.kind).backward_bias_grad, x, y, dy, dz, db, *p)

    # -- identity -----------------------------------------------------------

    def __eq__(self, other):
        return (isinstance(other, ActivationFunction) and self.name == other.name
                and self.config == other.config)

    def __hash__(self):
        return hash((self.name, tuple(self.config.items())))

    def __repr__(self):
        changed = {k: v for k, v in self.config.items() if v != self._defaults[k]}
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"<activation {self.name}({args})>"


def _standardize(name, key, value):
    """Type-check one Keras keyword argument."""
    if key == "axis":
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name}: axis must be an int, got {value!r}")
        return int(value)
    if key == "approximate":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name}: approximate must be a bool, got {value!r}")
        return bool(value)
    if value is None and key == "max_value":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {key} must be a number, got {value!r}")
    return float(value)


def _to_param(value):
    """Keras argument -> kernel float: None (max_value) is +inf, bools are 0/1."""
    return math.inf if value is None else float(value)


def _needs_input(kind, p0, p1, p2):
    # relu/leaky_relu read their derivative from y only when the sign of y
    # still tells the regions apart (negative_slope >= 0, 0 <= threshold < max).
    if kind in (K.RELU, K.LEAKY_RELU):
        return p0 < 0 or (kind == K.RELU and (p2 < 0 or p1 <= p2))
    return K.NEEDS_INPUT[kind]


def _make(name, kind, doc, **defaults):
    return ActivationFunction(name, kind, defaults, doc)


linear = _make("linear", K.LINEAR, "Identity: returns x unchanged.")
relu = _make("relu", K.RELU,
             "Rectified linear unit: x > threshold -> min(x, max_value), "
             "else negative_slope * (x - threshold).",
             negative_slope=0.0, max_value=None, threshold=0.0)
relu6 = _make("relu6", K.RELU6, "min(max(x, 0), 6).")
leaky_relu = _make("leaky_relu", K.LEAKY_RELU, "x if x >= 0 else negative_slope * x.",
                   negative_slope=0.2)
elu = _make("elu", K.ELU, "x if x >= 0 else alpha * (exp(x) - 1).", alpha=1.0)
selu = _make("selu", K.SELU, "scale * elu(x, alpha) with Keras's fixed alpha and scale.")
gelu = _make("gelu", K.GELU,
             "x * P(X <= x), X ~ N(0, 1): exact erf form, or the tanh form if approximate.",
             approximate=False)
sigmoid = _make("sigmoid", K.SIGMOID, "1 / (1 + exp(-x)).")
hard_sigmoid = _make("hard_sigmoid", K.HARD_SIGMOID, "relu6(x + 3) / 6.")
tanh = _make("tanh", K.TANH, "Hyperbolic tangent.")
softplus = _make("softplus", K.SOFTPLUS, "log(exp(x) + 1), computed without overflow.")
softsign = _make("softsign", K.SOFTSIGN, "x / (abs(x) + 1).")
silu = _make("silu", K.SILU, "x * sigmoid(x) (also known as swish).")
swish = silu
exponential = _make("exponential", K.EXPONENTIAL, "exp(x).")
softmax = _make("softmax", None, "exp(x) / sum(exp(x)) along axis.", axis=-1)
log_softmax = _make("log_softmax", None, "x - log(sum(exp(x))) along axis.", axis=-1)

REGISTRY = Registry("activation")
for _fn in (linear, relu, relu6, leaky_relu, elu, selu, gelu, sigmoid, hard_sigmoid, tanh,
            softplus, softsign, silu, exponential, softmax, log_softmax):
    REGISTRY.add(_fn.name, _fn)
REGISTRY.add("swish", silu)
del _fn


class FunctionActivation(ActivationFunction):
    """A user's activation function (written with framework.ops): 'linear' to the layer's kernels,
    the function itself traced after them by the layer.

    Args:
        function: ``f(x) -> tensor``, made of framework.ops.
    """

    def __init__(self, function):
        super().__init__("linear", K.LINEAR)
        self.function = function
        self.name = self.__name__ = getattr(function, "__name__", type(function).__name__)

    def __call__(self, x, **kwargs):
        return self.function(x, **kwargs)

    def with_params(self, **kwargs):
        raise TypeError(f"Activation {self.name!r} is a function; give its arguments with functools.partial")


def serialize(activation):
    """The activation's name, or ``{'class_name': name, 'config': {...}}`` if its arguments
    differ from the defaults; a function by the name it is registered under."""
    fn = get(activation)
    if isinstance(fn, FunctionActivation):
        name = function_name(fn.function)
        if name is None:
            raise ValueError(f"Activation function {fn.name!r} cannot be saved: register it with "
                             "@framework.utils.register_serializable() so files can name it")
        return {"class_name": "function", "config": name}
    if fn.config == fn._defaults:
        return fn.name
    return {"class_name": fn.name, "config": dict(fn.config)}


def deserialize(config):
    """An activation from a name or a ``{'class_name', 'config'}`` dict (registry only)."""
    if isinstance(config, str):
        return REGISTRY.lookup(config)
    if isinstance(config, dict) and "class_name" in config:
        name, kwargs = config["class_name"], config.get("config") or {}
        if name == "function" and isinstance(kwargs, str):  # Keras 3 function dict
            if kwargs not in REGISTRY and kwargs in FUNCTIONS:
                return FunctionActivation(FUNCTIONS.lookup(kwargs))
            return REGISTRY.lookup(kwargs)
        if not isinstance(kwargs, dict):
            raise ValueError(f"Activation config for {name!r} must be a dict, got {kwargs!r}")
        return REGISTRY.lookup(name).with_params(**kwargs)
    raise ValueError(f"Could not deserialize activation from {config!r}; expected a name "
                     f"or a {{'class_name': ..., 'config': ...}} dict. "
                     f"Valid names: {', '.join(REGISTRY.names())}")


def get(identifier):
    """Resolve an activation: None -> linear, a name, a serialized dict, or an ActivationFunction."""
    if identifier is None:
        return linear
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return FunctionActivation(identifier)
    raise ValueError(f"Could not interpret activation identifier {identifier!r}. "
                     f"Valid names: {', '.join(REGISTRY.names())}")
