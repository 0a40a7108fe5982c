"""Data-parallel training throughput: images/s of fit at 1 and 2 processes, the gradient all-reduce's time
per step, and the scaling efficiency (framework.distribute; docs/distributed.md).

Models: the MLP 784-512-256-10 (benchmarks/mlp.py) and the MNIST convnet (benchmarks/convnet.py), float32,
Adam, on random MNIST-shaped data (no download). Each configuration runs under
``mpirun -n N --bind-to core`` with one BLAS / Numba thread per process, so N processes use N cores.

Scaling is weak by default, as Horovod reports it: each process trains on ``--batch`` samples per step, so
the global batch grows with N; efficiency = images/s at N / (N x images/s at 1). ``--scaling strong`` keeps
the global batch at ``--batch`` instead. Run on a quiet machine:

    python benchmarks/distributed.py [--models mlp convnet] [--ranks 1 2] [--steps 40] [--batch 128] [--rounds 3]
                                     [--overlap off|on|both]

"allreduce ms" is the time per step spent in MPI's calls (waiting for the slower process included): with
the all-reduce after backward, one blocking call; overlapped, the calls that start and progress the slices
during backward plus the final wait.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

MODELS = ("mlp", "convnet")


def build(name):
    import framework as fw
    from framework import layers
    fw.utils.set_random_seed(0)
    if name == "mlp":
        model = fw.Sequential([fw.Input((784,)), layers.Dense(512, activation="relu"),
                               layers.Dense(256, activation="relu"), layers.Dense(10, activation="softmax")])
        shape = (784,)
    else:
        model = fw.Sequential([
            fw.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
        shape = (28, 28, 1)
    model.compile(fw.optimizers.Adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, shape


def worker(name, steps, global_batch, overlap):
    """One process of a run: a warm-up fit, then ``steps`` timed steps; rank 0 prints a JSON line."""
    from framework import distribute
    distribute.initialize(overlap=overlap)
    model, shape = build(name)
    rng = np.random.default_rng(0)
    samples = steps * global_batch
    x = rng.random((samples,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, samples)
    model.fit(x[:2 * global_batch], y[:2 * global_batch], batch_size=global_batch, epochs=1, verbose=0)  # compile
    before = distribute.statistics()
    start = time.perf_counter()
    model.fit(x, y, batch_size=global_batch, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    after = distribute.statistics()
    if distribute.rank() == 0:
        calls = after["calls"] - before["calls"]
        print(json.dumps({
            "model": name, "ranks": distribute.size(), "global_batch": global_batch, "steps": steps,
            "images_per_second": samples / seconds, "step_ms": 1e3 * seconds / steps,
            "allreduce_ms": 1e3 * (after["seconds"] - before["seconds"]) / calls if calls else 0.0,
            "gradient_mb": after["bytes"] / 2 ** 20, "parameters": model.count_params()}), flush=True)


def launch(name, ranks, steps, global_batch, overlap=False):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Open MPI refuses root unless told twice
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("mpirun not found: pip install '.[mpi]'")
    command = [mpirun, "-n", str(ranks), "--bind-to", "core", "--map-by", "core",
               sys.executable, os.path.abspath(__file__), "--worker", name, "--steps", str(steps),
               "--global-batch", str(global_batch)] + (["--overlapped"] if overlap else [])
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every configuration, alternating; medians")
    parser.add_argument("--batch", type=int, default=128, help="samples per process per step (weak scaling)")
    parser.add_argument("--scaling", choices=("weak", "strong"), default="weak")
    parser.add_argument("--overlap", choices=("off", "on", "both"), default="both",
                        help="the gradient all-reduce after backward (off), overlapped with it (on), or both")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--global-batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--overlapped", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.steps, args.global_batch, args.overlapped)
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.overlap]
    print(f"machine: {os.cpu_count()} cores; one BLAS/Numba thread per process, processes bound to cores; "
          f"{args.scaling} scaling, {args.batch} samples per {'process' if args.scaling == 'weak' else 'step'}; "
          f"medians of {args.rounds} alternating runs")
    print(f"{'model':8} {'ranks':>5} {'all-reduce':>10} {'batch':>6} {'images/s':>10} {'step ms':>9} "
          f"{'allreduce ms':>13} {'grad MB':>8} {'efficiency':>10}")
    for name in args.models:
        configurations = [(ranks, overlap) for ranks in args.ranks for overlap in (modes if ranks > 1 else [False])]
        runs = {c: [] for c in configurations}
        for _ in range(args.rounds):
            for ranks, overlap in configurations:
                batch = args.batch * ranks if args.scaling == "weak" else args.batch
                runs[(ranks, overlap)].append(launch(name, ranks, args.steps, batch, overlap))
        base = None
        for ranks, overlap in configurations:
            rows = runs[(ranks, overlap)]
            median = {key: float(np.median([row[key] for row in rows]))
                      for key in ("images_per_second", "step_ms", "allreduce_ms")}
            if base is None:
                base = median["images_per_second"] / ranks
            efficiency = median["images_per_second"] / (ranks * base)
            mode = "-" if ranks == 1 else ("overlapped" if overlap else "after")
            print(f"{name:8} {ranks:5d} {mode:>10} {rows[0]['global_batch']:6d} {median['images_per_second']:10.0f} "
                  f"{median['step_ms']:9.2f} {median['allreduce_ms']:13.3f} {rows[0]['gradient_mb']:8.2f} "
                  f"{efficiency:10.0%}", flush=True)

if __name__ == "__main__":
    main()
