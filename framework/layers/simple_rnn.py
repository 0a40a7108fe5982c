"""SimpleRNN: the fully-connected recurrent layer, one fused Numba cell per step (base in recurrent.py)."""
from framework.kernels import recurrent as K
from framework.layers.recurrent import _Recurrent

__all__ = ["SimpleRNN"]


class SimpleRNN(_Recurrent):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: size of the state and output. activation: default 'tanh'.
        use_bias, kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',
        bias_initializer='zeros', *_regularizer, *_constraint: as in Keras.
        dropout, recurrent_dropout: fractions of the inputs / states dropped in training; one
            mask per batch for all steps (Keras's variational dropout).
        return_sequences: output every step (batch, T, units) instead of the last (batch, units).
        return_state: also return the final state. go_backwards: process the sequence reversed
            (the sequence output stays in processing order, as Keras).
        stateful: only False. unroll: ignored. seed: seed of the dropout masks.

    Call arguments: ``initial_state`` (a tensor or list of one), ``mask`` (batch, T), ``training``.
    """

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        self._setup(locals())

    def _cell_forward(self, run, s):
        steps, rec = run.recurrent_product(s, run.recurrent_kernel, run.rec)
        pre, bias, h_prev, h = run.gates[s], run.bias, run.hs[s], run.hs[s + 1]
        mask, t, act, params = run.mask, run.time_index(s), run.codes[0], run.params

        def cell_step():
            K.simple_forward_step(pre, rec, bias, h_prev, h, mask, t, act, params)
        steps.append(cell_step)
        return steps

    def _cell_backward(self, run, s):
        steps = run.recurrent_grad(run.gates[s + 1] if s + 1 < run.steps else None, run.recurrent_kernel.T, s)
        pre, h, dh_rec, carry, dy = run.gates[s], run.hs[s + 1], run.dh_rec, run.carry, run.dy
        mask, t, db, act, params = run.mask, run.time_index(s), run.d_bias, run.codes[0], run.params

        def cell_step():
            K.simple_backward_step(pre, h, dh_rec, carry, dy, s, mask, t, db, act, params)
        steps.append(cell_step)
        return steps


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (SimpleRNN,)
