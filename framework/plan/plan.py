"""Plan: the bound steps of one (mode, batch size), and the loop that runs them.

Nothing is looked up, dispatched on type or allocated while a step runs: every
callable was bound to its buffers when the plan was compiled.
"""
import threading

from framework.plan.buffers import LentArray
from framework.plan.steps import rows2d
from framework.plan.thread_policy import ThreadPolicy
from framework.variables import MOVES


class Plan:
    """Buffers and bound steps for one mode ('train', 'eval', 'predict') and batch size.

    Args:
        mode: 'train', 'eval' or 'predict'.
        batch_size: the number of samples every buffer holds.
        dtype: the compute dtype of the buffers (float32 or float64).
    """

    def __init__(self, mode, batch_size, dtype):
        self.mode = mode
        self.batch_size = batch_size
        self.dtype = dtype
        # buffers the loop fills and reads, one per model input / output
        self.inputs = []
        self.outputs = []
        self.targets = []
        self.sample_weights = []
        self.input_grads = []      # d(loss)/d(inputs) when compiled with input_gradients=True
        self.output_grads = []     # external_seeds: where the caller writes d(target)/d(outputs)
        self.term_grads = []       # external_seeds: d(target)/d(add_loss term), one buffer per term
        # (samples, features) views of those buffers, which the batch gather writes
        self.input_rows = []
        self.target_rows = []
        self.weight_rows = []
        # bound steps, in the order a step runs them
        self.forward = []
        self.loss_steps = []
        self.loss_terms = []       # add_loss terms: each returns its value, added to the total
        self.backward = []
        self.second_backward = None  # a backward writing the weights' gradients elsewhere (compile_plan)
        self.input_backward = None   # a backward of the inputs' gradients alone (compile_plan)...
        self.input_backward_grads = []  # ...and where it writes them
        self.forward_owners = []   # the layer that emitted each forward step (for profiling)
        self.backward_owners = []  # likewise for backward; None for the compiler's own steps
        self.penalties = []
        self.metric_steps = []
        self.optimizer_step = None
        self.gradient_reducer = None   # set by data-parallel training: runs backward, sums the gradients
        self.constraint_steps = []
        # what the plan can say of itself
        self.describe = []         # per layer call: layer, node, FLOPs (summary())
        self.snapshot = []         # (variable, version) pairs the steps were bound to
        self.moves_seen = -1       # MOVES when the snapshot was last found current
        self.thread_policy = ThreadPolicy()
        self.backward_policy = None   # a gradient tape's backward, run apart from the forward, measures its own
        self.copied = LentArray()  # a tape's last gradient copy (handed_gradients.copy_for_caller)
        self.lent = LentArray()    # the gradient run a tape lent last (handed_gradients.lend)
        self.nbytes = 0
        self.loss_values = []
        self.loss_weights = []
        self.lock = threading.Lock()   # held by the thread running the plan (PlanCache.checkout)

    def bind_row_views(self):
        """Make the (samples, features) views of the input, target and sample-weight buffers."""
        self.input_rows = [rows2d(b) for b in self.inputs]
        self.target_rows = [rows2d(b) for b in self.targets]
        self.weight_rows = [b.reshape(-1, 1) for b in self.sample_weights]

    def is_stale(self):
        """True when a weight moved to another arena since this plan was bound (its weights are looked at
        only when some variable moved since the last look)."""
        moves = MOVES[0]
        if moves == self.moves_seen:
            return False
        stale = any(var.version != version for var, version in self.snapshot)
        if not stale:
            self.moves_seen = moves
        return stale

    def run_forward(self):
        for step in self.forward:
            step()

    def measured_forward(self):
        """The forward alone, as a gradient tape's model call runs it, with the measured thread count."""
        self.thread_policy.run(self.run_forward)

    def measured_backward(self, steps):
        """The backward ``steps`` alone (``backward``, ``second_backward`` or ``input_backward``), as a gradient
        tape runs them after the forward (other work between them), with a thread count measured for the
        backward apart."""
        if self.backward_policy is None:
            self.backward_policy = ThreadPolicy()
        self.backward_policy.run(run_steps, steps)

    def run_losses(self):
        """Per-output loss values into ``loss_values``; returns their weighted total."""
        values = self.loss_values
        total = 0.0
        for i, step in enumerate(self.loss_steps):
            if step is not None:
                values[i] = step()
                total += self.loss_weights[i] * values[i]
        for term in self.loss_terms:
            total += term()
        return total

    def train_step(self):
        """One optimization step on the batch already in the input/target buffers (with the BLAS threads
        this plan measured to be faster: framework/plan/thread_policy.py)."""
        return self.thread_policy.run(self._train_step)

    def _train_step(self):
        for step in self.forward:
            step()
        total = self.run_losses()
        if self.gradient_reducer is None:
            for step in self.backward:
                step()
        else:  # data-parallel training: backward, with the gradients summed over the processes
            self.gradient_reducer.run_backward(self)
        for penalty in self.penalties:
            total += penalty()
        self.optimizer_step()
        for constrain in self.constraint_steps:
            constrain()
        for update in self.metric_steps:
            update()
        return total

    def eval_step(self):
        """Forward, losses and metric updates, no gradient (the trainer adds penalties once)."""
        return self.thread_policy.run(self._eval_step)

    def _eval_step(self):
        for step in self.forward:
            step()
        total = self.run_losses()
        for update in self.metric_steps:
            update()
        return total


def run_steps(steps):
    """Each of ``steps`` in order."""
    for step in steps:
        step()
