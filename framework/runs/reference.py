"""The YAML run-config reference (docs/yaml.md), generated from the schema and the registries.

    python -m framework.runs.reference > docs/yaml.md     # regenerate the whole page
    python -m framework.runs.reference --check docs/yaml.md  # exit 1 if it is out of date

``render_reference()`` lists every layer, loss, optimizer, metric, callback, schedule,
initializer, regularizer, constraint, activation and dataset a config can name, with
their constructor arguments and defaults, read from the live registries (built-in
classes only, so registering a user class elsewhere does not change the page).
``render_document()`` is the whole page: the guide below, whose key tables come from
``framework.runs.schema.SECTIONS``, then that reference. A test checks
docs/yaml.md against it, so the page cannot drift from the code.
"""
import sys

from framework.runs import catalog
from framework.runs.catalog import REQUIRED, constructor_params, format_default
from framework.runs.data_sources import DATASETS, SYNTHETIC, function_params
from framework.runs.schema import SECTIONS

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m framework.runs.reference -->"
END = "<!-- END GENERATED REFERENCE -->"
LAYER_BASE_ARGUMENTS = ("name", "trainable", "dtype", "input_shape", "batch_size", "input_dim")

_KIND_ORDER = ("layer", "loss", "optimizer", "schedule", "metric", "callback", "initializer", "regularizer",
               "constraint", "activation")
_TITLES = {"layer": "Layers", "loss": "Losses", "optimizer": "Optimizers",
           "schedule": "Learning-rate schedules", "metric": "Metrics", "callback": "Callbacks",
           "initializer": "Initializers", "regularizer": "Regularizers", "constraint": "Constraints",
           "activation": "Activations"}
_NOTES = {
    "layer": "Every layer also takes the common arguments " + ", ".join(f"`{a}`" for a in LAYER_BASE_ARGUMENTS)
             + " (in the functional form the node's `name` names the layer). Arguments ending in "
               "`_initializer`, `_regularizer` and `_constraint`, and `activation`, take a name or "
               "`{Name: {arguments}}` from the sections below.",
    "loss": "Write a name (`mse`) or `{Name: {arguments}}`.",
    "optimizer": "Write a name (any case: `adam`, `Adam`) or `{Name: {arguments}}`. `learning_rate` takes a "
                 "number or a schedule.",
    "schedule": "As an optimizer's `learning_rate`: `{Adam: {learning_rate: {CosineDecay: {initial_learning_rate: "
                "0.001, decay_steps: 1000}}}}`.",
    "metric": "Write a name or `{Name: {arguments}}`. `accuracy` / `acc` (any case) are resolved from the "
              "shapes and the loss, as Keras's compile does.",
    "callback": "Relative paths a callback writes (`filename`, `filepath`, `backup_dir`, `log_dir`) are inside "
                "the run's `output` folder. Not usable in configs: " + ", ".join(
                    f"`{name}` ({why})" for (kind, name), why in sorted(catalog.NOT_IN_CONFIGS.items())
                    if kind == "callback") + ".",
    "initializer": "For `*_initializer` layer arguments.",
    "regularizer": "For `*_regularizer` layer arguments.",
    "constraint": "For `*_constraint` layer arguments.",
    "activation": "For `activation` arguments: a name, or `{name: {arguments}}` to change an argument, "
                  "e.g. `{leaky_relu: {negative_slope: 0.1}}`.",
}


def _builtin(obj):
    module = getattr(obj, "__module__", "") or ""
    return module == "framework" or module.startswith("framework.")


def _arguments(kind, obj):
    if kind == "activation":
        params = dict(getattr(obj, "_defaults", {}) or {})
    else:
        params, _ = constructor_params(obj)
    if kind == "layer":
        params = {k: v for k, v in params.items() if k not in LAYER_BASE_ARGUMENTS}
    parts = []
    for name, default in params.items():
        if default is REQUIRED:
            parts.append(f"`{name}` (required)")
        else:
            parts.append(f"`{name}: {format_default(default)}`")
    return ", ".join(parts) or "none"


def _cell(text):
    return text.replace("|", "\\|")


def render_reference():
    """The generated part of docs/yaml.md: every name a config can use, with arguments and defaults."""
    lines = [BEGIN, "", "## Names and arguments", "",
             "Generated from the registries by `python -m framework.runs.reference`; do not edit by hand.", ""]
    for kind in _KIND_ORDER:
        groups = [g for g in catalog.groups(kind) if _builtin(g[1])]
        lines += [f"### {_TITLES[kind]}", "", _NOTES[kind], "",
                  "| name | also accepted | arguments (defaults) |", "| --- | --- | --- |"]
        for name, obj, aliases in groups:
            also = ", ".join(f"`{a}`" for a in aliases) or ""
            lines.append(f"| `{name}` | {also} | {_cell(_arguments(kind, obj))} |")
        lines.append("")
    lines += ["### Datasets", "",
              "`{dataset: <name>}` in `data`. The `synthetic_*` datasets are generated (no files); the others "
              "call `framework.datasets.<module>.<loader>()` and take that function's arguments as options "
              "(`path` and `cache_dir` relative to the config file). Only these names are ever imported; a name "
              "whose module is not installed is reported as not available.", "",
              "| name | loader | options (defaults) |", "| --- | --- | --- |"]
    for name in DATASETS:
        if name in SYNTHETIC:
            params = {k: v for k, v in function_params(SYNTHETIC[name]).items() if k != "split"}
            loader = "generated"
            options = ", ".join(f"`{k}: {format_default(v)}`" for k, v in params.items())
        else:
            module, function = catalog.EXTERNAL_DATASETS[name]
            loader = f"`framework.datasets.{module}.{function}()`"
            options = "its arguments"
        lines.append(f"| `{name}` | {loader} | {_cell(options)} |")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def _table(section):
    rows = ["| key | value | default | meaning |", "| --- | --- | --- | --- |"]
    for field in SECTIONS[section]:
        default = "required" if field.default is REQUIRED else f"`{format_default(field.default)}`"
        rows.append(f"| `{field.name}` | {field.type} | {default} | {_cell(field.doc)} |")
    return "\n".join(rows)


GUIDE = """\
# YAML run configs

<!-- Generated by `python -m framework.runs.reference > docs/yaml.md` from framework/runs/reference.py,
     framework/runs/schema.py (SECTIONS) and the registries. Edit those, then regenerate. -->

One YAML file describes a whole training run: the model, how to compile it, the data, how to fit it, the seed
and where the run's files go. The file is read safely (plain data only) and validated before any work is done:
every problem is reported at once, as `file:line: message`, with the valid choices or the closest match.

```yaml
seed: 6
model:
  input_shape: [28, 28]
  layers:
    - Flatten
    - Dense: {units: 128, activation: relu}
    - Dense: {units: 10, activation: softmax}
compile:
  optimizer: {Adam: {learning_rate: 0.001}}    # or just: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
data:
  train: {dataset: mnist_sample}               # or data/train.npz, relative to this file
  test: {dataset: mnist_sample, split: test}
  validation_split: 0.1
  scale: 0.00392156862745098                   # 1/255
fit:
  epochs: 5
  batch_size: 128
  callbacks:
    - EarlyStopping: {monitor: val_loss, patience: 2}
```

Problems are all reported together, in line order, before anything is built or loaded:

```text
3 problems in the config:
configs/run.yaml:4: unknown layer 'Dens'; did you mean 'Dense'?
configs/run.yaml:9: unknown argument 'learning_rat' for optimizer Adam; did you mean 'learning_rate'?
configs/run.yaml:16: unknown key 'epocs' in fit; did you mean 'epochs'?
```

Examples that run: [configs/mlp.yaml](../configs/mlp.yaml),
[configs/functional_multi_input.yaml](../configs/functional_multi_input.yaml),
[configs/mnist_convnet.yaml](../configs/mnist_convnet.yaml) and
[configs/mnist_rows_lstm.yaml](../configs/mnist_rows_lstm.yaml).

## Top level

@TABLE:top@

## Writing classes

Layers, losses, optimizers, metrics, callbacks, schedules, initializers, regularizers and constraints are written
as `Name` (the defaults) or `{Name: {argument: value, ...}}`, a mapping with exactly one key:

```yaml
- Dense: {units: 64, activation: relu, kernel_regularizer: {L2: {l2: 0.001}}}
- Dropout: {rate: 0.5}
- Flatten                      # same as Flatten: {}
```

Names are looked up in the registries and nowhere else; nothing is imported from a name in a file. A class of your
own becomes usable once registered (`@framework.utils.register_serializable()`) before the config is loaded
(see [Your own classes](#your-own-classes-plugins)).
The arguments are checked against the constructor's signature (unknown and missing arguments are reported),
and the objects are built once during validation, so a value the constructor refuses is reported at its line too.

### Your own classes (plugins)

A config names the modules that register its classes in a top-level `plugins` list; they are imported before
anything else is checked, so their layers, losses, metrics and callbacks can be named below:

```yaml
plugins: [mypackage.layers, mypackage.callbacks]
model:
  input_shape: [8]
  layers:
    - FeatureScale: {}            # registered by mypackage.layers with @register_serializable()
```

`framework train CONFIG --import mypackage.layers` (also `validate` and `summary`; repeatable) does the same from
the command line, and the resolved `config.yaml` lists those modules under `plugins` too. Entries are module names
(dotted Python identifiers), found as Python finds them: an installed package, or a folder on `PYTHONPATH`
(`PYTHONPATH=. framework train ...` for a package in the current folder); a file path is refused. A module that
cannot be imported is one problem at its line (or naming the `--import` flag), with exit code 2. Importing runs the
module's code: a config naming plugins runs that code. Loading a model file never imports anything; its classes
must be registered (imported) by the program that loads it.

## model

Two forms. The **sequential** form is a list of layers:

@TABLE:sequential@

The **functional** form names each node and wires nodes by name: several named inputs and outputs, merges, and
layers shared by name (a node with `reuse: <node>` calls that node's layer again, so both share one set of
weights).

```yaml
model:
  inputs: {image: {shape: [784]}, meta: {shape: [4]}}
  nodes:
    - {name: h, layer: {Dense: {units: 64, activation: relu}}, inputs: image}
    - {name: m, layer: {Dense: {units: 8}}, inputs: meta}
    - {name: joined, layer: Concatenate, inputs: [h, m]}
    - {name: out, layer: {Dense: {units: 10, activation: softmax}}, inputs: joined}
    - {name: aux, layer: {Dense: {units: 1}}, inputs: joined}
  outputs: [out, aux]
```

@TABLE:functional@

Each node:

@TABLE:node@

Each input (`name: [784]` is short for `name: {shape: [784]}`):

@TABLE:input@

A node's name is its layer's name, and output names (for per-output losses, metrics and targets) are the output
nodes' names. Inputs and nodes not used by any output are reported. The model is built symbolically during
validation, so an impossible shape (a `Dense` reused on a wider input, an `Add` of different shapes, a `Reshape`
to the wrong size) is reported at the line of the layer or node that fails; layers after it are not checked.

## compile

@TABLE:compile@

With several outputs, `loss`, `loss_weights` and `metrics` take a mapping by output name
(`loss: {out: sparse_categorical_crossentropy, aux: mse}`) or a list in output order.

## data

@TABLE:data@

A data source is one of (paths relative to the config file):

| form | meaning |
| --- | --- |
| `train.npz` | a NumPy archive with arrays `x` and `y` |
| `{npz: train.npz, x: images, y: labels}` | other array names; `x` / `y` may be lists or mappings by input / output name (`x: {image: img, meta: meta}`) |
| `{x: x.npy, y: y.npy}` | one `.npy` file per array (lists / mappings as above) |
| `table.csv` or `{csv: table.csv, target: label, features: [a, b], delimiter: ',', header: true}` | numeric CSV; `target` defaults to the last column, `features` to all others (`features` may map input names to column lists) |
| `{idx: {images: t10k-images-idx3-ubyte.gz, labels: t10k-labels-idx1-ubyte.gz}}` | IDX files (gzipped or not) |
| `{dataset: mnist, split: train}` | a built-in dataset (list below); `split` defaults to `train` for `data.train` and `test` for `validation` / `test`; other keys are the dataset's options |

Every form also takes `start` and `stop` (keep samples `[start:stop]`). Arrays are checked against the model's
inputs and outputs when loaded (shapes, names, sample counts), and integer inputs become `floatx()`.
Files are checked when the config is validated (they exist; named arrays and columns are there); the data itself
is read by `load_data()`. Before training, `framework train` (and `cfg.train()`) checks the loaded data against
the model, every split, and stops before writing anything when it does not fit: the sample counts differ, a label
is outside the classes of a sparse loss (`[0, classes)`), a target is NaN or infinite, a binary or categorical
crossentropy target is outside [0, 1], or an id does not fit an integer input. Each problem is reported at its
source's line. `framework validate` runs the same check when the data is on this machine (files, the
`synthetic_*` datasets, `digits`) and names the sources it left unchecked because they would be downloaded.

Some combinations are refused while validating, before any data is loaded, each at its line:
`ReduceLROnPlateau` in `fit.callbacks` while `compile.optimizer`'s `learning_rate` is a schedule (the message
names both lines); a loss that takes one-hot targets (`categorical_crossentropy`, `CategoricalFocalCrossentropy`,
`categorical_hinge`) on a built-in dataset whose labels are class indices (`digits`, `mnist*`, `fashion_mnist*`,
`synthetic_blobs`) without `data.one_hot`; and, with `FRAMEWORK_OFFLINE=1` in the environment, a dataset whose
files are neither in the cache nor given with `path:`, which would need a download.

`reshape`, `scale` and `normalize` are not applied to the arrays: they become the first layers of the model
the run trains and saves, `Reshape` (`data_reshape`), `Rescaling` (`data_scale`) and `Normalization`
(`data_normalize`, its `mean` and `variance` weights set from the training inputs), named with `_<input>`
after them for a model of several inputs ([Preprocessing layers](preprocessing.md)). The model's input
then takes the data as loaded, so `framework evaluate RUN/model.fw --data ...` and `framework predict` on raw
data give the figures the run reported. `cfg.load_data()` returns the inputs as loaded and `cfg.build_model()`
the model with those layers (`build_model(preprocessing=False)`: the declared model alone).

## fit

@TABLE:fit@

## Overrides

`apply_overrides(raw, ["fit.epochs=3", "compile.optimizer.Adam.learning_rate=0.01"])` (the command line's
`--set`) sets values by dotted path; values are parsed as YAML. In a list, a part is a position
(`fit.callbacks.0.EarlyStopping.patience=5`, `model.layers.-1.Dense.units=5`) or an entry's name: a class
(`fit.callbacks.EarlyStopping.patience=5`) or a node's name (`model.nodes.h.layer.Dense.units=32`). Setting an argument of a class given by name alone turns it into the mapping
form (`optimizer: adam` becomes `{Adam: {learning_rate: 0.01}}`). Keys are checked with close matches
(`unknown key 'epocs' in fit; did you mean 'epochs'?`); problems found later name the `--set` argument instead
of a line.

## Where a run writes

A config may come from anyone, so what it says about files is confined; what you type on the command line is not.

- **`output`** is a folder inside the current directory or inside the config file's folder (no hidden folder on
  the way). The config file's own folder is accepted only when it already holds a run (`config.yaml` next to
  `model.fw`, `history.csv` or `backup/`): that is the resolved config `framework train` writes there, which can
  be trained or validated again as is. An absolute path elsewhere, `..` or a symbolic link out is an error;
  `--output DIR` or `--set output=DIR` choose any folder.
- **Files callbacks write** (`CSVLogger`'s `filename`, `ModelCheckpoint`'s `filepath`, `BackupAndRestore`'s
  `backup_dir`, any `log_dir`) are relative paths inside the run folder. An absolute path, `~`, `..`, a symbolic
  link out of the folder (links are resolved) or a hidden name (`.bashrc`) is an error at its line, naming the
  key. A `ModelCheckpoint` pattern fills in plain fields only (`{epoch:02d}`, `{val_loss:.3f}`), and what a field
  fills in cannot add a folder. A path given with `--set fit.callbacks.0.CSVLogger.filename=/any/where.csv` is
  used as given (the written `config.yaml` keeps it, so training from that file again needs the same `--set`).
- **Names** that reach log keys, CSV headers and file names (a layer's, metric's, loss's or any class's `name`
  argument, input and node names, `model.name`) start with a letter or `_` and continue with letters, digits,
  `_`, `.` or `-`, at most 128 characters.

In Python, `CSVLogger(filename=...)`, `ModelCheckpoint(filepath=...)` and the others take any path: the
confinement is for configs. `CSVLogger` refuses a log key holding a control character (a newline would start a
line of its own in the file) whichever way it was made.

## Sizes

The model is built symbolically while validating: weights are zero arrays whose memory is never touched and no
initializer runs, so validating a model of any size costs almost nothing, and the parameter count
(`framework validate` prints it) comes from the shapes. A weight, or all of them together, larger than the
machine's memory (`FRAMEWORK_MEMORY_LIMIT`, bytes, replaces that limit) is an error at the layer's line naming
the layer and the bytes. `fit.class_weight` keys must be classes of the output: `0` to its number of classes - 1.

## Safety

The file is parsed by the library's bounded YAML reader (`framework.config.bounded_yaml`, see
[saving: Security](saving.md#security)), and only the YAML core schema is constructed
(mappings, lists, strings, numbers, booleans, null; dates stay text). Any other tag, such as
`!!python/object/apply:os.system`, is an error naming its line. Duplicate keys are errors. Anchors, aliases and
`<<` merges work; recursive aliases, documents that expand to more than a million values (an alias counts at
every use), nesting deeper than 200 levels and files over 16 MiB are refused before any value is built.

## Python API

```python
from framework.runs import ConfigError, apply_overrides, load_run_config, read_run_config

cfg = load_run_config("configs/mlp.yaml", overrides=["fit.epochs=1"])  # RunConfig, or ConfigError
framework.utils.set_random_seed(cfg.seed)         # if cfg.seed is not None
model = cfg.build_model()                         # built, not compiled; fresh weights on every call
model.compile(**cfg.compile_args())               # optimizer, loss(es), metrics as objects
data = x, y, validation, test = cfg.load_data()   # validation / test: (x, y) or None
cfg.check_data(model, data)                       # ConfigError at the source's line if the data does not fit
cfg.output.mkdir(parents=True, exist_ok=True)     # callbacks write their files there
model.fit(x, y, validation_data=validation, **cfg.fit_args())
cfg.resolved()                                    # everything resolved, as plain data; cfg.to_yaml() as text
```

`cfg.train()` does all of this and evaluates on the test data: `(model, history, test_logs)`.
`load_run_config(path, overrides, output=DIR)` replaces the config's run folder, as `--output` does;
`cfg.parameters` and `cfg.layer_count` come from the symbolic build, and `cfg.check_local_data()` is what
`framework validate` runs on the data (it returns the sources it left unchecked).
`ConfigError(problems)` is a `ValueError`; `problems` is a list of `Problem(source, line, message)` and
`str(error)` lists them, one per line.

"""


def render_document():
    """The whole of docs/yaml.md."""
    text = GUIDE
    for section in ("top", "sequential", "functional", "node", "input", "compile", "data", "fit"):
        text = text.replace(f"@TABLE:{section}@", _table(section))
    return text + render_reference()


def generated_section(text):
    """The generated reference inside ``text`` (a docs/yaml.md), markers included, or None."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        return None
    return text[start:end + len(END)] + "\n"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--check"]:
        path = argv[1] if len(argv) > 1 else "docs/yaml.md"
        with open(path, encoding="utf-8") as f:
            current = f.read()
        if current != render_document():
            print(f"{path} is out of date; regenerate it: python -m framework.runs.reference > {path}",
                  file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["--reference"]:
        sys.stdout.write(render_reference())
        return 0
    if argv:
        print("usage: python -m framework.runs.reference [--check [docs/yaml.md] | --reference]", file=sys.stderr)
        return 2
    sys.stdout.write(render_document())
    return 0


if __name__ == "__main__":
    sys.exit(main())
