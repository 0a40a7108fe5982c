"""Runs write only where they should, data mistakes end before the run folder is touched, and the
command prints messages (not tracebacks) with documented exit codes (issue 15)."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import framework as fw
from framework.cli import main
from framework.runs import ConfigError, load_run_config, run_config_from_data

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """\
model:
  input_shape: [4]
  layers:
    - Dense: {units: 3, activation: softmax}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
data:
  train: train.npz
fit:
  epochs: 1
  verbose: 0
"""
CALLBACKS_LINE = 15  # the line of the first callback's arguments in config(..., callback=...)


def arrays(n=40, labels=None, nan_at=None, y_len=None):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n if y_len is None else y_len).astype("float32")
    if labels is not None:
        y[-1] = labels
    if nan_at is not None:
        y[nan_at] = np.nan
    return rng.normal(size=(n, 4)).astype("float32"), y


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A working folder holding train.npz; the tests run from it."""
    monkeypatch.chdir(tmp_path)
    x, y = arrays()
    np.savez(tmp_path / "train.npz", x=x, y=y)
    return tmp_path


def config(folder, extra="", callback=None, name="run.yaml", data=None):
    text = CONFIG if data is None else CONFIG.replace("train: train.npz", f"train: {data}")
    if callback is not None:
        text += f"  callbacks:\n    - {callback}\n"
    path = folder / name
    path.write_text(text + extra)
    return path


def problems(path, *overrides, output=None):
    with pytest.raises(ConfigError) as info:
        load_run_config(path, list(overrides), output=output)
    return [str(p) for p in info.value.problems]


# ----------------------------------------------------------------------------- paths a config writes

@pytest.mark.parametrize("callback, message", [
    ("CSVLogger: {filename: /tmp/framework_issue15_abs.csv, append: true}", "is an absolute path"),
    ("CSVLogger: {filename: ../../x.csv}", "goes up out of the run folder ('..')"),
    ("CSVLogger: {filename: '~/x.csv'}", "is an absolute path"),
    ("CSVLogger: {filename: .bashrc, append: true}", "names the hidden file or folder '.bashrc'"),
    ("ModelCheckpoint: {filepath: /tmp/m.fw}", "is an absolute path"),
    ("ModelCheckpoint: {filepath: 'ckpt/{epoch.__class__}.fw'}", "fields are plain names"),
    ("BackupAndRestore: {backup_dir: ../elsewhere}", "goes up out of the run folder"),
])
def test_config_paths_outside_the_run_folder_are_errors_at_their_line(folder, callback, message):
    path = config(folder, callback=callback)
    found = problems(path)
    assert len(found) == 1, found
    key = callback.split(":")[0] + "." + callback.split("{")[1].split(":")[0]
    assert found[0].startswith(f"{path}:{CALLBACKS_LINE}: fit.callbacks[0].{key}: ")
    assert message in found[0] and "--set fit.callbacks.0." in found[0]
    assert main(["validate", str(path)]) == 2


def test_problems_quote_long_values_cut_short(folder):
    found = problems(config(folder, callback="CSVLogger: {filename: /" + "a" * 20000 + "}",
                            extra="output: /" + "b" * 20000 + "\n"))
    assert len(found) == 2 and all(len(p) < 1200 for p in found)
    assert all("more characters)" in p for p in found)


def test_a_bad_config_never_touches_the_file_it_names(folder, capsys):
    target = folder / "startup_file"
    target.write_text("original\n")
    path = config(folder, callback=f"CSVLogger: {{filename: {target}, append: true}}")
    assert main(["train", str(path)]) == 2
    assert target.read_text() == "original\n"
    assert not (folder / "runs").exists()  # nothing written, not even the run folder
    assert f"{path}:{CALLBACKS_LINE}:" in capsys.readouterr().err


def test_a_symbolic_link_out_of_the_run_folder_is_refused(folder):
    outside = folder / "outside"
    outside.mkdir()
    run = folder / "runs" / "run"
    run.mkdir(parents=True)
    (run / "logs").symlink_to(outside, target_is_directory=True)
    found = problems(config(folder, callback="CSVLogger: {filename: logs/history.csv}"))
    assert len(found) == 1 and "leads out of the run folder" in found[0] and "symbolic link" in found[0]


def test_relative_paths_stay_inside_and_the_command_line_may_write_anywhere(folder, capsys):
    path = config(folder, callback="CSVLogger: {filename: logs/epochs.csv}")
    (folder / "runs" / "run" / "logs").mkdir(parents=True)
    assert main(["train", str(path)]) == 0
    assert (folder / "runs" / "run" / "logs" / "epochs.csv").read_text().startswith("epoch,accuracy,loss")
    chosen = folder / "chosen" / "log.csv"
    chosen.parent.mkdir()
    assert main(["train", str(path), "--output", str(folder / "other"),
                 "--set", f"fit.callbacks.0.CSVLogger.filename={chosen}"]) == 0
    assert chosen.read_text().startswith("epoch,")
    assert (folder / "other" / "model.fw").exists()


def test_python_api_callbacks_keep_full_freedom(tmp_path):
    model = fw.Sequential([fw.Input((4,)), fw.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = arrays()
    target = tmp_path / "anywhere" / "log.csv"
    target.parent.mkdir()
    model.fit(x, y, verbose=0, callbacks=[fw.callbacks.CSVLogger(str(target))])
    assert target.read_text().startswith("epoch,loss")


def test_the_output_key_is_confined_to_the_current_or_the_config_folder(folder):
    outside = folder.parent / f"{folder.name}_elsewhere"
    found = problems(config(folder, extra=f"output: {outside}\n"))
    assert len(found) == 1 and found[0].startswith(f"{folder / 'run.yaml'}:14: output ")
    assert "not inside the current folder or the config file's folder" in found[0]
    assert "--output DIR" in found[0]
    assert "not inside the current folder" in problems(config(folder, extra="output: ..\n"))[0]
    assert len(problems(config(folder, extra="output: .\n"))) == 1  # the folder itself, holding no run
    assert "hidden folder '.config'" in problems(config(folder, extra="output: .config/autostart\n"))[0]
    # a subfolder is fine, and so is anything the user chooses
    assert load_run_config(config(folder, extra="output: runs/mine\n")).output == folder / "runs" / "mine"
    assert load_run_config(config(folder, extra=f"output: {outside}\n"), output=outside).output == outside
    assert load_run_config(config(folder, extra=f"output: {outside}\n"), [f"output={outside}"]).output == outside
    assert run_config_from_data({"model": {"input_shape": [4], "layers": ["Dense"]}}, base_dir=folder,
                                overrides=["model.layers.0.Dense.units=3", "compile.loss=mse",
                                           "data.train=train.npz"]).output == folder / "runs" / "config"


def test_the_resolved_config_trains_again_from_its_run_folder(folder):
    assert main(["train", str(config(folder))]) == 0
    written = folder / "runs" / "run" / "config.yaml"
    assert load_run_config(written).output == written.parent
    assert main(["train", str(written)]) == 0


RULE = ("is not allowed: a name starts with a letter or '_' and continues with letters, digits, '_', '.' or '-' "
        "(at most 128 characters)")


@pytest.mark.parametrize("original, written, line, what", [
    ("  metrics: [accuracy]", "  metrics: [{Accuracy: {name: \"acc\\ntouch /tmp/pwn #\"}}]", 8,
     "the name of metric Accuracy 'acc\\ntouch /tmp/pwn #'"),
    ("softmax}", "softmax, name: \"a,b\"}", 4, "the name of layer Dense 'a,b'"),
    ("  loss: sparse_categorical_crossentropy", "  loss: {SparseCategoricalCrossentropy: {name: ../x}}", 7,
     "the name of loss SparseCategoricalCrossentropy '../x'"),
])
def test_names_that_reach_files_and_headers_are_plain(folder, original, written, line, what):
    path = folder / "run.yaml"
    path.write_text(CONFIG.replace(original, written))
    assert problems(path) == [f"{path}:{line}: {what} {RULE}"]
    path.write_text(CONFIG.replace(original, original.replace("softmax}", "softmax, name: out_1.a-b}")))
    load_run_config(path)


def test_functional_node_input_and_model_names_are_plain(folder):
    path = folder / "f.yaml"
    path.write_text(textwrap.dedent("""\
        model:
          name: "m\\nx"
          inputs: {"in put": [4]}
          nodes:
            - {name: "h;rm", layer: {Dense: {units: 3}}, inputs: "in put"}
          outputs: ["h;rm"]
        compile: {loss: mse}
        data: {train: train.npz}
        """))
    found = problems(path)
    assert [p.split(": ")[0] for p in found] == [f"{path}:2", f"{path}:3", f"{path}:5"]
    assert all("is not allowed" in p for p in found)


def test_csv_logger_refuses_header_keys_with_control_characters(tmp_path):
    model = fw.Sequential([fw.Input((4,)), fw.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=[fw.metrics.SparseCategoricalAccuracy(name="acc\necho pwned")])
    x, y = arrays()
    with pytest.raises(ValueError, match="control characters"):
        model.fit(x, y, verbose=0, callbacks=[fw.callbacks.CSVLogger(str(tmp_path / "h.csv"))])
    assert "echo pwned" not in (tmp_path / "h.csv").read_text()


def test_model_checkpoint_fields_cannot_add_folders(tmp_path):
    model = fw.Sequential([fw.Input((4,)), fw.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = arrays()
    checkpoint = fw.callbacks.ModelCheckpoint(str(tmp_path / "m{epoch:/>4}.fw"))
    with pytest.raises(ValueError, match="adds folders"):
        model.fit(x, y, verbose=0, callbacks=[checkpoint])
    model.fit(x, y, verbose=0, callbacks=[fw.callbacks.ModelCheckpoint(str(tmp_path / "m{epoch:02d}.fw"))])
    assert (tmp_path / "m01.fw").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m01.fw"]


# ----------------------------------------------------------------------------- data checked before writing

@pytest.mark.parametrize("kind, message", [
    ("mismatch", r"data\.train: the arrays have different numbers of samples: x 40, y 39"),
    ("label", r"data\.train: Output 'dense\w*' \(loss sparse_categorical_crossentropy\): the label of sample 39 "
              r"is 7\.0; with 3 classes a label is an integer in \[0, 2\]"),
    ("nan", r"data\.train: Output 'dense\w*': the target of sample 5 is nan; targets must be finite"),
])
def test_data_errors_end_with_exit_2_before_anything_is_written(folder, capsys, kind, message):
    x, y = arrays(labels=7 if kind == "label" else None, nan_at=5 if kind == "nan" else None,
                  y_len=39 if kind == "mismatch" else None)
    np.savez(folder / "bad.npz", x=x, y=y)
    path = config(folder, data="bad.npz")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(re.escape(f"{path}:10: ") + message, err.strip()), err
    assert not (folder / "runs").exists()
    assert main(["validate", str(path)]) == 2  # validate finds it too: the data is local
    assert re.fullmatch(re.escape(f"{path}:10: ") + message, capsys.readouterr().err.strip())


def test_validate_checks_no_data_it_would_have_to_download(folder, capsys, monkeypatch):
    from framework.datasets import cache

    def no_network(*args, **kwargs):
        raise AssertionError("validate tried to download")
    monkeypatch.setattr(cache, "_urlopen", no_network)
    monkeypatch.setenv("FRAMEWORK_HOME", str(folder / "empty_home"))
    path = config(folder, data="{dataset: mnist}").read_text()
    (folder / "remote.yaml").write_text(path.replace("input_shape: [4]", "input_shape: [28, 28]").replace(
        "    - Dense", "    - Flatten\n    - Dense"))
    assert main(["validate", str(folder / "remote.yaml")]) == 0
    captured = capsys.readouterr()
    assert "valid (2 layers, 2,355 parameters" in captured.out
    assert "data.train (dataset mnist) was not checked" in captured.err


# ----------------------------------------------------------------------------- sizes

def test_huge_declared_sizes_are_config_errors_naming_the_layer_and_bytes(folder):
    path = folder / "run.yaml"
    path.write_text(CONFIG.replace("units: 3", "units: 1000000000000"))
    found = problems(path)
    assert len(found) == 1 and found[0].startswith(f"{path}:4: Layer 'dense")
    assert "weight 'kernel' of shape (4, 1000000000000) (float32) needs 16,000,000,000,000 bytes" in found[0]


def test_class_weight_keys_beyond_the_classes_are_config_errors(folder):
    found = problems(config(folder, extra="  class_weight: {0: 1.0, 2000000000: 2.0}\n"))
    assert found == [f"{folder / 'run.yaml'}:14: class 2000000000 in fit.class_weight is out of range: the output "
                     "has 3 classes, so keys lie in [0, 2]"]
    assert "integers >= 0" in problems(config(folder, extra="  class_weight: {-1: 2.0}\n"))[0]


def test_validate_builds_no_real_weights(folder, monkeypatch):
    """Validation runs no initializer, and a model with 2 GB of weights validates in little memory."""
    def refuse(self, shape, dtype=None):
        raise AssertionError("an initializer ran during validation")
    monkeypatch.setattr(fw.initializers.GlorotUniform, "__call__", refuse)
    cfg = load_run_config(config(folder))
    assert cfg.parameters == 15 and cfg.layer_count == 1
    monkeypatch.undo()
    big = folder / "big.yaml"
    big.write_text(CONFIG.replace("input_shape: [4]", "input_shape: [25000]").replace("units: 3", "units: 20000"))
    # the child's own peak (VmHWM): ru_maxrss would carry over the pytest process's peak from the fork
    script = ("import sys\nfrom framework.runs import load_run_config\n"
              f"cfg = load_run_config({str(big)!r}, ['data.train={folder / 'train.npz'}', 'compile.loss=mse'])\n"
              "peak = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
              "print(cfg.parameters, peak)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    # the data does not fit this model, but that is found only when the data is loaded
    assert result.returncode == 0, result.stderr[-2000:]
    parameters, peak_kib = map(int, result.stdout.split())
    assert parameters == 25000 * 20000 + 20000  # 2 GB of float32 weights
    assert peak_kib < 1_000_000, f"validation peaked at {peak_kib} KiB"


# ----------------------------------------------------------------------------- errors and exit codes

def test_unexpected_errors_are_one_message_and_traceback_on_request(folder, capsys, monkeypatch):
    def boom(self, epoch, logs=None):
        raise RuntimeError("boom at the end of an epoch")
    monkeypatch.setattr(fw.callbacks.CSVLogger, "on_epoch_end", boom)
    path = str(config(folder))
    assert main(["train", path, "--output", "first"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: RuntimeError: boom at the end of an epoch",
                                        "(run again with --traceback, or FRAMEWORK_TRACEBACK=1, to see where it "
                                        "happened)"]
    assert main(["train", path, "--output", "second", "--traceback"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in boom" in err
    assert err.strip().endswith("error: RuntimeError: boom at the end of an epoch")
    monkeypatch.setenv("FRAMEWORK_TRACEBACK", "1")
    assert main(["validate", path, "--set", "fit.epochs=2"]) == 0  # no error, nothing printed to stderr
    assert main(["train", path, "--output", "third"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_evaluate_and_predict_report_bad_data_with_exit_2(folder, capsys):
    assert main(["train", str(config(folder))]) == 0
    model = str(folder / "runs" / "run" / "model.fw")
    x, y = arrays(labels=9)
    np.savez(folder / "bad.npz", x=x, y=y)
    assert main(["evaluate", model, "--data", "bad.npz"]) == 2
    assert re.match(r"--data: Output 'dense\w*' \(loss sparse_categorical_crossentropy\): the label of sample 39 "
                    r"is 9\.0", capsys.readouterr().err)
    np.save(folder / "wide.npy", np.zeros((3, 5), "float32"))
    assert main(["predict", model, "--data", "wide.npy", "--output", "p.npy"]) == 2
    assert "--data: Input" in capsys.readouterr().err
    np.save(folder / "objects.npy", np.array([{}], dtype=object), allow_pickle=True)
    assert main(["predict", model, "--data", "objects.npy", "--output", "p.npy"]) == 2
    assert "--data: cannot read objects.npy" in capsys.readouterr().err
    assert main(["evaluate", model, "--data", "missing.npz"]) == 2
    assert "Traceback" not in capsys.readouterr().err
