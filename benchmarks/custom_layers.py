"""The MLP 784-512-256-10 written as custom layers with ops, beside our built-in Dense MLP, and the
same custom-layer code in Keras 3 (JAX) and PyTorch: one training step (Adam, float32, softmax
cross-entropy from logits) and a single-sample predict.

The custom layer is the Keras guide's ``Linear``: weights from ``add_weight`` in ``build``, ``call``
= ``matmul(x, w) + b`` then ``relu``. Each framework runs it as its users would write it (our
``framework.ops``, ``keras.ops``, ``torch`` tensors); all run in fresh child processes, alternating,
medians (benchmarks/harness.py). Run:
    python benchmarks/custom_layers.py [--batch 32] [--rounds 6] [--steps 40]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import batch_size, keras_contenders, main, print_layer_split  # noqa: E402



def _linear_class(base, ops):
    class Linear(base):
        def __init__(self, units, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.activation = units, activation

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            y = ops.matmul(inputs, self.w) + self.b
            return ops.relu(y) if self.activation == "relu" else y
    return Linear


def _ours(x, y, custom):
    import framework as fw
    from framework import layers, ops
    fw.utils.set_random_seed(0)
    dense = _linear_class(layers.Layer, ops) if custom else (lambda units, activation=None:
                                                               layers.Dense(units, activation=activation))
    model = fw.Sequential([fw.Input((784,)), dense(512, "relu"), dense(256, "relu"), dense(10)])
    model.compile(fw.optimizers.Adam(), fw.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(x, y)
    plan = model.plan("train", len(x))
    one = x[:1]
    model.predict(one, verbose=0)
    return model, {"train step": plan.train_step, "train_on_batch": lambda: model.train_on_batch(x, y),
                   "predict 1 sample": lambda: model.predict(one, verbose=0)}


def pytorch(x, y):
    import torch
    torch.manual_seed(0)

    class Linear(torch.nn.Module):
        def __init__(self, inputs, units, activation=None):
            super().__init__()
            self.w = torch.nn.Parameter(torch.nn.init.xavier_uniform_(torch.empty(inputs, units)))
            self.b = torch.nn.Parameter(torch.zeros(units))
            self.activation = activation

        def forward(self, inputs):
            out = torch.matmul(inputs, self.w) + self.b
            return torch.relu(out) if self.activation == "relu" else out

    net = torch.nn.Sequential(Linear(784, 512, "relu"), Linear(512, 256, "relu"), Linear(256, 10))
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
    """The same custom-layer code in Keras 3 (on the backend benchmarks/harness.py sets)."""
    import keras
    from keras import ops
    keras.utils.set_random_seed(0)
    linear = _linear_class(keras.layers.Layer, ops)
    model = keras.Sequential([keras.Input((784,)), linear(512, "relu"), linear(256, "relu"), linear(10)])
    model.compile(keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(x, y)
    one = x[:1]
    model.predict(one, verbose=0)
    return {"train step": lambda: model.train_on_batch(x, y),
            "predict 1 sample": lambda: model.predict(one, verbose=0)}


CONTENDERS = {"framework": lambda x, y: _ours(x, y, custom=True)[1],
              "framework-builtin": lambda x, y: _ours(x, y, custom=False)[1],
              "pytorch": pytorch, **keras_contenders(keras_model)}


def data():
    batch = batch_size()
    rng = np.random.default_rng(0)
    return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)


def measure_ours(x, y):
    print(f"batch {len(x)}")
    model = _ours(x, y, custom=True)[0]
    print_layer_split(model.plan("train", len(x)), 200,
                      lambda layer: "ops (custom layers)" if layer is not None and hasattr(layer, "reapply")
                      else "kernels (Numba)")


if __name__ == "__main__":
    main(__file__, __doc__, CONTENDERS, data, measure_ours)
