"""MLP 784-512-256-10 training step (batch 128, Adam, float32) and single-sample predict.

Our model and, when installed, the same model in PyTorch and in Keras 3 on JAX
(optional; never dependencies) are timed by one script in alternating rounds, each round in a
fresh child process: noise on a shared machine hits both alike, and neither
framework's thread pool is left spinning against the other's (the trap in
docs/architecture.md). Figures are medians over all timed calls. Run:
    python benchmarks/mlp.py [--rounds 6] [--steps 40]
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def timed(fn, count):
    """Per-call times in seconds for ``count`` calls."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def ours(x, y):
    import framework as fw
    from framework.layers import Dense
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((784,)), Dense(512, activation="relu"), Dense(256, activation="relu"),
                           Dense(10, activation="softmax")])
    model.compile(fw.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    plan = model._plan("train", len(x))
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


def keras_jax(x, y):
    os.environ["KERAS_BACKEND"] = "jax"
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


CONTENDERS = {"framework": lambda x, y: ours(x, y)[1], "pytorch": pytorch, "keras-jax": keras_jax}
REQUIRES = {"pytorch": "torch", "keras-jax": "keras"}


def print_phases(plan, count):
    """Where a training step's time goes: BLAS matrix products vs Numba kernels vs the optimizer."""
    def med(fn):
        return statistics.median(timed(fn, count)) * 1e3
    matmul = [s for s in plan.forward + plan.backward if getattr(s, "__qualname__", "").startswith("matmul_step")]
    kernels = [s for s in plan.forward + plan.backward if s not in matmul]
    figures = {"matmul (BLAS)": sum(med(s) for s in matmul),
               "kernels (Numba)": sum(med(s) for s in kernels),
               "loss (Numba)": sum(med(s) for s in plan.loss_steps if s is not None),
               "optimizer (Numba)": med(plan.optimizer_step)}
    total = sum(figures.values())
    print("phases of our step (each call timed alone, medians): " +
          ", ".join(f"{k} {v:.3f} ms ({v / total:.0%})" for k, v in figures.items()))


def fmt(seconds):
    return f"{seconds * 1e3:8.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:8.1f} us"


def data():
    rng = np.random.default_rng(0)
    return rng.random((128, 784), dtype=np.float32), rng.integers(0, 10, 128)


def run_round(name, steps):
    """Child process: build one framework's model, time its calls, print JSON."""
    x, y = data()
    suite = CONTENDERS[name](x, y)
    for fn in suite.values():
        timed(fn, 5)
    result = {what: timed(fn, steps if "train" in what else steps * 20) for what, fn in suite.items()}
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=40, help="training steps per round")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_round(args.child, args.steps)
    print(f"machine: {os.cpu_count()} cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    x, y = data()
    model = ours(x, y)[0]
    print_phases(model._plan("train", len(x)), 200)
    names = ["framework"]
    for name, module in REQUIRES.items():
        if importlib.util.find_spec(module) is None:
            print(f"{name}: {module} not installed (optional)")
        else:
            names.append(name)
    times = {}
    for _ in range(args.rounds):
        for name in names:
            out = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(args.steps)],
                                 check=True, capture_output=True, text=True).stdout
            for what, values in json.loads(out.splitlines()[-1]).items():
                times.setdefault((name, what), []).extend(values)
    medians = {key: statistics.median(values) for key, values in times.items()}
    for (name, what), value in medians.items():
        print(f"{name:10s} {what:20s} {fmt(value)}")
    for other in names[1:]:
        for what in ("train step", "predict 1 sample"):
            ratio = medians[(other, what)] / medians[("framework", what)]
            print(f"{what}: framework is {ratio:.2f}x as fast as {other} (alternating rounds, medians)")


if __name__ == "__main__":
    main()
