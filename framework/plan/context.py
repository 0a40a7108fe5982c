"""StepContext: everything a layer's emitters may touch for one node in one plan.

Forward sees inputs, outputs, weights, ``training`` and scratch buffers.
Backward additionally sees ``d_outputs`` (gradients arriving), ``d_inputs``
(where to write input gradients; ``None`` where nothing upstream needs one)
and ``d_weights`` (``None`` for weights that are not trained). Masks: ``input_masks``
has one entry per input, None or a (batch, steps) buffer of 1.0/0.0 to read;
``output_masks`` has one per output, a buffer only where this node starts a
mask (its forward must fill it), else None. Layers always
*write* gradients; the compiler arranges accumulation at fan-outs and for
shared layers. ``scratch(key, ...)`` returns the same buffer to forward and
backward, which is how forward saves what backward needs; ``saved`` holds what
is not a buffer (views, a recurrent run's bookkeeping, an inner layer's
context), by the layer's own keys.
"""
import numpy as np


class StepContext:
    """The buffers and settings of one node in one plan, as its layer's emitters see them.

    Args:
        node: the graph node (``node.layer`` emits the steps).
        inputs: input buffers; ``outputs``: output buffers (None until the compiler allocates them).
        weights: the layer's weight arrays (views into the parameter arena).
        training: whether the plan runs in training mode.
        batch_size: the plan's batch size.
        dtype: the compute dtype.
        allocate: ``allocate(shape, dtype)`` for scratch buffers.
    """

    def __init__(self, node, inputs, outputs, weights, training, batch_size, dtype, allocate):
        self.node = node
        self.layer = node.layer
        self.inputs = inputs
        self.outputs = outputs
        self.weights = weights
        self.training = training
        self.batch_size = batch_size
        self.dtype = np.dtype(dtype)
        self.logits = None
        self.d_outputs = None
        self.d_inputs = None
        self.d_weights = None
        self.input_masks = [None] * len(inputs)
        self.output_masks = None
        self.saved = {}  # what forward keeps for backward that is not a buffer, by the layer's keys
        self.activation = None  # an activation layer's function the compiler folded into this node's epilogue
        self._allocate = allocate
        self._scratch = {}

    def scratch(self, key, shape, dtype=None):
        """A buffer private to this node, shared between its forward and backward. Taken while the plan
        is built: a step that asks for one when it runs could be handed a buffer that is in use."""
        if key not in self._scratch:
            if getattr(self, "sealed", False):
                raise RuntimeError(f"scratch '{key}' of layer '{self.layer.name}' asked for while a step runs; "
                                   "take scratch buffers when the step is bound")
            self._scratch[key] = self._allocate(tuple(shape), np.dtype(dtype or self.dtype))
        buf = self._scratch[key]
        if buf.shape != tuple(shape):
            raise ValueError(f"scratch '{key}' of layer '{self.layer.name}' requested with two shapes")
        return buf

    def scratch_buffers(self):
        return list(self._scratch.values())

    def activation_of(self, layer):
        """The activation this node's epilogue applies: one folded in from an activation layer after it
        (``framework.ops.absorb_activations``), else the layer's own."""
        return layer.activation if self.activation is None else self.activation

    @property
    def fused(self):
        """True when the loss took over this node's final activation (see Layer.fused_activation)."""
        return self.logits is not None

    # single-input, single-output shorthands
    @property
    def x(self):
        return self.inputs[0]

    @property
    def y(self):
        return self.outputs[0]

    @property
    def dx(self):
        return self.d_inputs[0]

    @property
    def dy(self):
        return self.d_outputs[0]
