"""Model files: exact predictions and resumption, atomic saves, and refusal of tampered archives."""
import io
import pickle
import zipfile

import numpy as np
import pytest
import yaml

import framework as fw
from framework import layers
from framework.saving import ArchiveError


def _data():
    rng = np.random.default_rng(0)
    return rng.random((200, 6)).astype("float32"), rng.integers(0, 3, 200)


def _model():
    fw.utils.set_random_seed(5)
    model = fw.Sequential([fw.Input((6,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                           layers.Dense(3, activation="softmax")])
    model.compile(fw.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_load_predicts_identically_and_resumes_exactly(tmp_path):
    x, y = _data()
    straight = _model()
    straight.fit(x, y, epochs=4, batch_size=32, verbose=0)
    first = _model()
    first.fit(x, y, epochs=2, batch_size=32, verbose=0)
    first.save(tmp_path / "model.fw")
    resumed = fw.models.load_model(tmp_path / "model.fw")
    np.testing.assert_array_equal(resumed.predict(x, verbose=0), first.predict(x, verbose=0))
    assert resumed.epochs_done == 2 and resumed.optimizer.iterations == first.optimizer.iterations
    assert resumed.metrics_names == first.metrics_names
    resumed.fit(x, y, epochs=4, initial_epoch=resumed.epochs_done, batch_size=32, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_functional_model_and_extension_independence(tmp_path):
    fw.utils.set_random_seed(0)
    a, b = fw.Input((3,), name="a"), fw.Input((2,), name="b")
    shared = layers.Dense(4)
    out = layers.Dense(1)(shared(a) + shared(layers.Dense(3)(b)))
    model = fw.Model([a, b], out)
    model.save(tmp_path / "model.anything")  # uncompiled; any extension
    loaded = fw.saving.load_model(tmp_path / "model.anything")
    data = [np.ones((2, 3)), np.ones((2, 2))]
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    assert not loaded.compiled


def test_weights_only_round_trip_and_mismatch(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "w.npz")
    other = _model()
    for w in other.weights:
        w.assign(np.zeros(w.shape))
    other.load_weights(tmp_path / "w.npz")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    smaller = fw.Sequential([fw.Input((6,)), layers.Dense(2)])
    with pytest.raises(ArchiveError, match="weight arrays"):
        smaller.load_weights(tmp_path / "w.npz")


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.fw"
    model = _model()
    model.save(path)
    before = path.read_bytes()

    def broken(self, name, data, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.fw"]  # no temporary file left behind


def _tamper(source, target, replace=None, add=None):
    """Copy archive ``source`` to ``target``, replacing member contents and adding members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if replace and info.filename in replace:
                data = replace[info.filename](data)
            new.writestr(info.filename, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.fw"
    _model().save(path)
    return path


def test_module_path_instead_of_class_name_is_refused(saved, tmp_path):
    bad = tmp_path / "bad.fw"
    _tamper(saved, bad, {"model.yaml": lambda d: d.replace(b"class_name: Dense", b"class_name: os.system", 1)})
    with pytest.raises(ValueError, match="Unknown layer 'os.system'"):
        fw.models.load_model(bad)


def test_yaml_python_tag_is_refused(saved, tmp_path):
    bad = tmp_path / "bad.fw"
    _tamper(saved, bad, {"model.yaml": lambda d: d.replace(
        b"class_name: Dense", b"class_name: !!python/object/apply:os.system ['touch pwned']", 1)})
    with pytest.raises(ArchiveError, match="not plain YAML"):
        fw.models.load_model(bad)
    assert not (tmp_path / "pwned").exists()


def test_pickled_array_is_refused(saved, tmp_path):
    bad = tmp_path / "bad.fw"

    def pickled(_):
        buffer = io.BytesIO()
        np.savez(buffer, w00000=np.array([{"evil": 1}], dtype=object))
        return buffer.getvalue()
    _tamper(saved, bad, {"weights.npz": pickled})
    with pytest.raises(ArchiveError, match="unpickling"):
        fw.models.load_model(bad)


@pytest.mark.parametrize("member", ["../escape.yaml", "/etc/passwd", "extra.py"])
def test_member_paths_outside_the_archive_or_unknown_are_refused(saved, tmp_path, member):
    bad = tmp_path / "bad.fw"
    _tamper(saved, bad, add={member: b"x"})
    with pytest.raises(ArchiveError, match="refusing member path|unexpected member"):
        fw.models.load_model(bad)


def test_not_a_zip_and_missing_members(tmp_path, saved):
    junk = tmp_path / "junk.fw"
    junk.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ArchiveError, match="not a zip archive"):
        fw.models.load_model(junk)
    partial = tmp_path / "partial.fw"
    with zipfile.ZipFile(saved) as old, zipfile.ZipFile(partial, "w") as new:
        new.writestr("model.yaml", old.read("model.yaml"))
    with pytest.raises(ArchiveError, match="missing member"):
        fw.models.load_model(partial)


def test_archive_members_are_plain_data(saved):
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == sorted(["metadata.yaml", "model.yaml", "weights.npz", "compile.yaml",
                                                     "optimizer.npz", "state.yaml"])
        compile_cfg = yaml.safe_load(archive.read("compile.yaml"))
        assert compile_cfg["optimizer"]["class_name"] in ("Adam", "adam")
        assert compile_cfg["loss"] == "sparse_categorical_crossentropy"


def test_model_checkpoint_names_files_and_keeps_the_best(tmp_path):
    x, y = _data()
    model = _model()
    every = fw.callbacks.ModelCheckpoint(str(tmp_path / "every-{epoch:02d}-{loss:.3f}.fw"))
    best = fw.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.npz"), monitor="val_loss",
                                        save_best_only=True, save_weights_only=True)
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, callbacks=[every, best], verbose=0)
    names = sorted(p.name for p in tmp_path.glob("every-*.fw"))
    assert names == [f"every-{e + 1:02d}-{loss:.3f}.fw" for e, loss in enumerate(history.history["loss"])]
    assert best.best == min(history.history["val_loss"])
    restored = _model()
    restored.load_weights(tmp_path / "best.weights.npz")
    best_epoch = int(np.argmin(history.history["val_loss"]))
    snapshot = fw.models.load_model(tmp_path / names[best_epoch])
    for a, b in zip(restored.get_weights(), snapshot.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="available fields"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[fw.callbacks.ModelCheckpoint(str(tmp_path / "{nope}.fw"))])


def test_backup_and_restore_resumes_an_interrupted_fit_exactly(tmp_path):
    x, y = _data()
    straight = _model()
    straight.fit(x, y, epochs=5, batch_size=32, verbose=0)

    class Interrupt(fw.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    interrupted = _model()
    backup = fw.callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[backup, Interrupt()])
    assert (tmp_path / "backup" / "backup.fw").exists()
    fresh = _model()  # a new process would build the model again, then call fit with the same callback
    history = fresh.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[fw.callbacks.BackupAndRestore(tmp_path / "backup")])
    assert history.epoch == [3, 4]
    for a, b in zip(straight.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup" / "backup.fw").exists()  # deleted after a completed fit
