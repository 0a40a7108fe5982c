"""Keras activation functions as ONNX nodes (elementwise ones keep whatever layout they are given)."""
import math

from framework.activations import FunctionActivation
from framework.export.onnx.builder import axis_in_layout

#: activations that are one ONNX operator with no attributes
_SINGLE = {"sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "softsign": "Softsign",
           "exponential": "Exp"}
#: Keras 3's selu constants
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

SUPPORTED = sorted(list(_SINGLE) + ["linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu",
                                    "hard_sigmoid", "silu", "softmax", "log_softmax"])


def check_activation(ctx, fn, where="activation"):
    """Raise (naming the layer) unless ``fn`` converts."""
    if isinstance(fn, FunctionActivation) or fn.name not in SUPPORTED:
        raise ctx.fail(f"its {where} {fn.name!r} has no ONNX form here; supported: {', '.join(SUPPORTED)}")


def apply_activation(ctx, fn, x, rank, layout):
    """``fn`` applied to ONNX tensor ``x`` (of Keras ``rank``, held in ``layout``); the result's name."""
    check_activation(ctx, fn)
    name, config = fn.name, fn.config
    if name == "linear":
        return x
    if name in _SINGLE:
        return ctx.op(_SINGLE[name], [x])
    if name in ("softmax", "log_softmax"):
        op = "Softmax" if name == "softmax" else "LogSoftmax"
        return ctx.op(op, [x], axis=axis_in_layout(config["axis"], rank, layout))
    if name == "relu":
        return _relu(ctx, x, config["negative_slope"], config["max_value"], config["threshold"])
    if name == "relu6":
        return _clip(ctx, x, 0.0, 6.0)
    if name == "leaky_relu":
        return ctx.op("LeakyRelu", [x], alpha=float(config["negative_slope"]))
    if name == "elu":
        return ctx.op("Elu", [x], alpha=float(config["alpha"]))
    if name == "selu":
        return ctx.op("Selu", [x], alpha=SELU_ALPHA, gamma=SELU_SCALE)
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return ctx.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name == "silu":
        return ctx.op("Mul", [x, ctx.op("Sigmoid", [x])])
    if name == "gelu":
        return _gelu(ctx, x, config["approximate"])
    raise ctx.fail(f"activation {name!r} has no ONNX form")  # unreachable: check_activation above


def _clip(ctx, x, low, high):
    return ctx.op("Clip", [x, ctx.const(low, "clip_min"), ctx.const(high, "clip_max")])


def _relu(ctx, x, slope, max_value, threshold):
    if threshold == 0 and max_value is None:
        return ctx.op("Relu", [x]) if slope == 0 else ctx.op("LeakyRelu", [x], alpha=float(slope))
    if threshold == 0 and slope == 0:
        return _clip(ctx, x, 0.0, float(max_value))
    # general form: x > threshold -> min(x, max_value), else slope * (x - threshold)
    limit = ctx.const(threshold, "threshold")
    above = x if max_value is None else ctx.op("Min", [x, ctx.const(max_value, "max_value")])
    below = ctx.op("Mul", [ctx.op("Sub", [x, limit]), ctx.const(slope, "negative_slope")])
    return ctx.op("Where", [ctx.op("Greater", [x, limit]), above, below])


def _gelu(ctx, x, approximate):
    half = ctx.const(0.5, "half")
    one = ctx.const(1.0, "one")
    if approximate:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = ctx.op("Mul", [ctx.op("Mul", [x, x]), x])
        inner = ctx.op("Add", [x, ctx.op("Mul", [cube, ctx.const(0.044715, "gelu_c")])])
        t = ctx.op("Tanh", [ctx.op("Mul", [inner, ctx.const(math.sqrt(2 / math.pi), "sqrt_2_over_pi")])])
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        t = ctx.op("Erf", [ctx.op("Mul", [x, ctx.const(1 / math.sqrt(2), "inv_sqrt2")])])
    return ctx.op("Mul", [ctx.op("Mul", [x, half]), ctx.op("Add", [t, one])])
