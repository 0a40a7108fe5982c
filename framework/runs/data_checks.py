"""A run's data checked against its model before the run writes anything.

``framework train`` loads the data, then ``check_run_data`` runs ``framework.training.data_checks``
on every split (shapes, sample counts, labels the loss cannot use, NaN targets, class weights) and
reports each problem at the line of its ``data.<split>`` source, so a data mistake ends with exit
code 2 before the run folder is touched. ``framework validate`` does the same with a symbolic model
(``check_local_data``) when all the data is on this machine: files, the synthetic datasets and
``digits``; a dataset that would be downloaded is left unchecked and named.
"""
from framework.runs.data_sources import SYNTHETIC, source_kind
from framework.runs.messages import error_text
from framework.runs.sandbox import sandbox
from framework.runs.yaml_source import ConfigError
from framework.training.data_checks import check_data

SPLITS = ("train", "validation", "test")
#: built-in datasets read without a download
LOCAL_DATASETS = frozenset(SYNTHETIC) | {"digits"}


def remote_sources(config):
    """``['data.train (dataset mnist)', ...]``: the sources that loading could download."""
    remote = []
    for slot in SPLITS:
        source = config.data_spec.get(slot)
        if source is not None and source_kind(source) == "dataset" and source["dataset"] not in LOCAL_DATASETS:
            remote.append(f"data.{slot} (dataset {source['dataset']})")
    return remote


def check_run_data(config, model, data):
    """ConfigError listing, at each source's line, why the loaded ``data`` (``load_data()``'s
    ``(x, y, validation, test)``) cannot train or evaluate the compiled ``model``."""
    x, y, validation, test = data
    class_weight = (config.raw.data.get("fit") or {}).get("class_weight")
    problems = []
    for slot, pair in zip(SPLITS, ((x, y), validation, test)):
        if pair is None:
            continue
        try:
            check_data(model, pair[0], pair[1], class_weight=dict(class_weight) if slot == "train" and class_weight
                       else None)
        except (ValueError, TypeError) as e:
            problems.append(config.raw.locations.problem(("data", slot), f"data.{slot}: {error_text(e)}"))
    if problems:
        raise ConfigError(problems)


def check_local_data(config):
    """Load and check the data with a symbolic model (no weights in memory) when no source needs a
    download; ConfigError on problems. Returns the sources left unchecked (``remote_sources``)."""
    remote = remote_sources(config)
    if remote:
        return remote
    with sandbox():
        data = config.load_data()  # first: the model's front layers take the data's shapes and statistics
        model = config.build_model()
        model.compile(**config.compile_args())
        check_run_data(config, model, data)
    return []
