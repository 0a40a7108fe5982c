"""Keras's examples/demo_functional.py model in ``fit`` at Keras's default batch 32: Dense(512) x 8 with three
residual adds between a 100-feature input and a Dense(16) output, Adam, mean squared error, the demo's
metrics (CategoricalAccuracy, MeanSquaredError), float32.

Each timed call is one epoch of ``fit`` over 6,400 samples (200 steps at batch 32; ``--batch`` changes the
batch and so the step count); the rows report the epoch's time, and ms/step is that divided by the steps.
Ours and Keras 3 (JAX, TensorFlow) run ``model.fit`` as the demo does; PyTorch runs the same network
in a plain loop (forward, MSE, backward, Adam per batch, no metrics). Before the rounds it prints where
one of our training steps goes, and the BLAS floor: the step's matrix products timed alone. Run:
    python benchmarks/demo_functional.py [--rounds 3] [--steps 5] [--batch 32] [--busy 1]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import batch_size, keras_contenders, main, print_layer_split  # noqa: E402

SAMPLES = 6400


def _layers_of(layers, inputs):
    x = layers.Dense(512, activation="relu")(inputs)
    residual = x
    x = layers.Dense(512, activation="relu")(layers.Dense(512, activation="relu")(x))
    x = x + residual
    x = layers.Dense(512, activation="relu")(x)
    residual = x
    x = layers.Dense(512, activation="relu")(layers.Dense(512, activation="relu")(x))
    x = x + residual
    residual = x
    x = layers.Dense(512, activation="relu")(layers.Dense(512, activation="relu")(x))
    x = x + residual
    return layers.Dense(16)(x)


def ours(x, y):
    import framework as fw
    from framework import layers, losses, metrics, optimizers
    fw.utils.set_random_seed(0)
    inputs = layers.Input((100,))
    model = fw.Model(inputs, _layers_of(layers, inputs))
    model.compile(optimizer=optimizers.Adam(learning_rate=0.001), loss=losses.MeanSquaredError(),
                  metrics=[metrics.CategoricalAccuracy(name="acc"), metrics.MeanSquaredError(name="mse")])
    model.fit(x[:64], y[:64], batch_size=batch_size(), epochs=1, verbose=0)
    return model, {"fit epoch": lambda: model.fit(x, y, batch_size=batch_size(), epochs=1, verbose=0)}


def pytorch(x, y):
    import torch
    from torch import nn
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.ModuleList([nn.Linear(100, 512)] + [nn.Linear(512, 512) for _ in range(7)])
            self.out = nn.Linear(512, 16)

        def forward(self, h):
            relu = torch.relu
            h = relu(self.dense[0](h))
            h = relu(self.dense[2](relu(self.dense[1](h)))) + h
            h = relu(self.dense[3](h))
            h = relu(self.dense[5](relu(self.dense[4](h)))) + h
            h = relu(self.dense[7](relu(self.dense[6](h)))) + h
            return self.out(h)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    size = batch_size()

    def epoch():
        order = torch.randperm(len(tx))
        for start in range(0, len(tx), size):
            rows = order[start:start + size]
            opt.zero_grad()
            loss_fn(net(tx[rows]), ty[rows]).backward()
            opt.step()
    return {"fit epoch": epoch}


def keras_model(x, y):
    """The demo's model and compile in Keras 3 (on the backend benchmarks/harness.py sets)."""
    import keras
    from keras import layers, losses, metrics, optimizers
    keras.utils.set_random_seed(0)
    inputs = layers.Input((100,))
    model = keras.Model(inputs, _layers_of(layers, inputs))
    model.compile(optimizer=optimizers.Adam(learning_rate=0.001), loss=losses.MeanSquaredError(),
                  metrics=[metrics.CategoricalAccuracy(name="acc"), metrics.MeanSquaredError(name="mse")])
    model.fit(x[:64], y[:64], batch_size=batch_size(), epochs=1, verbose=0)
    return {"fit epoch": lambda: model.fit(x, y, batch_size=batch_size(), epochs=1, verbose=0)}


CONTENDERS = {"framework": lambda x, y: ours(x, y)[1], "pytorch": pytorch, **keras_contenders(keras_model)}


def data():
    rng = np.random.default_rng(0)
    return rng.random((SAMPLES, 100), dtype=np.float32), rng.random((SAMPLES, 16), dtype=np.float32)


def measure_ours(x, y):
    model = ours(x, y)[0]
    steps = -(-SAMPLES // batch_size())
    print(f"{steps} steps of batch {batch_size()} per epoch: divide an epoch's time by {steps} for ms/step")
    plan = model.plan("train", batch_size())
    print_layer_split(plan, 200, lambda layer: "kernels (Numba)")


if __name__ == "__main__":
    main(__file__, __doc__, CONTENDERS, data, measure_ours, child_counts=(5, 1), default_batch=32)
