"""The framework command: train, evaluate, predict, summary, validate, and resuming after Ctrl-C."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import framework as fw
from framework.cli import main

CONFIG = textwrap.dedent("""\
    seed: 3
    model:
      input_shape: [4]
      layers:
        - Dense: {units: 16, activation: relu}
        - Dropout: {rate: 0.2}
        - Dense: {units: 3, activation: softmax}
    compile:
      optimizer: {Adam: {learning_rate: 0.01}}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    data:
      train: {dataset: synthetic_blobs, samples: 300, features: 4, classes: 3}
      test: {dataset: synthetic_blobs, split: test, samples: 100, features: 4, classes: 3}
      validation_split: 0.1
    fit:
      epochs: 4
      batch_size: 32
    """)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(CONFIG)
    return path


def test_train_writes_model_history_and_resolved_config(config, tmp_path, capsys):
    assert main(["train", str(config), "--output", str(tmp_path / "out"), "--verbose", "0"]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "history.csv", "model.fw"]
    assert len((out / "history.csv").read_text().strip().splitlines()) == 1 + 4
    assert "Test: loss:" in capsys.readouterr().out
    model = fw.models.load_model(out / "model.fw")
    assert model.compiled and model.epochs_done == 4
    # the written config is complete: it validates and builds the same architecture from anywhere
    assert main(["validate", str(out / "config.yaml")]) == 0


def test_evaluate_predict_and_summary_on_the_saved_model(config, tmp_path, capsys):
    main(["train", str(config), "--output", str(tmp_path / "out"), "--verbose", "0"])
    model_file = str(tmp_path / "out" / "model.fw")
    capsys.readouterr()
    assert main(["evaluate", model_file, "--data",
                 "{dataset: synthetic_blobs, split: test, samples: 100, features: 4, classes: 3}"]) == 0
    assert "accuracy:" in capsys.readouterr().out
    x = np.random.default_rng(0).standard_normal((7, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", model_file, "--data", str(tmp_path / "x.npy"), "--output", str(tmp_path / "p.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), fw.models.load_model(model_file).predict(x, verbose=0))
    assert main(["summary", model_file]) == 0
    assert "Total params: 131" in capsys.readouterr().out  # 4*16+16 + 16*3+3


def test_invalid_configs_report_every_problem_with_lines_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("epochs: 4", "epocs: 4").replace("Dropout", "Dropot"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:6: unknown layer 'Dropot'" in err
    assert f"{bad}:17: unknown key 'epocs' in fit; did you mean 'epochs'?" in err
    assert main(["train", str(bad)]) == 2
    assert main(["train", str(tmp_path / "run.yaml"), "--set", "fit.epochs=2"]) == 2  # missing file
    assert "run.yaml: cannot read the config" in capsys.readouterr().err


def test_set_overrides_and_unknown_keys(config, tmp_path, capsys):
    assert main(["train", str(config), "--output", str(tmp_path / "o"), "--verbose", "0", "--set", "fit.epochs=1"]) == 0
    assert len((tmp_path / "o" / "history.csv").read_text().strip().splitlines()) == 2
    assert main(["validate", str(config), "--set", "fit.epocs=3"]) == 2
    assert "did you mean 'epochs'" in capsys.readouterr().err


def test_ctrl_c_keeps_a_checkpoint_and_the_same_command_resumes_exactly(config, tmp_path, monkeypatch):
    assert main(["train", str(config), "--output", str(tmp_path / "straight"), "--verbose", "0"]) == 0
    original = fw.callbacks.CSVLogger.on_epoch_end

    def interrupt_after_second_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt
    monkeypatch.setattr(fw.callbacks.CSVLogger, "on_epoch_end", interrupt_after_second_epoch)
    out = tmp_path / "interrupted"
    assert main(["train", str(config), "--output", str(out), "--verbose", "0"]) == 130
    assert (out / "backup" / "backup.fw").exists() and not (out / "model.fw").exists()
    monkeypatch.setattr(fw.callbacks.CSVLogger, "on_epoch_end", original)
    assert main(["train", str(config), "--output", str(out), "--verbose", "0"]) == 0
    straight = fw.models.load_model(tmp_path / "straight" / "model.fw")
    resumed = fw.models.load_model(out / "model.fw")
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]  # appended, not restarted


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "framework", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--set KEY=VALUE" in result.stdout and "resume" in result.stdout
    for command in ("evaluate", "predict", "summary", "validate"):
        assert subprocess.run([sys.executable, "-m", "framework", command, "--help"],
                              capture_output=True).returncode == 0
