"""MLP 784-512-256-10 training step (batch 128, Adam, float32) and single-sample predict.

Prints medians over repeated runs, and the same figures for PyTorch and Keras
when they are installed (optional; never a dependency). Run:
    python benchmarks/mlp.py [--steps 200]
"""
import argparse
import os
import statistics
import time

import numpy as np


def median_ms(fn, repeats, inner=1):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times) * 1e3


def ours(x, y, steps):
    import framework as fw
    from framework.layers import Dense
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((784,)), Dense(512, activation="relu"), Dense(256, activation="relu"),
                           Dense(10, activation="softmax")])
    model.compile(fw.optimizers.Adam(), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    plan = model._plan("train", len(x))
    sources = model._sources(*model._prepare(x, y)[:2])
    model._load_batch(plan, sources, None, 0)
    for _ in range(10):
        plan.train_step()
    step = median_ms(plan.train_step, steps)
    fit_step = median_ms(lambda: model.train_on_batch(x, y), steps // 2)
    print_phases(plan, steps)
    one = x[:1]
    model.predict(one, verbose=0)
    predict = median_ms(lambda: model.predict(one, verbose=0), 50, inner=20)
    call = median_ms(lambda: model(one), 50, inner=20)
    return {"train step (plan)": step, "train_on_batch": fit_step, "predict 1 sample": predict,
            "model(x) 1 sample": call}


def print_phases(plan, steps):
    """Where a training step's time goes: BLAS matrix products vs Numba kernels vs the optimizer."""
    phases = {"matmul (BLAS)": [], "kernels (Numba)": []}
    for step in plan.forward + plan.backward:
        kind = "matmul (BLAS)" if getattr(step, "__qualname__", "").startswith("matmul_step") else "kernels (Numba)"
        phases[kind].append(step)
    loss_steps = [s for s in plan.loss_steps if s is not None]
    figures = {name: sum(median_ms(s, steps) for s in group) for name, group in phases.items()}
    figures["loss (Numba)"] = sum(median_ms(s, steps) for s in loss_steps)
    figures["optimizer (Numba)"] = median_ms(plan.optimizer_step, steps)
    total = sum(figures.values())
    print("framework  step phases (each step timed alone, medians): " +
          ", ".join(f"{k} {v:.3f} ms ({v / total:.0%})" for k, v in figures.items()))


def torch_figures(x, y, steps):
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss_fn(net(tx), ty).backward()
        opt.step()
    for _ in range(10):
        step()
    one = tx[:1]

    def predict():
        with torch.no_grad():
            net(one).numpy()
    return {"train step (plan)": median_ms(step, steps), "predict 1 sample": median_ms(predict, 50, inner=20)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    y = rng.integers(0, 10, 128)
    print(f"machine: {os.cpu_count()} cores; OMP/OPENBLAS threads: "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}/{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    rows = {"framework": ours(x, y, args.steps)}
    try:
        rows["pytorch"] = torch_figures(x, y, args.steps)
    except ImportError:
        print("pytorch: not installed (optional)")
    for name, figures in rows.items():
        for what, ms in figures.items():
            print(f"{name:10s} {what:20s} {ms * 1e3:9.1f} us" if ms < 1 else f"{name:10s} {what:20s} {ms:9.3f} ms")
    if "pytorch" in rows:
        ratio = rows["pytorch"]["train step (plan)"] / rows["framework"]["train step (plan)"]
        print(f"train step speed-up over pytorch: {ratio:.2f}x")


if __name__ == "__main__":
    main()
