"""One training run for tests/test_distributed.py: run alone (``--single``) or under ``mpirun -n N``.

    python distributed_worker.py SCENARIO[,SCENARIO...] OUT_DIR [--single] [--epochs N] [--backup DIR] [--overlap]

Trains a tiny float64 model on made-up data as SCENARIO says and writes, per process,
``OUT_DIR/rank<R>.npz`` (the weights) and ``OUT_DIR/rank<R>.json`` (the history, the epochs done and
how many gradient all-reduces ran). Under mpirun it calls ``framework.distribute.initialize()``
first; alone it does not, so the two runs differ only in data parallelism. Several scenarios run one after
the other in the same processes (starting them costs more than the runs), each into ``OUT_DIR/<scenario>``.
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import framework as fw

SCENARIOS = {
    # samples, batch size, epochs, extras
    "mlp": dict(samples=48, batch=8, epochs=3),
    "uneven": dict(samples=37, batch=8, epochs=3),
    "empty_shard": dict(samples=34, batch=8, epochs=2),  # the last batch has 2 rows: with 3 processes one is empty
    "sample_weighted": dict(samples=37, batch=8, epochs=3, sample_weight=True),
    "class_weighted": dict(samples=34, batch=8, epochs=2, class_weight=True),
    "regularized": dict(samples=40, batch=8, epochs=2, regularizer=True, optimizer="adam"),
    "dropout": dict(samples=37, batch=8, epochs=2, middle="dropout"),        # masks of the global batch's rows
    "batchnorm": dict(samples=34, batch=8, epochs=2, middle="batchnorm"),    # statistics of the global batch
    "pydataset": dict(samples=37, batch=8, epochs=2, stream="pydataset"),  # rank 0 reads, every process trains
    "generator": dict(samples=34, batch=8, epochs=2, stream="generator", middle="dropout"),
    "slow": dict(samples=37, batch=8, epochs=10, pause=0.2),  # time to press Ctrl-C between epochs
    "early_stop": dict(samples=40, batch=8, epochs=30, early_stop=True),
    "crash": dict(samples=40, batch=8, epochs=3, crash_on_rank=1),
    "killed": dict(samples=40, batch=8, epochs=3, kill_on_rank=1),
    "bad_loss": dict(samples=40, batch=8, epochs=1, loss_reduction="sum"),
}


def main(scenario, out_dir, single, epochs=None, backup=None, overlap=False):
    spec = dict(SCENARIOS[scenario], **({} if epochs is None else {"epochs": epochs}))
    rank = 0
    if not single:
        from framework import distribute
        from framework.distribute import gradients
        gradients.BUCKET_BYTES = 16  # the tiny models' layers each get a slice of their own
        distribute.initialize(overlap=overlap)
        rank = distribute.rank()
    fw.backend.set_floatx("float64")
    fw.utils.set_random_seed(3 + rank)  # different seeds: rank 0's weights must reach every process
    rng = np.random.default_rng(7)  # the data is the same everywhere
    n = spec["samples"]
    x = rng.standard_normal((n, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    x_val = rng.standard_normal((13, 5))
    y_val = (x_val[:, 0] > 0).astype("int64")
    regularizer = fw.regularizers.L2(0.01) if spec.get("regularizer") else None
    middle = {None: [],
              "dropout": [fw.layers.Dropout(0.3), fw.layers.Dense(6), fw.layers.Dropout(0.2, noise_shape=(None, 1))],
              "batchnorm": [fw.layers.BatchNormalization(synchronized=True, momentum=0.5), fw.layers.Dense(6),
                            fw.layers.BatchNormalization(synchronized=True, center=False)]}[spec.get("middle")]
    model = fw.Sequential([fw.Input((5,)),
                           fw.layers.Dense(7, activation="tanh", kernel_regularizer=regularizer),
                           *middle,
                           fw.layers.Dense(3, activation="softmax")])
    loss = fw.losses.SparseCategoricalCrossentropy(reduction=spec.get("loss_reduction", "sum_over_batch_size"))
    optimizer = fw.optimizers.Adam(0.01) if spec.get("optimizer") == "adam" else fw.optimizers.SGD(0.1, momentum=0.5)
    model.compile(optimizer, loss, metrics=["accuracy"])
    fit_args = {}
    if spec.get("sample_weight"):
        fit_args["sample_weight"] = rng.uniform(0.2, 2.0, n)
    if spec.get("class_weight"):
        fit_args["class_weight"] = {0: 1.0, 1: 2.5, 2: 0.5}
    callbacks = [] if backup is None else [fw.callbacks.BackupAndRestore(backup, delete_checkpoint=False)]
    if spec.get("early_stop"):
        callbacks.append(fw.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=0.002))
    if "pause" in spec:
        callbacks.append(fw.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(spec["pause"])))
    if "crash_on_rank" in spec and rank == spec["crash_on_rank"]:
        callbacks.append(fw.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: crash(epoch)))
    if "kill_on_rank" in spec and rank == spec["kill_on_rank"]:  # dies without a word, as a lost machine
        callbacks.append(fw.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: os.kill(os.getpid(), 9)))
    validation = (x_val, y_val)
    if "stream" in spec:  # another process's stream gives other numbers: only rank 0's may be used
        x, y, validation, fit_args = stream_of(spec, x, y, x_val, y_val, fit_args.get("sample_weight"), rank)
    history = model.fit(x, y, batch_size=spec["batch"], epochs=spec["epochs"], verbose=0, shuffle=True,
                        validation_data=validation, callbacks=callbacks, **fit_args)
    out = Path(out_dir)
    np.savez(out / f"rank{rank}.npz", *model.get_weights())
    from framework import distribute
    stats = distribute.statistics()
    (out / f"rank{rank}.json").write_text(json.dumps({
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "epochs_done": model.epochs_done, "allreduce_calls": stats["calls"], "slices": stats.get("slices", 0)}))


def stream_of(spec, x, y, x_val, y_val, sample_weight, rank):
    """(x, y, validation_data, fit arguments) with the data given as a stream of batches, spoiled beyond rank 0."""
    batch, spoil = spec["batch"], 100.0 * rank

    class Batches(fw.utils.PyDataset):
        def __len__(self):
            return -(-len(x) // batch)

        def __getitem__(self, index):
            rows = slice(index * batch, (index + 1) * batch)
            return x[rows] + spoil, y[rows]

    def validation():
        for start in range(0, len(x_val), 5):
            yield x_val[start:start + 5] + spoil, y_val[start:start + 5]

    def training():
        for _ in range(spec["epochs"]):
            for start in range(0, len(x), batch):
                yield x[start:start + batch] + spoil, y[start:start + batch]

    if spec["stream"] == "pydataset":
        return Batches(), None, validation(), {}
    return training(), None, validation(), {"steps_per_epoch": -(-len(x) // batch), "validation_steps": 3}


def crash(epoch):
    raise RuntimeError(f"deliberate failure at the end of epoch {epoch + 1}")


if __name__ == "__main__":
    options = sys.argv[3:]
    scenarios = sys.argv[1].split(",")
    for name in scenarios:  # several: one after the other in these processes, each into OUT_DIR/<scenario>
        folder = Path(sys.argv[2]) / name if len(scenarios) > 1 else Path(sys.argv[2])
        folder.mkdir(exist_ok=True)
        main(name, folder, "--single" in options,
             int(options[options.index("--epochs") + 1]) if "--epochs" in options else None,
             options[options.index("--backup") + 1] if "--backup" in options else None, "--overlap" in options)
