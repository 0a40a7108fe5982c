"""Shared benchmark harness: alternating rounds in child processes, medians, ratios.

Each contender (ours and, when installed, PyTorch and Keras 3 on JAX or TensorFlow: optional,
never dependencies) runs in a fresh child process per round, the contenders
alternating: noise on a shared machine hits all alike, and no framework's thread
pool is left spinning against another's (the trap in docs/architecture.md).

``--against REV`` times this tree's framework against the same script at git revision REV
instead (a before/after comparison of a change): each side runs in its own child processes,
importing its own tree's code, rounds alternating.

``--batch N`` sets the batch size of scripts that read ``batch_size()`` (every training benchmark;
default 128). ``--busy K`` starts K other busy processes (each spinning one core in pure Python, ended
with the run, and in any case after an hour) before the rounds: the figures of a machine where other
programs run.
"""
import argparse
import contextlib
import functools
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BATCH_ENV = "FRAMEWORK_BENCH_BATCH"
BUSY_SECONDS = 3600
BUSY = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    sum(range(10000))\n"

REQUIRES = {"pytorch": ("torch",), "keras-jax": ("keras", "jax"), "keras-tf": ("keras", "tensorflow")}
KERAS_BACKENDS = {"keras-jax": "jax", "keras-tf": "tensorflow"}


def keras_contenders(keras_model):
    """The 'keras-jax' and 'keras-tf' contenders: ``keras_model(x, y)`` run with KERAS_BACKEND set."""
    def on(backend, x, y):
        os.environ["KERAS_BACKEND"] = backend  # read when keras is first imported, in this child process
        return keras_model(x, y)
    return {name: functools.partial(on, backend) for name, backend in KERAS_BACKENDS.items()}


def batch_size(default=128):
    """The batch size this run measures (``--batch``, inherited by the child processes)."""
    return int(os.environ.get(BATCH_ENV, default))


@contextlib.contextmanager
def busy_processes(count):
    """``count`` other processes spinning a core each while the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=BUSY_SECONDS)]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def timed(fn, count):
    """Per-call times in seconds for ``count`` calls."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def fmt(seconds):
    return f"{seconds * 1e3:8.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:8.1f} us"


def median_ms(fn, count):
    return statistics.median(timed(fn, count)) * 1e3


def machine_line():
    return (f"machine: {os.cpu_count()} cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
            f"FRAMEWORK_BLAS_POLICY={os.environ.get('FRAMEWORK_BLAS_POLICY', 'auto')}")


def print_layer_split(plan, count, group):
    """Where one training step's time goes, per group of layers (``group(layer) -> label``), each
    bound call timed alone (medians; a step made of calls, ``step.calls``, is timed call by call);
    matrix products bound by ``matmul_step`` are counted as GEMM, wherever they are."""
    figures = {}
    for steps, owners in ((plan.forward, plan.forward_owners), (plan.backward, plan.backward_owners)):
        for step, layer in zip(steps, owners):
            for call in getattr(step, "calls", None) or (step,):
                gemm = getattr(call, "__qualname__", "").startswith("matmul_step")
                label = "GEMM (BLAS)" if gemm else group(layer)
                figures[label] = figures.get(label, 0.0) + median_ms(call, count)
    figures["loss"] = sum(median_ms(s, count) for s in plan.loss_steps if s is not None)
    figures["optimizer"] = median_ms(plan.optimizer_step, count)
    total = sum(figures.values())
    print(f"split of our step (each bound call timed alone, medians; sum {total:.2f} ms): " +
          ", ".join(f"{k} {v:.3f} ms ({v / total:.0%})" for k, v in sorted(figures.items(), key=lambda kv: -kv[1])))


def main(script, doc, contenders, data, measure_ours, child_counts=(40, 20), default_batch=128):
    """Command line of a benchmark script.

    contenders: name -> fn(x, y) returning {what: callable}; data: () -> (x, y);
    measure_ours: fn(x, y) printing our own breakdown before the rounds.
    child_counts: (timed calls per round for 'train' rows, multiplier for the others).
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=child_counts[0], help="training steps per round")
    parser.add_argument("--batch", type=int, help="batch size (default: the script's, 128 for most)")
    parser.add_argument("--busy", type=int, default=0, help="other busy processes running during the rounds")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--against", metavar="REV",
                        help="time this tree's framework against the same script at git revision REV "
                             "(a before/after comparison) instead of against other frameworks")
    args = parser.parse_args()
    if args.batch:
        os.environ[BATCH_ENV] = str(args.batch)  # the child processes inherit it
    os.environ.setdefault(BATCH_ENV, str(default_batch))
    if args.against:
        compare_revisions(script, args.against, args.rounds, args.steps)
        return
    if args.child:
        x, y = data()
        suite = contenders[args.child](x, y)
        for fn in suite.values():
            timed(fn, 5)
        result = {what: timed(fn, args.steps if "train" in what else args.steps * child_counts[1])
                  for what, fn in suite.items()}
        print(json.dumps(result))
        return
    print(machine_line() + f"; batch {batch_size()}; other busy processes: {args.busy}")
    measure_ours(*data())
    names = ["framework"] + [name for name in contenders if name != "framework" and name not in REQUIRES]
    for name, modules in REQUIRES.items():
        if name not in contenders:
            continue
        missing = [module for module in modules if importlib.util.find_spec(module) is None]
        if missing:
            print(f"{name}: {', '.join(missing)} not installed (optional)")
        else:
            names.append(name)
    commands = {name: ([sys.executable, script, "--child", name, "--steps", str(args.steps)], None) for name in names}
    with busy_processes(args.busy):
        report(alternate(commands, args.rounds), names)


def alternate(commands, rounds):
    """Medians of each (contender, what): every round runs each contender's child command once, in turn.

    commands: name -> (argv, environment or None)."""
    times = {}
    for _ in range(rounds):
        for name, (argv, env) in commands.items():
            out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
            for what, values in json.loads(out.splitlines()[-1]).items():
                times.setdefault((name, what), []).extend(values)
    return {key: statistics.median(values) for key, values in times.items()}


def report(medians, names):
    for (name, what), value in medians.items():
        print(f"{name:18s} {what:20s} {fmt(value)}")
    rows = sorted({what for (_, what) in medians})
    for other in names[1:]:
        for what in rows:
            if (other, what) in medians and (names[0], what) in medians:
                ratio = medians[(other, what)] / medians[(names[0], what)]
                print(f"{what}: {names[0]} is {ratio:.2f}x as fast as {other} (alternating rounds, medians)")


@contextlib.contextmanager
def revision_tree(revision):
    """A temporary git worktree of ``revision`` (removed afterwards)."""
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True,
                          text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="framework-rev-") as folder:
        tree = os.path.join(folder, "tree")
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", tree, revision], check=True, cwd=root)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tree], check=True, cwd=root)


def compare_revisions(script, revision, rounds, steps):
    """This tree's framework against the same benchmark script at ``revision``, alternating child
    processes; each child imports its own tree's framework (PYTHONPATH), so each side runs its own code."""
    print(machine_line())
    here = os.path.dirname(os.path.dirname(os.path.abspath(script)))
    with revision_tree(revision) as tree:
        theirs = os.path.join(tree, os.path.relpath(os.path.abspath(script), here))
        commands = {}
        for name, root, path in (("framework (this tree)", here, script), (f"framework@{revision}", tree, theirs)):
            env = dict(os.environ, PYTHONPATH=root)
            commands[name] = ([sys.executable, path, "--child", "framework", "--steps", str(steps)], env)
        print(f"compiling {revision}'s kernels once (a fresh tree has no Numba cache) ...", flush=True)
        subprocess.run(commands[f"framework@{revision}"][0][:2] + ["--child", "framework", "--steps", "1"],
                       check=True, capture_output=True, env=commands[f"framework@{revision}"][1])
        report(alternate(commands, rounds), list(commands))
