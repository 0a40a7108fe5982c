"""The TensorBoard callback: event files read back record by record (CRC-checked, parsed with the
writer package's protos, and by TensorFlow's own reader when it is installed) hold the History's
values under Keras's tags and folders."""
import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import framework as fw
from framework.cli import main

pytest.importorskip("tensorboardX")
from tensorboardX.proto import event_pb2  # noqa: E402


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def masked_crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(folder):
    """Every Event of the event files in ``folder``, each TFRecord's length and data CRC checked."""
    events = []
    files = sorted(Path(folder).glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            header = data[offset:offset + 8]
            (length,) = struct.unpack("<Q", header)
            (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
            assert length_crc == masked_crc32c(header)
            body = data[offset + 12:offset + 12 + length]
            (body_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
            assert body_crc == masked_crc32c(body)
            event = event_pb2.Event()
            event.ParseFromString(body)
            events.append(event)
            offset += 16 + length
    return events


def scalars(folder):
    """tag -> [(step, value)] of the scalar summaries in ``folder``."""
    found = {}
    for event in read_events(folder):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def summaries(folder, kind):
    """tag -> [(step, the summary value's ``kind`` field)] ('histo' or 'image')."""
    found = {}
    for event in read_events(folder):
        for value in event.summary.value:
            if value.HasField(kind):
                found.setdefault(value.tag, []).append((event.step, getattr(value, kind)))
    return found


def float32(values):
    return [float(np.float32(v)) for v in values]


def data(samples=160):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, 5)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


def classifier():
    fw.utils.set_random_seed(4)
    model = fw.Sequential([fw.Input((5,)), fw.layers.Dense(6, activation="relu", name="hidden"),
                           fw.layers.Dense(2, activation="softmax", name="out")])
    model.compile(optimizer=fw.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_epoch_scalars_equal_the_history_in_train_and_validation_folders(tmp_path):
    x, y = data()
    model = classifier()
    history = model.fit(x, y, epochs=4, batch_size=32, validation_split=0.25, verbose=0,
                        callbacks=[fw.callbacks.TensorBoard(log_dir=tmp_path / "logs")])
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["train", "validation"]
    train, validation = scalars(tmp_path / "logs" / "train"), scalars(tmp_path / "logs" / "validation")
    assert set(train) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(validation) == {"epoch_loss", "epoch_accuracy"}
    for tag, key in (("epoch_loss", "loss"), ("epoch_accuracy", "accuracy")):
        assert [s for s, _ in train[tag]] == [0, 1, 2, 3]
        assert [v for _, v in train[tag]] == float32(history.history[key])
        assert [v for _, v in validation[tag]] == float32(history.history["val_" + key])
    assert [v for _, v in train["epoch_learning_rate"]] == float32([0.02] * 4)
    assert not summaries(tmp_path / "logs" / "train", "histo")  # histogram_freq=0


def test_learning_rate_follows_a_scheduler(tmp_path):
    x, y = data()
    model = classifier()
    model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[
        fw.callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1)),
        fw.callbacks.TensorBoard(log_dir=str(tmp_path))])
    train = scalars(tmp_path / "train")
    assert [v for _, v in train["epoch_learning_rate"]] == float32([0.1, 0.05, 0.1 / 3])
    assert not (tmp_path / "validation").exists()  # no validation data: no validation folder


def test_weight_histograms_and_images_every_histogram_freq_epochs(tmp_path):
    x, y = data()
    model = classifier()
    model.fit(x, y, epochs=5, batch_size=32, verbose=0,
              callbacks=[fw.callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=2, write_images=True)])
    histograms = summaries(tmp_path / "train", "histo")
    assert set(histograms) == {"hidden/kernel/histogram", "hidden/bias/histogram", "out/kernel/histogram",
                               "out/bias/histogram"}
    for tag, entries in histograms.items():
        assert [step for step, _ in entries] == [0, 2, 4]
    final = histograms["hidden/kernel/histogram"][-1][1]  # epoch 4 is the last: the trained weights
    kernel = model.get_layer("hidden").kernel.value
    assert final.num == kernel.size == 30
    assert final.min == pytest.approx(float(kernel.min()), rel=1e-6)
    assert final.max == pytest.approx(float(kernel.max()), rel=1e-6)
    assert final.sum == pytest.approx(float(kernel.sum()), rel=1e-5, abs=1e-6)
    assert sum(final.bucket) == 30
    images = summaries(tmp_path / "train", "image")
    assert [s for s, _ in images["hidden/kernel/image"]] == [0, 2, 4]
    image = images["hidden/kernel/image"][0][1]
    assert (image.height, image.width) == (5, 6)  # the (5, 6) kernel, not taller than wide
    assert image.encoded_image_string.startswith(b"\x89PNG")
    assert (images["out/bias/image"][0][1].height, images["out/bias/image"][0][1].width) == (1, 2)


def test_batch_scalars_every_update_freq_batches(tmp_path):
    x, y = data(160)
    model = classifier()
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=0,
              callbacks=[fw.callbacks.TensorBoard(log_dir=tmp_path, update_freq=3, write_steps_per_second=True)])
    train = scalars(tmp_path / "train")
    # 128 training samples: 4 batches per epoch, 8 in all; every third global batch
    assert [s for s, _ in train["batch_loss"]] == [3, 6]
    assert [s for s, _ in train["batch_steps_per_second"]] == [3, 6]
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])
    validation = scalars(tmp_path / "validation")
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]] == [4, 8]
    assert [v for _, v in validation["evaluation_loss_vs_iterations"]] == [v for _, v in validation["epoch_loss"]]


def test_arguments_keras_has_that_cannot_be_honoured_are_refused():
    with pytest.raises(ValueError, match="no profiler"):
        fw.callbacks.TensorBoard(profile_batch=2)
    with pytest.raises(ValueError, match="embedding projector"):
        fw.callbacks.TensorBoard(embeddings_freq=1)
    with pytest.raises(ValueError, match="update_freq"):
        fw.callbacks.TensorBoard(update_freq=0)
    with pytest.raises(ValueError, match="histogram_freq"):
        fw.callbacks.TensorBoard(histogram_freq=-1)
    callback = fw.callbacks.TensorBoard(log_dir="somewhere", update_freq="batch", write_graph=False)
    assert callback.update_freq == 1
    again = fw.callbacks.deserialize(fw.callbacks.serialize(callback))
    assert isinstance(again, fw.callbacks.TensorBoard) and again.get_config() == callback.get_config()
    assert not Path("somewhere").exists()  # nothing is written before training


def test_a_missing_tensorboardx_is_an_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError) as error:
        fw.callbacks.TensorBoard()
    assert str(error.value) == ('The TensorBoard callback writes event files with tensorboardX, which is not '
                                'installed: pip install "framework[tensorboard]"')


CONFIG = textwrap.dedent("""\
    seed: 3
    model:
      input_shape: [4]
      layers:
        - Dense: {{units: 8, activation: relu}}
        - Dense: {{units: 3, activation: softmax}}
    compile:
      optimizer: {{Adam: {{learning_rate: 0.01}}}}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    data:
      train: {{dataset: synthetic_blobs, samples: 200, features: 4, classes: 3}}
      validation_split: 0.2
    fit:
      epochs: 2
      batch_size: 32
      callbacks:
        - {callback}
    """)


def test_run_configs_name_it_and_its_logs_stay_in_the_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, callback, logs in (("default", "TensorBoard", "logs"),
                                 ("named", "TensorBoard: {log_dir: tb/here, histogram_freq: 1}", "tb/here")):
        (tmp_path / f"{name}.yaml").write_text(CONFIG.format(callback=callback))
        assert main(["train", f"{name}.yaml", "--verbose", "0"]) == 0
        run = tmp_path / "runs" / name
        assert scalars(run / logs / "train")["epoch_loss"][0][0] == 0
        assert (run / logs / "validation").is_dir()
    assert not (tmp_path / "logs").exists()
    (tmp_path / "outside.yaml").write_text(CONFIG.format(callback="TensorBoard: {log_dir: ../../escape}"))
    capsys.readouterr()
    assert main(["validate", "outside.yaml"]) == 2
    assert "outside.yaml:18: fit.callbacks[0].TensorBoard.log_dir: '../../escape' goes up out of the run folder" \
        in capsys.readouterr().err


READ_WITH_TENSORFLOW = """
import json, sys
from tensorflow.compat.v1.train import summary_iterator
found = {}
for path in sys.argv[1:]:
    for event in summary_iterator(path):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                found.setdefault(value.tag, []).append([event.step, value.simple_value])
print(json.dumps(found))
"""


def test_tensorflow_reads_the_same_values(tmp_path):
    """An independent reader: TensorFlow's own, in a subprocess (skipped where TensorFlow is not installed)."""
    probe = subprocess.run([sys.executable, "-c", "import importlib.util, sys; "
                            "sys.exit(importlib.util.find_spec('tensorflow') is None)"])
    if probe.returncode:
        pytest.skip("tensorflow is not installed")
    x, y = data()
    model = classifier()
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0,
                        callbacks=[fw.callbacks.TensorBoard(log_dir=tmp_path)])
    files = [str(p) for p in sorted((tmp_path / "validation").glob("events.out.tfevents.*"))]
    result = subprocess.run([sys.executable, "-c", READ_WITH_TENSORFLOW, *files], capture_output=True, text=True,
                            env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert [v for _, v in found["epoch_loss"]] == float32(history.history["val_loss"])
    assert [s for s, _ in found["epoch_accuracy"]] == [0, 1, 2]


def test_a_second_fit_adds_event_files_and_keeps_the_first(tmp_path):
    x, y = data()
    model = classifier()
    callback = fw.callbacks.TensorBoard(log_dir=tmp_path)
    first = model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[callback])
    second = model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[callback])
    assert len(list((tmp_path / "train").glob("events.out.tfevents.*"))) == 2
    losses = [v for _, v in scalars(tmp_path / "train")["epoch_loss"]]
    assert losses == float32(first.history["loss"] + second.history["loss"])
