"""LSTM: the Long Short-Term Memory layer, one fused Numba cell per step (base in recurrent.py)."""
import numpy as np

from framework import initializers
from framework.kernels import recurrent as K
from framework.layers.recurrent import _Recurrent

__all__ = ["LSTM"]


class LSTM(_Recurrent):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997), Keras's formulation.

    Gates i, f, c, o in the kernel's columns: ``c_t = f * c_{t-1} + i * activation(z_c)``,
    ``h_t = o * activation(c_t)``, gates through ``recurrent_activation``.

    Args:
        units, activation='tanh', recurrent_activation='sigmoid', use_bias=True,
        kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',
        bias_initializer='zeros', unit_forget_bias=True (forget-gate bias starts at 1),
        *_regularizer, *_constraint, dropout, recurrent_dropout, seed, return_sequences,
        return_state (output, h, c), go_backwards, stateful (only False), unroll (ignored):
        as SimpleRNN and Keras.

    Call arguments: ``initial_state=[h, c]``, ``mask`` (batch, T), ``training``.
    """

    GATES = 4
    STATES = ("h", "c")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", zero_output_for_mask=False,
                 **kwargs):
        super().__init__(**kwargs)
        self._setup(locals())
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = initializers.get(self.bias_initializer), self.units

        def forget_bias_one(shape, dtype=None):
            return np.concatenate([base((units,), dtype=dtype), np.ones(units, dtype),
                                   base((2 * units,), dtype=dtype)])
        return forget_bias_one

    def _cells(self, run):
        if not hasattr(run, "cs"):
            run.cs = run.ctx.scratch("cs", run.hs.shape)
            run.act_c = run.ctx.scratch("act_c", (run.steps, run.batch, run.units))
        return run.cs, run.act_c

    def _extra_initial_slots(self, run):
        return [self._cells(run)[0][0]]

    def _final_states(self, run):
        return [run.hs[run.steps], self._cells(run)[0][run.steps]]

    def _extra_state_grads(self, run, d_states):
        run.dc = run.ctx.scratch("dc", (run.batch, run.units))
        return [(run.dc, d_states[1] if len(d_states) > 1 else None)]

    def _cell_forward(self, run, s):
        cs, act_c = self._cells(run)
        steps, rec = run.recurrent_product(s, run.recurrent_kernel, run.rec)
        gates, bias = run.gates[s], run.bias
        c_prev, c, ac, h_prev, h = cs[s], cs[s + 1], act_c[s], run.hs[s], run.hs[s + 1]
        mask, t, (act, rec_act), params = run.mask, run.time_index(s), run.codes, run.params

        def cell_step():
            K.lstm_forward_step(gates, rec, bias, c_prev, c, ac, h_prev, h, mask, t, act, rec_act, params)
        steps.append(cell_step)
        return steps

    def _cell_backward(self, run, s):
        cs, act_c = self._cells(run)
        steps = run.recurrent_grad(run.gates[s + 1] if s + 1 < run.steps else None, run.recurrent_kernel.T, s)
        gates, ac, c_prev, c, dc = run.gates[s], act_c[s], cs[s], cs[s + 1], run.dc
        dh_rec, carry, dy, db = run.dh_rec, run.carry, run.dy, run.d_bias
        mask, t, (act, rec_act), params = run.mask, run.time_index(s), run.codes, run.params

        def cell_step():
            K.lstm_backward_step(gates, ac, c_prev, c, dc, dh_rec, carry, dy, s, mask, t, db, act, rec_act,
                                 params)
        steps.append(cell_step)
        return steps

    def _initial_state_grads(self, run, d_inputs):
        steps = []
        if d_inputs[0] is not None:
            steps.extend(run.initial_h_grad(run.gates[0], run.recurrent_kernel.T, d_inputs[0]))
        if len(d_inputs) > 1 and d_inputs[1] is not None:
            dc, d_c0 = run.dc, d_inputs[1]
            steps.append(lambda: np.copyto(d_c0, dc))
        return steps

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (LSTM,)
