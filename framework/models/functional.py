"""Functional models: a graph from Input tensors to output tensors.

``Model(inputs, outputs)`` accepts a tensor, a list or a dict (by name) on
either side. A model is itself a layer: called on symbolic tensors it becomes
one node of a larger graph, and the compiler inlines its layers.
"""
import numpy as np

from framework.graph.flattening import flatten_model
from framework.graph.node import topological_order
from framework.graph.shapes import format_shape, sample_shapes_match
from framework.graph.tensor import SymbolicTensor
from framework import backend
from framework.layers import added_losses
from framework.layers.core import Input, InputLayer
from framework.layers.layer import Layer, unique_by_identity
from framework.config.registry import custom_object_scope
from framework.layers.serialization import MODELS
from framework.models.summary import summary_text
from framework.saving import formats, model_config
from framework.training import tape
from framework.training.custom_steps import CustomSteps
from framework.training.trainer import Trainer
from framework.utils.naming import snake_case, unique_name


def _defines_call(cls):
    """A subclass of Model that defines ``call()`` (the Keras way of writing a model as a class)."""
    below = cls.__mro__[:cls.__mro__.index(Model)]
    return any("call" in vars(klass) for klass in below)


def _structure(value, what):
    """(kind, keys, flat list) of a tensor, list/tuple or dict of tensors."""
    if isinstance(value, SymbolicTensor):
        return "single", None, [value]
    if isinstance(value, dict):
        keys = list(value)
        return "dict", keys, [value[k] for k in keys]
    if isinstance(value, (list, tuple)):
        return "list", None, list(value)
    raise TypeError(f"Model {what} must be symbolic tensors (from framework.Input and layer calls), "
                    f"received {type(value).__name__}")


@MODELS.register("Functional")
class Model(CustomSteps, Trainer, Layer):
    """A model from ``inputs`` to ``outputs`` (tensors, lists or dicts of tensors).

    Args:
        inputs: tensor(s) returned by ``framework.Input``.
        outputs: tensor(s) computed from them by layer calls.
        name: the model's name.
    """

    has_graph = True

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        subclassed = inputs is None and outputs is None and (
            _defines_call(type(self)) or any(self.overrides_step(step) for step in ("train_step", "test_step")))
        if not subclassed and (inputs is None or outputs is None):
            raise TypeError("Model needs inputs and outputs: Model(inputs, outputs), or a subclass that "
                            "defines call() (or train_step, for a model of models such as a GAN)")
        default = snake_case(type(self).__name__) if subclassed else "functional"
        Layer.__init__(self, name=name or unique_name(default), trainable=trainable, **kwargs)
        Trainer.__init__(self)
        if subclassed:  # the graph is traced from call() when the first data or input shape arrives
            self.inputs, self.outputs, self._graph_layers, self.loss_tensors = [], [], [], []
        else:
            self._init_graph(inputs, outputs)
        if not trainable:
            self.trainable = False

    def build_from_data(self, arrays):
        """A subclassed model: trace ``call()`` on inputs shaped like the first data seen."""
        self._trace(arrays)

    def build_from_shape(self, shape, dtype=None):
        self._trace([np.empty((0,) + tuple(shape[1:]), dtype=dtype or backend.floatx())])

    def build(self, input_shape=None):
        """Build a subclassed model for ``input_shape`` (batch axis first, as in Keras)."""
        if input_shape is not None and not self.built:
            self.build_from_shape(tuple(input_shape))

    def _trace(self, arrays):
        if self.built or not _defines_call(type(self)):
            raise ValueError(f"Model '{self.name}' is not built")
        inputs = [Input(tuple(a.shape[1:]), dtype=a.dtype.name if a.dtype.kind == "f" else None) for a in arrays]
        given = inputs if len(inputs) > 1 else inputs[0]
        with added_losses.collecting(self) as terms:
            outputs = self.call(given)
        self._init_graph(given, outputs, terms)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """As in Keras 3, the flag reaches every layer inside (and their inference behaviour:
        a frozen BatchNormalization normalizes with its moving statistics)."""
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    def _sublayers(self):
        try:
            return self.layers
        except AttributeError:  # during construction, before the graph or stack exists
            return []

    def _init_graph(self, inputs, outputs, loss_tensors=()):
        self._input_kind, self._input_keys, self.inputs = _structure(inputs, "inputs")
        self._output_kind, self._output_keys, self.outputs = _structure(outputs, "outputs")
        for t in self.inputs + self.outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"Model inputs and outputs must be symbolic tensors, received {type(t).__name__}")
        for t in self.outputs:
            if not t.batched:
                raise ValueError(f"Model output '{t.name}' {format_shape(t.shape)} is a statistic over the batch; "
                                 "a model's outputs keep the batch axis (give such a value to add_loss())")
        self.loss_tensors = list(loss_tensors)
        self._update_tensors = list(getattr(loss_tensors, "updates", ()))  # a traced call()'s variable updates
        self._connect()

    def add_loss(self, loss):
        """A loss term: a tensor of this model's graph (``model.add_loss(ops.mean(x))``, as Keras's
        functional API allows), or inside ``call()`` / on arrays as any layer's ``add_loss``."""
        if isinstance(loss, SymbolicTensor) and not added_losses.tracing() and self.built:
            self.loss_tensors.append(loss)
            self._connect()
            self._specs = None
            return
        Layer.add_loss(self, loss)

    def _connect(self):
        """The graph's nodes, layers and input facts, from inputs, outputs and loss terms."""
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model inputs must come from framework.Input; '{t.node.layer.name}' "
                                 f"is a {type(t.node.layer).__name__} output")
        nodes = topological_order(self.outputs + self.loss_tensors + getattr(self, "_update_tensors", []))
        given = {id(t.node) for t in self.inputs}
        for node in nodes:
            for t in node.inputs:
                if isinstance(t.node.layer, InputLayer) and id(t.node) not in given:
                    raise ValueError(
                        f"Graph disconnected: layer '{node.layer.name}' needs input '{t.node.layer.name}' "
                        f"{format_shape(t.shape)}, which is not among the model's inputs "
                        f"({', '.join(i.node.layer.name for i in self.inputs)})")
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        input_layers = [t.node.layer for t in self.inputs]
        seen, layers = set(), []
        for layer in input_layers + [n.layer for n in self._nodes]:
            if id(layer) not in seen and isinstance(layer, Layer):  # ops are nodes, not layers (as Keras)
                seen.add(id(layer))
                layers.append(layer)
        self._graph_layers = layers
        self.built = True
        self.input_spec_shape = [t.shape for t in self.inputs]
        tails = [tuple(t.shape[1:]) for t in self.inputs]
        self._single_input_tail = tails[0] if len(tails) == 1 and None not in tails[0] else None
        self._unknown_sizes = any(None in tail for tail in tails)  # plans are made per batch shape
        self._traced_output_shapes = {}
        self.plan_cache.clear()

    # ----- graph -------------------------------------------------------------------------
    def graph_nodes(self):
        """Nodes in execution order, Input nodes excluded."""
        try:
            return self._nodes
        except AttributeError:
            raise self._no_graph_error() from None

    def _no_graph_error(self):
        if _defines_call(type(self)):
            return ValueError(f"Model '{self.name}' has not been built yet: call it on data, fit it, or call "
                              "build(input_shape) first")
        # a model of models (a GAN, Keras's VAE): as in Keras, nothing says how to make it again from a file
        kept = ", ".join(f"self.{k}" for k, v in vars(self).items() if isinstance(v, Layer) and v is not self)
        return NotImplementedError(
            f"Model '{self.name}' ({type(self).__name__}) has no graph of its own: it defines no call(), so it "
            f"cannot be written as a config or a model file. Save the models it keeps ({kept or 'none'}) with "
            "their own save(), or all of its weights with save_weights() / load_weights() into a new "
            f"{type(self).__name__}")

    def flat_graph(self, input_shapes=None, training=False):
        """Every layer call, nested models and traced calls inlined, as the plan compiler takes them
        for a plan of that mode (``framework.graph.flattening.flatten_model``), with chains of
        elementwise ops fused into one entry each (``framework.ops.fusion``) and activation layers run in the
        epilogue of the Dense or convolution before them (``framework.ops.absorb_activations``);
        ``FRAMEWORK_FUSE=0`` turns both off."""
        from framework.ops.absorb_activations import absorb_activations  # models sit above ops: imported here
        from framework.ops.fusion import fuse_elementwise
        return fuse_elementwise(*absorb_activations(*flatten_model(self, input_shapes, training)))

    @property
    def input_structure(self):
        """('single' | 'list' | 'dict', the dict's keys or None): how the inputs were given."""
        return self._input_kind, self._input_keys

    @property
    def output_structure(self):
        """('single' | 'list' | 'dict', the dict's keys or None): how the outputs were given."""
        return self._output_kind, self._output_keys

    @property
    def layers(self):
        if not self._graph_layers and not _defines_call(type(self)):
            # a model of models with no call() (a GAN, Keras's VAE): as Keras 3, the layers in its attributes
            found = [v for v in vars(self).values() if isinstance(v, Layer) and v is not self]
            return unique_by_identity(found)
        return list(self._graph_layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r} in model '{self.name}'; layers: "
                         f"{', '.join(l.name for l in self.layers)}")

    @property
    def input_names(self):
        return [t.node.layer.name for t in self.inputs]

    @property
    def output_names(self):
        if self._output_kind == "dict":
            return list(self._output_keys)
        return [t.node.layer.name for t in self.outputs]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # ----- weights ---------------------------------------------------------------------------
    @property
    def weights(self):
        return unique_by_identity([w for layer in self.layers for w in layer.weights] + self._op_variables())

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return unique_by_identity([w for layer in self.layers for w in layer.trainable_weights]
                                  + [w for w in self._op_variables() if w.trainable])

    def _op_variables(self):
        """Variables that ops of the graph read directly (``ops.matmul(x, layer.kernel)`` written in a
        functional graph, as an input-gradient model is): the model trains them too."""
        return [w for node in getattr(self, "_nodes", ()) if not isinstance(node.layer, Layer)
                for w in node.layer.weights]

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    # ----- as a layer ------------------------------------------------------------------------
    def _check_input_count(self, inputs):
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"Model '{self.name}' is missing inputs {missing}; expected {self.input_names}")
            inputs = [inputs[n] for n in self.input_names]
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(tensors) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} input(s) "
                             f"({', '.join(self.input_names)}), received {len(tensors)}")
        return tensors

    def _call_symbolic(self, inputs, training=None, **kwargs):
        if not self.built and hasattr(self, "build_from_shape"):
            first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            self.build_from_shape(first.shape, first.dtype)
        tensors = self._check_input_count(inputs)
        for t, own in zip(tensors, self.inputs):
            if not sample_shapes_match(own.shape, t.shape):
                raise ValueError(self.shape_error(own.shape, t.shape) + f" for input '{own.node.layer.name}'")
        num_inputs = self.num_inputs
        self.num_inputs = len(tensors)
        try:
            return Layer._call_symbolic(self, tensors if len(tensors) > 1 else tensors[0], training=training)
        finally:
            self.num_inputs = num_inputs

    def check_input_shape(self, input_shape):
        pass

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _call_eager(self, inputs, training=False):
        if tape.recording_tapes():  # inside a GradientTape: the tape plan runs, and is recorded
            return tape.record_model_call(self, inputs, bool(training))
        self.__dict__.pop("_tape_losses", None)  # terms recorded by an earlier tape are not this call's
        return self.call_on_arrays(inputs, training=bool(training))

    # ----- config, files, summary -------------------------------------------------------------
    def get_config(self):
        """Topology and layer configs as plain data (see framework.saving.model_config)."""
        return model_config.model_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model a ``get_config()`` describes; ``custom_objects`` (name -> class or function) gives
        back the user's classes that were not registered, as Keras's argument does."""
        with custom_object_scope(custom_objects):
            return model_config.model_from_config(config, sequential=cls.__name__ == "Sequential" or None)

    def to_yaml(self):
        """The model config as YAML (``framework.models.model_from_yaml`` reads it back)."""
        return model_config.to_yaml(self)

    def to_json(self, **kwargs):
        return model_config.to_json(self, **kwargs)

    def save(self, filepath):
        """One file with config, weights, compile settings, optimizer state and training position
        (written to a temporary file, then renamed). ``.fw`` is the conventional extension; a ``.keras``
        name writes Keras 3's format when Keras can load the model (framework.saving.formats)."""
        formats.save_model(self, filepath)

    def save_weights(self, filepath):
        formats.save_weights(self, filepath)

    def load_weights(self, filepath):
        formats.load_weights(self, filepath)

    def export(self, filepath, format=None, verbose=True, input_signature=None, **kwargs):
        """Write the model for another runtime: ``format='onnx'`` (None: from a '.onnx' name); see
        ``framework.export.export_model`` and docs/interop.md."""
        from framework.export import export_model  # needs the optional onnx package only when called
        return export_model(self, filepath, format, verbose, input_signature, **kwargs)

    def summary(self, print_fn=None, line_length=None):
        (print_fn or print)(summary_text(self))
