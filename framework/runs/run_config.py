"""The validated run config (``RunConfig``): what a run is made of and how it runs.

It builds the model and the compile / fit arguments as new objects, loads the data
arranged for the model's inputs and outputs (one-hot targets; the inputs as loaded: data.reshape,
scale and normalize are layers at the front of the model, ``framework.runs.preprocessing``),
trains and evaluates (``train()``), and gives the config back fully resolved
(``resolved()``, ``to_yaml()``). ``framework.runs.validation`` makes it; nothing is
checked here that validation has not checked already, except the data itself.
"""
import copy
from pathlib import Path

import numpy as np

from framework import backend
from framework.graph.shapes import format_shape
from framework.runs import building, data_checks
from framework.runs.preprocessing import FrontLayers, options as preprocessing_options, summarize
from framework.runs.confinement import run_folder
from framework.runs.data_sources import DataLoadError, load_source
from framework.runs.messages import error_text
from framework.runs.schema import DATASET_DEFAULT_SPLIT, SECTIONS, keys
from framework.runs.yaml_source import ConfigError, dump_yaml
from framework.utils import set_random_seed, to_categorical


class RunConfig:
    """A validated run config. Build everything from it; ``resolved()`` gives it back as plain data.

    Attributes:
        path: the config file (None for configs built from data).
        seed: the integer seed, or None.
        output: the run's folder (an absolute ``Path``; not created here).
        raw: the ``RawConfig`` it was validated from (overrides applied).
        plugins: the modules imported for it (its ``plugins`` list; ``framework train --import``
            adds its modules, so the resolved config imports them too).
        input_names / output_names: the model's, as found while validating.

    Args:
        raw: the ``RawConfig`` that was validated (overrides applied).
        model_spec: the checked model spec (``ModelChecks.model``).
        compile_spec: the checked compile spec (``TrainingChecks.compile``).
        data_spec: the checked data spec, sources normalized (``TrainingChecks.data``).
        fit_spec: ``{'callbacks': [Entry, ...]}`` (``TrainingChecks.fit``).
        signature: the model's input / output names and shapes (``building.model_signature``).
        output: the run's folder as validation resolved it (default: from the config, as ``run_folder``).
    """

    def __init__(self, raw, model_spec, compile_spec, data_spec, fit_spec, signature, output=None):
        self.raw = raw
        self.path = raw.path
        self._model = model_spec
        self._compile = compile_spec
        self._data = data_spec
        self._fit = fit_spec
        self._signature = signature
        data = raw.data
        self.seed = data.get("seed")
        self.description = data.get("description")
        self.plugins = list(data.get("plugins") or [])
        self.output = Path(output) if output is not None else run_folder(data.get("output"), self.path)
        self._inputs_summary = None  # what the front layers need from the training inputs (load_data)

    # -- what the model looks like -------------------------------------------------------------------
    @property
    def input_names(self):
        return [name for name, _ in self._signature["inputs"]]

    @property
    def output_names(self):
        return list(self._signature["outputs"])

    @property
    def data_spec(self):
        """The checked data section: sources normalized, data paths absolute."""
        return self._data

    @property
    def parameters(self):
        """The model's number of parameters, counted while validating (no weights allocated)."""
        return self._signature["parameters"]

    @property
    def layer_count(self):
        """The model's number of layers (top level), as validation built it."""
        return self._signature["layers"]

    # -- building ------------------------------------------------------------------------------------
    def build_model(self, preprocessing=True):
        """A new, built (not compiled) model with fresh weights. Seed first for repeatable weights.

        With ``preprocessing`` (the default) the model takes the data as ``load_data()`` gives it: the
        config's data.reshape / scale / normalize are layers at its front (so the saved model works on
        raw data), and with data.reshape or data.normalize building needs the training inputs' shapes
        or statistics, which ``load_data()`` records (if it has not run, the training data is loaded
        for them). ``preprocessing=False`` builds the declared model alone."""
        problems = []
        front = None
        if preprocessing and preprocessing_options(self._data):
            needs_data = any(self._data.get(k) is not None for k in ("reshape", "normalize"))
            if needs_data and self._inputs_summary is None:
                self.load_data()
            front = FrontLayers(self._data, self._inputs_summary, len(self.input_names) > 1)
        model = building.build_model(self._model, lambda path, message, key=False:
                                      problems.append(self.raw.locations.problem(path, message, key)), front)
        if model is None:
            raise ConfigError(problems)
        if front is not None:
            front.finish()
        return model

    def compile_args(self):
        """Keyword arguments for ``model.compile``: optimizer, loss(es), metrics, ... as new objects
        (metric names stay names, so 'accuracy' is resolved from the shapes as Keras does)."""
        return building.compile_args(self._compile)

    def fit_args(self):
        """Keyword arguments for ``model.fit`` besides x, y and validation_data: epochs, batch_size,
        new callback objects (relative paths they write are inside ``output``), validation_split, ..."""
        fit = self.raw.data.get("fit") or {}
        args = {f.name: fit.get(f.name, f.default) for f in SECTIONS["fit"]}
        args["callbacks"] = [building.instantiate(e, building.output_paths(e, self.output))
                             for e in self._fit["callbacks"]]
        if args["class_weight"] is not None:
            args["class_weight"] = dict(args["class_weight"])
        split = self._data.get("validation_split", 0.0)
        if split:
            args["validation_split"] = split
        return args

    def load_data(self):
        """``(x, y, validation, test)``: the training arrays, then ``(x_val, y_val)`` and ``(x_test,
        y_test)`` or None. x / y are arrays, or dicts by input / output name for several. The inputs are
        as loaded (integers as floats): ``build_model()``'s front layers reshape, scale and normalize
        them. ConfigError (at the source's line) when a file cannot be read or does not fit the model."""
        loaded = {}
        for slot in ("train", "validation", "test"):
            source = self._data.get(slot)
            if source is None:
                loaded[slot] = None
                continue
            path = ("data", slot)
            try:
                x, y = load_source(source, DATASET_DEFAULT_SPLIT[slot])
            except DataLoadError as e:
                raise ConfigError([self.raw.locations.problem(path + e.subpath, f"data.{slot}: {e}")]) from None
            except (OSError, ValueError, KeyError, ImportError) as e:
                raise ConfigError([self.raw.locations.problem(path, f"data.{slot}: cannot load: "
                                                                    f"{error_text(e)}")]) from None
            loaded[slot] = self._prepare(slot, x, y)
        train_x = loaded["train"][0]
        xs = train_x if isinstance(train_x, dict) else {self.input_names[0]: train_x}
        self._inputs_summary = summarize(xs, self._data)
        if self._data.get("reshape") is not None:  # other splits' samples in the training data's shape
            raw = self._inputs_summary.shapes[self.input_names[0]]
            for slot in ("validation", "test"):
                if loaded[slot] is not None and loaded[slot][0].shape[1:] != raw:
                    x, y = loaded[slot]
                    loaded[slot] = (x.reshape((len(x),) + raw), y)
        x, y = loaded["train"]
        return x, y, loaded["validation"], loaded["test"]

    def check_data(self, model, data):
        """ConfigError, at each ``data.<split>`` line, when the loaded ``data`` (``load_data()``'s
        result) cannot train or evaluate the compiled ``model``: labels out of range for the loss,
        NaN targets, class weights, ... (``framework.runs.data_checks``). Nothing is written."""
        data_checks.check_run_data(self, model, data)

    def check_local_data(self):
        """Check the data without building real weights, when no source needs a download (what
        ``framework validate`` does); returns the sources left unchecked."""
        return data_checks.check_local_data(self)

    def _prepare(self, slot, x, y):
        """Arrange x / y by the model's input / output names, one-hot, cast; check the inputs' shapes
        (after data.reshape, which the model's front layer does)."""
        path = ("data", slot)

        def fail(message):
            raise ConfigError([self.raw.locations.problem(path, f"data.{slot}: {message}")])

        inputs = self._signature["inputs"]
        names = [n for n, _ in inputs]
        xs = self._arrange(x, names, "x", "input", fail)
        ys = self._arrange(y, self.output_names, "y", "output", fail)
        reshape = self._data.get("reshape")
        shapes = {}
        for name in list(xs):
            array = np.asarray(xs[name])
            shapes[name] = array.shape[1:]
            if reshape is not None:
                try:
                    shapes[name] = array.reshape((len(array),) + tuple(reshape)).shape[1:]
                except ValueError:
                    fail(f"cannot reshape samples of shape {format_shape(array.shape[1:])} to "
                         f"{format_shape(tuple(reshape))} (data.reshape)")
            if array.dtype.kind in "biu":
                array = array.astype(backend.floatx())
            xs[name] = array
        for name, expected in inputs:
            received = shapes[name]
            if len(received) != len(expected) or any(e is not None and e != r for e, r in zip(expected, received)):
                hint = ""
                if int(np.prod(received)) == int(np.prod([e or 1 for e in expected])) and None not in expected:
                    hint = f"; add data.reshape: {list(expected)}"
                which = "the model's input" if len(inputs) == 1 else f"the model's input {name!r}"
                fail(f"{which} takes samples of shape {format_shape(expected)}, the data has "
                     f"{format_shape(received)}{hint}")
        one_hot = self._data.get("one_hot")
        for name in list(ys):
            classes = one_hot.get(name) if isinstance(one_hot, dict) else one_hot
            if classes is not None:
                try:
                    ys[name] = to_categorical(ys[name], classes)
                except ValueError as e:
                    fail(f"data.one_hot: {error_text(e)}")
        counts = {f"x[{n}]" if len(xs) > 1 else "x": len(a) for n, a in xs.items()}
        counts.update({f"y[{n}]" if len(ys) > 1 else "y": len(np.asarray(a)) for n, a in ys.items()})
        if len(set(counts.values())) > 1:
            fail("the arrays have different numbers of samples: "
                 + ", ".join(f"{k} {v}" for k, v in counts.items()))
        x_out = xs[names[0]] if len(names) == 1 else xs
        y_out = ys[self.output_names[0]] if len(ys) == 1 else ys
        return x_out, y_out

    @staticmethod
    def _arrange(value, names, what, role, fail):
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            missing = [n for n in names if n not in value]
            if unknown or missing:
                fail(f"{what} has arrays for {', '.join(map(repr, value))} but the model's {role}s are "
                     f"{', '.join(map(repr, names))}")
            return {n: value[n] for n in names}
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                fail(f"{what} has {len(value)} arrays for the model's {len(names)} {role}s ({', '.join(names)})")
            return dict(zip(names, value))
        if len(names) > 1:
            fail(f"the model has {len(names)} {role}s ({', '.join(names)}): give {what} as a mapping of "
                 f"{role} names to arrays")
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        return {names[0]: value}

    def train(self, verbose=None):
        """Seed, build, compile, load the data, fit and evaluate on the test data (if any):
        ``(model, history, test_logs)``; ``test_logs`` is a dict, or None without test data."""
        if self.seed is not None:
            set_random_seed(self.seed)
        data = x, y, validation, test = self.load_data()
        model = self.build_model()
        model.compile(**self.compile_args())
        self.check_data(model, data)
        args = self.fit_args()
        if verbose is not None:
            args["verbose"] = verbose
        self.output.mkdir(parents=True, exist_ok=True)
        history = model.fit(x, y, validation_data=validation, **args)
        test_logs = None
        if test is not None:
            test_logs = model.evaluate(test[0], test[1], batch_size=args["batch_size"], return_dict=True,
                                       verbose=args["verbose"])
        return model, history, test_logs

    # -- writing it back -----------------------------------------------------------------------------
    def resolved(self):
        """The config as plain data with everything resolved: overrides applied, defaults of the
        compile / data / fit sections filled in, data paths absolute (so the result loads from any
        folder), the seed and the output folder. ``load_run_config`` accepts it unchanged."""
        data = copy.deepcopy(self.raw.data)
        out = {}
        if self.description is not None:
            out["description"] = self.description
        if self.plugins:
            out["plugins"] = list(self.plugins)
        out["model"] = _canonical_model(data["model"])
        compile_ = dict(data["compile"])
        compile_.setdefault("optimizer", "rmsprop")
        out["compile"] = {k: compile_[k] for k in keys("compile") if compile_.get(k) is not None}
        data_out = {}
        for field in SECTIONS["data"]:
            if field.name in ("train", "validation", "test"):
                if field.name in self._data:
                    data_out[field.name] = copy.deepcopy(self._data[field.name])
            elif self._data.get(field.name) is not None:
                data_out[field.name] = self._data[field.name]
        data_out.setdefault("validation_split", 0.0)
        out["data"] = data_out
        fit = data.get("fit") or {}
        out["fit"] = {f.name: copy.deepcopy(fit.get(f.name, f.default)) for f in SECTIONS["fit"]}
        out["seed"] = self.seed
        out["output"] = str(self.output)
        return out

    def to_yaml(self):
        """``resolved()`` as YAML text."""
        return dump_yaml(self.resolved())

    def __repr__(self):
        return f"<RunConfig {self.path or '(data)'} model={self._model['form']} output={self.output}>"


def _canonical_model(model):
    """The model section in its long form: ``{Name: {}}`` for bare layer names, ``{shape: [...]}`` inputs."""
    model = dict(model)
    if "layers" in model:
        model["layers"] = [{item: {}} if isinstance(item, str) else
                           {k: (v if v is not None else {}) for k, v in item.items()} for item in model["layers"]]
    if "inputs" in model and isinstance(model["inputs"], dict):
        model["inputs"] = {k: ({"shape": v} if isinstance(v, (list, int)) else v) for k, v in model["inputs"].items()}
    return model
