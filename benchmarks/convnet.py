"""MNIST convnet training step: Conv32-Pool-Conv64-Pool-Flatten-Dense128-Dense10, batch 128, Adam, float32.

Our model and, when installed, the same model in PyTorch and in Keras 3 on JAX and on TensorFlow
(optional; never dependencies) are timed side by side by benchmarks/harness.py:
alternating rounds, each in a fresh child process, medians. Before the rounds it
prints where our step's time goes: convolution kernels (im2col, col2im, bias + activation),
pooling, dense kernels, and GEMM (every BLAS product, the convolutions' included). Run:
    python benchmarks/convnet.py [--rounds 6] [--steps 20]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import batch_size, keras_contenders, main, print_layer_split  # noqa: E402


def ours(x, y):
    import framework as fw
    from framework import layers
    fw.utils.set_random_seed(0)
    model = fw.Sequential([
        fw.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(fw.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    plan = model.plan("train", len(x))
    return model, {"train step": plan.train_step, "train_on_batch": lambda: model.train_on_batch(x, y)}


def pytorch(x, y):
    import torch
    from torch import nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ty = torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss_fn(net(tx), ty).backward()
        opt.step()
    return {"train step": step}


def keras_model(x, y):
    """The same model in Keras 3 (on the backend benchmarks/harness.py sets)."""
    import keras
    from keras import layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    return {"train step": lambda: model.train_on_batch(x, y)}


CONTENDERS = {"framework": lambda x, y: ours(x, y)[1], "pytorch": pytorch,
              **keras_contenders(keras_model)}
GROUPS = {"Conv2D": "convolution kernels", "MaxPooling2D": "pooling", "Dense": "dense kernels",
          "Flatten": "reshape", "BatchNormalization": "normalization"}


def data():
    rng, batch = np.random.default_rng(0), batch_size()
    return rng.random((batch, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, batch)


def measure_ours(x, y):
    model = ours(x, y)[0]
    print_layer_split(model.plan("train", len(x)), 50,
                      lambda layer: GROUPS.get(type(layer).__name__, "other") if layer is not None else "other")


if __name__ == "__main__":
    main(__file__, __doc__, CONTENDERS, data, measure_ours, child_counts=(20, 1))
