"""The run-config schema: the keys of every fixed section, their types, defaults and meanings.

``SECTIONS`` is the single source of the keys a config may hold; validation checks
configs against it, overrides check new keys against it, ``RunConfig.resolved()``
fills in its defaults and ``framework.runs.reference`` generates docs/yaml.md's key
tables from it.
"""
from framework.runs.catalog import REQUIRED


class Field:
    """One key of a config section: its name, accepted values, default and meaning.

    Args:
        name: the key.
        type_: the accepted values, in words (shown in docs/yaml.md).
        default: the value when the key is absent, or ``REQUIRED``.
        doc: what the key means (shown in docs/yaml.md and in "missing key" problems).
    """

    __slots__ = ("name", "type", "default", "doc")

    def __init__(self, name, type_, default, doc):
        self.name, self.type, self.default, self.doc = name, type_, default, doc

    @property
    def required(self):
        """True when a config must give this key."""
        return self.default is REQUIRED


# The schema of every fixed section; docs/yaml.md's key tables are generated from these.
SECTIONS = {
    "top": [
        Field("model", "mapping", REQUIRED, "the model: the sequential or the functional form"),
        Field("compile", "mapping", REQUIRED, "arguments of `model.compile`"),
        Field("data", "mapping", REQUIRED, "training, validation and test data"),
        Field("fit", "mapping", {}, "arguments of `model.fit`"),
        Field("seed", "integer or null", None, "calls `framework.utils.set_random_seed(seed)` before the model "
                                               "is built: weights, shuffles and dropout repeat exactly"),
        Field("output", "path or null", None, "the run's folder (relative to the current directory); default "
                                              "`runs/<config file name without .yaml>`; must lie inside the "
                                              "current directory or the config file's folder (see "
                                              "[Where a run writes](#where-a-run-writes))"),
        Field("description", "text or null", None, "free text, kept in the resolved config"),
        Field("plugins", "list of module names", [], "Python modules imported before the config is checked, "
                                                     "e.g. `[mypackage.layers]`, so the classes they register with "
                                                     "`register_serializable` can be named (see "
                                                     "[Your own classes](#your-own-classes-plugins))"),
    ],
    "sequential": [
        Field("input_shape", "list of integers", REQUIRED, "the shape of one sample without the batch axis, e.g. "
                                                           "`[28, 28, 1]`; or give `input_shape` to the first layer"),
        Field("layers", "list of layers", REQUIRED, "`- Name: {arguments}` (or just `- Name`), in order"),
        Field("name", "text", None, "the model's name"),
    ],
    "functional": [
        Field("inputs", "mapping", REQUIRED, "input name -> `{shape: [...], dtype: float32}` (or just the "
                                             "shape list)"),
        Field("nodes", "list of nodes", REQUIRED, "each `{name, layer | reuse, inputs}`, after the nodes and "
                                                  "inputs it reads"),
        Field("outputs", "name or list of names", REQUIRED, "the node(s) whose results the model returns"),
        Field("name", "text", None, "the model's name"),
    ],
    "node": [
        Field("name", "text", REQUIRED, "the node's (and its layer's) name; unique among inputs and nodes"),
        Field("layer", "layer", None, "a new layer, `{Name: {arguments}}`; give `layer` or `reuse`"),
        Field("reuse", "node name", None, "call the layer of that node again: the two share their weights"),
        Field("inputs", "name or list of names", REQUIRED, "the input(s) or node(s) it is applied to; a list "
                                                           "for merge layers (Concatenate, Add, ...)"),
    ],
    "input": [
        Field("shape", "list of integers", REQUIRED, "the shape of one sample, without the batch axis"),
        Field("dtype", "text", None, "the input's dtype (default: `floatx()`)"),
    ],
    "compile": [
        Field("optimizer", "optimizer", "rmsprop", "a name (`adam`) or `{Adam: {learning_rate: 0.001}}`; "
                                                   "`learning_rate` may be a schedule `{CosineDecay: {...}}`"),
        Field("loss", "loss", REQUIRED, "a name, `{Name: {arguments}}`, or (several outputs) a mapping by output "
                                        "name or a list with one loss per output"),
        Field("loss_weights", "number, list or mapping", None, "weights of the outputs' losses"),
        Field("metrics", "list of metrics", None, "names (`accuracy` is resolved from the shapes, as in Keras) "
                                                  "or `{Name: {arguments}}`; several outputs: a mapping by output "
                                                  "name or a list with one entry per output"),
        Field("weighted_metrics", "list of metrics", None, "as `metrics`, weighted by sample / class weights"),
    ],
    "data": [
        Field("train", "data source", REQUIRED, "the training data: inputs x and targets y"),
        Field("validation", "data source", None, "validation data, passed as `validation_data`"),
        Field("test", "data source", None, "test data, evaluated after training"),
        Field("validation_split", "number in [0, 1)", 0.0, "hold out this fraction of the training data instead "
                                                           "of `validation`"),
        Field("reshape", "list of integers", None, "reshape each input sample to this shape (single-input models; "
                                                   "a `Reshape` layer at the front of the saved model)"),
        Field("scale", "number", None, "multiply the inputs by this (e.g. 0.00392156862745098 = 1/255; a "
                                       "`Rescaling` layer in the saved model)"),
        Field("normalize", "standardize, minmax or null", None, "per-feature statistics of the training inputs, "
                                                                "applied to every split (after `scale`; a "
                                                                "`Normalization` layer in the saved model)"),
        Field("one_hot", "integer or mapping", None, "one-hot encode integer targets into this many classes "
                                                     "(a mapping by output name for several outputs)"),
    ],
    "fit": [
        Field("epochs", "integer >= 1", 1, "number of epochs"),
        Field("batch_size", "integer >= 1", 32, "samples per step"),
        Field("callbacks", "list of callbacks", [], "`- Name: {arguments}`; the file paths they write "
                                                    "(e.g. CSVLogger's filename) are relative, inside `output`"),
        Field("verbose", "auto, 0, 1 or 2", "auto", "progress output"),
        Field("shuffle", "boolean", True, "shuffle the training data every epoch"),
        Field("initial_epoch", "integer >= 0", 0, "epoch to start from"),
        Field("steps_per_epoch", "integer >= 1 or null", None, "steps per epoch (default: the whole data)"),
        Field("validation_steps", "integer >= 1 or null", None, "validation steps"),
        Field("validation_batch_size", "integer >= 1 or null", None, "validation batch size (default: "
                                                                     "`batch_size`)"),
        Field("validation_freq", "integer >= 1", 1, "validate every this many epochs"),
        Field("class_weight", "mapping or null", None, "class index (0 to the number of output classes - 1) "
                                                       "-> weight of its samples in the loss"),
    ],
}


SECTION_WHERE = {"top": "the top level", "sequential": "model", "functional": "model", "compile": "compile",
                 "data": "data", "fit": "fit"}  # how problems name each section
DATASET_DEFAULT_SPLIT = {"train": "train", "validation": "test", "test": "test"}  # data slot -> dataset split
NORMALIZE = (None, "standardize", "minmax")  # the choices of data.normalize

# Keys written in the wrong section, and where they belong.
MISPLACED = {
    ("fit", "validation_split"): "validation_split belongs in data (data.validation_split)",
    ("fit", "validation_data"): "validation data belongs in data (data.validation)",
    ("fit", "optimizer"): "the optimizer belongs in compile (compile.optimizer)",
    ("fit", "loss"): "the loss belongs in compile (compile.loss)",
    ("fit", "metrics"): "metrics belong in compile (compile.metrics)",
    ("compile", "epochs"): "epochs belongs in fit (fit.epochs)",
    ("compile", "batch_size"): "batch_size belongs in fit (fit.batch_size)",
    ("compile", "callbacks"): "callbacks belong in fit (fit.callbacks)",
    ("top", "layers"): "layers belong in model (model.layers)",
    ("top", "optimizer"): "the optimizer belongs in compile (compile.optimizer)",
    ("top", "loss"): "the loss belongs in compile (compile.loss)",
    ("top", "epochs"): "epochs belongs in fit (fit.epochs)",
    ("top", "batch_size"): "batch_size belongs in fit (fit.batch_size)",
}


def keys(section):
    """The key names of ``section``, in schema order."""
    return [f.name for f in SECTIONS[section]]
