"""Activation layers folded into the epilogue of the Dense or convolution before them.

Keras code often writes an activation as a layer of its own: ``Conv2D(64, 3)`` then ``LeakyReLU(0.2)``
(the DCGAN of Keras's guide), ``Dense(512)`` then ``Activation("relu")``. Run as written, the activation
layer is one more pass over the layer's output forward and one more backward, over arrays the layer's
own epilogue (the bias add, done per chunk of rows while they are in cache) has just written.

``absorb_activations(input_keys, output_keys, entries, tensors, loss_keys)`` rewrites a flattened graph
(``framework.graph.flattening``) for a plan. An entry of an activation layer (exactly ``Activation``,
``ReLU``, ``LeakyReLU`` or ``ELU``, with an elementwise function: not softmax) joins the entry of the
layer whose output it reads when

- that layer is exactly a ``Dense``, ``Conv1D``, ``Conv2D``, ``Conv2DTranspose``, ``DepthwiseConv2D`` or
  ``SeparableConv2D`` (a subclass may compute otherwise) without an activation of its own;
- its output has that one use, is not a model output or a loss term, and neither tensor carries a mask;
- both come from the same traced layer and the same imposed training mode, with one dtype.

The joined entry writes the activation layer's output, and ``entry.activation`` tells the layer's
epilogue which function to apply (``StepContext.activation_of``): the layer runs what
``Dense(..., activation=...)`` runs, in the same kernels. The user's layers and nodes are untouched,
``entry.absorbed`` keeps the activation layer's entry so ``summary()`` still lists it, and
``FRAMEWORK_FUSE=0`` turns this off with the elementwise fusion (``framework.ops.fusion.MODE``).
"""
import dataclasses
from collections import Counter

from framework.activations import ActivationFunction
from framework.layers.activation_layers import ELU, LeakyReLU, ReLU
from framework.layers.conv import Conv1D, Conv2D
from framework.layers.conv2d_transpose import Conv2DTranspose
from framework.layers.core import Activation, Dense
from framework.layers.depthwise_conv import DepthwiseConv2D, SeparableConv2D
from framework.ops import fusion

#: layers whose forward and backward apply ``StepContext.activation_of(layer)`` in their epilogue
EPILOGUE_LAYERS = (Dense, Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D)
#: layers that only apply their ``activation``
ACTIVATION_LAYERS = (Activation, ReLU, LeakyReLU, ELU)


def absorb_activations(input_keys, output_keys, entries, tensors, loss_keys):
    """The flattened graph with each activation layer that can run in the epilogue before it folded in."""
    if fusion.MODE == "0":
        return input_keys, output_keys, entries, tensors, loss_keys
    uses = Counter(key for entry in entries for key in entry.in_keys)
    pinned = set(input_keys) | set(output_keys) | set(loss_keys)
    producer = {key: index for index, entry in enumerate(entries) for key in entry.out_keys}
    joined, folded = {}, set()
    for index, entry in enumerate(entries):
        function = _elementwise_activation(entry)
        if function is None or len(entry.in_keys) != 1:
            continue
        key, out_key = entry.in_keys[0], entry.out_keys[0]
        source = producer.get(key)
        if source is None or uses[key] != 1 or key in pinned:
            continue
        base = entries[source]
        if not _takes_activation(base) or base.traced_by is not entry.traced_by or base.training != entry.training:
            continue
        if _masked(tensors[key]) or _masked(tensors[out_key]) or tensors[key].dtype != tensors[out_key].dtype:
            continue
        joined[source] = dataclasses.replace(base, out_keys=[out_key], activation=function, absorbed=(entry,))
        folded.add(index)
    if not folded:
        return input_keys, output_keys, entries, tensors, loss_keys
    new_entries = [joined.get(index, entry) for index, entry in enumerate(entries) if index not in folded]
    return input_keys, output_keys, new_entries, tensors, loss_keys


def _elementwise_activation(entry):
    """The activation an activation layer's entry applies, when an epilogue kernel can apply it instead."""
    layer = entry.layer
    if type(layer) not in ACTIVATION_LAYERS or len(entry.out_keys) != 1:
        return None
    function = layer.activation
    return function if type(function) is ActivationFunction and function.kind is not None else None


def _takes_activation(entry):
    layer = entry.layer
    return (type(layer) in EPILOGUE_LAYERS and len(entry.out_keys) == 1 and entry.activation is None
            and type(layer.activation) is ActivationFunction and layer.activation.name == "linear")


def _masked(tensor):
    return getattr(tensor, "mask", None) is not None
