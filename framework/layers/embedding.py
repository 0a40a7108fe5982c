"""Embedding and Masking: token lookup and the layers that start a mask.

A mask is a (batch, steps) buffer of 1.0/0.0 that the compiler allocates for
the node that starts it (``ctx.output_masks``); layers downstream read it from
``ctx.input_masks``. ``Embedding(mask_zero=True)`` marks steps whose token id is
not 0; ``Masking`` marks steps whose features are not all ``mask_value``.
"""
import numpy as np

from framework import constraints, initializers, regularizers
from framework.graph.tensor import Mask, apply_operator
from framework.kernels.elementwise import flat
from framework.kernels.embedding import (embedding_gather, embedding_scatter_add, masking_backward,
                                         masking_forward, nonzero_mask)
from framework.layers.layer import Layer

__all__ = ["Embedding", "Masking"]

def _positive_int(layer, what, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {what} must be a positive integer, "
                         f"received {value!r}")
    return int(value)


class Embedding(Layer):
    """Maps integer token ids to dense vectors: ``(batch, ...) -> (batch, ..., output_dim)``.

    Args:
        input_dim: vocabulary size; ids must lie in ``[0, input_dim)`` (checked every step).
        output_dim: size of each vector.
        embeddings_initializer: default 'uniform' (RandomUniform(-0.05, 0.05), as Keras).
        embeddings_regularizer, embeddings_constraint: as in Keras.
        mask_zero: when True, id 0 is padding: the output carries a mask that is 0.0
            where the id is 0 (inputs of shape (batch, steps) only).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, activity_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = _positive_int(self, "input_dim", input_dim)
        self.output_dim = _positive_int(self, "output_dim", output_dim)
        if activity_regularizer is not None:
            raise NotImplementedError(f"Layer '{self.name}': activity_regularizer is not supported yet")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)

    @property
    def supports_masking(self):
        return self.mask_zero

    def build(self, input_shape):
        self._check_ids_shape(input_shape)
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)

    def _check_ids_shape(self, input_shape):
        if self.mask_zero and len(input_shape) != 2:
            raise ValueError(self.shape_error((None, None), input_shape)
                             + " (mask_zero=True needs ids of shape (batch, steps))")

    def check_input_shape(self, input_shape):
        self._check_ids_shape(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_output_masks(self, input_masks):
        if not self.mask_zero:
            return None
        return Mask((None, self.input_spec_shape[1]))

    def compute_mask(self, inputs, mask=None):
        """The ids that are not 0 (boolean, the ids' shape) when ``mask_zero``, else None."""
        return apply_operator("not_equal", inputs, 0) if self.mask_zero else None

    def forward(self, ctx):
        ids, table, out = flat(ctx.x), ctx.weights[0], ctx.y.reshape(-1, self.output_dim)
        bad_id = self._bad_id_error

        def lookup():
            position = embedding_gather(ids, table, out)
            if position >= 0:
                raise bad_id(ctx.x, position)
        steps = [lookup]
        mask = ctx.output_masks[0] if ctx.output_masks else None
        if mask is not None:
            mask_flat = flat(mask)
            steps.append(lambda: nonzero_mask(ids, mask_flat))
        return steps

    def _bad_id_error(self, ids, position):
        where = np.unravel_index(position, ids.shape)
        value = ids.reshape(-1)[position]
        value = int(value) if float(value).is_integer() else float(value)
        return ValueError(f"Layer '{self.name}' (Embedding) received token id {value} at index "
                          f"{tuple(int(i) for i in where)} of its input batch; ids must lie in "
                          f"[0, {self.input_dim}) (input_dim={self.input_dim})")

    def backward(self, ctx):
        steps = []
        if ctx.d_weights[0] is not None:
            ids, dy, grad = flat(ctx.x), ctx.dy.reshape(-1, self.output_dim), ctx.d_weights[0]
            steps.append(lambda: embedding_scatter_add(ids, dy, grad))
        if ctx.dx is not None:  # ids are piecewise constant: their gradient is zero
            dx = ctx.dx
            steps.append(lambda: dx.fill(0))
        return steps

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim, "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        })
        return config


class Masking(Layer):
    """Skips time steps whose features all equal ``mask_value``: the output is the input with those
    steps zeroed, and it carries a mask that is 0.0 there. Input shape (batch, steps, features).

    Args:
        mask_value: the padding value (default 0.0).
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(self.shape_error((None, None, None), input_shape)
                             + " (Masking needs (batch, steps, features))")

    def build(self, input_shape):
        self.check_input_shape(input_shape)

    def compute_output_masks(self, input_masks):
        return Mask((None, self.input_spec_shape[1]))

    def compute_mask(self, inputs, mask=None):
        """The steps with any feature different from ``mask_value`` (boolean, (batch, steps))."""
        return apply_operator("any", apply_operator("not_equal", inputs, self.mask_value), axis=-1)

    def _keep(self, ctx):
        mask = ctx.output_masks[0] if ctx.output_masks else None
        return mask if mask is not None else ctx.scratch("keep", ctx.x.shape[:2])

    def forward(self, ctx):
        features = ctx.x.shape[-1]
        x, y = ctx.x.reshape(-1, features), ctx.y.reshape(-1, features)
        keep, value = flat(self._keep(ctx)), ctx.dtype.type(self.mask_value)
        return [lambda: masking_forward(x, value, y, keep)]

    def backward(self, ctx):
        if ctx.dx is None:
            return []
        features = ctx.x.shape[-1]
        dy, dx, keep = ctx.dy.reshape(-1, features), ctx.dx.reshape(-1, features), flat(self._keep(ctx))
        return [lambda: masking_backward(dy, keep, dx)]

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (Embedding, Masking)
