"""Plan: the bound steps of one (mode, batch size), and the loop that runs them.

Nothing is looked up, dispatched on type or allocated while a step runs: every
callable was bound to its buffers when the plan was compiled.
"""
import numpy as np


class Plan:
    """Buffers and bound steps for one mode ('train', 'eval', 'predict') and batch size."""

    def __init__(self, mode, batch_size, dtype):
        self.mode = mode
        self.batch_size = batch_size
        self.dtype = dtype
        self.inputs = []
        self.outputs = []
        self.targets = []
        self.sample_weights = []
        self.forward = []
        self.loss_steps = []
        self.backward = []
        self.forward_owners = []   # the layer that emitted each forward step (for profiling)
        self.backward_owners = []  # likewise for backward; None for the compiler's own steps
        self.penalties = []
        self.metric_steps = []
        self.optimizer_step = None
        self.constraint_steps = []
        self.describe = []
        self.snapshot = []
        self.nbytes = 0
        self.loss_values = []
        self.loss_weights = []

    def is_stale(self):
        """True when a weight moved to another arena since this plan was bound."""
        return any(var.version != version for var, version in self.snapshot)

    def run_forward(self):
        for step in self.forward:
            step()

    def run_losses(self):
        """Per-output loss values into ``loss_values``; returns their weighted total."""
        values = self.loss_values
        total = 0.0
        for i, step in enumerate(self.loss_steps):
            if step is not None:
                values[i] = step()
                total += self.loss_weights[i] * values[i]
        return total

    def train_step(self):
        """One optimization step on the batch already in the input/target buffers."""
        for step in self.forward:
            step()
        total = self.run_losses()
        for step in self.backward:
            step()
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
        for step in self.forward:
            step()
        total = self.run_losses()
        for update in self.metric_steps:
            update()
        return total
