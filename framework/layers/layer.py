"""The Layer base class: config, weights, shapes, and the two plan emitters.

A layer knows shapes, weights and config; kernels know only arrays. For the
compiler a layer provides ``forward(ctx)`` and ``backward(ctx)``, each
returning a list of zero-argument callables bound to buffers that the
compiler allocated once (see ``framework.plan.context.StepContext``).
"""
import functools
import inspect
import warnings

import numpy as np

from framework import backend, initializers, regularizers
from framework.graph.node import Node
from framework.graph.shapes import format_shape, sample_shapes_match
from framework.graph.subgraph import Subgraph, stand_in
from framework.graph.tensor import is_symbolic
from framework.layers import added_losses, eager, layer_masks
from framework.plan.memory import new_weight_value
from framework.variables import Variable
from framework.utils.naming import snake_case, unique_name


class Layer:
    """Base class of every layer.

    Args:
        name: unique name; derived from the class name when omitted.
        trainable: whether the layer's weights are updated by training.
        dtype: float dtype of weights and outputs; ``floatx()`` when omitted.
        input_shape: shape without the batch axis, on the first layer of a Sequential.
    """

    #: how many inputs the layer takes: 1, or None for a list of any length >= 2
    num_inputs = 1
    #: whether the layer passes a mask from its (first) input on to its outputs, as Keras's attribute
    supports_masking = False
    #: True for a model: a layer made of a graph of layer calls, which the compiler inlines
    has_graph = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in vars(cls):  # as Keras: a layer built by a direct build() call is not built again
            cls.build = _marks_built(vars(cls)["build"])

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, batch_size=None,
                 input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = None if dtype is None else backend.standardize_dtype(dtype).name
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        #: ``input_shape=`` / ``batch_size=`` as given: the input of a Sequential whose first layer this is
        self.declared_input_shape = None if input_shape is None else tuple(input_shape)
        self.declared_batch_size = batch_size
        self._trainable_weights = []
        self._non_trainable_weights = []
        self.inbound_nodes = []  # one Node per symbolic call (framework.graph.node)
        self.built = False
        self.input_spec_shape = None

    # ----- weights -------------------------------------------------------------------------
    def add_weight(self, name=None, shape=None, initializer=None, regularizer=None,
                   trainable=True, dtype=None, constraint=None):
        """Create a weight now (in ``__init__`` or ``build``) and track it.

        Keras's keyword form ``add_weight(shape=..., initializer=..., trainable=...)`` works as is,
        and so does a shape given first; the name defaults to 'variable', the initializer to
        'glorot_uniform'."""
        if isinstance(name, (tuple, list)) and shape is None:  # Keras 3's order: the shape comes first
            name, shape = None, name
        if shape is None:
            raise TypeError(f"Layer '{self.name}': add_weight() needs a shape")
        name = name or "variable"
        dtype = backend.standardize_dtype(dtype or self.dtype)
        value = new_weight_value(initializers.get(initializer or "glorot_uniform"), shape, dtype,
                                 f"Layer '{self.name}' ({type(self).__name__}): weight '{name}'")
        var = Variable(np.asarray(value, dtype=dtype), name, f"{self.name}/{name}",
                       trainable=trainable, regularizer=regularizers.get(regularizer),
                       constraint=constraint)
        (self._trainable_weights if trainable else self._non_trainable_weights).append(var)
        return var

    def __setattr__(self, name, value):
        """A variable kept in a public attribute (``self.w = backend.Variable(...)``) is one of the
        layer's weights, as Keras tracks it."""
        if isinstance(value, Variable) and not name.startswith("_") and "_trainable_weights" in self.__dict__:
            self._track(value)
        object.__setattr__(self, name, value)

    def _track(self, variable):
        own = self._trainable_weights + self._non_trainable_weights
        if any(variable is w for w in own):
            return
        if variable.path == variable.name:
            variable.path = f"{self.name}/{variable.name}"
        (self._trainable_weights if variable.trainable else self._non_trainable_weights).append(variable)

    @property
    def trainable_weights(self):
        """Nothing for a frozen layer (its inner layers' weights included, as Keras)."""
        if not self.trainable:
            return []
        if not self.traces_call():  # tracks no inner layers; its own weights are tracked once each
            return list(self._trainable_weights)
        inner = [w for layer in self.tracked_layers() for w in layer.trainable_weights]
        return unique_by_identity(list(self._trainable_weights) + inner)

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def weights(self):
        """All weights, trainable first, as Keras orders them (a traced layer's inner layers' included)."""
        own = list(self._trainable_weights) + list(self._non_trainable_weights)
        if not self.traces_call():  # tracks no inner layers; its own weights are tracked once each
            return own
        return unique_by_identity(own + [w for layer in self.tracked_layers() for w in layer.weights])

    def tracked_layers(self):
        """The layers a layer written with ``call()`` keeps in its public attributes (alone, or in
        lists, tuples and dicts), whose weights are its own too, as Keras tracks them. Built-in layers emit
        their own steps and track nothing."""
        if not self.traces_call():
            return []
        found = []
        for key, value in vars(self).items():
            if key.startswith("_"):  # the framework's own bookkeeping (the eager models cache among it)
                continue
            items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) \
                else [value]
            found += [item for item in items if isinstance(item, Layer) and item is not self]
        return unique_by_identity(found)

    @classmethod
    def traces_call(cls):
        """True for a layer written with ``call()`` (framework.ops and other layers), which is traced
        into the graph, rather than with the plan emitters ``forward``/``backward``."""
        return _traces_call(cls)

    # ----- loss terms ------------------------------------------------------------------------
    def add_loss(self, loss):
        """Add a loss term, as Keras's ``add_loss``: inside ``call()`` a tensor computed with ops (its
        sum joins the loss of ``fit`` and ``evaluate``, and its gradient flows); on arrays a value,
        kept in ``losses`` until the layer's next call."""
        added_losses.record(self, loss)

    @property
    def losses(self):
        """The loss values added in the last call on arrays (inner layers' included), then the
        penalties of the weights' regularizers."""
        return added_losses.losses_of(self)

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    @property
    def _inbound_nodes(self):
        """Keras's private name for ``inbound_nodes``."""
        return self.inbound_nodes

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"Layer '{self.name}' expects {len(own)} weight arrays "
                             f"({', '.join(w.path for w in own) or 'none'}), received {len(weights)}")
        for var, value in zip(own, weights):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"Layer '{self.name}' weight '{var.name}' has shape {var.shape}, "
                                 f"received an array of shape {value.shape}")
        for var, value in zip(own, weights):
            var.assign(value)

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ----- shapes ------------------------------------------------------------------------
    def build(self, input_shape):
        """Create weights for ``input_shape`` (batch axis included, as None)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def output_dtype(self, inputs):
        """The dtype of outputs: the layer's own, else a float input's, else floatx()."""
        if self.dtype is not None:
            return self.dtype
        first = inputs[0].dtype
        return first if first.startswith("float") else backend.floatx()

    def check_input_shape(self, input_shape):
        """Raise when an already built layer is applied to an incompatible shape."""
        expected = self.input_spec_shape
        if expected is None:
            return
        if isinstance(expected, list) or isinstance(input_shape, list):
            ok = isinstance(expected, list) and isinstance(input_shape, list) and len(expected) == len(input_shape) \
                and all(sample_shapes_match(e, r) for e, r in zip(expected, input_shape))
        else:
            ok = sample_shapes_match(expected, input_shape)
        if not ok:
            raise ValueError(self.shape_error(expected, input_shape))

    def shape_error(self, expected, received, what="input shape"):
        return (f"Layer '{self.name}' ({type(self).__name__}) expected {what} {format_shape(expected)}, "
                f"received {format_shape(received)}")

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_spec_shape = input_shape
        else:
            self.check_input_shape(input_shape)

    # ----- calling -------------------------------------------------------------------------
    def __call__(self, inputs, *more_inputs, **kwargs):
        if more_inputs and not self.traces_call():  # Keras's call(inputs, training=None, mask=None)
            kwargs = _training_and_mask_by_position(self, more_inputs, kwargs)
        elif more_inputs:  # call(self, a, b): several tensors given one by one, as Keras allows
            inputs = _Positional((inputs,) + more_inputs)
        if is_symbolic(inputs):
            return self._call_symbolic(inputs, **kwargs)
        if self.traces_call():
            return self._call_directly(inputs, **kwargs)
        return self._call_eager(inputs, **kwargs)

    def _call_directly(self, inputs, training=None, mask=None, **kwargs):
        """A layer written with ``call()`` on arrays runs ``call()`` on them (ops compute at once)."""
        several = isinstance(inputs, (list, tuple))
        arrays = [backend.cast_floats(np.asarray(a), self.dtype) for a in (inputs if several else [inputs])]
        shapes = [(None,) + a.shape[1:] for a in arrays]
        self._maybe_build(shapes if several else shapes[0])
        masks = layer_masks.masks_of_arrays(arrays, mask if mask is not None else
                                            layer_masks.keras_mask(inputs if several else [inputs]))
        parameters = inspect.signature(self.call).parameters
        if "training" in parameters:
            kwargs["training"] = training
        if "mask" in parameters:
            kwargs["mask"] = masks if several else masks[0]
        with added_losses.eager_call(self):
            if isinstance(inputs, _Positional):
                outputs = self.call(*arrays, **kwargs)
            else:
                outputs = self.call(type(inputs)(arrays) if several else arrays[0], **kwargs)
        return layer_masks.array_outputs_with_masks(self, arrays, masks, outputs, traced=True)

    def _call_symbolic(self, inputs, training=None, **kwargs):
        if self.traces_call():
            return self._trace_call(inputs, training, kwargs)
        if kwargs:
            raise TypeError(f"Layer '{self.name}' got unexpected call argument(s) {', '.join(sorted(kwargs))}")
        tensors = self._check_input_count(inputs)
        shapes = [t.shape for t in tensors]
        input_shape = shapes[0] if self.num_inputs == 1 else shapes
        self._maybe_build(input_shape)
        output_shape = self.compute_output_shape(input_shape)
        multi = isinstance(output_shape, list)
        call_kwargs = {} if training is None else {"training": bool(training)}
        function = getattr(getattr(self, "activation", None), "function", None)
        if function is not None and not multi:
            return self._call_then_function(tensors, output_shape, call_kwargs, function)
        node = Node(self, tensors, output_shape if multi else [output_shape], self.output_dtype(tensors), call_kwargs)
        attach_masks(self, node)
        return node.outputs if multi else node.outputs[0]

    def _call_then_function(self, tensors, output_shape, call_kwargs, function):
        """A built-in layer whose activation is a user's function: its kernels compute the
        pre-activation (a node on stand-ins), the function is traced after it, and the two form
        the subgraph of the layer's one node, so the gradient of the function is derived."""
        stand_ins = [stand_in(t) for t in tensors]
        inner = Node(self, stand_ins, [output_shape], self.output_dtype(tensors), call_kwargs)
        self.inbound_nodes.remove(inner)  # a step of this call, not a call of its own
        attach_masks(self, inner)
        with added_losses.collecting(self) as terms:
            result = function(inner.outputs[0])
        node = Node(self, tensors, [result.shape], result.dtype, call_kwargs)
        node.subgraphs = {None: Subgraph(self, stand_ins, [result], terms)}
        node.outputs[0].mask = result.mask
        return node.outputs[0]

    def _trace_call(self, inputs, training, kwargs):
        """Run ``call()`` on stand-ins of the inputs: the ops and layers it uses become this node's
        subgraph, and the output shapes are what ``call()`` computed. A ``call()`` that takes
        ``training`` and was not given it is traced twice, once per mode (``if training:`` branches
        are Python), and each plan takes the trace of its mode."""
        kwargs = dict(kwargs)
        tensors, given_masks = layer_masks.split_explicit_masks(
            self, list(inputs) if isinstance(inputs, (list, tuple)) else [inputs], kwargs.pop("mask", None))
        several = isinstance(inputs, (list, tuple)) and (given_masks is None or len(tensors) > 1)
        if isinstance(inputs, _Positional):
            inputs = _Positional(tensors)
        shapes = [t.shape for t in tensors]
        self._maybe_build(shapes if several else shapes[0])
        parameters = inspect.signature(self.call).parameters
        takes_training = "training" in parameters
        modes = [bool(training)] if training is not None else [False, True] if takes_training else [None]
        subgraphs, returned = {}, None
        for mode in modes:
            stand_ins = [stand_in(t) for t in tensors]
            mask_stand_ins = None if given_masks is None else [stand_in(m) for m in given_masks]
            uses_masks = "mask" in parameters or layer_masks.decides_masks(self)
            masks = layer_masks.masks_for_call(stand_ins, mask_stand_ins) if uses_masks else [None] * len(stand_ins)
            call_kwargs = dict(kwargs, training=mode) if takes_training else dict(kwargs)
            if "mask" in parameters:
                call_kwargs["mask"] = masks if several else masks[0]
            with added_losses.collecting(self) as terms:
                if isinstance(inputs, _Positional):
                    returned = self.call(*stand_ins, **call_kwargs)
                else:
                    returned = self.call(stand_ins if several else stand_ins[0], **call_kwargs)
                outputs = layer_masks.traced_outputs_with_masks(
                    self, stand_ins, masks, several,
                    list(returned) if isinstance(returned, (list, tuple)) else [returned])
            subgraphs[mode] = Subgraph(self, stand_ins + (mask_stand_ins or []), outputs, terms)
        outputs = subgraphs[modes[0]].outputs
        for mode in modes[1:]:
            if [t.shape for t in subgraphs[mode].outputs] != [t.shape for t in outputs]:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): call() returns "
                                 f"{format_shape([t.shape for t in outputs])} with training={modes[0]} but "
                                 f"{format_shape([t.shape for t in subgraphs[mode].outputs])} with training={mode}")
        call_kwargs = {} if training is None else {"training": bool(training)}
        if given_masks is not None:
            call_kwargs["mask"] = len(given_masks)
        node = Node(self, tensors + (given_masks or []), [t.shape for t in outputs], outputs[0].dtype, call_kwargs)
        node.subgraphs, node.positional = subgraphs, isinstance(inputs, _Positional)
        for tensor, traced in zip(node.outputs, outputs):
            tensor.dtype, tensor.mask = traced.dtype, traced.mask
        return node.outputs if isinstance(returned, (list, tuple)) else node.outputs[0]

    def _check_input_count(self, inputs):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if self.num_inputs == 1 and len(tensors) != 1:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects 1 input, "
                             f"received {len(tensors)}")
        if self.num_inputs is None and len(tensors) < 2:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects a list of at least "
                             f"2 inputs, received {len(tensors)}")
        if isinstance(self.num_inputs, int) and self.num_inputs > 1 and len(tensors) != self.num_inputs:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {self.num_inputs} "
                             f"inputs, received {len(tensors)}")
        return tensors

    def _call_eager(self, inputs, training=False):
        """Run the layer on NumPy arrays through a one-layer model's plan."""
        several = isinstance(inputs, (list, tuple))
        arrays = list(inputs) if several else [inputs]
        masks = layer_masks.masks_of_arrays(arrays, None)
        outputs = eager.call_on_arrays(self, arrays, lambda tensors: self(tensors if several else tensors[0]),
                                       training=training)
        if all(m is None for m in masks) and not self.supports_masking:
            return outputs
        return layer_masks.array_outputs_with_masks(self, arrays, masks, outputs, traced=False)

    # ----- the graph around the layer ----------------------------------------------------------
    @property
    def input(self):
        """The tensor(s) the layer was called on, when it was called once (a model: its inputs)."""
        return self._only_call("input")

    @property
    def output(self):
        """The tensor(s) the layer's one call returned (a model: its outputs), e.g. to build a
        feature extractor ``Model(model.inputs, model.get_layer('conv').output)``."""
        return self._only_call("output")

    def _only_call(self, what):
        if self.has_graph:
            tensors = self.inputs if what == "input" else self.outputs
        else:
            nodes = [n for n in self.inbound_nodes if what == "output" or n.inputs]
            if len(nodes) != 1:
                times = "never been called" if not nodes else f"been called {len(nodes)} times"
                hint = "call it on a tensor first" if not nodes else "use the tensors each call returned"
                raise AttributeError(f"Layer '{self.name}' has {times}, so it has no single {what}; {hint}")
            tensors = nodes[0].inputs if what == "input" else nodes[0].outputs
        return tensors[0] if len(tensors) == 1 else list(tensors)

    # ----- plan emitters ---------------------------------------------------------------------
    def forward(self, ctx):
        """Bound callables computing ctx.outputs from ctx.inputs and ctx.weights."""
        raise NotImplementedError(f"Layer {type(self).__name__} has no forward emitter")

    def backward(self, ctx):
        """Bound callables writing ctx.d_inputs (where not None) and ctx.d_weights."""
        raise NotImplementedError(f"Layer {type(self).__name__} has no backward emitter")

    def compute_output_masks(self, input_masks):
        """Which outputs of a built-in layer carry a mask, decided when the graph is built: a
        ``framework.graph.tensor.Mask`` or None from the inputs' masks.

        ``input_masks`` has one entry per input tensor. Return one entry, or a
        list with one per output. A layer that starts a mask returns a new
        ``Mask((None, steps))`` and writes it in forward into ``ctx.output_masks``.
        """
        return input_masks[0] if self.supports_masking else None

    def compute_mask(self, inputs, mask=None):
        """The mask of the output as Keras computes it: a boolean (batch, steps) tensor or array from
        the inputs and their mask. The default passes ``mask`` on; a custom layer overrides it to
        start or change a mask (its result, written with framework.ops, becomes the output's mask)."""
        return mask

    compute_mask.is_default = True  # how layer_masks tells an override (as Keras's utils.default)

    def output_views(self, ctx):
        """Layers whose outputs are views of their inputs return those views here; else None."""
        return None

    def fused_activation(self):
        """Name of a final activation ('softmax', 'sigmoid') the loss may fuse with, or None."""
        return None

    def flops(self, input_shape, output_shape):
        """Approximate floating point operations of one forward pass per sample."""
        return 0

    # ----- config ------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _training_and_mask_by_position(layer, values, kwargs):
    """``layer(x, training, mask)`` as Keras reads it for a built-in layer or a model."""
    kind = type(layer).__name__
    if len(values) > 2 or any(name in kwargs for name in ("training", "mask")[:len(values)]):
        raise TypeError(f"Layer '{layer.name}' ({kind}) takes (inputs, training=None, mask=None); received "
                        f"{1 + len(values)} positional arguments")
    training = values[0]
    if training is not None and not isinstance(training, (bool, np.bool_, int, np.integer)):
        # Keras hands such a value only to layers whose call() takes training; here it reads as inference
        warnings.warn(f"Layer '{layer.name}' ({kind}): training={type(training).__name__} is not a boolean; "
                      "running in inference mode", stacklevel=3)
        training = None
    kwargs = dict(kwargs, training=None if training is None else bool(training))
    if len(values) == 2 and values[1] is not None:
        raise TypeError(f"Layer '{layer.name}' ({kind}) takes no mask argument; a mask travels with the "
                        "tensor of a masking layer")
    return kwargs


class _Positional(tuple):
    """Inputs given to ``__call__`` one by one (``layer(a, b)``), which ``call()`` receives the same way."""


def unique_by_identity(items):
    """``items`` without repeats of the same object, in first-seen order (weights shared by layers)."""
    seen, out = set(), []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


def _marks_built(build):
    """A layer class's ``build`` that marks the layer built, however it is called: by the framework or by
    the user (Keras's ``layer.build(shape)`` before a call, which must not make its weights again), and
    records the shape it was built for, which later calls are checked against."""
    if getattr(build, "marks_built", False):
        return build

    @functools.wraps(build)
    def built_by(self, input_shape=None, *args, **kwargs):
        result = build(self, input_shape, *args, **kwargs)
        self.built = True
        if self.input_spec_shape is None and isinstance(input_shape, (tuple, list)):
            self.input_spec_shape = list(input_shape) if isinstance(input_shape, list) else tuple(input_shape)
        return result
    built_by.marks_built = True
    return built_by


@functools.lru_cache(maxsize=1024)
def _traces_call(cls):
    """A class below ``Layer`` defines ``call`` and no ``forward`` emitter (decided once per class)."""
    below = cls.__mro__[:cls.__mro__.index(Layer)]
    return any("call" in vars(klass) for klass in below) and cls.forward is Layer.forward and not cls.has_graph


def attach_masks(layer, node):
    """Set ``mask`` on a node's output tensors from ``layer.compute_output_masks``."""
    masks = layer.compute_output_masks([t.mask for t in node.inputs])
    if not isinstance(masks, (list, tuple)):
        masks = [masks] * len(node.outputs)
    for tensor, mask in zip(node.outputs, masks):
        tensor.mask = mask

