"""Layer wrappers: TimeDistributed, Bidirectional.

A wrapper owns inner layers and emits their steps: it makes a StepContext for
each inner layer over views of its own buffers (and scratch taken from its own
context), so the inner layer's forward/backward run unchanged inside the plan.
Its weights are the inner layers' weights, in Keras's order.
"""
import numpy as np

from framework.graph.shapes import format_shape
from framework.kernels.elementwise import add_inplace, flat
from framework.kernels.wrappers import MODES, merge_directions, merge_directions_backward
from framework.layers.layer import Layer
from framework.layers.serialization import build_layer, layer_config
from framework.plan.context import StepContext


class _InnerNode:
    """What a StepContext needs of a node, for a layer run inside a wrapper."""

    def __init__(self, layer):
        self.layer = layer
        self.inputs, self.outputs, self.call_kwargs = [], [], {}


def _inner_allocator(ctx, prefix):
    """An allocate(shape, dtype) for an inner context: each buffer is scratch of the outer node,
    so predict plans release it with the wrapper's own scratch."""
    counter = [0]

    def allocate(shape, dtype=None, zero=False):
        counter[0] += 1
        buf = ctx.scratch((prefix, counter[0]), shape, dtype)
        if zero:
            buf.fill(0)
        return buf
    return allocate


def _view(array, shape):
    """A view of ``array`` with ``shape`` (never a silent copy)."""
    view = array.view()
    view.shape = tuple(shape)
    return view


class Wrapper(Layer):
    """Base of layers that wrap others: weights, trainability and config of the inner layers."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) wraps a layer instance; received "
                             f"{type(layer).__name__} {layer!r}")

    def _inner_layers(self):
        return []

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Setting it after construction freezes/unfreezes the inner layers too, as Keras."""
        self._trainable = bool(value)
        for layer in self._inner_layers():
            layer.trainable = value

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self._inner_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def weights(self):
        return [w for layer in self._inner_layers() for w in layer.weights]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights


class TimeDistributed(Wrapper):
    """Applies ``layer`` to every time step of a (batch, steps, ...) input.

    The input is viewed as (batch * steps, ...) and the inner layer's own steps run
    once over all of it, so TimeDistributed(Dense) costs one GEMM. The weights are the
    inner layer's. Masks pass through unchanged.

    Args:
        layer: a layer instance, applied to inputs of shape (batch, ...).
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.layer = layer

    def _inner_layers(self):
        return [self.layer] if "layer" in self.__dict__ else []

    def _child_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ValueError(f"Layer '{self.name}' (TimeDistributed) expected an input of rank >= 3 "
                             f"(batch, steps, ...), received shape {format_shape(input_shape)}")
        return (_merged(input_shape[0], input_shape[1]),) + tuple(input_shape[2:])

    def build(self, input_shape):
        self.layer._maybe_build(self._child_shape(input_shape))

    def check_input_shape(self, input_shape):
        self.layer.check_input_shape(self._child_shape(input_shape))

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        if isinstance(child, list):
            raise ValueError(f"Layer '{self.name}' (TimeDistributed): the wrapped layer '{self.layer.name}' "
                             "has several outputs; TimeDistributed supports one")
        return (input_shape[0], input_shape[1]) + tuple(child[1:])

    def output_dtype(self, inputs):
        return self.layer.output_dtype(inputs)

    def fused_activation(self):
        return self.layer.fused_activation()

    def flops(self, input_shape, output_shape):
        child_in = self._child_shape(input_shape)
        child_out = (child_in[0],) + tuple(output_shape[2:])
        return self.layer.flops(child_in, child_out) * int(input_shape[1])

    # ----- plan emitters ---------------------------------------------------------------------
    @staticmethod
    def _rows(array):
        """(batch * steps, ...) view of an outer (batch, steps, ...) buffer."""
        return _view(array, (array.shape[0] * array.shape[1],) + array.shape[2:])

    def _inner(self, ctx):
        inner = ctx.saved.get("time_distributed_inner")
        if inner is None:
            x = ctx.x
            inner = StepContext(_InnerNode(self.layer), [self._rows(x)], None, ctx.weights, ctx.training,
                                x.shape[0] * x.shape[1], ctx.dtype, _inner_allocator(ctx, "inner"))
            ctx.saved["time_distributed_inner"] = inner
        return inner

    def output_views(self, ctx):
        inner = self._inner(ctx)
        views = self.layer.output_views(inner)
        if views is None:
            return None
        inner.outputs = list(views)
        steps = ctx.x.shape[:2]
        return [_view(v, steps + v.shape[1:]) for v in views]

    def forward(self, ctx):
        inner = self._inner(ctx)
        inner.outputs = [self._rows(ctx.y)]
        if ctx.logits is not None:
            inner.logits = self._rows(ctx.logits)
        return list(self.layer.forward(inner))

    def backward(self, ctx):
        inner = self._inner(ctx)
        inner.d_outputs = [self._rows(ctx.dy)]
        inner.d_inputs = [None if ctx.dx is None else self._rows(ctx.dx)]
        inner.d_weights = list(ctx.d_weights)
        return list(self.layer.backward(inner))

    # ----- config ------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config["layer"] = layer_config(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = build_layer(config.pop("layer", None), f"{cls.__name__} config 'layer'")
        return cls(layer, **config)


def _merged(batch, steps):
    return None if batch is None or steps is None else batch * steps


_RECURRENT_ATTRIBUTES = ("go_backwards", "return_sequences", "return_state")


class Bidirectional(Wrapper):
    """Runs a recurrent layer forward and backward in time and merges the two outputs.

    The forward and backward layers are fresh copies of ``layer`` made from its config
    (named ``forward_<name>`` / ``backward_<name>``, the backward one with
    ``go_backwards`` flipped); weights are the forward layer's then the backward layer's.
    With ``return_sequences`` the backward output is put back in time order before
    merging, and masked steps of the merged sequence are zero.

    Args:
        layer: a recurrent layer (SimpleRNN, LSTM, GRU, or any layer with ``go_backwards``,
            ``return_sequences`` and ``return_state``).
        merge_mode: 'concat' (default), 'sum', 'mul', 'ave', or None (a list of both outputs).
        weights: optional list of initial weights (forward layer's, then backward layer's).
        backward_layer: optional layer for the backward direction (its ``go_backwards``
            must differ from ``layer``'s; ``return_sequences`` / ``return_state`` must match).
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(layer, **kwargs)
        if merge_mode not in MODES:
            raise ValueError(f"Layer '{self.name}' (Bidirectional): merge_mode must be one of 'concat', 'sum', "
                             f"'mul', 'ave' or None, received {merge_mode!r}")
        self._check_recurrent(layer, "layer")
        if backward_layer is not None:
            if not isinstance(backward_layer, Layer):
                raise ValueError(f"Layer '{self.name}' (Bidirectional): backward_layer must be a layer instance, "
                                 f"received {type(backward_layer).__name__}")
            self._check_recurrent(backward_layer, "backward_layer")
        self.merge_mode = merge_mode
        self.forward_layer = self._copy(layer, "forward", layer.go_backwards)
        self.backward_layer = (backward_layer if backward_layer is not None
                               else self._copy(layer, "backward", not layer.go_backwards))
        self._check_pair()
        for inner in (self.forward_layer, self.backward_layer):
            if hasattr(inner, "zero_output_for_mask"):
                inner.zero_output_for_mask = inner.return_sequences
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial_weights = None if weights is None else list(weights)

    def _inner_layers(self):
        return [self.__dict__[k] for k in ("forward_layer", "backward_layer") if k in self.__dict__]

    def _check_recurrent(self, layer, argument):
        missing = [a for a in _RECURRENT_ATTRIBUTES if not hasattr(layer, a)]
        if missing:
            raise ValueError(f"Layer '{self.name}' (Bidirectional): {argument} must be a recurrent layer (SimpleRNN, "
                             f"LSTM, GRU, or one with {', '.join(_RECURRENT_ATTRIBUTES)}); received "
                             f"{type(layer).__name__} '{layer.name}', which has no {', '.join(missing)}")

    def _copy(self, layer, direction, go_backwards):
        entry = layer_config(layer)
        config = entry["config"]
        base = layer.name[len(direction) + 1:] if layer.name.startswith(direction + "_") else layer.name
        config["name"] = f"{direction}_{base}"
        config["go_backwards"] = bool(go_backwards)
        return build_layer(entry, f"Layer '{self.name}' (Bidirectional) copying '{layer.name}'")

    def _check_pair(self):
        f, b = self.forward_layer, self.backward_layer
        if bool(f.go_backwards) == bool(b.go_backwards):
            raise ValueError(f"Layer '{self.name}' (Bidirectional): the forward and backward layers need different "
                             f"go_backwards, both have {f.go_backwards}")
        for a in ("return_sequences", "return_state"):
            if getattr(f, a) != getattr(b, a):
                raise ValueError(f"Layer '{self.name}' (Bidirectional): the forward and backward layers need the "
                                 f"same {a}; received {getattr(f, a)} and {getattr(b, a)}")

    # ----- shapes ------------------------------------------------------------------------
    def _check_rank(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ValueError(f"Layer '{self.name}' (Bidirectional) expected a sequence input of rank >= 3 "
                             f"(batch, steps, features), received shape {format_shape(input_shape)}")

    def build(self, input_shape):
        self._check_rank(input_shape)
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def check_input_shape(self, input_shape):
        self._check_rank(input_shape)
        self.forward_layer.check_input_shape(input_shape)
        self.backward_layer.check_input_shape(input_shape)

    def _direction_shapes(self, input_shape):
        """(main output shape, [state shapes]) of one direction."""
        shapes = self.forward_layer.compute_output_shape(input_shape)
        if isinstance(shapes, list):
            return tuple(shapes[0]), [tuple(s) for s in shapes[1:]]
        return tuple(shapes), []

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        output, states = self._direction_shapes(input_shape)
        if self.merge_mode == "concat":
            merged = [output[:-1] + (None if output[-1] is None else 2 * output[-1],)]
        elif self.merge_mode is None:
            merged = [output, output]
        else:
            merged = [output]
        shapes = merged + states + states
        return shapes if len(shapes) > 1 else shapes[0]

    def compute_output_masks(self, input_masks):
        mask = input_masks[0] if self.return_sequences else None
        outputs = [mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            outputs += [None] * (2 * len(self._direction_shapes(self.input_spec_shape)[1]))
        return outputs if len(outputs) > 1 else outputs[0]

    def flops(self, input_shape, output_shape):
        out, states = self._direction_shapes(input_shape)
        one = out if not states else [out] + states
        return self.forward_layer.flops(input_shape, one) + self.backward_layer.flops(input_shape, one)

    # ----- plan emitters ---------------------------------------------------------------------
    def _merged_count(self):
        return 2 if self.merge_mode is None else 1

    def _direction_context(self, ctx, layer, index):
        """A StepContext for one direction: its main output in scratch, its states written
        straight into this layer's state outputs."""
        nf = len(self.forward_layer.weights)
        weights = ctx.weights[:nf] if index == 0 else ctx.weights[nf:]
        output, states = self._direction_shapes(ctx.x.shape)
        prefix = ("forward", "backward")[index]
        first_state = self._merged_count() + index * len(states)
        outputs = [ctx.scratch(prefix + "_y", output)] + list(ctx.outputs[first_state:first_state + len(states)])
        inner = StepContext(_InnerNode(layer), [ctx.x], outputs, weights, ctx.training, ctx.batch_size, ctx.dtype,
                            _inner_allocator(ctx, prefix))
        inner.input_masks = list(ctx.input_masks)
        inner.output_masks = [None] * len(outputs)
        return inner

    @staticmethod
    def _merge_views(array):
        """3-D (batch, steps, units) view; a last-step output gets steps == 1."""
        return array if array.ndim == 3 else _view(array, (array.shape[0], 1, array.shape[-1]))

    def _mask(self, ctx):
        mask = ctx.input_masks[0] if self.return_sequences else None
        if mask is None:
            return np.ones((1, 1), dtype=ctx.dtype), False
        return mask, True

    def forward(self, ctx):
        ctx.saved["directions"] = [self._direction_context(ctx, layer, i)
                          for i, layer in enumerate((self.forward_layer, self.backward_layer))]
        steps = []
        for layer, inner in zip((self.forward_layer, self.backward_layer), ctx.saved["directions"]):
            steps.extend(layer.forward(inner))
        yf, yb = (self._merge_views(inner.outputs[0]) for inner in ctx.saved["directions"])
        out = self._merge_views(ctx.outputs[0])
        out2 = self._merge_views(ctx.outputs[1]) if self.merge_mode is None else out
        mask, masked = self._mask(ctx)
        reverse, mode = bool(self.return_sequences), MODES[self.merge_mode]

        def merge():
            merge_directions(yf, yb, reverse, mode, mask, masked, out, out2)
        steps.append(merge)
        return steps

    def backward(self, ctx):
        forward_ctx, backward_ctx = ctx.saved["directions"]
        nf = len(self.forward_layer.weights)
        n_states = len(forward_ctx.outputs) - 1
        first_state = self._merged_count()
        for index, inner in enumerate(ctx.saved["directions"]):
            start = first_state + index * n_states
            inner.d_outputs = [ctx.scratch(("forward", "backward")[index] + "_dy", inner.outputs[0].shape)]
            inner.d_outputs += list(ctx.d_outputs[start:start + n_states])
            inner.d_weights = list(ctx.d_weights[:nf] if index == 0 else ctx.d_weights[nf:])
        forward_ctx.d_inputs = [ctx.dx]
        backward_dx = None if ctx.dx is None else ctx.scratch("backward_dx", ctx.dx.shape)
        backward_ctx.d_inputs = [backward_dx]

        yf, yb = (self._merge_views(inner.outputs[0]) for inner in ctx.saved["directions"])
        dyf, dyb = (self._merge_views(inner.d_outputs[0]) for inner in ctx.saved["directions"])
        dy = self._merge_views(ctx.d_outputs[0])
        dy2 = self._merge_views(ctx.d_outputs[1]) if self.merge_mode is None else dy
        mask, masked = self._mask(ctx)
        reverse, mode = bool(self.return_sequences), MODES[self.merge_mode]

        def unmerge():
            merge_directions_backward(dy, dy2, yf, yb, reverse, mode, mask, masked, dyf, dyb)
        steps = [unmerge]
        steps.extend(self.forward_layer.backward(forward_ctx))
        steps.extend(self.backward_layer.backward(backward_ctx))
        if ctx.dx is not None:
            total, part = flat(ctx.dx), flat(backward_dx)
            steps.append(lambda: add_inplace(total, part))
        return steps

    # ----- config ------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({"merge_mode": self.merge_mode, "layer": layer_config(self.forward_layer),
                       "backward_layer": layer_config(self.backward_layer)})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        where = f"{cls.__name__} config"
        layer = build_layer(config.pop("layer", None), f"{where} 'layer'")
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = build_layer(backward, f"{where} 'backward_layer'")
        return cls(layer, backward_layer=backward, **config)


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (TimeDistributed, Bidirectional)
