"""GRU: the Gated Recurrent Unit layer, fused Numba cells per step (base in recurrent.py)."""
from framework.kernels import recurrent as K
from framework.layers.recurrent import _Recurrent
from framework.plan.steps import matmul_step

__all__ = ["GRU"]


class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho et al., 2014), Keras's formulation. Gates z, r, h.

    ``h_t = z * h_{t-1} + (1 - z) * activation(x W_h + r * (h_{t-1} U_h + b_rec_h) + b_h)`` with
    ``reset_after=True`` (the default; bias of shape (2, 3*units): input and recurrent
    biases), or ``activation(x W_h + (r * h_{t-1}) U_h + b_h)`` with ``reset_after=False``
    (bias (3*units,)).

    Args: as LSTM, without unit_forget_bias, plus reset_after.
    Call arguments: ``initial_state`` (a tensor or list of one), ``mask`` (batch, T), ``training``.
    """

    GATES = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 reset_after=True, use_cudnn="auto", zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        self._setup(locals())
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _buffers(self, run):
        if not hasattr(run, "rh"):
            ctx, units = run.ctx, run.units
            run.rh = ctx.scratch("rh", (run.steps, run.batch, units))
            if self.reset_after:
                run.rec_grads = None
            else:
                run.rec_zr = ctx.scratch("rec_zr", (run.batch, 2 * units))
                run.rec_h = ctx.scratch("rec_h", (run.batch, units))
        return run.rh

    def _cell_forward(self, run, s):
        rh = self._buffers(run)
        gates, bias, h_prev, h = run.gates[s], run.bias, run.hs[s], run.hs[s + 1]
        mask, t, (act, rec_act), params = run.mask, run.time_index(s), run.codes, run.params
        u = run.recurrent_kernel
        if self.reset_after:
            steps, rec = run.recurrent_product(s, u, run.rec)

            def cell_step():
                K.gru_forward_step(gates, rec, bias, rh[s], h_prev, h, mask, t, act, rec_act, params)
            steps.append(cell_step)
            return steps
        units, h_prod = run.units, run.h_prod[s]
        steps, rec_zr = run.recurrent_product(s, u[:, :2 * units], run.rec_zr)

        def reset_step():
            K.gru_reset_forward_step(gates, rec_zr, bias, rh[s], h_prod, mask, t, act, rec_act, params)
        steps.append(reset_step)
        candidate_steps, rec_h = run.recurrent_product(s, u[:, 2 * units:], run.rec_h, h_in=rh[s])
        steps.extend(candidate_steps)

        def cell_step():
            K.gru_candidate_forward_step(gates, rec_h, bias, h_prev, h, mask, t, act, rec_act, params)
        steps.append(cell_step)
        return steps

    def _rec_grads(self, run):
        """reset_after: the recurrent-side gate gradients (T, B, 3 units)."""
        if getattr(run, "rec_grads", None) is None:
            run.rec_grads = run.ctx.scratch("rec_grads", run.gates.shape)
        return run.rec_grads

    def _cell_backward(self, run, s):
        rh = self._buffers(run)
        units, u = run.units, run.recurrent_kernel
        gates, h_prev = run.gates[s], run.hs[s]
        dh_rec, carry, dy, db = run.dh_rec, run.carry, run.dy, run.d_bias
        mask, t, (act, rec_act), params = run.mask, run.time_index(s), run.codes, run.params
        if self.reset_after:
            grads = self._rec_grads(run)
            steps = run.recurrent_grad(grads[s + 1] if s + 1 < run.steps else None, u.T, s)
            drec = grads[s]

            def cell_step():
                K.gru_backward_step(gates, drec, rh[s], h_prev, dh_rec, carry, dy, s, mask, t, db, act, rec_act,
                                    params)
            steps.append(cell_step)
            return steps
        nxt = run.gates[s + 1, :, :2 * units] if s + 1 < run.steps else None
        steps = run.recurrent_grad(nxt, u[:, :2 * units].T, s)
        drh = run.rec_h  # reused: d(r * h_prod) of this step
        h_prod, draws, rate = run.h_prod[s], run.rec_draws, run.rec_rate

        def cell_step():
            K.gru_candidate_backward_step(gates, h_prev, dh_rec, carry, dy, s, mask, t, act, rec_act, params)
        steps.append(cell_step)
        steps.append(matmul_step(gates[:, 2 * units:], u[:, 2 * units:].T, drh))

        def reset_step():
            K.gru_reset_backward_step(gates, drh, h_prod, carry, mask, t, db, act, rec_act, params, draws, rate)
        steps.append(reset_step)
        return steps

    def _product_gradients(self, run):
        if run.d_recurrent is None:
            return []
        h2d = run.weight_rows(run.h_prod.reshape(-1, run.units))
        if self.reset_after:
            grads = run.weight_rows(self._rec_grads(run).reshape(run.gates2d.shape))
            return [matmul_step(h2d.T, grads, run.d_recurrent)]
        units, du, gates2d = run.units, run.d_recurrent, run.weight_rows(run.gates2d)
        rh2d = run.weight_rows(run.rh.reshape(-1, units))
        return [matmul_step(h2d.T, gates2d[:, :2 * units], du[:, :2 * units]),
                matmul_step(rh2d.T, gates2d[:, 2 * units:], du[:, 2 * units:])]

    def _initial_state_grads(self, run, d_inputs):
        if d_inputs[0] is None:
            return []
        if self.reset_after:
            return run.initial_h_grad(self._rec_grads(run)[0], run.recurrent_kernel.T, d_inputs[0])
        units = run.units
        return run.initial_h_grad(run.gates[0, :, :2 * units], run.recurrent_kernel[:, :2 * units].T, d_inputs[0])

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


#: the layer classes this module registers (framework/layers/__init__.py)
LAYERS = (GRU,)
