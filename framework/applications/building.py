"""The steps every application constructor shares: the image input, the pooling of a headless
model, and the final model with its weights."""
from framework.applications import imagenet_utils, weights as weight_files
from framework.graph.tensor import SymbolicTensor
from framework.layers import GlobalAveragePooling2D, GlobalMaxPooling2D, Input, InputLayer
from framework.models import Model

POOLINGS = (None, "avg", "max")


def check_arguments(where, weights, include_top, classes, pooling):
    weight_files.check_weights_argument(weights, include_top, classes, where)
    if pooling not in POOLINGS:
        raise ValueError(f"{where}: pooling must be None, 'avg' or 'max'; received pooling={pooling!r}")


def image_input(input_tensor, input_shape, where):
    """``(tensor to build on, the model's inputs)``: a new ``Input`` of ``input_shape``, or ``input_tensor``
    (an ``Input`` or a tensor computed from ``Input``s, whose sources become the model's inputs)."""
    if input_tensor is None:
        tensor = Input(shape=input_shape)
        return tensor, tensor
    if not isinstance(input_tensor, SymbolicTensor):
        raise TypeError(f"{where}: input_tensor must be a symbolic tensor (the output of framework.Input or of "
                        f"layers called on one); received {type(input_tensor).__name__}")
    if tuple(input_tensor.shape[1:]) != tuple(input_shape) and len(input_tensor.shape) != 4:
        raise ValueError(f"{where}: input_tensor must be a batch of images (batch, rows, cols, channels); "
                         f"received shape {input_tensor.shape}")
    return input_tensor, source_inputs(input_tensor)


def source_inputs(tensor):
    """The ``Input`` tensors ``tensor`` is computed from, in first-found order."""
    found, seen, stack = [], set(), [tensor]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        node = current.node
        if node is None or isinstance(node.layer, InputLayer):
            found.append(current)
        else:
            stack.extend(reversed(node.inputs))
    return found[0] if len(found) == 1 else found


def input_shape_of(input_tensor, input_shape, default_size, min_size, include_top, weights, where):
    """Keras's input-shape rules; an ``input_tensor`` gives the shape when ``input_shape`` does not."""
    if input_shape is None and isinstance(input_tensor, SymbolicTensor) and len(input_tensor.shape) == 4:
        input_shape = tuple(input_tensor.shape[1:])
    return imagenet_utils.obtain_input_shape(input_shape, default_size, min_size, include_top, weights, where)


def pool(x, pooling, avg_name=None, max_name=None):
    """The global pooling of a headless model (``pooling='avg'`` / ``'max'``), or ``x`` unchanged."""
    if pooling == "avg":
        return GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=max_name)(x)
    return x


def finish(inputs, outputs, name, weights, record, where):
    """The functional model, with ``weights`` loaded (see ``weights.load_application_weights``)."""
    model = Model(inputs, outputs, name=name)
    return weight_files.load_application_weights(model, weights, record, where)
