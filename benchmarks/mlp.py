"""MLP 784-512-256-10 training step (batch 128, Adam, float32) and single-sample predict.

Our model and, when installed, the same model in PyTorch and in Keras 3 on JAX and on TensorFlow
(optional; never dependencies) are timed side by side by benchmarks/harness.py:
alternating rounds, each in a fresh child process, medians. Run:
    python benchmarks/mlp.py [--rounds 6] [--steps 40]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import keras_contenders, batch_size, main, print_layer_split  # noqa: E402


def ours(x, y):
    import framework as fw
    from framework.layers import Dense
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((784,)), Dense(512, activation="relu"), Dense(256, activation="relu"),
                           Dense(10, activation="softmax")])
    model.compile(fw.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    plan = model.plan("train", len(x))
    one = x[:1]
    model.predict(one, verbose=0)
    return model, {"train step": plan.train_step,
                   "train_on_batch": lambda: model.train_on_batch(x, y),
                   "predict 1 sample": lambda: model.predict(one, verbose=0),
                   "model(x) 1 sample": lambda: model(one)}


def pytorch(x, y):
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    one = tx[:1]

    def step():
        opt.zero_grad()
        loss_fn(net(tx), ty).backward()
        opt.step()

    def predict():
        with torch.no_grad():
            net(one).numpy()
    return {"train step": step, "predict 1 sample": predict}


def keras_model(x, y):
    """The same model in Keras 3 (on the backend benchmarks/harness.py sets)."""
    import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    one = x[:1]
    model.predict(one, verbose=0)
    return {"train step": lambda: model.train_on_batch(x, y),
            "predict 1 sample": lambda: model.predict(one, verbose=0),
            "model(x) 1 sample": lambda: np.asarray(model(one))}


CONTENDERS = {"framework": lambda x, y: ours(x, y)[1], "pytorch": pytorch,
              **keras_contenders(keras_model)}


def data():
    rng, batch = np.random.default_rng(0), batch_size()
    return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)


def measure_ours(x, y):
    model = ours(x, y)[0]
    print_layer_split(model.plan("train", len(x)), 200, lambda layer: "kernels (Numba)")


if __name__ == "__main__":
    main(__file__, __doc__, CONTENDERS, data, measure_ours)
