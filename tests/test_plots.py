"""Pictures: `framework plot` (learning curves), `framework plot-model` / `framework.utils.plot_model`
(the model graph) and `framework evaluate --confusion-matrix`, driven as a user does (subprocess), with
the PNGs opened by pillow and the SVGs parsed as XML."""
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import framework as fw
from framework.cli import main
from framework.utils.plots import PlotInputError, classifier_problem, confusion_matrix, read_history
from framework.utils.plots.confusion import predicted_classes, true_classes
from framework.utils.plots.layout import layered_layout, ranks_by_depth

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

CONFIG = textwrap.dedent("""\
    seed: {seed}
    model:
      input_shape: [4]
      layers:
        - Dense: {{units: 16, activation: relu, name: hidden}}
        - Dense: {{units: 3, activation: softmax, name: probabilities}}
    compile:
      optimizer: {{Adam: {{learning_rate: 0.01}}}}
      loss: sparse_categorical_crossentropy
      metrics: [accuracy]
    data:
      train: {{dataset: synthetic_blobs, samples: 300, features: 4, classes: 3}}
      validation_split: 0.2
    fit:
      epochs: {epochs}
      batch_size: 32
    """)
REGRESSION = textwrap.dedent("""\
    model:
      input_shape: [4]
      layers:
        - Dense: {units: 1}
    compile:
      optimizer: sgd
      loss: mse
    data:
      train: {dataset: synthetic_regression, samples: 64, features: 4}
    fit:
      epochs: 1
    """)
BLOCK_MATPLOTLIB = "import sys; sys.modules['matplotlib'] = None; from framework.cli import main; sys.exit(main({}))"
TEST_DATA = "{dataset: synthetic_blobs, split: test, samples: 90, features: 4, classes: 3}"


def framework(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "framework", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def one_line_error(result, code):
    """The command failed with ``code`` and said so in one line, without a traceback."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def png(path):
    """(width, height, distinct colours, RGB array) of a PNG, read by pillow."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        rgb = np.asarray(image.convert("RGB"))
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    return rgb.shape[1], rgb.shape[0], len(colours), rgb


def share_near(rgb, colour, tolerance=40):
    """The share of pixels within ``tolerance`` of ``colour`` (per channel)."""
    return float(np.mean(np.all(np.abs(rgb.astype(int) - np.array(colour)) <= tolerance, axis=-1)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two trained run folders (3 and 5 epochs) and a saved regression model."""
    root = tmp_path_factory.mktemp("runs")
    for name, seed, epochs in (("first", 1, 3), ("second", 2, 5)):
        (root / f"{name}.yaml").write_text(CONFIG.format(seed=seed, epochs=epochs))
        assert main(["train", str(root / f"{name}.yaml"), "--output", str(root / name), "--verbose", "0"]) == 0
    (root / "regression.yaml").write_text(REGRESSION)
    assert main(["train", str(root / "regression.yaml"), "--output", str(root / "regression"), "--verbose", "0"]) == 0
    return root


# ----- the confusion matrix, computed -----------------------------------------------------------
def test_confusion_matrix_counts_true_classes_down_and_predictions_across():
    labels = [0, 0, 1, 2, 2, 2, 1]
    predicted = [0, 1, 1, 2, 0, 2, 1]
    expected = np.array([[1, 1, 0],
                         [0, 2, 0],
                         [1, 0, 2]])
    np.testing.assert_array_equal(confusion_matrix(labels, predicted), expected)
    np.testing.assert_array_equal(confusion_matrix(labels, predicted, num_classes=4)[:3, :3], expected)
    assert confusion_matrix(labels, predicted, num_classes=4)[3].sum() == 0
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    counted = np.zeros((7, 7), dtype=int)
    for i, j in zip(a, b):
        counted[i, j] += 1
    np.testing.assert_array_equal(confusion_matrix(a, b, 7), counted)
    with pytest.raises(PlotInputError, match="class label 3 is outside the 3 classes"):
        confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(PlotInputError, match="2 labels but 3 predictions"):
        confusion_matrix([0, 1], [0, 1, 1])


def test_classes_from_sparse_and_one_hot_targets_and_from_probabilities_or_logits():
    np.testing.assert_array_equal(true_classes(np.array([[2], [0]]), 3), [2, 0])
    np.testing.assert_array_equal(true_classes(np.eye(3)[[1, 2, 0]], 3), [1, 2, 0])
    with pytest.raises(PlotInputError, match="not class labels"):
        true_classes(np.array([0.5, 1.0]), 3)

    inputs = fw.Input((2,))
    sigmoid = fw.Model(inputs, fw.layers.Dense(1, activation="sigmoid")(inputs))
    sigmoid.compile(optimizer="sgd", loss="binary_crossentropy")
    np.testing.assert_array_equal(predicted_classes(sigmoid, np.array([[0.2], [0.7]])), [0, 1])
    logits = fw.Model(inputs, fw.layers.Dense(1)(inputs))
    logits.compile(optimizer="sgd", loss=fw.losses.BinaryCrossentropy(from_logits=True))
    np.testing.assert_array_equal(predicted_classes(logits, np.array([[-0.2], [0.3]])), [0, 1])
    assert classifier_problem(logits) is None
    np.testing.assert_array_equal(predicted_classes(sigmoid, np.array([[0.1, 0.7, 0.2]])), [1])


def test_only_single_label_classifiers_get_a_confusion_matrix():
    inputs = fw.Input((4,))
    softmax = fw.Model(inputs, fw.layers.Dense(3, activation="softmax")(inputs))
    assert classifier_problem(softmax) is None
    regression = fw.Model(inputs, fw.layers.Dense(1)(inputs))
    regression.compile(optimizer="sgd", loss="mse")
    assert "is for classifiers" in classifier_problem(regression)
    multi_label = fw.Model(inputs, fw.layers.Dense(5, activation="sigmoid")(inputs))
    assert "multi-label" in classifier_problem(multi_label)
    two_outputs = fw.Model(inputs, [fw.layers.Dense(2, activation="softmax")(inputs),
                                    fw.layers.Dense(2, activation="softmax")(inputs)])
    assert "one output" in classifier_problem(two_outputs)


# ----- framework plot ----------------------------------------------------------------------------
def test_plot_overlays_runs_with_one_panel_per_metric(runs, tmp_path):
    out = tmp_path / "curves.png"
    result = framework("plot", runs / "first", runs / "second", "--output", out)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out} (loss, accuracy of 2 runs)" in result.stdout
    width, height, colours, rgb = png(out)
    assert (width, height) == (1000, 360)  # two panels of 5 x 3.6 inches at 100 dpi
    assert colours > 50
    # one colour per run: matplotlib's first two cycle colours both drawn
    assert share_near(rgb, (31, 119, 180)) > 0.001 and share_near(rgb, (255, 127, 14)) > 0.001
    assert share_near(rgb, (255, 255, 255), 0) < 0.95

    result = framework("plot", runs / "first", "--metrics", "val_loss")
    assert result.returncode == 0, result.stderr
    width, height, colours, rgb = png(runs / "first" / "learning_curves.png")  # the default: inside the run
    assert (width, height) == (500, 360) and colours > 20
    assert share_near(rgb, (255, 127, 14)) < 1e-4  # one run: one colour


def test_history_reading_follows_the_csv_logger(runs):
    history = read_history(runs / "second")
    assert history.label == "second"
    np.testing.assert_array_equal(history.epochs, [1, 2, 3, 4, 5])
    assert set(history.columns) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.metrics() == ["loss", "accuracy"]
    assert np.all(np.isfinite(history.columns["val_loss"]))


def test_plot_errors_are_one_line_with_exit_code_2(runs, tmp_path):
    line = one_line_error(framework("plot", runs / "first", tmp_path), 2)
    assert str(tmp_path) in line and "no history.csv" in line
    line = one_line_error(framework("plot", runs / "first", "--metrics", "loss,precision"), 2)
    assert line == "unknown metric 'precision'; the histories have: loss, accuracy"
    line = one_line_error(framework("plot", tmp_path / "missing"), 2)
    assert line == f"{tmp_path / 'missing'}: no such run folder"
    line = one_line_error(framework("plot", runs / "first", "--output", tmp_path / "curves.jpg"), 2)
    assert "must end in .png" in line
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "history.csv").write_text("loss,accuracy\n1,2\n")
    assert "not a training history" in one_line_error(framework("plot", bad), 2)


def test_a_missing_matplotlib_is_named_with_its_extra(runs, tmp_path):
    result = subprocess.run([sys.executable, "-c", BLOCK_MATPLOTLIB.format([
        "plot", str(runs / "first"), "--output", str(tmp_path / "c.png")])], capture_output=True, text=True)
    line = one_line_error(result, 1)
    assert line == 'drawing pictures needs matplotlib, which is not installed: pip install "framework[plots]"'
    assert not (tmp_path / "c.png").exists()
    for command in (["plot-model", str(runs / "first.yaml"), "--output", str(tmp_path / "m.svg")],
                    ["evaluate", str(runs / "first" / "model.fw"), "--data", TEST_DATA,
                     "--confusion-matrix", str(tmp_path / "cm.png")]):
        result = subprocess.run([sys.executable, "-c", BLOCK_MATPLOTLIB.format(command)], capture_output=True,
                                text=True)
        assert 'pip install "framework[plots]"' in one_line_error(result, 1)
        assert "loss:" not in result.stdout  # said before any work
    blocked = subprocess.run([sys.executable, "-c", "import sys; sys.modules['matplotlib'] = None\n"
                              "import framework as fw\nm = fw.Sequential([fw.Input((2,)), fw.layers.Dense(1)])\n"
                              "fw.utils.plot_model(m, 'x.png')"], capture_output=True, text=True, cwd=tmp_path)
    assert blocked.returncode == 1 and "MissingExtraError" in blocked.stderr and "framework[plots]" in blocked.stderr


# ----- framework evaluate --confusion-matrix ----------------------------------------------------------
def test_evaluate_writes_the_confusion_matrix_of_a_classifier(runs, tmp_path):
    out = tmp_path / "cm.png"
    result = framework("evaluate", runs / "second" / "model.fw", "--data", TEST_DATA, "--confusion-matrix", out)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out}" in result.stdout
    accuracy = float(result.stdout.split("accuracy: ")[1].split()[0])
    width, height, colours, rgb = png(out)
    assert width > 300 and height > 300 and colours > 30
    assert share_near(rgb, (8, 48, 107)) > 0.001  # the darkest blue of the diagonal
    # the matrix it drew: the same model's predictions counted by hand
    from framework.runs.data_sources import synthetic_blobs
    from framework.utils.plots import model_confusion_matrix
    x, y = synthetic_blobs(split="test", samples=90, features=4, classes=3)
    model = fw.models.load_model(runs / "second" / "model.fw")
    matrix = model_confusion_matrix(model, x, y, tmp_path / "again.png")
    assert matrix.shape == (3, 3) and matrix.sum() == 90
    assert np.trace(matrix) / 90 == pytest.approx(accuracy, abs=1e-4)
    counted = np.zeros((3, 3), dtype=int)
    for label, row in zip(y.reshape(-1).astype(int), model.predict(x, verbose=0)):
        counted[label, int(np.argmax(row))] += 1
    np.testing.assert_array_equal(matrix, counted)


def test_confusion_matrix_is_refused_for_a_regression_model_before_evaluating(runs, tmp_path):
    result = framework("evaluate", runs / "regression" / "model.fw", "--data",
                       "{dataset: synthetic_regression, samples: 10, features: 4}", "--confusion-matrix",
                       tmp_path / "cm.png")
    line = one_line_error(result, 2)
    assert line.startswith("--confusion-matrix: a confusion matrix is for classifiers")
    assert "loss:" not in result.stdout and not (tmp_path / "cm.png").exists()


# ----- plot_model and framework plot-model --------------------------------------------------------
def svg_texts(path):
    root = ET.parse(path).getroot()
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_plot_model_command_draws_a_config_and_a_model_file(runs, tmp_path):
    result = framework("plot-model", runs / "first.yaml", "--output", tmp_path / "graph.png")
    assert result.returncode == 0, result.stderr
    width, height, colours, rgb = png(tmp_path / "graph.png")
    assert height > width > 200 and colours > 30  # top to bottom: taller than wide
    assert share_near(rgb, (219, 232, 248), 2) > 0.02  # the layers' fill
    assert share_near(rgb, (216, 240, 216), 2) > 0.005  # the input's fill

    result = framework("plot-model", runs / "first" / "model.fw", "--output", tmp_path / "graph.svg",
                       "--rankdir", "LR", "--show-layer-activations", "--show-dtype")
    assert result.returncode == 0, result.stderr
    texts = svg_texts(tmp_path / "graph.svg")
    joined = "\n".join(texts)
    for expected in ("hidden (Dense)", "probabilities (Dense)", "output: (None, 16)", "input: (None, 4)",
                     "activation: softmax", "dtype: float32", "InputLayer"):
        assert expected in joined, (expected, texts)
    root = ET.parse(tmp_path / "graph.svg").getroot()
    assert float(root.get("width").rstrip("pt")) > float(root.get("height").rstrip("pt"))  # left to right

    line = one_line_error(framework("plot-model", tmp_path / "none.fw", "--output", tmp_path / "g.png"), 2)
    assert "none.fw" in line
    assert "must end in .png or .svg or .pdf" in one_line_error(
        framework("plot-model", runs / "first.yaml", "--output", tmp_path / "g.gif"), 2)


def branching_model():
    left, right = fw.Input((6,), name="left"), fw.Input((4,), name="right")
    a = fw.layers.Dense(8, activation="relu", name="left_dense")(left)
    a = fw.layers.Dense(8, activation="relu", name="left_deeper")(a)
    b = fw.layers.Dense(8, name="right_dense")(right)
    merged = fw.layers.Concatenate(name="merge")([a, b])
    skip = fw.layers.Dense(16, name="skip")(merged)
    out = fw.layers.Add(name="residual")([merged, skip])
    return fw.Model([left, right], fw.layers.Dense(2, activation="softmax", name="head")(out))


def test_plot_model_lays_out_branches_and_merges_by_depth(tmp_path):
    from framework.utils.plots.model_graph import GraphBuilder
    model = branching_model()
    builder = GraphBuilder(show_shapes=True, show_dtype=False, show_layer_names=True, expand_nested=False,
                           show_layer_activations=False, show_trainable=False)
    builder.add_model(model)
    names = [box.lines[0].split(" (")[0] for box in builder.boxes]
    index = {n: i for i, n in enumerate(names)}
    assert sorted(names) == sorted(["left", "right", "left_dense", "left_deeper", "right_dense", "merge", "skip",
                                    "residual", "head"])
    assert (index["merge"], index["residual"]) in builder.edges and (index["skip"], index["residual"]) in builder.edges
    layout = layered_layout([box.size() for box in builder.boxes], builder.edges)
    rank = dict(zip(names, layout.ranks))
    assert rank["left"] == rank["right"] == 0 and rank["merge"] == 3 and rank["residual"] == 5 and rank["head"] == 6
    across = {n: layout.centers[index[n]][0] for n in names}
    along = {n: layout.centers[index[n]][1] for n in names}
    assert across["left"] != across["right"] and along["left"] == along["right"]
    assert along["left"] < along["left_dense"] < along["left_deeper"] < along["merge"] < along["head"]
    sizes = [box.size() for box in builder.boxes]
    for i in range(len(names)):  # no two boxes overlap
        for j in range(i + 1, len(names)):
            (xi, yi), (xj, yj) = layout.centers[i], layout.centers[j]
            apart_x = abs(xi - xj) >= (sizes[i][0] + sizes[j][0]) / 2
            apart_y = abs(yi - yj) >= (sizes[i][1] + sizes[j][1]) / 2
            assert apart_x or apart_y, (names[i], names[j])
    # the skip edge merge -> residual passes by the skip box: through a point at its depth, not through it
    path = layout.paths[builder.edges.index((index["merge"], index["residual"]))]
    assert len(path) == 3 and abs(path[1][0] - across["skip"]) >= sizes[index["skip"]][0] / 2

    assert fw.utils.plot_model(model, to_file=str(tmp_path / "m.svg"), show_shapes=True) is None
    assert "residual (Add)" in "\n".join(svg_texts(tmp_path / "m.svg"))


def test_plot_model_expands_nested_models_into_a_named_frame(tmp_path):
    encoder = fw.Sequential([fw.Input((8,)), fw.layers.Dense(6, name="inner_a"), fw.layers.Dense(4, name="inner_b")],
                            name="encoder")
    inputs = fw.Input((8,), name="features")
    model = fw.Model(inputs, fw.layers.Dense(1, name="score")(encoder(inputs)))
    fw.utils.plot_model(model, to_file=tmp_path / "flat.svg")
    flat = "\n".join(svg_texts(tmp_path / "flat.svg"))
    assert "encoder (Sequential)" in flat and "inner_a" not in flat
    fw.utils.plot_model(model, to_file=tmp_path / "nested.svg", expand_nested=True, show_trainable=True)
    nested = svg_texts(tmp_path / "nested.svg")
    assert "inner_a (Dense)" in nested and "inner_b (Dense)" in nested and "encoder" in nested
    assert "encoder (Sequential)" not in nested and "trainable: Y" in nested
    fw.utils.plot_model(model, to_file=tmp_path / "nested.png", expand_nested=True, dpi=100)
    width, height, colours, _ = png(tmp_path / "nested.png")
    assert height > width and colours > 30


def test_plot_model_refuses_what_it_cannot_draw(tmp_path):
    model = fw.Sequential([fw.layers.Dense(2)])
    with pytest.raises(PlotInputError, match="has not been built yet"):
        fw.utils.plot_model(model, to_file=tmp_path / "m.png")
    built = fw.Sequential([fw.Input((3,)), fw.layers.Dense(2)])
    with pytest.raises(ValueError, match="rankdir must be 'TB' or 'LR'"):
        fw.utils.plot_model(built, to_file=tmp_path / "m.png", rankdir="BT")
    with pytest.raises(TypeError, match="layer_range"):
        fw.utils.plot_model(built, to_file=tmp_path / "m.png", layer_range=["a", "b"])
    with pytest.raises(PlotInputError, match="must end in"):
        fw.utils.plot_model(built, to_file=tmp_path / "m.jpeg")


    class TwoModels(fw.Model):  # a model of models (a GAN): no graph of its own to draw
        def __init__(self):
            super().__init__()
            self.generator = fw.Sequential([fw.Input((2,)), fw.layers.Dense(2)])

        def train_step(self, data):
            return {}

    with pytest.raises(PlotInputError, match="has no graph of its own"):
        fw.utils.plot_model(TwoModels(), to_file=tmp_path / "m.png")
    assert not list(tmp_path.iterdir())


def test_depth_ranking_refuses_cycles():
    assert ranks_by_depth(4, [(0, 1), (1, 2), (0, 2), (3, 2)]) == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="cycle"):
        ranks_by_depth(2, [(0, 1), (1, 0)])


def test_help_lists_the_picture_commands():
    result = framework("--help")
    assert "plot-model" in result.stdout and "learning curves" in result.stdout
    assert "--confusion-matrix" in framework("evaluate", "--help").stdout


def test_the_plot_model_example_in_the_docs_runs(tmp_path):
    from pathlib import Path
    page = (Path(__file__).resolve().parent.parent / "docs" / "plots.md").read_text()
    block = page.split("```python\nimport framework as fw\n", 1)[1].split("```", 1)[0]
    result = subprocess.run([sys.executable, "-c", "import framework as fw\n" + block], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    width, height, colours, _ = png(tmp_path / "model.png")
    assert height > width and colours > 30
    assert "residual (Add)" in svg_texts(tmp_path / "model.svg")
