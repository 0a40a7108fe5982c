"""Checking the sections that say how to train: compile (optimizer, losses, metrics), data
(the sources and their processing) and fit (the arguments of ``model.fit``, callbacks)."""
from framework.runs.catalog import find, is_registered, suggestion
from framework.runs.checker import Checker, is_int, is_number
from framework.runs.data_sources import SourceChecker, source_kind
from framework.runs.messages import describe, dotted
from framework.runs.schema import DATASET_DEFAULT_SPLIT, NORMALIZE
from framework.runs.specs import FAILED, Entry


class TrainingChecks(Checker):
    """The checks of ``compile``, ``data`` and ``fit``: specs for building and loading, or None.

    Args:
        raw: the ``RawConfig`` being checked.
    """

    # -- compile ---------------------------------------------------------------------------------
    def compile(self, value, output_names):
        """The compile spec (``Entry`` objects per output where given), or None."""
        path = ("compile",)
        if not self.section(value, path, "compile"):
            return None
        ok = True
        spec = {}
        if "optimizer" in value:
            spec["optimizer"] = self.entry(value["optimizer"], path + ("optimizer",), "optimizer")
            ok = ok and spec["optimizer"] is not None
        else:
            spec["optimizer"] = Entry(path + ("optimizer",), "optimizer", "rmsprop", find("optimizer", "rmsprop"), {})
        if "loss" in value:
            spec["loss"] = self.per_output(value["loss"], path + ("loss",), output_names, "loss", single=True)
            ok = ok and spec["loss"] is not FAILED
        for key in ("metrics", "weighted_metrics"):
            if value.get(key) is not None:
                spec[key] = self.per_output(value[key], path + (key,), output_names, "metric", single=False)
                ok = ok and spec[key] is not FAILED
        if value.get("loss_weights") is not None:
            spec["loss_weights"] = self.loss_weights(value["loss_weights"], path + ("loss_weights",), output_names)
            ok = ok and spec["loss_weights"] is not FAILED
        return spec if ok else None

    def per_output(self, value, path, output_names, kind, single):
        """A loss (single=True) or a list of metrics, for one output or per output."""
        names = output_names or []
        multi = len(names) > 1

        def one(v, p):
            if single:
                return self.entry(v, p, kind) or FAILED
            items = v if isinstance(v, list) else [v]
            result = []
            for j, item in enumerate(items):
                ipath = p + ((j,) if isinstance(v, list) else ())
                if kind == "metric" and isinstance(item, str) and item.lower() in ("accuracy", "acc"):
                    result.append(Entry(ipath, "metric", item, None, {}))
                    continue
                result.append(self.entry(item, ipath, kind) or FAILED)
            return FAILED if FAILED in result else result

        if isinstance(value, dict) and value and names and all(k in names for k in value) and \
                not (len(value) == 1 and is_registered(kind, next(iter(value)))):
            out = {k: one(v, path + (k,)) for k, v in value.items()}
            return FAILED if FAILED in out.values() else {"by_output": out}
        if isinstance(value, dict) and len(value) > 1 and names and multi:
            unknown = [k for k in value if k not in names]
            for k in unknown:
                self.report(path + (k,), f"unknown output {k!r} in {dotted(path)}; "
                            + suggestion(k, names, "outputs"), key=True)
            return FAILED
        if isinstance(value, list) and multi and (single or any(isinstance(v, list) for v in value)
                                                  or len(value) == len(names)):
            if len(value) != len(names):
                self.report(path, f"{dotted(path)} lists {len(value)} entries for {len(names)} outputs "
                                  f"({', '.join(names)}); give one per output or a mapping by output name")
                return FAILED
            out = [one(v, path + (j,)) for j, v in enumerate(value)]
            return FAILED if FAILED in out else {"per_output": out}
        if single and isinstance(value, list):
            self.report(path, f"{dotted(path)} is one loss for the single output, received a list")
            return FAILED
        result = one(value, path)
        return FAILED if result is FAILED else {"all": result}

    def loss_weights(self, value, path, output_names):
        """A number, a list (one per output) or a mapping by output name; FAILED after reporting."""
        names = output_names or []
        if is_number(value):
            return value
        if isinstance(value, list) and all(is_number(v) for v in value) and len(value) == max(len(names), 1):
            return value
        if isinstance(value, dict) and all(k in names and is_number(v) for k, v in value.items()):
            return value
        self.report(path, f"loss_weights must be a number, a list with one number per output or a mapping of "
                          f"output names ({', '.join(map(str, names)) or 'the output'}) to numbers, received "
                          f"{describe(value)}")
        return FAILED

    # -- data ------------------------------------------------------------------------------------
    def data(self, value, base_dir):
        """The data spec (sources normalized, paths from ``base_dir`` made absolute), or None."""
        path = ("data",)
        if not self.section(value, path, "data"):
            return None
        sources = SourceChecker(base_dir, self.report)
        spec, ok = {}, True
        for slot in ("train", "validation", "test"):
            if value.get(slot) is None:
                continue
            source = sources.check(value[slot], path + (slot,), slot)
            if source is None:
                ok = False
                continue
            if source_kind(source) == "dataset":
                source.setdefault("split", DATASET_DEFAULT_SPLIT[slot])
            spec[slot] = source
        split = value.get("validation_split", 0.0)
        if not is_number(split) or not 0 <= split < 1:
            self.report(path + ("validation_split",), f"validation_split must be a number in [0, 1), received "
                                                      f"{describe(split)}")
            ok = False
        elif split and value.get("validation") is not None:
            self.report(path + ("validation_split",), "give either data.validation or data.validation_split, "
                                                      "not both")
            ok = False
        spec["validation_split"] = split
        if value.get("reshape") is not None:
            spec["reshape"] = self.shape(value["reshape"], path + ("reshape",))
            ok = ok and spec["reshape"] is not None
        scale = value.get("scale")
        if scale is not None and not is_number(scale):
            self.report(path + ("scale",), f"data.scale must be a number, received {describe(scale)}")
            ok = False
        spec["scale"] = scale
        normalize = value.get("normalize")
        if normalize not in NORMALIZE:
            self.report(path + ("normalize",), f"unknown normalize {normalize!r}; "
                        + suggestion(normalize, [n for n in NORMALIZE if n], "choices") + " (or null)")
            ok = False
        spec["normalize"] = normalize
        one_hot = value.get("one_hot")
        if one_hot is not None and not (is_int(one_hot) and one_hot >= 2) and not (
                isinstance(one_hot, dict) and all(is_int(v) and v >= 2 for v in one_hot.values())):
            self.report(path + ("one_hot",), "data.one_hot is a number of classes (>= 2) or a mapping of output "
                                             f"names to numbers of classes, received {describe(one_hot)}")
            ok = False
        spec["one_hot"] = one_hot
        return spec if ok else None

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, value):
        """``{'callbacks': [Entry, ...]}``, or None; the other fit keys are read from the config as given."""
        path = ("fit",)
        if not self.section(value, path, "fit"):
            return None
        ok = True
        for key, minimum, none in (("epochs", 1, False), ("batch_size", 1, False), ("initial_epoch", 0, False),
                                   ("steps_per_epoch", 1, True), ("validation_steps", 1, True),
                                   ("validation_batch_size", 1, True), ("validation_freq", 1, False)):
            if key in value:
                ok = self.integer(value[key], path + (key,), minimum, none) and ok
        if "verbose" in value and value["verbose"] not in ("auto", 0, 1, 2):
            self.report(path + ("verbose",), f"fit.verbose must be auto, 0, 1 or 2, received "
                                             f"{describe(value['verbose'])}")
            ok = False
        if "shuffle" in value and not isinstance(value["shuffle"], bool):
            self.report(path + ("shuffle",), f"fit.shuffle must be true or false, received "
                                             f"{describe(value['shuffle'])}")
            ok = False
        weights = value.get("class_weight")
        if weights is not None and not (isinstance(weights, dict) and all(
                is_int(k) and k >= 0 and is_number(v) for k, v in weights.items())):
            self.report(path + ("class_weight",), "fit.class_weight maps class indices (integers >= 0) to "
                                                  f"weights (numbers), received {describe(weights)}")
            ok = False
        if is_int(value.get("initial_epoch")) and is_int(value.get("epochs", 1)) and \
                value.get("initial_epoch", 0) >= value.get("epochs", 1):
            self.report(path + ("initial_epoch",), "fit.initial_epoch must be smaller than fit.epochs")
            ok = False
        callbacks = value.get("callbacks")
        entries = []
        if callbacks is not None:
            if not isinstance(callbacks, list):
                self.report(path + ("callbacks",), f"fit.callbacks must be a list of callbacks "
                                                   f"(- Name: {{arguments}}), received {describe(callbacks)}")
                ok = False
            else:
                for i, item in enumerate(callbacks):
                    entry = self.entry(item, path + ("callbacks", i), "callback")
                    ok = ok and entry is not None
                    entries.append(entry)
        return {"callbacks": entries} if ok else None
