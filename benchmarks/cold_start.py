"""The first run after install: process start to the end of the MNIST convnet's first training step
(batch 128), with an empty Numba cache, beside Keras 3 on JAX (which compiles in every new process);
and the README's main command, ``framework train configs/digits_mlp.yaml``, cold.

Each measurement is a fresh child process timed from outside (its wall time, interpreter start
included). "cold" gives the child empty cache folders (``NUMBA_CACHE_DIR``, ``FRAMEWORK_CACHE_DIR``), as
on a machine right after ``pip install``; "warm" runs again on the caches the cold run filled. Rounds
alternate the contenders; medians. Run:
    python benchmarks/cold_start.py [--rounds 3] [--busy 0]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import busy_processes, machine_line  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONVNET = '''
import numpy as np
{imports}
model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                          layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                          layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
rng = np.random.default_rng(0)
model.fit(rng.random((128, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 128), batch_size=128, epochs=1, verbose=0)
'''
IMPORTS = {"framework": "import framework as keras\nfrom framework import layers",
           "keras-jax": "import os\nos.environ['KERAS_BACKEND'] = 'jax'\nimport keras\nfrom keras import layers"}


def _run(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def _cold_env(folder):
    for name in ("numba", "framework", "home"):
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        os.makedirs(os.path.join(folder, name))
    return dict(os.environ, NUMBA_CACHE_DIR=os.path.join(folder, "numba"),
                FRAMEWORK_CACHE_DIR=os.path.join(folder, "framework"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="other busy processes running during the rounds")
    args = parser.parse_args()
    print(machine_line() + f"; other busy processes: {args.busy}")
    have_keras = shutil.which(sys.executable) and _importable("keras") and _importable("jax")
    times = {}
    with tempfile.TemporaryDirectory(prefix="cold-start-") as folder, busy_processes(args.busy):
        for _ in range(args.rounds):
            env = _cold_env(folder)
            convnet = [sys.executable, "-c", CONVNET.format(imports=IMPORTS["framework"])]
            times.setdefault("convnet first step: framework cold", []).append(_run(convnet, env))
            times.setdefault("convnet first step: framework warm", []).append(_run(convnet, env))
            if have_keras:
                keras = [sys.executable, "-c", CONVNET.format(imports=IMPORTS["keras-jax"])]
                times.setdefault("convnet first step: keras-jax (every run)", []).append(_run(keras, env))
            env = _cold_env(folder)
            train = [sys.executable, "-m", "framework", "train", "configs/digits_mlp.yaml", "--output",
                     os.path.join(folder, "run"), "--overwrite", "--verbose", "0"]
            times.setdefault("README main command: framework cold", []).append(_run(train, env))
    for what, values in times.items():
        print(f"{what:45s} median {statistics.median(values):6.1f} s  (runs: {', '.join(f'{v:.1f}' for v in values)})")
    if have_keras:
        ratio = statistics.median(times["convnet first step: framework cold"]) / \
            statistics.median(times["convnet first step: keras-jax (every run)"])
        print(f"cold framework / keras-jax: {ratio:.2f}x the time")


def _importable(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    main()
