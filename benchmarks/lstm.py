"""LSTM(128) over 28 steps of 28 features, last state into Dense(10, softmax): training step, batch 128, Adam, float32.

Our model and, when installed, the same model in PyTorch and in Keras 3 on JAX and on TensorFlow
(optional; never dependencies) are timed side by side by benchmarks/harness.py:
alternating rounds, each in a fresh child process, medians. Before the rounds it
prints where our step's time goes: BLAS products, the fused recurrent cells, the rest. Run:
    python benchmarks/lstm.py [--rounds 6] [--steps 40]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import batch_size, keras_contenders, main, median_ms  # noqa: E402

STEPS, FEATURES, UNITS, CLASSES = 28, 28, 128, 10


def ours(x, y):
    import framework as fw
    from framework import layers
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((STEPS, FEATURES)), layers.LSTM(UNITS),
                           layers.Dense(CLASSES, activation="softmax")])
    model.compile(fw.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    plan = model.plan("train", len(x))
    return model, {"train step": plan.train_step, "train_on_batch": lambda: model.train_on_batch(x, y)}


def pytorch(x, y):
    import torch
    from torch import nn
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, UNITS, batch_first=True)
            self.head = nn.Linear(UNITS, CLASSES)

        def forward(self, inputs):
            _, (h, _) = self.lstm(inputs)
            return self.head(h[-1])

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss_fn(net(tx), ty).backward()
        opt.step()
    return {"train step": step}


def keras_model(x, y):
    """The same model in Keras 3 (on the backend benchmarks/harness.py sets)."""
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.LSTM(UNITS),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    return {"train step": lambda: model.train_on_batch(x, y)}


CONTENDERS = {"framework": lambda x, y: ours(x, y)[1], "pytorch": pytorch,
              **keras_contenders(keras_model)}


def data():
    rng, batch = np.random.default_rng(0), batch_size()
    return rng.random((batch, STEPS, FEATURES), dtype=np.float32), rng.integers(0, CLASSES, batch)


def _kind(step):
    name = getattr(step, "__qualname__", "")
    if name.startswith("matmul_step"):
        return "GEMM (BLAS)"
    if "cell_step" in name or "reset_step" in name:
        return "fused cells (Numba)"
    return "rest"


def measure_ours(x, y, count=60):
    """Each bound call of one training step timed alone (medians), grouped: GEMM, fused cells, rest."""
    model = ours(x, y)[0]
    plan = model.plan("train", len(x))
    figures = {}
    for phase, steps in (("forward", plan.forward), ("backward", plan.backward)):
        for step in steps:
            key = (_kind(step), phase)
            figures[key] = figures.get(key, 0.0) + median_ms(step, count)
    figures[("rest", "loss")] = sum(median_ms(s, count) for s in plan.loss_steps if s is not None)
    figures[("rest", "optimizer")] = median_ms(plan.optimizer_step, count)
    total = sum(figures.values())
    by_kind = {}
    for (kind, _), value in figures.items():
        by_kind[kind] = by_kind.get(kind, 0.0) + value
    print(f"split of our step (each bound call timed alone, medians; sum {total:.2f} ms, whole step "
          f"{median_ms(plan.train_step, count):.2f} ms): " +
          ", ".join(f"{k} {v:.2f} ms ({v / total:.0%})" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])))
    print("  detail: " + ", ".join(f"{kind} {phase} {v:.2f} ms" for (kind, phase), v in figures.items()))


if __name__ == "__main__":
    main(__file__, __doc__, CONTENDERS, data, measure_ours, child_counts=(40, 1))
