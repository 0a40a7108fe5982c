"""framework train and its run folder, driven as a user drives it (subprocesses): fresh folders for new
runs, --overwrite, --resume / --fresh, a checkpoint that does not fit the config, --version,
--print-config, user code (--import, plugins:), validate's checks across sections, and the end-of-run
report."""
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml

import framework as fw

pytest.importorskip("sklearn")  # the digits dataset ships with scikit-learn

CONFIG = textwrap.dedent("""\
    seed: 0
    model:
      input_shape: [8, 8]
      layers:
        - Flatten
        - Dense: {units: 16, activation: relu}
        - Dense: {units: 10, activation: softmax}
    compile:
      optimizer: adam
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    data:
      train: {dataset: digits, stop: 160}
      test: {dataset: digits, split: test, stop: 40}
      validation_split: 0.25
      scale: 0.0625
    fit:
      epochs: 2
      batch_size: 40
      verbose: 0
    """)

# a plugin: a callback that interrupts training (as Ctrl-C does) after the epoch it is given
PLUGIN = textwrap.dedent("""\
    import framework as fw

    @fw.utils.register_serializable(package="tests")
    class InterruptAfter(fw.callbacks.Callback):
        def __init__(self, epoch=0):
            super().__init__()
            self.epoch = epoch

        def get_config(self):
            return {"epoch": self.epoch}

        def on_epoch_end(self, epoch, logs=None):
            if epoch == self.epoch:
                raise KeyboardInterrupt
    """)


def run(folder, *args, env=None):
    """``framework ARGS`` in ``folder`` with ``folder`` on PYTHONPATH: (exit code, stdout, stderr)."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
    environment.pop("FRAMEWORK_TRACEBACK", None)
    environment.update(env or {})
    result = subprocess.run([sys.executable, "-m", "framework", *map(str, args)], cwd=folder, capture_output=True,
                            text=True, env=environment, timeout=300)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    (tmp_path / "myplugins").mkdir()
    (tmp_path / "myplugins" / "__init__.py").write_text("")
    (tmp_path / "myplugins" / "callbacks.py").write_text(PLUGIN)
    return tmp_path


def interrupted_config(folder, name="stop.yaml", extra=""):
    text = "plugins: [myplugins.callbacks]\n" + CONFIG.replace(
        "  verbose: 0\n", "  verbose: 0\n  callbacks:\n    - InterruptAfter: {epoch: 0}\n") + extra
    (folder / name).write_text(text)
    return name


# ----------------------------------------------------------------------------- the run folder

def test_a_finished_run_is_never_overwritten_silently(folder):
    code, out, err = run(folder, "train", "tiny.yaml")
    assert code == 0, err
    first = (folder / "runs" / "tiny" / "model.fw").read_bytes()
    code, out, err = run(folder, "train", "tiny.yaml", "--set", "fit.epochs=1")
    assert code == 0, err
    assert f"{folder / 'runs' / 'tiny'} holds a finished run; this run writes to {folder / 'runs' / 'tiny-2'}" in err
    assert (folder / "runs" / "tiny" / "model.fw").read_bytes() == first
    assert fw.models.load_model(folder / "runs" / "tiny-2" / "model.fw").epochs_done == 1
    assert yaml.safe_load((folder / "runs" / "tiny-2" / "config.yaml").read_text())["output"] == \
        str(folder / "runs" / "tiny-2")
    code, out, err = run(folder, "train", "tiny.yaml", "--set", "fit.epochs=1")
    assert code == 0 and (folder / "runs" / "tiny-3" / "model.fw").exists()
    # --overwrite writes over the first run
    code, out, err = run(folder, "train", "tiny.yaml", "--set", "fit.epochs=1", "--overwrite")
    assert code == 0, err
    assert fw.models.load_model(folder / "runs" / "tiny" / "model.fw").epochs_done == 1
    assert not (folder / "runs" / "tiny-4").exists()


def test_an_explicit_output_holding_a_finished_run_needs_overwrite(folder):
    assert run(folder, "train", "tiny.yaml", "--output", "mine")[0] == 0
    code, out, err = run(folder, "train", "tiny.yaml", "--output", "mine")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (f"{folder / 'mine'} holds a finished run (model.fw); add --overwrite to replace it, "
                           "or choose another --output")
    assert run(folder, "train", "tiny.yaml", "--output", "mine", "--overwrite")[0] == 0


def test_a_checkpoint_is_resumed_by_default_and_said_so(folder):
    name = interrupted_config(folder)
    code, out, err = run(folder, "train", name)
    assert code == 130, err
    backup = folder / "runs" / "stop" / "backup" / "backup.fw"
    assert backup.exists() and not (folder / "runs" / "stop" / "model.fw").exists()
    assert "Epochs: 1 of 2 (interrupted)" in err
    # the same command (without the interrupting callback) resumes and says so
    code, out, err = run(folder, "train", name, "--set", "fit.callbacks=[]")
    assert code == 0, err
    assert f"Resuming from the checkpoint in {backup.parent}: 1 of 2 epochs done (--fresh starts over instead)" in err
    assert "Epochs: 2 of 2, 1 before resuming (completed)" in out
    history = (folder / "runs" / "stop" / "history.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]
    assert not backup.exists()


def test_fresh_discards_a_checkpoint_and_resume_requires_one(folder):
    name = interrupted_config(folder)
    code, out, err = run(folder, "train", name, "--resume")
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith("--resume: there is no checkpoint in ")
    assert run(folder, "train", name)[0] == 130
    code, out, err = run(folder, "train", name, "--set", "fit.callbacks=[]", "--fresh")
    assert code == 0, err
    assert "Discarded the checkpoint" in err and "Resuming" not in err
    assert "Epochs: 2 of 2 (completed)" in out
    history = (folder / "runs" / "stop" / "history.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]  # started over: not appended
    assert run(folder, "train", name, "--resume", "--fresh")[0] == 2  # they exclude each other


def test_a_checkpoint_that_does_not_fit_the_config_is_one_line_with_exit_2(folder):
    name = interrupted_config(folder)
    assert run(folder, "train", name)[0] == 130
    code, out, err = run(folder, "train", name, "--set", "fit.callbacks=[]", "--set",
                         "model.layers.1.Dense.units=32")
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "the checkpoint does not match the config" in err and "(8, 16)" not in err
    assert re.search(r"has shape \(64, 16\) in the checkpoint and \(64, 32\) in the config", err)
    assert "--fresh" in err
    assert not (folder / "runs" / "stop" / "model.fw").exists()  # nothing was trained or written
    # another optimizer: its state does not fit either
    code, out, err = run(folder, "train", name, "--set", "fit.callbacks=[]", "--set", "compile.optimizer=sgd")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--fresh" in err, err
    assert run(folder, "train", name, "--set", "fit.callbacks=[]", "--set", "model.layers.1.Dense.units=32",
               "--fresh")[0] == 0


# ----------------------------------------------------------------------------- --version, --print-config

def test_version_and_print_config(folder):
    code, out, err = run(folder, "--version")
    assert code == 0 and out.strip() == f"framework {fw.__version__}"
    code, out, err = run(folder, "train", "tiny.yaml", "--print-config", "--set", "fit.epochs=7")
    assert code == 0, err
    printed = yaml.safe_load(out)
    assert printed["fit"]["epochs"] == 7 and printed["fit"]["shuffle"] is True  # overrides and defaults
    assert printed["compile"]["optimizer"] == "adam" and printed["output"] == str(folder / "runs" / "tiny")
    assert not (folder / "runs").exists()  # nothing ran
    assert run(folder, "train", "tiny.yaml")[0] == 0
    code, out, err = run(folder, "train", "tiny.yaml", "--print-config")
    assert yaml.safe_load(out)["output"] == str(folder / "runs" / "tiny-2")  # where it would write
    assert not (folder / "runs" / "tiny-2").exists()


# ----------------------------------------------------------------------------- user code

def test_import_flag_and_plugins_key_make_user_classes_usable(folder):
    text = CONFIG.replace("  verbose: 0\n", "  verbose: 0\n  callbacks:\n    - InterruptAfter: {epoch: 5}\n")
    (folder / "user.yaml").write_text(text)
    code, out, err = run(folder, "validate", "user.yaml")
    assert code == 2 and "unknown callback 'InterruptAfter'" in err
    code, out, err = run(folder, "validate", "user.yaml", "--import", "myplugins.callbacks")
    assert code == 0, err
    code, out, err = run(folder, "train", "user.yaml", "--import", "myplugins.callbacks")
    assert code == 0, err
    written = folder / "runs" / "user" / "config.yaml"
    assert yaml.safe_load(written.read_text())["plugins"] == ["myplugins.callbacks"]
    assert run(folder, "validate", written)[0] == 0  # the resolved config imports it itself
    (folder / "keyed.yaml").write_text("plugins: [myplugins.callbacks]\n" + text)
    assert run(folder, "validate", "keyed.yaml")[0] == 0


def test_bad_plugins_are_one_line_at_their_place_with_exit_2(folder):
    (folder / "bad.yaml").write_text("plugins:\n  - myplugins.nothing_here\n" + CONFIG)
    code, out, err = run(folder, "validate", "bad.yaml")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (f"bad.yaml:2: plugins: cannot import 'myplugins.nothing_here': no module "
                           "named 'myplugins.nothing_here' (install its package, or put its folder on PYTHONPATH)")
    (folder / "path.yaml").write_text("plugins: [./myplugins/callbacks.py]\n" + CONFIG)
    code, out, err = run(folder, "train", "path.yaml")
    assert code == 2 and err.startswith(f"path.yaml:1: plugins: './myplugins/callbacks.py' is a file "
                                        "path; give the module's dotted name")
    (folder / "myplugins" / "broken.py").write_text("raise RuntimeError('plugin setup failed')\n")
    code, out, err = run(folder, "train", "tiny.yaml", "--import", "myplugins.broken")
    assert code == 2 and err.strip() == ("--import myplugins.broken: cannot import 'myplugins.broken': "
                                         "RuntimeError: plugin setup failed")
    code, out, err = run(folder, "validate", "tiny.yaml", "--import", "os; rm")
    assert code == 2 and "is not a module name" in err
    assert not (folder / "runs").exists()


def test_loading_a_model_file_never_imports_a_module_it_names(folder, tmp_path_factory):
    """A model file naming an unknown class (here a module's name) fails to load without importing it."""
    model = fw.Sequential([fw.Input((3,)), fw.layers.Dense(2)])
    path = folder / "model.fw"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["model.yaml"] = members["model.yaml"].replace(b"Dense", b"probe_module_xyz")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    marker = folder / "imported.txt"
    (folder / "probe_module_xyz.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    script = textwrap.dedent(f"""\
        import sys
        import framework as fw
        try:
            fw.models.load_model({str(path)!r})
        except ValueError as e:
            print("refused:", e)
        print("probe_module_xyz" in sys.modules)
        """)
    result = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(folder)), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "probe_module_xyz" in result.stdout
    assert result.stdout.strip().endswith("False") and not marker.exists()


# ----------------------------------------------------------------------------- validate's checks across sections

def test_reduce_lr_on_plateau_beside_a_schedule(folder):
    text = CONFIG.replace("  optimizer: adam\n", "  optimizer:\n    Adam:\n      learning_rate:\n"
                          "        CosineDecay: {initial_learning_rate: 0.01, decay_steps: 100}\n")
    text = text.replace("  verbose: 0\n", "  verbose: 0\n  callbacks:\n    - ReduceLROnPlateau: {patience: 2}\n")
    (folder / "plateau.yaml").write_text(text)
    code, out, err = run(folder, "validate", "plateau.yaml")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (f"plateau.yaml:25: ReduceLROnPlateau cannot change the learning rate of an "
                           f"optimizer whose learning_rate is a schedule (CosineDecay at plateau.yaml:12)"
                           ": remove the callback or give the optimizer a fixed learning_rate")


def test_a_one_hot_loss_on_integer_labels(folder):
    (folder / "onehot.yaml").write_text(CONFIG.replace("loss: sparse_categorical_crossentropy",
                                                       "loss: categorical_crossentropy"))
    code, out, err = run(folder, "validate", "onehot.yaml")
    assert code == 2
    assert err.strip() == (f"onehot.yaml:10: loss categorical_crossentropy takes one-hot targets, but "
                           f"dataset 'digits' (data.train at onehot.yaml:13) has integer class labels; "
                           "use sparse_categorical_crossentropy, or add data.one_hot: 10")
    assert run(folder, "validate", "onehot.yaml", "--set", "data.one_hot=10")[0] == 0
    # the remote datasets are known too, without loading them
    code, out, err = run(folder, "validate", "onehot.yaml", "--set", "data.train={dataset: mnist}", "--set",
                         "data.test={dataset: mnist, split: test}", "--set", "model.input_shape=[28, 28]")
    assert code == 2 and "dataset 'mnist'" in err and "use sparse_categorical_crossentropy" in err


def test_a_dataset_that_needs_a_download_while_offline(folder):
    (folder / "remote.yaml").write_text(CONFIG.replace("{dataset: digits, stop: 160}", "{dataset: mnist}")
                                        .replace("input_shape: [8, 8]", "input_shape: [28, 28]")
                                        .replace("{dataset: digits, split: test, stop: 40}", "{dataset: mnist_sample, "
                                                 "split: test, path: data}"))
    (folder / "data").mkdir()
    home = folder / "empty_home"
    code, out, err = run(folder, "validate", "remote.yaml", env={"FRAMEWORK_OFFLINE": "1", "FRAMEWORK_HOME": str(home)})
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith(f"remote.yaml:13: data.train: dataset 'mnist' needs a download of "
                                  "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz")
    assert "FRAMEWORK_OFFLINE" in err and len(err.strip().splitlines()) == 1  # the test split has a path: fine
    code, out, err = run(folder, "validate", "remote.yaml", env={"FRAMEWORK_HOME": str(home)})
    assert code == 0 and "would be downloaded" in err  # online (as far as anyone said): only a note


# ----------------------------------------------------------------------------- the end-of-run report

def test_the_report_says_how_the_run_ended(folder):
    text = CONFIG.replace("epochs: 2", "epochs: 30").replace(
        "  verbose: 0\n", "  verbose: 0\n  callbacks:\n    - EarlyStopping: {monitor: val_accuracy, patience: 1, "
                          "restore_best_weights: true, min_delta: 0.5}\n")
    (folder / "early.yaml").write_text(text)
    code, out, err = run(folder, "train", "early.yaml")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("Test: loss: ")
    assert lines[1] == ("Epochs: 2 of 30 (stopped early by EarlyStopping at epoch 2; weights restored from "
                        "epoch 1)")
    history = (folder / "runs" / "early" / "history.csv").read_text().strip().splitlines()
    header = history[0].split(",")
    values = [float(row.split(",")[header.index("val_accuracy")]) for row in history[1:]]
    best = max(values)
    assert lines[2] == f"Best val_accuracy: {best:.4f} at epoch {values.index(best) + 1} (highest)"
    assert re.fullmatch(r"Time: \d+\.\d s", lines[3])
    assert lines[4] == "Saved model.fw, history.csv and config.yaml in runs/early"
    # without a monitoring callback: val_loss, lowest
    code, out, err = run(folder, "train", "tiny.yaml")
    history = (folder / "runs" / "tiny" / "history.csv").read_text().strip().splitlines()
    header = history[0].split(",")
    values = [float(row.split(",")[header.index("val_loss")]) for row in history[1:]]
    assert f"Best val_loss: {min(values):.4f} at epoch {values.index(min(values)) + 1} (lowest)" in out
    assert "Epochs: 2 of 2 (completed)" in out
