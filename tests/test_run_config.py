"""YAML run configs: safe reading, validation (every problem at once, each at its line), the
sequential and functional model forms, data sources, overrides, resolving, the shipped configs,
and docs/yaml.md against the registries."""
import gzip
import textwrap
from pathlib import Path

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.runs import (ConfigError, Problem, apply_overrides, load_run_config, read_run_config,
                            run_config_from_data)
from framework.runs.reference import generated_section, render_document, render_reference

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
MNIST_SHARED = ROOT.parent / "shared" / "data" / "mnist"


def write(tmp_path, text, name="run.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture
def npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.normal(size=(40, 6)).astype("float32"), y=rng.integers(0, 3, 40))
    return tmp_path / "train.npz"


BASE = """
model:
  input_shape: [6]
  layers:
    - Dense: {units: 8, activation: relu}
    - Dense: {units: 3, activation: softmax}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
data:
  train: train.npz
fit:
  epochs: 1
  batch_size: 16
  verbose: 0
"""


def problems_of(path, overrides=None):
    with pytest.raises(ConfigError) as info:
        load_run_config(path, overrides)
    return [(p.line, p.message) for p in info.value.problems]


def only_problem(path):
    found = problems_of(path)
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------- a valid config

def test_valid_sequential_config_builds_compiles_loads_and_fits(tmp_path, npz):
    cfg = load_run_config(write(tmp_path, BASE))
    assert cfg.seed is None and cfg.output == Path.cwd() / "runs" / "run"
    model = cfg.build_model()
    assert isinstance(model, fw.Sequential) and not model.compiled
    assert model.input_shape == (None, 6) and model.output_shape == (None, 3)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    args = cfg.compile_args()
    assert isinstance(args["optimizer"], fw.optimizers.Adam) and args["metrics"] == ["accuracy"]
    model.compile(**args)
    x, y, validation, test = cfg.load_data()
    assert x.shape == (40, 6) and y.shape == (40,) and validation is None and test is None
    fit_args = cfg.fit_args()
    assert fit_args["epochs"] == 1 and fit_args["batch_size"] == 16 and fit_args["callbacks"] == []
    history = model.fit(x, y, **fit_args)
    assert set(history.history) == {"loss", "accuracy"}


def test_build_model_gives_fresh_layers_each_call(tmp_path, npz):
    cfg = load_run_config(write(tmp_path, BASE))
    a, b = cfg.build_model(), cfg.build_model()
    assert a.layers[0] is not b.layers[0]


def test_validation_leaves_layer_names_and_random_streams_alone(tmp_path, npz):
    path = write(tmp_path, BASE)
    fw.utils.clear_session()
    fw.utils.set_random_seed(3)
    cfg = load_run_config(path)  # builds and compiles a model internally
    model = cfg.build_model()
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    fw.utils.clear_session()
    fw.utils.set_random_seed(3)
    reference = cfg.build_model()
    for w, r in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(w, r)


# ----------------------------------------------------------------------------- every error kind, at its line

ERRORS = {
    "unknown top-level key": (
        BASE + "fitt: {epochs: 2}\n", 16, "unknown key 'fitt' at the top level; did you mean 'fit'?"),
    "unknown fit key": (
        BASE.replace("  epochs: 1", "  epocs: 1"), 13, "unknown key 'epocs' in fit; did you mean 'epochs'?"),
    "misplaced key": (
        BASE.replace("  epochs: 1", "  validation_split: 0.1"), 13,
        "unknown key 'validation_split' in fit; validation_split belongs in data (data.validation_split)"),
    "wrong type": (
        BASE.replace("batch_size: 16", 'batch_size: "16"'), 14,
        "fit.batch_size must be an integer >= 1, received the text '16'"),
    "wrong type of a bool": (
        BASE + "  shuffle: yes please\n", 16, "fit.shuffle must be true or false, received the text 'yes please'"),
    "unknown layer": (
        BASE.replace("- Dense: {units: 8", "- Dens: {units: 8"), 4, "unknown layer 'Dens'; did you mean 'Dense'?"),
    "unknown loss": (
        BASE.replace("loss: sparse_categorical_crossentropy", "loss: sparse_categorical_crossentropi"), 8,
        "unknown loss 'sparse_categorical_crossentropi'; did you mean 'sparse_categorical_crossentropy' or "
        "'categorical_crossentropy' or 'SparseCategoricalCrossentropy'?"),
    "unknown optimizer": (
        BASE.replace("optimizer: adam", "optimizer: adamm"), 7,
        "unknown optimizer 'adamm'; did you mean 'adam' or 'nadam' or 'adamw'?"),
    "unknown metric": (
        BASE.replace("metrics: [accuracy]", "metrics: [accuracy, precison]"), 9,
        "unknown metric 'precison'; did you mean 'precision' or 'Precision' or 'poisson'?"),
    "unknown callback": (
        BASE + "  callbacks:\n    - EarlyStoping: {patience: 2}\n", 17,
        "unknown callback 'EarlyStoping'; did you mean 'EarlyStopping'?"),
    "callback needing Python": (
        BASE + "  callbacks:\n    - LambdaCallback: {}\n", 17,
        "callback 'LambdaCallback' cannot be used in a config: it takes Python functions"),
    "unknown layer argument": (
        BASE.replace("{units: 3, activation: softmax}", "{units: 3, activaton: softmax}"), 5,
        "unknown argument 'activaton' for layer Dense; did you mean 'activation'?"),
    "base Layer argument accepted, unknown one refused": (
        BASE.replace("{units: 3, activation: softmax}", "{units: 3, name: head, trainable: false, wibble: 2}"), 5,
        "unknown argument 'wibble' for layer Dense; valid arguments: units, activation, use_bias, "
        "kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer, "
        "kernel_constraint, bias_constraint, name, trainable, dtype, input_shape, batch_size, input_dim"),
    "missing required argument": (
        BASE.replace("{units: 3, activation: softmax}", "{activation: softmax}"), 5,
        "layer Dense is missing the required argument 'units'"),
    "argument the constructor refuses": (
        BASE.replace("- Dense: {units: 3, activation: softmax}", "- Dropout: {rate: 2}"), 5,
        "invalid arguments for layer Dropout: Layer 'dropout' (Dropout): rate must be in [0, 1), received 2"),
    "unknown activation": (
        BASE.replace("activation: relu", "activation: rellu"), 4,
        "unknown activation 'rellu'; did you mean 'relu' or 'relu6' or 'elu'?"),
    "unknown nested initializer": (
        BASE.replace("activation: relu}", "kernel_initializer: {GlorotUnifrom: {seed: 1}}}"), 4,
        "unknown initializer 'GlorotUnifrom'; did you mean 'GlorotUniform'"),
    "unknown optimizer argument": (
        BASE.replace("optimizer: adam", "optimizer: {Adam: {learning_rat: 0.1}}"), 7,
        "unknown argument 'learning_rat' for optimizer Adam; did you mean 'learning_rate'?"),
    "impossible shape": (
        BASE.replace("- Dense: {units: 3, activation: softmax}", "- Reshape: {target_shape: [3, 3]}"), 5,
        "Layer 'reshape' (Reshape) cannot reshape input shape (None, 8) (8 values per sample) to target shape "
        "(3, 3)"),
    "entry with its arguments not indented": (
        BASE.replace("    - Dense: {units: 3, activation: softmax}", "    - Dense:\n      units: 3"), 5,
        "a layer is written as a name or {Name: {arguments}}; received a mapping with keys Dense, units (are the "
        "arguments indented under the name?)"),
    "missing section": (
        BASE.replace("compile:\n  optimizer: adam\n  loss: sparse_categorical_crossentropy\n"
                     "  metrics: [accuracy]\n", ""), 1,
        "missing key 'compile' at the top level (arguments of `model.compile`)"),
    "duplicate key": (
        BASE.replace("  epochs: 1", "  epochs: 1\n  epochs: 2"), 14,
        "duplicate key 'epochs' (first written at line 13)"),
    "missing data file": (
        BASE.replace("train: train.npz", "train: nothere.npz"), 11, "file not found: 'nothere.npz'"),
    "missing array in the archive": (
        BASE.replace("train: train.npz", "train: {npz: train.npz, x: images}"), 11,
        "no array 'images' in 'train.npz'; valid arrays: x, y"),
    "validation twice": (
        BASE.replace("train: train.npz", "train: train.npz\n  validation: train.npz\n  validation_split: 0.2"), 13,
        "give either data.validation or data.validation_split, not both"),
    "unknown dataset": (
        BASE.replace("train: train.npz", "train: {dataset: synthetic_blob}"), 11,
        "unknown dataset 'synthetic_blob'; did you mean 'synthetic_blobs'"),
    "unknown dataset option": (
        BASE.replace("train: train.npz", "train: {dataset: synthetic_blobs, sample: 10}"), 11,
        "unknown key 'sample' in a dataset data source; did you mean 'samples'?"),
    "yaml syntax": (
        BASE.replace("  epochs: 1", "  epochs: [1"), 14, "YAML syntax error"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_each_error_kind_at_its_line(tmp_path, npz, name):
    text, line, message = ERRORS[name]
    found = problems_of(write(tmp_path, text))
    assert len(found) == 1, found
    assert found[0][0] == line, found
    assert found[0][1].startswith(message), found


def test_error_text_is_file_line_message(tmp_path, npz):
    path = write(tmp_path, BASE.replace("  epochs: 1", "  epocs: 1"))
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert str(info.value) == f"{path}:13: unknown key 'epocs' in fit; did you mean 'epochs'?"
    assert isinstance(info.value, ValueError)
    assert info.value.problems == [Problem(str(path), 13, "unknown key 'epocs' in fit; did you mean 'epochs'?")]


def test_several_errors_are_reported_together_in_line_order(tmp_path, npz):
    text = """
    model:
      input_shape: [6]
      layers:
        - Dense: {unit: 8}
        - Conv9D: {filters: 3}
        - Dense: {units: 3, activation: softmx}
    compile:
      optimizer: adamm
      loss: mse
    data:
      train: train.npz
      normalize: whiten
    fit:
      epocs: 3
      callbacks:
        - CSVLogger: {}
    """
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    found = [(p.line, p.message.split(";")[0]) for p in info.value.problems]
    assert found == [
        (4, "unknown argument 'unit' for layer Dense"),
        (4, "layer Dense is missing the required argument 'units'"),
        (5, "unknown layer 'Conv9D'"),
        (6, "unknown activation 'softmx'"),
        (8, "unknown optimizer 'adamm'"),
        (12, "unknown normalize 'whiten'"),
        (14, "unknown key 'epocs' in fit"),
        (16, "callback CSVLogger is missing the required argument 'filename'"),
    ]
    text = str(info.value).splitlines()
    assert text[0] == "8 problems in the config:"
    assert all(line.startswith(f"{path}:") for line in text[1:])


def test_shape_errors_stop_at_the_first_failing_layer(tmp_path, npz):
    text = BASE.replace("- Dense: {units: 3, activation: softmax}",
                        "- Reshape: {target_shape: [5]}\n    - Reshape: {target_shape: [7]}")
    assert problems_of(write(tmp_path, text)) == [
        (5, "Layer 'reshape' (Reshape) cannot reshape input shape (None, 8) (8 values per sample) to target "
            "shape (5,)")]


def test_loss_incompatible_with_the_output_is_reported_at_compile(tmp_path, npz):
    text = BASE.replace("metrics: [accuracy]", "metrics: [accuracy]\n  loss_weights: [1.0, 2.0]")
    line, message = only_problem(write(tmp_path, text))
    assert line == 10 and message.startswith("loss_weights must be a number")


def test_python_tags_are_rejected_and_never_run(tmp_path, npz):
    target = tmp_path / "created_by_yaml"
    text = BASE + f'seed: !!python/object/apply:builtins.open ["{target}", "w"]\n'
    assert problems_of(write(tmp_path, text)) == [
        (16, "YAML tag !!python/object/apply:builtins.open is not allowed: a config holds plain data only "
             "(mappings, lists, strings, numbers, booleans and null), and nothing in it is ever imported or called")]
    assert not target.exists()
    text = BASE.replace("  epochs: 1", "  epochs: !!python/name:os.system")
    assert problems_of(write(tmp_path, text))[0][0] == 13
    text = BASE.replace("  epochs: 1", "  epochs: !custom 1")
    assert "YAML tag !custom is not allowed" in problems_of(write(tmp_path, text))[0][1]


def test_anchors_and_merge_keys_work(tmp_path, npz):
    text = BASE.replace("model:", "common: &hidden {units: 8, activation: relu}\nmodel:", 1)
    assert problems_of(write(tmp_path, text)) == [
        (1, "unknown key 'common' at the top level; valid keys: model, compile, data, fit, seed, output, "
            "description, plugins")]
    text = BASE.replace("- Dense: {units: 8, activation: relu}",
                        "- Dense: &hidden {units: 8, activation: relu}\n    - Dense: {<<: *hidden, units: 4}")
    model = load_run_config(write(tmp_path, text)).build_model()
    assert [layer.units for layer in model.layers] == [8, 4, 3]
    assert model.layers[1].activation.name == "relu"


def test_recursive_alias_is_refused(tmp_path, npz):
    text = BASE + "description: &a [*a]\n"
    line, message = only_problem(write(tmp_path, text))
    assert line == 16 and message.startswith("recursive alias")


# ----------------------------------------------------------------------------- the issue's sequential form

ISSUE_SEQUENTIAL = """
model:
  input_shape: [28, 28, 1]
  layers:
    - Conv2D: {filters: 32, kernel_size: 3, activation: relu}
    - MaxPooling2D: {pool_size: 2}
    - Flatten: {}
    - Dense: {units: 10, activation: softmax}
compile:
  optimizer: adam                       # or {Adam: {learning_rate: 0.001}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
data:
  train: data/train.npz                 # arrays x and y by default; key names configurable
  validation_split: 0.1
fit:
  epochs: 5
  batch_size: 128
  callbacks:
    - EarlyStopping: {monitor: val_loss, patience: 2}
"""


def _issue_data(tmp_path):
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data" / "train.npz", x=rng.random((20, 28, 28, 1), dtype=np.float32),
             y=rng.integers(0, 10, 20))


def test_the_issue_sequential_form_builds_its_convnet(tmp_path):
    _issue_data(tmp_path)
    cfg = load_run_config(write(tmp_path, ISSUE_SEQUENTIAL))
    model = cfg.build_model()
    assert [type(layer).__name__ for layer in model.layers] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert model.output_shape == (None, 10)


def test_a_misspelt_image_layer_is_reported_at_its_line_with_a_suggestion(tmp_path):
    _issue_data(tmp_path)
    path = write(tmp_path, ISSUE_SEQUENTIAL.replace("MaxPooling2D", "MaxPool2d"))
    found = problems_of(path)
    assert [line for line, _ in found] == [5]
    assert "unknown layer 'MaxPool2d'" in found[0][1] and "MaxPool2D" in found[0][1]


# ----------------------------------------------------------------------------- the functional form

FUNCTIONAL = """
model:
  inputs: {image: {shape: [12]}, meta: [4]}
  nodes:
    - {name: h, layer: {Dense: {units: 6, activation: relu}}, inputs: image}
    - {name: m, layer: {Dense: {units: 6}}, inputs: meta}
    - {name: m2, reuse: h, inputs: image}
    - {name: summed, layer: Add, inputs: [h, m2]}
    - {name: joined, layer: {Concatenate: {axis: -1}}, inputs: [summed, m]}
    - {name: out, layer: {Dense: {units: 3, activation: softmax}}, inputs: joined}
    - {name: aux, layer: {Dense: {units: 1}}, inputs: joined}
  outputs: [out, aux]
compile:
  optimizer: {SGD: {learning_rate: 0.05}}
  loss: {out: sparse_categorical_crossentropy, aux: mse}
  loss_weights: {out: 1.0, aux: 0.5}
  metrics: {out: [accuracy]}
data:
  train: {npz: multi.npz, x: {image: img, meta: meta}, y: {out: label, aux: target}}
fit: {epochs: 1, verbose: 0}
"""


@pytest.fixture
def multi_npz(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "multi.npz", img=rng.normal(size=(32, 12)).astype("float32"),
             meta=rng.normal(size=(32, 4)).astype("float32"), label=rng.integers(0, 3, 32),
             target=rng.normal(size=(32, 1)).astype("float32"))


def _python_equivalent():
    image, meta = fw.Input((12,), name="image"), fw.Input((4,), name="meta")
    h = layers.Dense(6, activation="relu", name="h")
    x = h(image)
    m = layers.Dense(6, name="m")(meta)
    summed = layers.Add(name="summed")([x, h(image)])
    joined = layers.Concatenate(axis=-1, name="joined")([summed, m])
    out = layers.Dense(3, activation="softmax", name="out")(joined)
    aux = layers.Dense(1, name="aux")(joined)
    return fw.Model([image, meta], [out, aux])


def test_functional_form_builds_the_same_topology_as_python(tmp_path, multi_npz):
    cfg = load_run_config(write(tmp_path, FUNCTIONAL))
    model = cfg.build_model()
    reference = _python_equivalent()
    assert cfg.input_names == ["image", "meta"] and cfg.output_names == ["out", "aux"]
    assert model.input_names == reference.input_names and model.output_names == reference.output_names
    assert [(l.name, type(l).__name__) for l in model.layers] == [(l.name, type(l).__name__) for l in reference.layers]
    assert [(n.layer.name, [t.node.layer.name for t in n.inputs]) for n in model.graph_nodes()] == \
        [(n.layer.name, [t.node.layer.name for t in n.inputs]) for n in reference.graph_nodes()]
    assert [w.shape for w in model.get_weights()] == [w.shape for w in reference.get_weights()]
    # the layer reused by name has one set of weights, called twice
    shared = model.get_layer("h")
    assert sum(n.layer is shared for n in model.graph_nodes()) == 2
    assert len(model.weights) == 2 * 4 and model.count_params() == reference.count_params()
    # same weights in, same results out
    reference.set_weights(model.get_weights())
    rng = np.random.default_rng(0)
    x = {"image": rng.normal(size=(5, 12)).astype("float32"), "meta": rng.normal(size=(5, 4)).astype("float32")}
    for ours, theirs in zip(model.predict(x, verbose=0), reference.predict(x, verbose=0)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_functional_config_trains_with_per_output_losses(tmp_path, multi_npz):
    cfg = load_run_config(write(tmp_path, FUNCTIONAL))
    model = cfg.build_model()
    model.compile(**cfg.compile_args())
    x, y, _, _ = cfg.load_data()
    assert set(x) == {"image", "meta"} and set(y) == {"out", "aux"}
    history = model.fit(x, y, **cfg.fit_args())
    assert {"loss", "out_loss", "aux_loss", "out_accuracy"} <= set(history.history)


FUNCTIONAL_ERRORS = {  # (text replaced, its replacement), line, message; FUNCTIONAL's lines: nodes 4-10
    "unknown reference": (("inputs: joined}", "inputs: joind}"), 9,
                          "unknown input or node 'joind'; did you mean 'joined'?"),
    "defined later": (("inputs: [summed, m]}", "inputs: [summed, out]}"), 8,
                      "node 'out' is defined later (nodes[5]); list nodes after the nodes they read"),
    "duplicate name": (("{name: m2, reuse", "{name: m, reuse"), 6,
                       "the name 'm' is already used (line 5); input and node names must be unique"),
    "reuse an input": (("reuse: h,", "reuse: image,"), 6,
                       "reuse names a node whose layer to share; 'image' is an input"),
    "reused layer on another shape": (("{name: m2, reuse: h, inputs: image}", "{name: m2, reuse: h, inputs: meta}"),
                                      6, "Layer 'h' (Dense) expected input shape (None, 12), received (None, 4)"),
    "merge of different shapes": (("inputs: [h, m2]}", "inputs: [h, meta]}"), 7,
                                  "Layer 'summed' (Add) needs inputs of the same shape"),
    "unknown output": (("outputs: [out, aux]", "outputs: [out, auxx]"), 11,
                       "unknown node 'auxx' in model.outputs; did you mean 'aux'?"),
    "unused node": (("outputs: [out, aux]", "outputs: [out]"), 10, "node 'aux' is not used by any output"),
    "both layer and reuse": (("{name: m2, reuse: h,", "{name: m2, reuse: h, layer: Add,"), 6,
                             "node 'm2' has both layer and reuse; give one"),
    "layer named twice": (("{Dense: {units: 6}}, inputs: meta}", "{Dense: {units: 6, name: mm}}, inputs: meta}"), 5,
                          "the node's name names its layer; remove 'name' from the layer's arguments"),
    "loss for an unknown output": (("aux: mse}", "auxx: mse}"), 14, "unknown output 'auxx' in compile.loss"),
    "output that is an input": (("outputs: [out, aux]", "outputs: [out, aux, meta]"), 11,
                                "output 'meta' is an input; outputs are nodes"),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL_ERRORS))
def test_functional_errors_at_their_lines(tmp_path, multi_npz, name):
    (old, new), line, message = FUNCTIONAL_ERRORS[name]
    assert old in FUNCTIONAL
    found = problems_of(write(tmp_path, FUNCTIONAL.replace(old, new, 1)))
    # some changes have knock-on problems elsewhere (a renamed node is missing where it was used)
    assert any(l == line and m.startswith(message) for l, m in found), found


def test_functional_problems_are_all_reported_together(tmp_path, multi_npz):
    text = FUNCTIONAL.replace("inputs: joined}", "inputs: joind}", 1).replace("reuse: h,", "reuse: hh,")
    found = problems_of(write(tmp_path, text))
    assert [(l, m.split(";")[0]) for l, m in found] == [(6, "unknown node 'hh' in reuse"),
                                                       (9, "unknown input or node 'joind'")]


# ----------------------------------------------------------------------------- data sources

def _data_config(tmp_path, data_yaml, input_shape="[3]", units=1, loss="mse"):
    """A config whose data section (from line 7) is ``data_yaml``."""
    data = textwrap.indent(textwrap.dedent(data_yaml).strip(), "  ")
    text = (f"model:\n  input_shape: {input_shape}\n  layers:\n    - Dense: {{units: {units}}}\n"
            f"compile: {{loss: {loss}}}\ndata:\n{data}\n")
    return write(tmp_path, text)


def test_npy_files_relative_to_the_config(tmp_path):
    (tmp_path / "arrays").mkdir()
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "arrays" / "x.npy", x)
    np.save(tmp_path / "arrays" / "y.npy", np.ones((4, 1), np.float32))
    cfg = load_run_config(_data_config(tmp_path, "train: {x: arrays/x.npy, y: arrays/y.npy}"))
    xs, ys, validation, test = cfg.load_data()
    np.testing.assert_array_equal(xs, x)
    assert ys.shape == (4, 1) and validation is None and test is None
    assert cfg.resolved()["data"]["train"] == {"x": str(tmp_path / "arrays" / "x.npy"),
                                               "y": str(tmp_path / "arrays" / "y.npy")}


def test_npz_with_named_arrays_validation_and_test(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "all.npz", features=rng.normal(size=(10, 3)), targets=rng.normal(size=(10, 1)))
    cfg = load_run_config(_data_config(tmp_path, """
        train: {npz: all.npz, x: features, y: targets, stop: 6}
        validation: {npz: all.npz, x: features, y: targets, start: 6, stop: 8}
        test: {npz: all.npz, x: features, y: targets, start: 8}
    """))
    x, y, (xv, yv), (xt, yt) = cfg.load_data()
    assert len(x) == 6 and len(xv) == 2 and len(xt) == 2 and len(yt) == 2


def test_csv_with_header_target_and_features(tmp_path):
    (tmp_path / "table.csv").write_text("a,b,label,c\n1,2,0,3\n4,5,1,6\n7,8,2,9\n")
    cfg = load_run_config(_data_config(tmp_path, "train: {csv: table.csv, target: label}", units=3,
                                       loss="sparse_categorical_crossentropy"))
    x, y, _, _ = cfg.load_data()
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert x.dtype == np.float32 and y.tolist() == [0, 1, 2] and y.dtype == np.int64
    # the default target is the last column; features may be chosen
    cfg = load_run_config(_data_config(tmp_path, "train: {csv: table.csv, features: [a, b, label]}"))
    x, y, _, _ = cfg.load_data()
    assert x[:, 2].tolist() == [0, 1, 2] and y.tolist() == [3, 6, 9]
    cfg = load_run_config(_data_config(tmp_path, "train: table.csv"))
    assert cfg.load_data()[1].tolist() == [3, 6, 9]


def test_csv_problems_name_lines(tmp_path):
    (tmp_path / "table.csv").write_text("a,b,label\n1,2,0\n")
    path = _data_config(tmp_path, "train: {csv: table.csv, target: lable}")
    assert problems_of(path) == [(7, "no column 'lable' in 'table.csv'; did you mean 'label'?")]
    (tmp_path / "table.csv").write_text("a,b,c,label\n1,2,x,0\n")
    cfg = load_run_config(_data_config(tmp_path, "train: {csv: table.csv, target: label}"))
    with pytest.raises(ConfigError) as info:
        cfg.load_data()
    assert info.value.problems[0].line == 7
    assert "table.csv:2: 'x' is not a number" in info.value.problems[0].message


def _write_idx(path, array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def test_idx_files_with_start_and_stop(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (10, 2, 2)), rng.integers(0, 3, 10)
    _write_idx(tmp_path / "images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "labels-idx1-ubyte", labels)
    cfg = load_run_config(_data_config(tmp_path, """
        train: {idx: {images: images-idx3-ubyte.gz, labels: labels-idx1-ubyte}, stop: 8}
        test: {idx: {images: images-idx3-ubyte.gz, labels: labels-idx1-ubyte}, start: 8}
        reshape: [4]
    """, input_shape="[4]", units=3, loss="sparse_categorical_crossentropy"))
    x, y, _, (xt, yt) = cfg.load_data()
    np.testing.assert_array_equal(x, images[:8])  # as loaded: the model's data_reshape layer reshapes
    np.testing.assert_array_equal(cfg.build_model().get_layer("data_reshape")(x), images[:8].reshape(8, 4))
    np.testing.assert_array_equal(yt, labels[8:])


def test_data_that_does_not_fit_the_model_is_reported_at_its_line(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 4)), y=np.zeros((5, 1)))
    cfg = load_run_config(_data_config(tmp_path, "train: d.npz"))
    with pytest.raises(ConfigError) as info:
        cfg.load_data()
    assert str(info.value) == f"{tmp_path / 'run.yaml'}:7: data.train: the model's input takes samples of shape (3,), " \
                              "the data has (4,)"
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 1, 3)), y=np.zeros((5, 1)))
    with pytest.raises(ConfigError, match=r"has \(1, 3\); add data.reshape: \[3\]"):
        cfg.load_data()
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 3)), y=np.zeros((4, 1)))
    with pytest.raises(ConfigError, match="different numbers of samples: x 5, y 4"):
        cfg.load_data()


def test_scale_normalize_reshape_and_one_hot(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "img.npz", x=rng.integers(0, 256, (20, 2, 3)).astype(np.uint8), y=rng.integers(0, 4, 20))
    cfg = load_run_config(_data_config(tmp_path, """
        train: img.npz
        test: img.npz
        reshape: [6]
        scale: 0.00392156862745098
        normalize: standardize
        one_hot: 4
    """, input_shape="[6]", units=4, loss="categorical_crossentropy"))
    x, y, _, (xt, yt) = cfg.load_data()
    assert x.shape == (20, 2, 3) and x.dtype == np.float32 and y.shape == (20, 4)  # inputs as loaded
    model = cfg.build_model()  # data.reshape / scale / normalize are its first layers
    front = fw.Model(model.inputs, model.get_layer("data_normalize").output)
    processed = front.predict(x, verbose=0)
    assert processed.shape == (20, 6)
    np.testing.assert_allclose(processed.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(processed.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(front.predict(xt, verbose=0), processed, atol=1e-6)  # the training statistics
    cfg = load_run_config(_data_config(tmp_path, "train: img.npz\nreshape: [6]\nnormalize: minmax\n",
                                       input_shape="[6]", units=4, loss="sparse_categorical_crossentropy"))
    x = cfg.load_data()[0]
    model = cfg.build_model()
    processed = fw.Model(model.inputs, model.get_layer("data_normalize").output).predict(x, verbose=0)
    assert processed.min() == 0 and abs(processed.max() - 1) < 1e-6


def test_synthetic_datasets_and_dataset_splits(tmp_path):
    cfg = load_run_config(_data_config(tmp_path, """
        train: {dataset: synthetic_regression, samples: 50, features: 3, seed: 2}
        test: {dataset: synthetic_regression, samples: 20, features: 3, seed: 2}
    """))
    x, y, _, (xt, yt) = cfg.load_data()
    assert x.shape == (50, 3) and y.shape == (50, 1) and xt.shape == (20, 3)
    assert cfg.resolved()["data"]["test"]["split"] == "test"
    assert not np.allclose(x[:20], xt)
    again = load_run_config(_data_config(tmp_path, "train: {dataset: synthetic_regression, samples: 50, "
                                                   "features: 3, seed: 2}")).load_data()[0]
    np.testing.assert_array_equal(again, x)


def test_external_datasets_resolve_lazily_from_an_allow_list(tmp_path, monkeypatch):
    import importlib
    imported = []
    real = importlib.import_module

    def spy(name, *args):
        imported.append(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", spy)
    path = _data_config(tmp_path, "train: {dataset: os}")
    assert problems_of(path)[0][1].startswith("unknown dataset 'os'")
    assert not any(name.endswith(".os") or name == "os" for name in imported)
    path = _data_config(tmp_path, "train: {dataset: cifar10}")  # not built: not a name configs may use
    line, message = only_problem(path)
    assert line == 7 and message.startswith("unknown dataset 'cifar10'")
    assert not any("cifar10" in name for name in imported)


# ----------------------------------------------------------------------------- overrides

def test_overrides_set_values_parsed_as_yaml(tmp_path, npz):
    path = write(tmp_path, BASE + "  callbacks:\n    - EarlyStopping: {monitor: loss}\n")
    cfg = load_run_config(path, ["fit.epochs=3", "compile.optimizer.Adam.learning_rate=0.01",
                                 "fit.callbacks.EarlyStopping.patience=4", "model.layers.0.Dense.units=5",
                                 "data.validation_split=0.25", "seed=7", "compile.metrics=[accuracy, mse]"])
    assert cfg.seed == 7
    assert cfg.fit_args()["epochs"] == 3 and cfg.fit_args()["validation_split"] == 0.25
    assert cfg.fit_args()["callbacks"][0].patience == 4
    optimizer = cfg.compile_args()["optimizer"]
    assert isinstance(optimizer, fw.optimizers.Adam) and optimizer.learning_rate == pytest.approx(0.01)
    assert cfg.compile_args()["metrics"] == ["accuracy", "mse"]
    assert cfg.build_model().layers[0].units == 5
    raw = read_run_config(path)
    assert raw.data["fit"]["epochs"] == 1  # apply_overrides copies
    assert apply_overrides({"fit": {"epochs": 1}}, ["fit.epochs=2"]) == {"fit": {"epochs": 2}}


def test_override_keys_are_checked_with_close_matches(tmp_path, npz):
    raw = read_run_config(write(tmp_path, BASE))
    cases = {
        "fit.epocs=3": "unknown key 'epocs' in fit; did you mean 'epochs'?",
        "fitt.epochs=3": "unknown key 'fitt' at the top level; did you mean 'fit'?",
        "compile.optimizer.Adam.learning_rat=1": "unknown argument 'learning_rat' for optimizer Adam; did you mean "
                                                 "'learning_rate'?",
        "compile.optimizer.SGD.momentum=0.9": "compile.optimizer is adam",
        "model.layers.5.Dense.units=2": "model.layers has 2 entries; position 5 is out of range",
        "model.layers.Dense.units=2": "2 entries of model.layers are 'Dense' (positions 0, 1); give the position",
        "fit.epochs": "an override is key.path=value",
        "fit.epochs=!!python/object/apply:os.system [ls]": "YAML tag !!python/object/apply:os.system is not allowed",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError) as info:
            apply_overrides(raw, [text])
        assert len(info.value.problems) == 1
        problem = info.value.problems[0]
        assert problem.source == f"--set {text}" and problem.line is None
        assert problem.message.startswith(message), (text, problem.message)
    with pytest.raises(ConfigError) as info:
        apply_overrides(raw, ["fit.epocs=3", "fitt=1"])
    assert len(info.value.problems) == 2


def test_values_set_by_overrides_are_validated_and_named(tmp_path, npz):
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, BASE), ["fit.epochs=0", "compile.loss=msee"])
    assert [str(p) for p in info.value.problems] == [
        "--set compile.loss=msee: unknown loss 'msee'; did you mean 'mse' or 'msle'?",
        "--set fit.epochs=0: fit.epochs must be an integer >= 1, received int 0"]


# ----------------------------------------------------------------------------- resolved configs

def test_resolved_config_is_plain_complete_and_loads_again(tmp_path, npz):
    path = write(tmp_path, BASE)
    cfg = load_run_config(path, ["output=out", "seed=3"])
    resolved = cfg.resolved()
    assert resolved["fit"]["epochs"] == 1 and resolved["fit"]["shuffle"] is True
    assert resolved["compile"]["optimizer"] == "adam"
    assert resolved["data"]["train"] == {"npz": str(npz), "x": "x", "y": "y"}
    assert resolved["seed"] == 3 and resolved["output"] == str(Path.cwd() / "out")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.yaml").write_text(cfg.to_yaml())
    again = load_run_config(elsewhere / "config.yaml")
    assert again.resolved() == resolved
    assert run_config_from_data(resolved).resolved() == resolved


def test_callbacks_write_inside_the_output_folder(tmp_path, npz):
    path = write(tmp_path, BASE + "  callbacks:\n    - CSVLogger: {filename: log.csv}\n")
    cfg = load_run_config(path, [f"output={tmp_path / 'run1'}"])
    assert cfg.output == tmp_path / "run1"
    assert cfg.fit_args()["callbacks"][0].filename == str(tmp_path / "run1" / "log.csv")
    model, history, test_logs = cfg.train(verbose=0)
    assert (tmp_path / "run1" / "log.csv").exists() and test_logs is None


def test_seed_makes_runs_repeat(tmp_path, npz):
    path = write(tmp_path, BASE + f"seed: 5\noutput: {tmp_path / 'run'}\n")
    first = load_run_config(path).train(verbose=0)[1].history
    second = load_run_config(path).train(verbose=0)[1].history
    assert first == second


# ----------------------------------------------------------------------------- shipped configs

def test_functional_multi_input_config_trains():
    cfg = load_run_config(CONFIGS / "functional_multi_input.yaml", ["fit.epochs=1", "fit.verbose=0"])
    model = cfg.build_model()
    assert model.input_names == ["left", "right"]
    assert sum(n.layer is model.get_layer("encoder") for n in model.graph_nodes()) == 2
    model.compile(**cfg.compile_args())
    x, y, validation, test = cfg.load_data()
    assert set(x) == {"left", "right"} and x["left"].shape == (2000, 8)
    model.fit(x, y, validation_data=validation, **cfg.fit_args())
    assert model.evaluate(*test, verbose=0, return_dict=True)["accuracy"] > 0.5


def test_mlp_config_end_to_end_on_the_mnist_sample(tmp_path):
    pytest.importorskip("framework.datasets.mnist")
    if not (MNIST_SHARED / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST sample is not in {MNIST_SHARED}")
    cfg = load_run_config(CONFIGS / "mlp.yaml", ["fit.epochs=1", "fit.verbose=0", f"output={tmp_path / 'mlp'}"])
    model = cfg.build_model()
    model.compile(**cfg.compile_args())
    x, y, validation, test = cfg.load_data()
    assert x.shape == (8000, 28, 28) and x.dtype == np.float32 and x.max() == 255  # data.scale is a layer
    assert model.get_layer("data_scale").scale == pytest.approx(1 / 255)
    cfg.output.mkdir(parents=True)
    history = model.fit(x, y, validation_data=validation, **cfg.fit_args())
    assert history.history["val_accuracy"][-1] > 0.85
    assert model.evaluate(*test, verbose=0, return_dict=True)["accuracy"] > 0.85
    assert (tmp_path / "mlp" / "history.csv").exists()


@pytest.mark.parametrize("name", ["mnist_convnet.yaml", "mnist_rows_lstm.yaml"])
def test_image_and_sequence_configs_train_a_step(name):
    pytest.importorskip("framework.datasets.mnist")
    if not (MNIST_SHARED / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST sample is not in {MNIST_SHARED}")
    cfg = load_run_config(CONFIGS / name, ["fit.verbose=0"])
    model = cfg.build_model()
    assert model.output_shape == (None, 10)
    model.compile(**cfg.compile_args())
    x, y, validation, test = cfg.load_data()
    loss, accuracy = model.train_on_batch(x[:64], y[:64])
    assert np.isfinite(loss) and 0 <= accuracy <= 1


# ----------------------------------------------------------------------------- docs/yaml.md

def test_docs_yaml_md_is_generated_from_the_registries():
    text = (ROOT / "docs" / "yaml.md").read_text()
    assert generated_section(text) == render_reference(), \
        "docs/yaml.md is out of date: python -m framework.runs.reference > docs/yaml.md"
    assert text == render_document(), "docs/yaml.md is out of date: python -m framework.runs.reference > docs/yaml.md"


def test_reference_lists_every_usable_name_with_its_arguments():
    reference = render_reference()
    for name in ("`Dense`", "`units` (required)", "`kernel_initializer: glorot_uniform`", "`EarlyStopping`",
                 "`Adam`", "`CosineDecay`", "`SparseCategoricalCrossentropy`", "`sparse_categorical_crossentropy`",
                 "`synthetic_blobs`", "`mnist_sample`"):
        assert name in reference, name
    assert "LambdaCallback` |" not in reference and "`InputLayer`" not in reference
