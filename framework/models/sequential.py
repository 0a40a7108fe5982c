"""Sequential: a plain stack of single-input, single-output layers."""
from framework.graph.tensor import SymbolicTensor
from framework.layers.core import Input, InputLayer
from framework.layers.layer import Layer
from framework.layers.serialization import MODELS
from framework.models.functional import Model
from framework.training.trainer import Trainer
from framework.utils.naming import unique_name


@MODELS.register("Sequential")
class Sequential(Model):
    """A linear stack of layers.

    The input shape comes from an ``Input``/``InputLayer`` added first, from
    ``input_shape=`` on the first layer, from ``build(input_shape)``, or from
    the first data the model sees.

    Args:
        layers: the layers to stack (an ``Input`` may come first).
        name: the model's name.
        trainable: whether the model's weights train.
    """

    def __init__(self, layers=None, name=None, trainable=True):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        Trainer.__init__(self)
        self._stack = []
        self._input_tensor = None
        self.inputs, self.outputs = [], []
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False

    def add(self, layer):
        """Append a layer (or set the input with an Input tensor / InputLayer)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._stack:
                raise ValueError(f"Sequential '{self.name}': an Input can only come first")
            self._input_tensor = layer.output
            self._rebuild()
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Only layers (or an Input) can be added to Sequential '{self.name}', "
                             f"received {layer!r} of type {type(layer).__name__}")
        self._stack.append(layer)
        if self.built and self.outputs:
            output = layer(self.outputs[0])
            if not isinstance(output, SymbolicTensor):
                self._stack.pop()
                raise ValueError(f"Layer '{layer.name}' has several outputs; use the functional API")
            self._init_graph(self.inputs[0], output)
        else:
            self._rebuild()

    def pop(self):
        """Remove the last layer."""
        if not self._stack:
            raise IndexError(f"Sequential '{self.name}' has no layers to pop")
        layer = self._stack.pop()
        self._rebuild()
        return layer

    def _declared_shape(self):
        if self._input_tensor is not None:
            return self._input_tensor
        if self._stack and self._stack[0].declared_input_shape is not None:
            first = self._stack[0]
            return Input(first.declared_input_shape, batch_size=first.declared_batch_size,
                         dtype=first.dtype)
        return None

    def _rebuild(self):
        source = self._declared_shape()
        if source is None:
            self.built = False
            self.inputs, self.outputs = [], []
            return
        self._input_tensor = source
        x = source
        for layer in self._stack:
            x = layer(x)
        self._init_graph(source, x)

    def build(self, input_shape=None):
        """Build for ``input_shape`` (batch axis first, as in Keras)."""
        if input_shape is None:
            if not self.built:
                raise ValueError(f"Sequential '{self.name}' has no input shape yet; pass one to build()")
            return
        self._input_tensor = Input(batch_shape=(None,) + tuple(input_shape[1:]))
        self._rebuild()

    def build_from_data(self, arrays):
        sample = arrays[0]
        self.build_from_shape(sample.shape, sample.dtype.name)

    def build_from_shape(self, shape, dtype=None):
        """Build for samples of ``shape[1:]`` (first data seen, or first symbolic call)."""
        if not self.built:
            dtype = dtype if dtype is not None and str(dtype).startswith("float") else None
            self._input_tensor = Input(tuple(shape[1:]), dtype=dtype)
            self._rebuild()

    @property
    def layers(self):
        return list(self._stack)

