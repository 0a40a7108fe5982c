"""Keras files in and out (framework.saving.keras_files).

The fixtures in tests/keras_files/ were made by real Keras (make_fixtures.py, versions in
fixtures.json), so these tests need no Keras: predictions of the loaded models must equal the
outputs Keras recorded. Files written here are loaded by real Keras in a child process when Keras
is installed (skipped with a reason otherwise). The attack files are built here, one per refusal.
"""
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.saving.keras_files import KerasFileError
from framework.saving.keras_files.weight_paths import keras_layer_order

h5py = pytest.importorskip("h5py", reason="Keras .h5 files need h5py (the 'h5' extra)")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "keras_files"
MODELS = ["mlp", "convnet", "resnet_block", "text_bilstm", "transformer", "nested_shared", "image_zoo",
          "sequence_zoo"]
TOLERANCE = 1e-5


def recorded(name):
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as data:
        xs = [data[k] for k in sorted(data.files) if k.startswith("x")]
        return (xs if len(xs) > 1 else xs[0]), data["y0"]


def assert_predicts_as_keras(model, name):
    x, expected = recorded(name)
    assert np.ptp(expected) > 1e-3  # the recorded outputs differ between samples: the comparison can fail
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=TOLERANCE)


# ----- files Keras made ---------------------------------------------------------------------------
def test_fixtures_record_the_keras_that_made_them_and_stay_small():
    info = json.loads((FIXTURES / "fixtures.json").read_text())
    assert info["keras_version"].startswith("3.") and sorted(info["models"]) == sorted(MODELS)
    for path in FIXTURES.iterdir():
        if path.suffix in (".keras", ".h5", ".npz"):
            assert path.stat().st_size < 300_000, path.name


@pytest.mark.parametrize("name", MODELS)
def test_a_keras_file_loads_and_predicts_as_keras(name):
    model = fw.models.load_model(FIXTURES / f"{name}.keras")
    assert_predicts_as_keras(model, name)


@pytest.mark.parametrize("name", MODELS)
def test_keras_layer_order_is_the_order_keras_saved(name):
    """Weights of a file without its config are found by Keras's layer order, computed here."""
    with zipfile.ZipFile(FIXTURES / f"{name}.keras") as archive:
        config = json.loads(archive.read("config.json"))
    model = fw.models.load_model(FIXTURES / f"{name}.keras", compile=False)
    names = [entry.get("name") or entry["config"]["name"] for entry in config["config"]["layers"]
             if entry["class_name"] not in ("NotEqual", "Any")
             and not (config["class_name"] == "Sequential" and entry["class_name"] == "InputLayer")]
    assert [layer.name for layer in keras_layer_order(model)] == names


def test_compile_settings_are_restored_where_they_map():
    model = fw.models.load_model(FIXTURES / "mlp.keras")
    assert model.compiled and type(model.optimizer).__name__ == "Adam"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)
    x, _ = recorded("mlp")
    history = model.fit(x, np.arange(len(x)) % 5, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy"} and np.isfinite(history.history["loss"]).all()
    assert not fw.models.load_model(FIXTURES / "mlp.keras", compile=False).compiled


def test_shared_layers_and_nested_models_keep_one_set_of_weights():
    model = fw.models.load_model(FIXTURES / "nested_shared.keras")
    block, shared = model.get_layer("block"), model.get_layer("shared_dense")
    assert sum(node.layer is block for node in model.graph_nodes()) == 2
    assert sum(node.layer is shared for node in model.graph_nodes()) == 2
    assert len(model.weights) == len({id(w) for w in model.weights}) == 12


def mlp_in_python():
    return fw.Sequential([fw.Input((20,)), layers.Dense(32, activation="relu"), layers.Dropout(0.2),
                          layers.Dense(16, activation="tanh"), layers.Dense(5, activation="softmax")])


@pytest.mark.parametrize("file", ["mlp.weights.h5", "mlp.keras", "mlp_keras3.h5", "mlp_tfkeras2.h5"])
def test_load_weights_into_a_model_built_in_python(file):
    model = mlp_in_python()
    model.load_weights(FIXTURES / file)
    assert_predicts_as_keras(model, "mlp")


@pytest.mark.parametrize("file, name", [("mlp_keras3.h5", "mlp"), ("mlp_tfkeras2.h5", "mlp"),
                                        ("text_bilstm_keras3.h5", "text_bilstm")])
def test_a_legacy_h5_model_loads_and_predicts_as_keras(file, name):
    assert_predicts_as_keras(fw.models.load_model(FIXTURES / file), name)


def test_weights_of_another_architecture_are_refused_naming_the_layer():
    model = fw.Sequential([fw.Input((20,)), layers.Dense(32), layers.Dense(16), layers.Dense(4)])
    with pytest.raises(KerasFileError, match=r"mlp.weights.h5: /layers/dense_2/vars/0 has shape \(16, 5\); "
                                             r"the model needs \(16, 4\)"):
        model.load_weights(FIXTURES / "mlp.weights.h5")
    small = fw.Sequential([fw.Input((20,)), layers.Dense(32), layers.Dense(16)])
    with pytest.raises(KerasFileError, match="holds weights the model does not have: .*/layers/dense_2/vars/0"):
        small.load_weights(FIXTURES / "mlp.weights.h5")


# ----- files written here -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["resnet_block", "text_bilstm", "nested_shared"])
def test_a_written_keras_file_loads_back_here(tmp_path, name):
    model = fw.models.load_model(FIXTURES / f"{name}.keras")
    model.save(tmp_path / "out.keras")
    with zipfile.ZipFile(tmp_path / "out.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    assert_predicts_as_keras(fw.models.load_model(tmp_path / "out.keras"), name)
    model.save_weights(tmp_path / "out.weights.h5")
    fresh = fw.models.load_model(FIXTURES / f"{name}.keras")
    for w in fresh.weights:
        w.assign(np.zeros(w.shape, w.dtype))
    fresh.load_weights(tmp_path / "out.weights.h5")
    assert_predicts_as_keras(fresh, name)


def keras_files_doubled(t):
    return t * 2.0


fw.utils.register_serializable(package="test_keras_files")(keras_files_doubled)


def test_a_model_keras_cannot_load_is_written_in_this_librarys_format_with_a_warning(tmp_path):
    model = fw.Sequential([fw.Input((3,)), layers.Dense(2), layers.Lambda(keras_files_doubled)])
    with pytest.warns(UserWarning, match="not Keras's: Keras could not load a model with Lambda layer 'lambda.*' "
                                         r"\(Keras would need its Python code in the file"):
        model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert "model.yaml" in archive.namelist()
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(fw.models.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)


KERAS_CHECK = r'''
import os, sys
import keras, numpy as np  # on the backend KERAS_BACKEND names
fixtures, out = sys.argv[1], sys.argv[2]
for name in sys.argv[3:]:
    data = np.load(os.path.join(fixtures, name + ".npz"))
    xs = [data[k] for k in sorted(data.files) if k.startswith("x")]
    x = xs if len(xs) > 1 else xs[0]
    model = keras.models.load_model(os.path.join(out, name + ".keras"))
    # a call, not predict(): predict compiles a function per model
    errors = [float(np.abs(keras.ops.convert_to_numpy(model(x, training=False)) - data["y0"]).max())]
    for variable in model.weights:  # the weights file must bring every value back (loading a model costs seconds)
        variable.assign(np.zeros(variable.shape, variable.dtype))
    model.load_weights(os.path.join(out, name + ".weights.h5"))
    errors.append(float(np.abs(keras.ops.convert_to_numpy(model(x, training=False)) - data["y0"]).max()))
    print(name, errors[0], errors[1], bool(getattr(model, "compiled", False)))
'''


def _keras_backend():
    """A backend real Keras 3 can run on here: JAX, else TensorFlow (the tf extra brings Keras with it)."""
    if importlib.util.find_spec("keras") is None:
        return None
    return next((name for name, module in (("jax", "jax"), ("tensorflow", "tensorflow"))
                 if importlib.util.find_spec(module) is not None), None)


@pytest.mark.skipif(_keras_backend() is None, reason="Keras 3 with JAX or TensorFlow is not installed (not a "
                                                     "dependency: only this check of written files needs it)")
def test_keras_loads_the_files_written_here(tmp_path):
    for name in MODELS:
        model = fw.models.load_model(FIXTURES / f"{name}.keras")
        model.save(tmp_path / f"{name}.keras")
        model.save_weights(tmp_path / f"{name}.weights.h5")
    # Keras takes seconds to load each model: two processes, half the models each, use both cores
    env = dict(os.environ, KERAS_BACKEND=_keras_backend())
    checks = [subprocess.Popen([sys.executable, "-c", KERAS_CHECK, str(FIXTURES), str(tmp_path), *MODELS[half::2]],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
              for half in (0, 1)]
    outputs = [check.communicate(timeout=900) for check in checks]
    for check, (_, stderr) in zip(checks, outputs):
        assert check.returncode == 0, stderr[-3000:]
    stdout = "".join(out for out, _ in outputs)
    rows = {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line.split()}
    assert sorted(rows) == sorted(MODELS)
    for name, (error, weights_error, compiled) in rows.items():
        assert float(error) <= TOLERANCE and float(weights_error) <= TOLERANCE, name
        assert compiled == ("True" if name not in ("image_zoo", "sequence_zoo") else "False"), name


# ----- attack files -------------------------------------------------------------------------------
def fixture_members(name="mlp"):
    with zipfile.ZipFile(FIXTURES / f"{name}.keras") as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def write_keras(path, config=None, weights=None, extra=None):
    members = fixture_members()
    if config is not None:
        members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    members.update(extra or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def edited_weights(tmp_path, edit):
    """The MLP's model.weights.h5 after ``edit(h5file)``, as bytes."""
    path = tmp_path / "edited.h5"
    path.write_bytes(fixture_members()["model.weights.h5"])
    with h5py.File(path, "r+") as f:
        edit(f)
    return path.read_bytes()


def mlp_config():
    return json.loads(fixture_members()["config.json"])


def assert_refused(path, pattern, marker):
    with pytest.raises(fw.saving.ArchiveError, match=pattern):  # KerasFileError, or the zip checks' ArchiveError
        fw.models.load_model(path)
    assert not marker.exists()


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "MARKER"


def test_a_lambda_layer_is_refused_with_its_place_in_the_file(tmp_path, marker):
    config = mlp_config()
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    config["config"]["layers"].insert(2, {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                                          "config": {"name": "evil", "function": {
                                              "class_name": "__lambda__", "config": {"code": code}}}})
    assert_refused(write_keras(tmp_path / "lambda.keras", config),
                   r"lambda.keras: config.json: layers\[2\] \(class_name 'Lambda'\): Lambda layers hold Python code",
                   marker)


def test_an_unknown_class_is_refused_and_its_module_never_imported(tmp_path, marker):
    config = mlp_config()
    config["config"]["layers"][1] = {"module": "os", "class_name": "system", "registered_name": "os>system",
                                     "config": {"command": f"touch {marker}"}}
    assert_refused(write_keras(tmp_path / "os.keras", config),
                   r"config.json: layers\[1\] \(class_name 'system'\): class_name 'system' is not a layer this "
                   r"library has \(module 'os' is never imported\)", marker)


def test_an_object_inside_a_layer_pointing_at_subprocess_is_refused(tmp_path, marker):
    config = mlp_config()
    config["config"]["layers"][1]["config"]["kernel_initializer"] = {
        "module": "subprocess", "class_name": "Popen", "registered_name": "subprocess>Popen",
        "config": {"args": ["touch", str(marker)]}}
    assert_refused(write_keras(tmp_path / "popen.keras", config),
                   r"layers\[1\] \(class_name 'Dense'\), config.kernel_initializer: class_name 'Popen' is not an? "
                   r"initializer this library has \(module 'subprocess' is never imported\)", marker)


def test_a_model_of_an_unknown_class_is_refused(tmp_path, marker):
    config = mlp_config()
    config.update({"module": "subprocess", "class_name": "Popen", "registered_name": "Popen"})
    assert_refused(write_keras(tmp_path / "model.keras", config),
                   r"config.json: class_name 'Popen' is not a model", marker)


def test_a_legacy_h5_with_a_lambda_is_refused(tmp_path, marker):
    path = tmp_path / "lambda.h5"
    shutil.copy(FIXTURES / "mlp_tfkeras2.h5", path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"].insert(1, {"class_name": "Lambda", "config": {
            "name": "lambda", "function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"}})
        f.attrs["model_config"] = json.dumps(config)
    assert_refused(path, r"lambda.h5: model_config: layers\[1\] \(class_name 'Lambda'\)", marker)


def test_a_zip_member_declaring_an_absurd_size_is_refused_before_reading(tmp_path, marker):
    path = write_keras(tmp_path / "bomb.keras")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("model.weights.h5")
    for offset in range(len(data) - 46):  # the weights member's central directory entry: forge its size
        if data[offset:offset + 4] == b"PK\x01\x02" and data[offset + 46:offset + 46 + 16] == b"model.weights.h5":
            data[offset + 24:offset + 28] = (2**32 - 1).to_bytes(4, "little")
    assert info.file_size < 2**32 - 1 and b"\xff\xff\xff\xff" in data
    path.write_bytes(bytes(data))
    assert_refused(path, "bomb.keras: member 'model.weights.h5' declares 4,294,967,295 bytes from .* compressed, "
                         "a ratio deflate cannot produce", marker)


def test_a_weights_member_larger_than_the_model_justifies_is_refused(tmp_path, marker):
    path = write_keras(tmp_path / "big.keras", weights=b"\0" * (20 * 2**20))  # deflates 1000:1, an honest ratio
    assert_refused(path, r"big.keras: model.weights.h5 declares 20,971,520 bytes uncompressed; the model it "
                         r"describes needs at most", marker)


def test_an_unexpected_member_is_refused(tmp_path, marker):
    assert_refused(write_keras(tmp_path / "extra.keras", extra={"../evil.py": b"import os"}),
                   r"extra.keras: refusing member path '../evil.py'", marker)


def _huge_dataset(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars"].create_dataset("0", shape=(2**20, 2**20), dtype="float32", chunks=(1, 16))


def _external_link(f):
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.ExternalLink("/etc/passwd", "/secret")


def _soft_link(f):
    del f["layers/dense/vars/1"]
    f["layers/dense/vars/1"] = h5py.SoftLink("/layers/dense/vars/0")


def _external_dataset(f):
    raw = Path(f.filename).with_name("raw.bin")
    raw.write_bytes(np.zeros((20, 32), "float32").tobytes())
    del f["layers/dense/vars/0"]
    f["layers/dense/vars"].create_dataset("0", shape=(20, 32), dtype="float32", external=[(str(raw), 0, 20 * 32 * 4)])


def _virtual_dataset(f):
    source = Path(f.filename).with_name("source.h5")
    with h5py.File(source, "w") as other:
        other.create_dataset("data", data=np.ones((20, 32), "float32"))
    layout = h5py.VirtualLayout(shape=(20, 32), dtype="float32")
    layout[:] = h5py.VirtualSource(str(source), "data", shape=(20, 32))
    del f["layers/dense/vars/0"]
    f["layers/dense/vars"].create_virtual_dataset("0", layout)


@pytest.mark.parametrize("edit, pattern", [
    (_huge_dataset, r"/layers/dense/vars/0 declares shape \(1048576, 1048576\) \(4,398,046,511,104 bytes\); refusing"),
    (_external_link, r"/layers/dense/vars/0 is an external link \(to '/etc/passwd':'/secret'\); links to other "
                     r"files are refused"),
    (_soft_link, r"/layers/dense/vars/1 is a soft link \(to '/layers/dense/vars/0'\)"),
    (_external_dataset, r"/layers/dense/vars/0 stores its data in external file\(s\) .*raw.bin"),
    (_virtual_dataset, r"/layers/dense/vars/0 is a virtual dataset"),
])
def test_unsafe_hdf5_objects_are_refused_in_keras_and_weights_files(tmp_path, marker, edit, pattern):
    weights = edited_weights(tmp_path, edit)
    assert_refused(write_keras(tmp_path / "attack.keras", weights=weights),
                   "attack.keras: model.weights.h5: " + pattern, marker)
    (tmp_path / "attack.weights.h5").write_bytes(weights)
    with pytest.raises(KerasFileError, match="attack.weights.h5: " + pattern):
        mlp_in_python().load_weights(tmp_path / "attack.weights.h5")


def test_nothing_is_assigned_when_a_later_weight_is_refused(tmp_path):
    def bad_last(f):
        del f["layers/dense_2/vars/1"]
        f["layers/dense_2/vars"].create_dataset("1", data=np.zeros(7, "float32"))
    (tmp_path / "bad.weights.h5").write_bytes(edited_weights(tmp_path, bad_last))
    model = mlp_in_python()
    before = [w.value.copy() for w in model.weights]
    with pytest.raises(KerasFileError, match=r"/layers/dense_2/vars/1 has shape \(7,\); the model needs \(5,\)"):
        model.load_weights(tmp_path / "bad.weights.h5")
    for old, w in zip(before, model.weights):
        np.testing.assert_array_equal(old, w.value)


def test_unsupported_arguments_are_refused_unless_they_leave_a_feature_off(tmp_path):
    config = mlp_config()
    config["config"]["layers"][1]["config"]["quantization_config"] = {"mode": "int8"}
    with pytest.raises(KerasFileError, match=r"layers\[1\] \(class_name 'Dense'\): argument quantization_config="
                                             r"\{'mode': 'int8'\} is not supported by this library's Dense"):
        fw.models.load_model(write_keras(tmp_path / "q.keras", config))
    config = mlp_config()
    config["config"]["layers"][1]["config"]["dtype"]["config"]["name"] = "mixed_float16"
    with pytest.raises(KerasFileError, match="dtype policy 'mixed_float16' .* is not supported"):
        fw.models.load_model(write_keras(tmp_path / "mixed.keras", config))


def test_a_truncated_or_foreign_file_is_a_clear_error(tmp_path):
    (tmp_path / "junk.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(KerasFileError, match="junk.weights.h5: not a readable HDF5 file"):
        mlp_in_python().load_weights(tmp_path / "junk.weights.h5")
    with pytest.raises(KerasFileError, match=r"no.json.keras: config.json: not valid JSON"):
        fw.models.load_model(write_keras(tmp_path / "no.json.keras", extra={"config.json": b"{"}))
