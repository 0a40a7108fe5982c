"""Data-parallel training over MPI (framework.distribute): N processes under mpirun give the weights and
logs of one process training on the same global batches.

Each run is tests/distributed_worker.py: once alone, once under ``mpirun -n N``; float64 weights must
agree to 1e-10 (the sums are only ordered differently) and every process must hold the same weights.
"""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from framework.callbacks import CSVLogger, EarlyStopping, History, ProgbarLogger
from framework.distribute.lockstep import FollowRankZero, GlobalLogs
from framework.distribute.sharding import shard_bounds
from framework.distribute.strategy import DataParallel
from framework.plan import global_batch

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_worker.py"
MPIRUN = shutil.which("mpirun")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and MPIRUN is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py and mpirun are not installed (pip install '.[mpi]')")


def mpi_environment():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Open MPI refuses root unless told twice
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def mpirun(processes, *command, timeout=120):
    """``mpirun -n processes command``: more processes than cores allowed (this machine has 2)."""
    args = [MPIRUN, "-n", str(processes), "--oversubscribe", *command]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=mpi_environment(), cwd=HERE)


def run_worker(tmp_path, scenario, processes, *options, alone_options=None, read=True):
    """Weights and report of ``scenario`` alone and under ``processes`` processes (``read=False``: only run
    it, as for several scenarios at once, each written below ``tmp_path/alone`` and ``tmp_path/together``)."""
    alone, together = tmp_path / "alone", tmp_path / "together"
    alone.mkdir(exist_ok=True)
    together.mkdir(exist_ok=True)
    alone_options = options if alone_options is None else alone_options
    single = subprocess.run([sys.executable, str(WORKER), scenario, str(alone), "--single", *alone_options],
                            capture_output=True, text=True, timeout=120, env=mpi_environment(), cwd=HERE)
    assert single.returncode == 0, single.stderr[-3000:]
    result = mpirun(processes, sys.executable, str(WORKER), scenario, str(together), *options)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return (read_run(alone, 1)[0], read_run(together, processes)) if read else None


def read_run(folder, processes):
    runs = []
    for rank in range(processes):
        weights = np.load(folder / f"rank{rank}.npz")
        report = json.loads((folder / f"rank{rank}.json").read_text())
        runs.append(([weights[k] for k in sorted(weights.files, key=lambda k: int(k.split("_")[1]))], report))
    return runs


def assert_same_training(alone, together, tolerance=1e-10):
    weights, report = alone
    for rank, (rank_weights, rank_report) in enumerate(together):
        for mine, theirs in zip(rank_weights, together[0][0]):
            np.testing.assert_array_equal(mine, theirs, err_msg=f"rank {rank} holds other weights than rank 0")
        for mine, single in zip(rank_weights, weights):
            np.testing.assert_allclose(mine, single, rtol=0, atol=tolerance)
        assert rank_report["epochs_done"] == report["epochs_done"]
        assert rank_report["history"].keys() == report["history"].keys()
        for key, values in report["history"].items():
            np.testing.assert_allclose(rank_report["history"][key], values, rtol=1e-12, atol=1e-12, err_msg=key)
        assert rank_report["history"] == together[0][1]["history"], "logs differ between processes"


# ----- without MPI: the pieces ------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 2, 5, 8, 9, 64])
@pytest.mark.parametrize("processes", [1, 2, 3, 4])
def test_shards_cover_the_batch_once_and_differ_by_at_most_one_row(batch, processes):
    bounds = [shard_bounds(batch, rank, processes) for rank in range(processes)]
    assert bounds[0][0] == 0 and bounds[-1][1] == batch
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


class FakeWorld:
    def __init__(self, rank, size):
        self.rank, self.size = rank, size


def test_only_rank_zero_keeps_the_callbacks_that_print_or_write(tmp_path):
    model = object()
    for rank in (0, 1):
        strategy = DataParallel(FakeWorld(rank, 2))
        strategy.pending = ("train", None)
        given = [EarlyStopping(), CSVLogger(str(tmp_path / "h.csv")), History(), ProgbarLogger()]
        arranged = strategy.arrange_callbacks(model, given, fitting=True)
        assert isinstance(arranged[0], GlobalLogs) and isinstance(arranged[-1], FollowRankZero)
        kinds = [type(c) for c in arranged[1:-1]]
        expected = [EarlyStopping, CSVLogger, History, ProgbarLogger] if rank == 0 else [EarlyStopping, History]
        assert kinds == expected
        # evaluate / predict: no lockstep callbacks, the bar on rank 0 only
        assert [type(c) for c in strategy.arrange_callbacks(model, [ProgbarLogger()], fitting=False)] == \
            ([ProgbarLogger] if rank == 0 else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_draws_of_a_shard_are_its_rows_of_the_global_batch_draws(dtype):
    whole = np.empty((7, 3, 2), dtype)
    np.random.default_rng(5).random(dtype=dtype, out=whole)
    pieces = []
    try:
        for start, rows in [(0, 3), (3, 2), (5, 2)]:
            global_batch.enter(global_batch.GlobalBatch(7, start, rows, sum_over_processes=None))
            out = np.empty((rows, 3, 2), dtype)
            global_batch.uniform_rows(np.random.default_rng(5), out)
            pieces.append(out)
        global_batch.enter(global_batch.GlobalBatch(7, 7, 0, sum_over_processes=None))
        stand_in = np.full((1, 3, 2), -1, dtype)  # an empty shard's stand-in row: draws made, nothing kept
        generator = np.random.default_rng(5)
        global_batch.uniform_rows(generator, stand_in)
        reference = np.random.default_rng(5)
        reference.random((7, 3, 2), dtype)
        assert (stand_in == -1).all() and generator.bit_generator.state == reference.bit_generator.state
        not_per_sample = np.empty((4,), dtype)  # a first axis that is not the shard's rows: drawn as it is
        global_batch.uniform_rows(np.random.default_rng(5), not_per_sample)
        np.testing.assert_array_equal(not_per_sample, whole.reshape(-1)[:4])
    finally:
        global_batch.enter(None)
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_the_global_batch_keeps_a_bounded_number_of_draw_buffers():
    batch = global_batch.GlobalBatch(8, 0, 4, sum_over_processes=None)
    for width in range(global_batch.MAX_DRAW_BUFFERS + 10):
        batch.draw_buffer((width,), np.float32)
    assert len(batch._buffers) == global_batch.MAX_DRAW_BUFFERS
    assert batch.draw_buffer((3,), np.float32) is batch.draw_buffer((3,), np.float32)


def test_overlapped_slices_are_the_end_of_the_gradients_in_the_order_backward_finishes_them():
    import framework as fw
    from framework.distribute.gradients import overlap_schedule
    model = fw.Sequential([fw.Input((6,)), fw.layers.Dense(5, name="first"), fw.layers.BatchNormalization(),
                           fw.layers.Dense(4, name="second"), fw.layers.Dense(3, name="third")])
    model.compile("sgd", "mse")
    model.train_on_batch(np.ones((4, 6)), np.ones((4, 3)))
    plan, arena = model.plan("train", 4), model.plan_cache.current_arena()
    starts, rest = overlap_schedule(plan.backward_owners, arena, bucket=1)
    offset = lambda view: (view.__array_interface__["data"][0] - arena.grads.__array_interface__["data"][0]) \
        // arena.grads.itemsize
    slices = [(index, offset(view), offset(view) + view.size) for index in sorted(starts) for view in starts[index]]
    assert [layer for layer in (plan.backward_owners[i] for i, _, _ in slices)] == \
        [model.get_layer(name) for name in ("third", "second", model.layers[1].name)]  # each as it ends
    stop = arena.grads.size
    for _, low, high in slices:  # back to back from the end
        assert high == stop
        stop = low
    assert offset(rest) == 0 and rest.size == stop == model.get_layer("first").count_params()  # final last
    assert [i for i, _, _ in slices] == [max(i for i, o in enumerate(plan.backward_owners) if o is layer)
                                         for layer in [plan.backward_owners[i] for i, _, _ in slices]]
    whole, nothing = overlap_schedule(plan.backward_owners, arena, bucket=arena.grads.size + 1)
    assert whole == {} and nothing.size == arena.grads.size


def test_unsynchronized_batch_normalization_is_warned_about_and_random_layers_are_not():
    import framework as fw
    from framework.distribute.strategy import check_trainable_in_parallel
    model = fw.Sequential([fw.Input((4,)), fw.layers.Dense(3), fw.layers.Dropout(0.5),
                           fw.layers.BatchNormalization(name="bn_local"),
                           fw.layers.BatchNormalization(synchronized=True, name="bn_global"), fw.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.warns(RuntimeWarning, match="bn_local use each process's shard's batch statistics") as caught:
        check_trainable_in_parallel(model)
    assert len(caught) == 1 and "bn_global" not in str(caught[0].message)
    model.get_layer("bn_local").synchronized = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_trainable_in_parallel(model)


# ----- under mpirun -------------------------------------------------------------------------------------
SCENARIOS_BY_PROCESSES = {
    2: ["mlp",              # 48 samples in batches of 8: every shard of 4
        "class_weighted",
        "regularized",      # an L2 penalty (added once, after the all-reduce) and Adam
        "batchnorm",
        "generator"],       # a generator with steps_per_epoch, and Dropout
    3: ["uneven",           # 37 samples: shards of 3/3/2 and a last batch of 5 cut 2/2/1
        "empty_shard",      # a last batch of 2 rows: one process has none
        "sample_weighted",
        "dropout",          # Dropout masks drawn for the global batch, each process keeping its rows
        "batchnorm",        # synchronized BatchNormalization, a last batch with an empty shard
        "pydataset"],       # a PyDataset read by rank 0 alone, shuffled, a generator for validation
}


@pytest.fixture(scope="module")
def batched_runs(tmp_path_factory):
    """Every scenario of ``SCENARIOS_BY_PROCESSES`` run alone and under its number of processes: one run
    of the worker per number (starting the processes costs more than the scenarios), read on demand."""
    runs = {}

    def run(processes):
        if processes not in runs:
            folder = tmp_path_factory.mktemp(f"batched{processes}")
            runs[processes] = (folder, run_worker(folder, ",".join(SCENARIOS_BY_PROCESSES[processes]), processes,
                                                  read=False))
        return runs[processes][0]
    return run


@needs_mpi
@pytest.mark.parametrize("scenario, processes",
                         [(s, n) for n, names in SCENARIOS_BY_PROCESSES.items() for s in names])
def test_n_processes_train_as_one(batched_runs, scenario, processes):
    folder = batched_runs(processes)
    alone, together = read_run(folder / "alone" / scenario, 1)[0], read_run(folder / "together" / scenario, processes)
    assert_same_training(alone, together)
    steps = together[0][1]["allreduce_calls"]
    assert steps > 0 and all(report["allreduce_calls"] == steps for _, report in together)


@needs_mpi
@pytest.mark.parametrize("scenario, processes", [("batchnorm", 3), ("regularized", 2)])
def test_overlapped_all_reduce_trains_as_one_process(tmp_path, scenario, processes):
    alone, together = run_worker(tmp_path, scenario, processes, "--overlap", alone_options=())
    assert_same_training(alone, together)
    assert all(report["slices"] >= report["allreduce_calls"] > 0 for _, report in together)


@needs_mpi
def test_early_stopping_stops_every_process_at_the_same_epoch(tmp_path):
    alone, together = run_worker(tmp_path, "early_stop", 2)
    assert alone[1]["epochs_done"] < 30  # it did stop early
    assert_same_training(alone, together)


@needs_mpi
def test_a_backup_resumes_on_another_number_of_processes(tmp_path):
    """Two epochs on 2 processes, then the same run resumed to 4 epochs on 3: as 4 epochs alone."""
    backup = tmp_path / "backup"
    first = tmp_path / "first"
    first.mkdir()
    result = mpirun(2, sys.executable, str(WORKER), "uneven", str(first), "--epochs", "2", "--backup", str(backup))
    assert result.returncode == 0, result.stderr[-3000:]
    alone, together = run_worker(tmp_path, "uneven", 3, "--epochs", "4", "--backup", str(backup),
                                 alone_options=("--epochs", "4"))
    for rank_weights, report in together:
        assert report["epochs_done"] == 4 and len(report["history"]["loss"]) == 2  # epochs 3 and 4 only
        for mine, single in zip(rank_weights, alone[0]):
            np.testing.assert_allclose(mine, single, rtol=0, atol=1e-10)
        np.testing.assert_allclose(report["history"]["loss"], alone[1]["history"]["loss"][2:], rtol=1e-12)


@needs_mpi
def test_ctrl_c_stops_every_process_and_the_backup_resumes_on_another_number(tmp_path):
    """Ctrl-C on mpirun while 2 processes train: all end within seconds; the backup of the last whole epoch
    resumes on 3 processes and ends where 10 epochs alone end."""
    backup, first = tmp_path / "backup", tmp_path / "first"
    first.mkdir()
    command = [MPIRUN, "-n", "2", "--oversubscribe", sys.executable, str(WORKER), "slow", str(first),
               "--backup", str(backup)]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=mpi_environment(), cwd=HERE)
    try:
        deadline = time.monotonic() + 90
        while not (backup.exists() and any(backup.iterdir())) and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()[1][-3000:]
            time.sleep(0.1)
        time.sleep(0.5)  # a few more epochs on the way
        pressed = time.monotonic()
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=10)
        assert time.monotonic() - pressed < 10
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode != 0 and not list(first.glob("rank*.npz")), "the run ended before Ctrl-C"
    alone, together = run_worker(tmp_path, "slow", 3, "--backup", str(backup), alone_options=())
    for rank_weights, report in together:
        assert report["epochs_done"] == 10 and 0 < len(report["history"]["loss"]) < 10  # resumed, not restarted
        for mine, single in zip(rank_weights, alone[0]):
            np.testing.assert_allclose(mine, single, rtol=0, atol=1e-10)


@needs_mpi
@pytest.mark.parametrize("scenario, message", [
    ("crash", "process 1 of 2 failed (RuntimeError: deliberate failure at the end of epoch 1)"),
    ("killed", "exited on"),
])
def test_a_failing_process_ends_the_run_within_seconds(tmp_path, scenario, message):
    start = time.monotonic()
    result = mpirun(2, sys.executable, str(WORKER), scenario, str(tmp_path), timeout=60)
    elapsed = time.monotonic() - start
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert elapsed < 10 + 3, f"the run took {elapsed:.1f} s to end"  # 10 s after failing; ~2 s to start


@needs_mpi
def test_a_loss_that_does_not_add_up_across_shards_is_refused(tmp_path):
    result = mpirun(2, sys.executable, str(WORKER), "bad_loss", str(tmp_path), timeout=60)
    assert result.returncode != 0
    assert "data-parallel fit needs losses with reduction 'sum_over_batch_size'" in result.stderr


CONFIG = textwrap.dedent("""\
    seed: 3
    model:
      input_shape: [4]
      layers:
        - Dense: {units: 8, activation: relu}
        - Dense: {units: 3, activation: softmax}
    compile:
      optimizer: {Adam: {learning_rate: 0.01}}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    data:
      train: {dataset: synthetic_blobs, samples: 90, features: 4, classes: 3}
      validation_split: 0.2
    fit:
      epochs: 3
      batch_size: 16
    """)


@needs_mpi
def test_framework_train_distribute_writes_once_what_one_process_writes(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(CONFIG)
    alone = subprocess.run([sys.executable, "-m", "framework", "train", str(config), "--output",
                            str(tmp_path / "alone"), "--verbose", "0"], capture_output=True, text=True, timeout=120,
                           env=mpi_environment(), cwd=HERE.parent)
    assert alone.returncode == 0, alone.stderr[-3000:]
    result = mpirun(2, sys.executable, "-m", "framework", "train", str(config), "--output", str(tmp_path / "two"),
                    "--verbose", "2", "--distribute")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Saved ") == 1  # rank 0 alone prints
    assert result.stdout.count("Epoch 3/3") == 1
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["config.yaml", "history.csv", "model.fw"]
    rows = [(tmp_path / name / "history.csv").read_text().splitlines() for name in ("alone", "two")]
    assert rows[0][0] == rows[1][0] and len(rows[1]) == 4
    for mine, single in zip(rows[1][1:], rows[0][1:]):  # float32: equal up to the order of the sums
        np.testing.assert_allclose([float(v) for v in mine.split(",")], [float(v) for v in single.split(",")],
                                   rtol=1e-5, atol=1e-6)
