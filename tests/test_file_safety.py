"""Model files that cannot exhaust memory, YAML that cannot explode, errors that name the member, no
silently wrong values, and saves that leave nothing behind (issue 15).

Each test crafts the hostile or damaged file the issue found and checks it is refused from what the
file *declares*, before any large allocation (measured with tracemalloc), with an ArchiveError /
ValueError / ConfigError that names the file and member and quotes no more than a few hundred
characters of the input."""
import io
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import framework as fw
from framework import layers
from framework.saving import ArchiveError

REPO = Path(fw.__file__).resolve().parents[1]
MB = 2**20


# ----------------------------------------------------------------------------------------- helpers
def _model():
    fw.utils.set_random_seed(5)
    model = fw.Sequential([fw.Input((6,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(3, activation="softmax")])
    model.compile(fw.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.random((64, 6)).astype("float32"), rng.integers(0, 3, 64)


@pytest.fixture
def saved(tmp_path):
    model = _model()
    model.fit(*_data(), epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "model.fw"
    model.save(path)
    return path


def _rewrite(source, target, replace=None, add=(), drop=()):
    """Copy archive ``source`` to ``target``: members replaced (name -> function of the old bytes),
    added (a list of (name, bytes), duplicates allowed) or dropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
            for info in old.infolist():
                if info.filename in drop:
                    continue
                data = old.read(info)
                if replace and info.filename in replace:
                    data = replace[info.filename](data)
                new.writestr(info.filename, data)
            for name, data in add:
                new.writestr(name, data)
    return target


def _npy(shape, dtype="float32", data=b""):
    """A .npy header declaring ``shape`` and ``dtype``, followed by ``data`` (none by default)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue() + data


def _npz(entries):
    """An .npz (stored zip) of name -> .npy bytes or array."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, value in entries:
                if isinstance(value, np.ndarray):
                    out = io.BytesIO()
                    np.save(out, value, allow_pickle=False)
                    value = out.getvalue()
                archive.writestr(name, value)
    return buffer.getvalue()


def _weights(path):
    with zipfile.ZipFile(path) as archive, np.load(io.BytesIO(archive.read("weights.npz"))) as data:
        return [data[k] for k in sorted(data.files)]


def _peak(function):
    """(exception raised or None, peak bytes traced while ``function`` ran)."""
    tracemalloc.start()
    try:
        function()
        error = None
    except Exception as e:  # noqa: BLE001 - the caller checks which
        error = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


def _bomb(levels=7, width=10):
    """YAML anchors whose last one expands to width**levels scalars: ``*l{levels-1}``."""
    lines = ["l0: &l0 [" + ", ".join(["xx"] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _refused(path, *fragments, load=None):
    """The ArchiveError ``load(path)`` raises; checks it names each fragment and stays short."""
    with pytest.raises(ArchiveError) as info:
        (load or fw.models.load_model)(path)
    message = str(info.value)
    assert str(path) in message and len(message) < 1000, message[:2000]
    for fragment in fragments:
        assert fragment in message, message
    return message


# ------------------------------------------------------------------ 1. sizes checked before reading
@pytest.mark.parametrize("shape", [(10**6, 10**6), (1536, 1024, 1024)], ids=["1e12-elements", "6GiB"])
def test_npy_header_declaring_a_huge_array_is_refused_before_allocating(saved, tmp_path, shape):
    def weights(data):
        with np.load(io.BytesIO(data)) as old:
            return _npz([("w00000.npy", _npy(shape))] + [(f"{k}.npy", old[k]) for k in sorted(old.files)[1:]])
    bad = _rewrite(saved, tmp_path / "bad.fw", {"weights.npz": weights})
    assert bad.stat().st_size < 20_000
    error, peak = _peak(lambda: fw.models.load_model(bad))
    assert isinstance(error, ArchiveError), repr(error)[:300]
    assert "weights.npz, array 'w00000'" in str(error) and "shape" in str(error) and "(6, 16)" in str(error)
    assert peak < 20 * MB, f"peak {peak / MB:.0f} MB"


def test_member_inflating_past_what_the_model_needs_is_refused_unread(saved, tmp_path):
    bad = tmp_path / "bad.fw"
    with zipfile.ZipFile(saved) as old, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename == "weights.npz":
                with new.open("weights.npz", "w") as f:  # 96 MB of zeros: about 100 KB compressed
                    for _ in range(96):
                        f.write(bytes(MB))
            else:
                new.writestr(info.filename, old.read(info))
    assert bad.stat().st_size < 300_000
    error, peak = _peak(lambda: fw.models.load_model(bad))
    assert isinstance(error, ArchiveError), repr(error)[:300]
    assert "weights.npz declares 100,663,296 bytes" in str(error) and "needs at most" in str(error)
    assert peak < 20 * MB, f"peak {peak / MB:.0f} MB"


def _set_declared_size(path, member, size):
    """Overwrite ``member``'s uncompressed size in the central directory (a forged header)."""
    data, name, pos = bytearray(path.read_bytes()), member.encode(), 0
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        length = int.from_bytes(data[pos + 28:pos + 30], "little")
        if data[pos + 46:pos + 46 + length] == name:
            data[pos + 24:pos + 28] = size.to_bytes(4, "little")
            break
        pos += 4
    path.write_bytes(bytes(data))


def test_member_declaring_an_impossible_compression_ratio_is_refused(saved):
    with zipfile.ZipFile(saved) as archive:
        compressed = archive.getinfo("state.yaml").compress_size
    _set_declared_size(saved, "state.yaml", compressed * 5000)
    _refused(saved, "state.yaml", "a ratio deflate cannot produce")


def test_metadata_and_weights_must_match_the_model_config_exactly(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "shape.fw", {"metadata.yaml": lambda d: d.replace(b"- 6\n  - 16", b"- 16\n  - 6")})
    _refused(bad, "metadata.yaml, weight 0", "declares shape (16, 6)", "(6, 16)")

    def transposed(data):
        with np.load(io.BytesIO(data)) as old:
            arrays = {k: old[k] for k in old.files}
        arrays["w00000"] = arrays["w00000"].T.copy()
        return _npz([(f"{k}.npy", v) for k, v in arrays.items()])
    bad = _rewrite(saved, tmp_path / "weights.fw", {"weights.npz": transposed})
    _refused(bad, "weights.npz, array 'w00000'", "has shape (16, 6)", "(6, 16)")


def test_optimizer_slots_must_match_their_variables(saved, tmp_path):
    def short_slots(data):
        with np.load(io.BytesIO(data)) as old:
            return _npz([(f"{k}.npy", old[k][:-1]) for k in old.files])
    bad = _rewrite(saved, tmp_path / "bad.fw", {"optimizer.npz": short_slots})
    _refused(bad, "optimizer.npz, array", "has shape")


def test_fortran_ordered_and_big_endian_weights_load_exactly(saved, tmp_path):
    expected = _weights(saved)

    def reordered(data):
        with np.load(io.BytesIO(data)) as old:
            arrays = [np.asfortranarray(old[k]) if old[k].ndim == 2 else old[k].astype(">f4")
                      for k in sorted(old.files)]
        return _npz([(f"w{i:05d}.npy", a) for i, a in enumerate(arrays)])
    good = _rewrite(saved, tmp_path / "good.fw", {"weights.npz": reordered})
    for a, b in zip(fw.models.load_model(good).get_weights(), expected):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32


# --------------------------------------------------------------------------- 2. YAML alias bombs
BOMBS = {
    "metadata.yaml": lambda d: (_bomb() + "format: *l6\nweights: []\n").encode(),
    "model.yaml": lambda d: (_bomb() + "format: framework.model/1\nclass_name: *l6\nconfig: {layers: []}\n").encode(),
    "compile.yaml": lambda d: (_bomb() + "optimizer: *l6\nloss: mse\n").encode(),
    "state.yaml": lambda d: (_bomb() + "optimizer: *l6\nepochs_done: 1\nglobal_rng: null\nlayer_rng: []\n").encode(),
}


@pytest.mark.parametrize("member", sorted(BOMBS))
def test_alias_bomb_in_a_member_is_refused_with_a_short_message(saved, tmp_path, member):
    bad = _rewrite(saved, tmp_path / "bad.fw", {member: BOMBS[member]})
    error, peak = _peak(lambda: fw.models.load_model(bad))
    assert isinstance(error, ArchiveError), repr(error)[:300]
    assert member in str(error) and "alias" in str(error) and len(str(error)) < 400, str(error)[:1000]
    assert peak < 20 * MB, f"peak {peak / MB:.0f} MB"


def test_model_from_yaml_and_json_refuse_bombs_and_deep_nesting():
    with pytest.raises(ValueError, match=r"model YAML:\d+: the document expands to more than 1,000,000"):
        fw.models.model_from_yaml(_bomb() + "format: framework.model/1\nclass_name: Sequential\nconfig: *l6\n")
    deep = "format: framework.model/1\nclass_name: Sequential\nconfig: " + "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match=r"model YAML:3: nested deeper than 200 levels"):
        fw.models.model_from_yaml(deep)
    with pytest.raises(ValueError, match="model JSON: nested too deeply"):
        fw.models.model_from_json('{"config": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _nested_sequential(depth):
    config = {"layers": [{"class_name": "Dense", "config": {"units": 2}}]}
    for _ in range(depth):
        config = {"layers": [{"class_name": "Sequential", "config": config}]}
    return config


def test_models_nested_too_deeply_are_refused_with_a_clear_message(saved, tmp_path):
    with pytest.raises(ValueError, match="models nested more than 50 deep"):
        fw.Sequential.from_config(_nested_sequential(200))
    document = json.dumps({"format": "framework.model/1", "class_name": "Sequential", "config": _nested_sequential(60)})
    with pytest.raises(ValueError, match="models nested more than 50 deep"):
        fw.models.model_from_json(document)
    bad = _rewrite(saved, tmp_path / "nested.fw", {"model.yaml": lambda d: document.encode()})
    _refused(bad, "model.yaml", "models nested more than 50 deep")
    deeper = json.dumps({"format": "framework.model/1", "class_name": "Sequential", "config": _nested_sequential(200)})
    bad = _rewrite(saved, tmp_path / "deeper.fw", {"model.yaml": lambda d: deeper.encode()})
    _refused(bad, "model.yaml", "nested deeper than 200 levels")
    nested = fw.Sequential([fw.Input((3,)), fw.Sequential([fw.Sequential([layers.Dense(2)])])])
    nested.save(tmp_path / "ok.fw")  # models nested a few deep, as real ones are, still load
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(fw.models.load_model(tmp_path / "ok.fw").predict(x, verbose=0),
                                  nested.predict(x, verbose=0))


def test_run_config_bombs_and_deep_nesting_are_config_errors_with_lines(tmp_path):
    from framework.runs import ConfigError, load_run_config
    path = tmp_path / "run.yaml"
    path.write_text(_bomb() + "model: {layers: *l6}\n")
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert str(info.value) == f"{path}:6: the document expands to more than 1,000,000 values (aliases count at " \
                              "each use: an alias bomb?)"
    path.write_text("model:\n  layers: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match=rf"{path}:2: nested deeper than 200 levels"):
        load_run_config(path)
    path.write_text("fit: {epochs: !!int " + "9x" * 50_000 + "}\n")
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert "is not an integer" in str(info.value) and len(str(info.value)) < 400


def test_cli_ignores_a_bomb_beside_the_model_and_refuses_one_in_data(saved, capsys):
    from framework.cli import main
    (saved.parent / "config.yaml").write_text(_bomb() + "data: {scale: *l6}\n")
    x = saved.parent / "x.npy"
    np.save(x, np.zeros((2, 6), "float32"))
    assert main(["predict", str(saved), "--data", str(x), "--output", str(saved.parent / "p.npy")]) == 0
    assert len(capsys.readouterr().err) < 1000
    assert main(["evaluate", str(saved), "--data", "{" + _bomb().replace("\n", ", ") + "split: *l6}"]) == 2
    err = capsys.readouterr().err
    assert "--data:1: the document expands to more than 1,000,000 values" in err and len(err) < 1000


# --------------------------------------------------------- 3. damaged and malformed members
def _flip_member_bytes(path, member):
    data, name, pos = bytearray(path.read_bytes()), member.encode(), 0
    while True:
        pos = data.index(b"PK\x03\x04", pos)
        length, extra = int.from_bytes(data[pos + 26:pos + 28], "little"), int.from_bytes(data[pos + 28:pos + 30], "little")
        if data[pos + 30:pos + 30 + length] == name:
            start = pos + 30 + length + extra
            size = int.from_bytes(data[pos + 18:pos + 22], "little")
            for i in range(start + size // 3, start + size // 3 + 8):
                data[i] ^= 0xA5
            break
        pos += 4
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("member", ["model.yaml", "weights.npz", "optimizer.npz"])
def test_damaged_member_is_an_archive_error_naming_it(saved, member):
    _flip_member_bytes(saved, member)
    _refused(saved, member)


def test_deeply_nested_yaml_member_is_an_archive_error(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.fw", {"model.yaml": lambda d: b"config: " + b"[" * 100_000 + b"]" * 100_000})
    _refused(bad, "model.yaml:1: nested deeper than 200 levels")


MALFORMED = [
    ("metadata.yaml", b"format: framework.archive/1\nweights: 5\n", "'weights' must be a list"),
    ("metadata.yaml", b"format: framework.archive/1\nweights: [1, 2, 3, 4]\n", "weight 0"),
    ("model.yaml", b"format: framework.model/1\nclass_name: Functional\nconfig: {layers: [], inputs: 1, outputs: 2}\n",
     "malformed model config"),
    ("model.yaml", b"format: framework.model/1\nclass_name: Functional\nconfig: {layers: [{name: a}], inputs: []}\n",
     "model.yaml"),
    ("compile.yaml", b"- 1\n- 2\n", "expected a mapping of compile() arguments"),
    ("compile.yaml", b"optimizer: adam\nbogus: 1\n", "unknown key 'bogus'"),
    ("compile.yaml", b"optimizer: {class_name: 5}\nloss: mse\n", "compile.yaml"),
    ("state.yaml", b"- 1\n- 2\n", "expected a mapping with keys"),
    ("state.yaml", b"optimizer: {_iterations: many}\nepochs_done: 1\nglobal_rng: null\nlayer_rng: []\n",
     "optimizer._iterations must be a number, received 'many'"),
    ("state.yaml", None, "epochs_done"),
    ("state.yaml", None, "layer_rng[0]"),
]


def _state_with(saved, key, value):
    with zipfile.ZipFile(saved) as archive:
        state = yaml.safe_load(archive.read("state.yaml"))
    state[key] = value
    return yaml.safe_dump(state).encode()


@pytest.mark.parametrize("member, text, fragment", MALFORMED, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(MALFORMED)])
def test_malformed_members_are_archive_errors_naming_the_member(saved, tmp_path, member, text, fragment):
    if fragment == "epochs_done":
        text = _state_with(saved, "epochs_done", "many")
    elif fragment == "layer_rng[0]":
        text = _state_with(saved, "layer_rng", [{"bit_generator": "PCG64", "state": 5}])
    bad = _rewrite(saved, tmp_path / "bad.fw", {member: lambda d: text})
    _refused(bad, member, fragment)


# ------------------------------------------------------------------ 4. no silently wrong values
def test_complex_weights_are_refused(saved, tmp_path):
    def complex_weights(data):
        with np.load(io.BytesIO(data)) as old:
            return _npz([(f"{k}.npy", old[k] * (1 + 1j)) for k in sorted(old.files)])
    bad = _rewrite(saved, tmp_path / "bad.fw", {"weights.npz": complex_weights})
    _refused(bad, "weights.npz, array 'w00000'", "complex")
    with zipfile.ZipFile(saved) as archive:
        inner = archive.read("weights.npz")
    weights = tmp_path / "w.npz"
    weights.write_bytes(complex_weights(inner))
    with pytest.raises(ArchiveError, match="complex"):
        _model().load_weights(weights)


def test_empty_or_missing_optimizer_state_is_refused(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "empty.fw", {"optimizer.npz": lambda d: _npz([])})
    _refused(bad, "optimizer.npz", "holds 0 optimizer slots, the model has 2", "missing m, v")
    bad = _rewrite(saved, tmp_path / "missing.fw", drop=("optimizer.npz",))
    _refused(bad, "compile.yaml, state.yaml without optimizer.npz")


def test_duplicate_members_are_refused(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "outer.fw", add=[("model.yaml", b"format: framework.model/1\n")])
    _refused(bad, "member 'model.yaml' appears twice")

    def twice(data):
        with np.load(io.BytesIO(data)) as old:
            entries = [(f"{k}.npy", old[k]) for k in sorted(old.files)]
        return _npz(entries[:3] + [("w00000.npy", entries[0][1])])
    bad = _rewrite(saved, tmp_path / "inner.fw", {"weights.npz": twice})
    _refused(bad, "weights.npz", "member 'w00000.npy' appears twice")


def test_a_bad_checkpoint_changes_nothing_in_the_model(saved, tmp_path):
    from framework.saving.archive import restore_checkpoint
    bad = _rewrite(saved, tmp_path / "bad.fw", {"state.yaml": lambda d: _state_with(saved, "epochs_done", -1)})
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ArchiveError, match="epochs_done"):
        restore_checkpoint(model, bad)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert model.epochs_done == 0


def test_error_messages_never_echo_long_input(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.fw", {"metadata.yaml": lambda d: b"format: " + b"A" * 100_000 + b"\n"})
    message = _refused(bad, "unknown model file format")
    assert message.count("A") < 250


def test_load_weights_checks_headers_before_reading(tmp_path):
    model = _model()
    path = tmp_path / "w.npz"
    path.write_bytes(_npz([("w00000.npy", _npy((10**6, 10**6)))] +
                          [(f"w{i:05d}.npy", w) for i, w in enumerate(model.get_weights()) if i]))
    error, peak = _peak(lambda: model.load_weights(path))
    assert isinstance(error, ArchiveError) and "w00000" in str(error) and "(6, 16)" in str(error), repr(error)[:300]
    assert peak < 20 * MB


# ---------------------------------------------------------- 5. saves that leave nothing behind
def _temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_stale_temporary_files_of_the_target_are_removed_on_the_next_save(tmp_path):
    from framework.saving.atomic import temp_pattern
    hour_ago = time.time() - 3600
    names = {"stale": ".tmp-model.fw-0123abcd.part", "fresh": ".tmp-model.fw-89abcdef.part",
             "other": ".tmp-other.fw-0123abcd.part", "not ours": ".tmp-model.fw-user.part"}
    for key, name in names.items():
        (tmp_path / name).write_bytes(b"partial")
        if key != "fresh":
            os.utime(tmp_path / name, (hour_ago, hour_ago))
    _model().save(tmp_path / "model.fw")
    assert _temp_files(tmp_path) == sorted(n for k, n in names.items() if k != "stale")
    assert temp_pattern(tmp_path / "model.fw").match(names["stale"])
    assert not temp_pattern(tmp_path / "model.fw").match(".tmp-model.fw-2-0123abcd.part")  # model.fw-2's


def test_a_temporary_file_locked_by_a_writer_is_left_alone(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    busy = tmp_path / ".tmp-model.fw-0123abcd.part"
    busy.write_bytes(b"being written")
    os.utime(busy, (time.time() - 3600,) * 2)
    with open(busy, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _model().save(tmp_path / "model.fw")
        assert busy.exists()
    _model().save(tmp_path / "model.fw")
    assert not busy.exists()


KILLED_SAVE = """
import sys, time, zipfile
import framework as fw
write = zipfile.ZipFile.writestr
def slow(self, name, data, *args, **kwargs):
    write(self, name, data, *args, **kwargs)
    print("writing", flush=True)
    time.sleep(60)
zipfile.ZipFile.writestr = slow
fw.Sequential([fw.Input((4,)), fw.layers.Dense(3)]).save(sys.argv[1])
"""


def test_kill_during_save_leaves_a_temporary_file_the_next_save_removes(tmp_path):
    target = tmp_path / "model.fw"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(target)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        left = _temp_files(tmp_path)
        assert len(left) == 1 and left[0].startswith(".tmp-model.fw-")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert not target.exists()
    os.utime(tmp_path / left[0], (time.time() - 60,) * 2)  # a while later, the run is started again
    _model().save(target)
    assert _temp_files(tmp_path) == [] and fw.models.load_model(target).compiled


def test_a_failed_backup_keeps_the_previous_backup(tmp_path, monkeypatch):
    x, y = _data()

    class Interrupt(fw.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt
    backup_dir = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, epochs=3, verbose=0, callbacks=[fw.callbacks.BackupAndRestore(backup_dir), Interrupt()])
    before = (backup_dir / "backup.fw").read_bytes()
    write = zipfile.ZipFile.writestr

    def broken(self, name, data, *args, **kwargs):
        if name == "weights.npz":
            raise OSError("disk full")
        return write(self, name, data, *args, **kwargs)
    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError, match="disk full"):
        _model().fit(x, y, epochs=3, verbose=0, callbacks=[fw.callbacks.BackupAndRestore(backup_dir)])
    assert (backup_dir / "backup.fw").read_bytes() == before and _temp_files(backup_dir) == []


RUN = """\
seed: 3
model:
  input_shape: [4]
  layers:
    - Dense: {units: 8, activation: relu}
    - Dense: {units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
data:
  train: {dataset: synthetic_blobs, samples: 120, features: 4, classes: 3}
fit: {epochs: 3, batch_size: 32}
"""


def test_train_keeps_the_backup_until_model_fw_is_written(tmp_path, monkeypatch, capsys):
    from framework.cli import main
    from framework.saving import archive
    config = tmp_path / "run.yaml"
    config.write_text(RUN)
    assert main(["train", str(config), "--output", str(tmp_path / "straight"), "--verbose", "0"]) == 0
    save = archive.save_model

    def killed_before_model_fw(model, path):
        if Path(path).name == "model.fw":
            raise OSError("killed")
        return save(model, path)
    monkeypatch.setattr(archive, "save_model", killed_before_model_fw)
    out = tmp_path / "out"
    try:
        main(["train", str(config), "--output", str(out), "--verbose", "0"])
    except OSError:
        pass
    assert (out / "backup" / "backup.fw").exists() and not (out / "model.fw").exists()
    monkeypatch.setattr(archive, "save_model", save)
    assert main(["train", str(config), "--output", str(out), "--verbose", "0"]) == 0
    assert not (out / "backup").exists()
    straight, resumed = fw.models.load_model(tmp_path / "straight" / "model.fw"), fw.models.load_model(out / "model.fw")
    assert resumed.epochs_done == 3
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- the bounded reader itself
PARSERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
def test_bounded_yaml_reads_what_safe_load_reads(parser, monkeypatch):
    from framework.config import bounded_yaml
    monkeypatch.setattr(bounded_yaml, "_PARSER", parser)
    texts = ["base: &b {units: 8, act: relu}\nlayers:\n  - *b\n  - {<<: *b, units: 4}\nwhen: 2024-01-02\nn: 1e3\n",
             "- a\n- b: [1, {c: d}, !!str 5, ~, yes, 0x1f, .inf]\n  e: |\n    text\n  ? explicit key\n  : v\n",
             "%YAML 1.1\n--- !!map\n? a\n: !!set {x, y}\n..."]
    for text in texts:
        assert bounded_yaml.load_yaml(text) == yaml.safe_load(text)
        assert bounded_yaml.load_yaml(text.encode()) == yaml.safe_load(text)
    assert bounded_yaml.load_yaml("") is None and bounded_yaml.load_yaml("# only a comment\n") is None


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
def test_bounded_yaml_limits_and_messages(parser, monkeypatch):
    from framework.config import bounded_yaml
    from framework.config.bounded_yaml import Limits, YAMLLimitError, load_yaml
    monkeypatch.setattr(bounded_yaml, "_PARSER", parser)  # libyaml's events when installed, PyYAML's otherwise
    cases = [
        ("a: " + "[" * 100_000 + "]" * 100_000, None, "src:1: nested deeper than 200 levels"),
        ("a: 1\n---\nb: 2\n", None, "src:2: expected a single document"),
        ("a: &x 1\nb: &x 2\n", None, "src:2: YAML syntax error: found duplicate anchor 'x'"),
        ("a: [1, 2, 3]", Limits(max_bytes=5), "12 bytes of YAML; the limit is 5"),
        ("a: [1, 2, 3]", Limits(max_nodes=4), "src:1: more than 4 values"),
        ("a: &a [1, 2]\nb: [*a, *a, *a, *a]\n", Limits(max_nodes=12), "src:2: the document expands to more than 12"),
        ("a: [[[1]]]", Limits(max_depth=4), "src:1: nested deeper than 4 levels"),
        ("a0: &a0 {x: 1}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 20)), Limits(max_depth=10),
         "nested deeper than 10 levels once aliases and merges are expanded"),
        ("a: &a [1, *a]", None, "src:1: recursive alias"),
        ("a: !!python/object/apply:os.system ['true']", None, "src:1: not plain YAML"),
        ("a: *" + "z" * 5000, None, "src:1: YAML syntax error: found undefined alias 'zzz"),
        (b"\xff\xfe", None, "src: not UTF-8 text"),
    ]
    for text, limits, expected in cases:
        with pytest.raises(YAMLLimitError) as info:
            load_yaml(text, "src", limits)
        assert expected in str(info.value) and len(str(info.value)) < 300, str(info.value)[:400]
        assert isinstance(info.value, ValueError) and isinstance(info.value, yaml.YAMLError)
    with pytest.raises(yaml.constructor.ConstructorError):  # as yaml.safe_load raises
        load_yaml("a: !!python/name:os.system ''")


def test_load_model_takes_custom_objects_for_unregistered_classes(tmp_path):
    class Doubler(layers.Layer):
        def call(self, x):
            return x * 2

        def compute_output_shape(self, input_shape):
            return input_shape
    model = fw.Sequential([fw.Input((2,)), layers.Dense(2), Doubler()])
    model.save(tmp_path / "custom.fw")
    _refused(tmp_path / "custom.fw", "model.yaml", "custom_objects")
    loaded = fw.models.load_model(tmp_path / "custom.fw", custom_objects={"Doubler": Doubler})
    x = np.ones((3, 2), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
