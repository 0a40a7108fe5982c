"""Masks of layers written with ``call()``, as Keras gives them: ``call(inputs, mask=None)`` receives
the inputs' masks, and ``compute_mask(inputs, mask)`` (or ``supports_masking``) decides the outputs'.

When such a layer is traced, the masks its stand-in inputs carry become boolean tensors (``MaskOf``
nodes), a mask the caller gives (``layer(x, mask=m)``) becomes an extra input of the layer's node, and
each output whose mask ``compute_mask()`` returns is wrapped in a ``WithMask`` node that starts that
mask in the plan. Called on NumPy arrays, the same methods run on arrays, and the outputs carry
their mask as ``_keras_mask`` (``framework.keras_mask``).
"""
import numpy as np

from framework.graph.shapes import format_shape
from framework.graph.tensor import Mask, SymbolicTensor, apply_operator
from framework.keras_mask import keras_mask, with_keras_mask


def split_explicit_masks(layer, tensors, mask):
    """(data tensors, mask tensors or None) of a traced call given ``mask=``: a tensor, a list of one
    tensor per input, or (a call rebuilt from a config) the count of trailing inputs that are masks."""
    if mask is None:
        return tensors, None
    if isinstance(mask, int) and not isinstance(mask, bool):
        if not 0 < mask < len(tensors):
            raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): mask={mask} names more mask inputs "
                             f"than the {len(tensors)} tensors it was given")
        return tensors[:-mask], tensors[-mask:]
    masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
    if not all(isinstance(m, SymbolicTensor) for m in masks) or len(masks) not in (1, len(tensors)):
        raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}): mask= on symbolic inputs must be a "
                        f"symbolic (batch, steps) tensor, or a list of one per input ({len(tensors)}); received "
                        f"{_describe(mask)}")
    return tensors, masks


def masks_for_call(stand_ins, mask_stand_ins):
    """The mask of each input as a tensor (or None): the caller's, else the one the input carries."""
    if mask_stand_ins is not None:
        return list(mask_stand_ins) + [None] * (len(stand_ins) - len(mask_stand_ins))
    return [t.keras_mask for t in stand_ins]


def decides_masks(layer):
    """Whether a traced layer's ``compute_mask`` sets its outputs' masks (overridden, or
    ``supports_masking``); otherwise outputs keep the masks the layers inside ``call()`` gave them."""
    return overrides_compute_mask(layer) or bool(layer.supports_masking)


def overrides_compute_mask(layer):
    return not getattr(type(layer).compute_mask, "is_default", False)


def traced_outputs_with_masks(layer, stand_ins, masks, several, outputs):
    """``outputs`` of a traced call, each wrapped in ``WithMask`` where ``compute_mask`` gives it a mask."""
    if not decides_masks(layer):
        return outputs
    overridden = overrides_compute_mask(layer)
    if not overridden and masks[0] is None:
        return outputs
    result = layer.compute_mask(stand_ins if several else stand_ins[0], masks if several else masks[0]) \
        if overridden else masks[0]
    per_output = list(result) if isinstance(result, (list, tuple)) else [result] * len(outputs)
    if len(per_output) != len(outputs):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): compute_mask() returned "
                         f"{len(per_output)} masks for {len(outputs)} outputs")
    wrapped = []
    for output, mask in zip(outputs, per_output):
        if mask is None:
            wrapped.append(output)
        elif not isinstance(mask, SymbolicTensor):
            raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}): compute_mask() returned "
                            f"{type(mask).__name__}; return a mask computed from its inputs with framework.ops "
                            "(a (batch, steps) tensor), or None")
        elif not overridden and not _fits(output, mask):
            wrapped.append(output)  # supports_masking on an output without the input's steps: no mask
        else:
            wrapped.append(apply_operator("with_mask", output, mask))
    return wrapped


def _fits(output, mask):
    return len(output.shape) >= 2 and output.shape[1] == mask.shape[1]


def array_outputs_with_masks(layer, arrays, masks, outputs, traced):
    """Outputs of a layer called on arrays, carrying the masks it gives them (``_keras_mask``).

    ``masks`` has one entry (an array or None) per input array. A traced layer decides by
    ``compute_mask``; a built-in one by ``compute_output_masks``: an output passing an input's mask on
    carries that array, an output starting a mask carries ``compute_mask(inputs)``.
    """
    several = len(arrays) > 1
    count = len(outputs) if isinstance(outputs, (list, tuple)) else 1
    if traced:
        if not decides_masks(layer) or (not overrides_compute_mask(layer) and masks[0] is None):
            return outputs
        result = layer.compute_mask(arrays if several else arrays[0], masks if several else masks[0]) \
            if overrides_compute_mask(layer) else masks[0]
        per_output = list(result) if isinstance(result, (list, tuple)) else [result] * count
    else:
        markers = [Mask((None, None)) if m is not None else None for m in masks]
        decided = layer.compute_output_masks(markers)
        decided = list(decided) if isinstance(decided, (list, tuple)) else [decided] * count
        started, per_output = None, []
        for marker in decided:
            passed = [m for m, k in zip(masks, markers) if k is not None and k is marker]
            if marker is None or passed:
                per_output.append(passed[0] if passed else None)
            else:
                if started is None:
                    started = layer.compute_mask(arrays if several else arrays[0], masks if several else masks[0])
                per_output.append(started)
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_attach(o, m) for o, m in zip(outputs, per_output))
    return _attach(outputs, per_output[0])


def _attach(array, mask):
    if mask is None or getattr(array, "ndim", 0) < 2 or tuple(array.shape[:2]) != tuple(mask.shape[:2]):
        return array
    return with_keras_mask(array, mask)


def masks_of_arrays(arrays, mask):
    """One mask (an array or None) per input array: the caller's ``mask=``, else what each carries."""
    if mask is None:
        return [keras_mask(a) for a in arrays]
    masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
    return [None if m is None else np.asarray(m) for m in masks] + [None] * (len(arrays) - len(masks))


def _describe(value):
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    if isinstance(value, SymbolicTensor):
        return f"tensor {format_shape(value.shape)}"
    return type(value).__name__
