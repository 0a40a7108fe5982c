"""Every registered class of every kind rebuilds from its config, and its config is plain YAML."""
import inspect

import pytest
import yaml

from framework import (activations, utils, callbacks, constraints, initializers, layers, losses, metrics, optimizers,
                       regularizers, schedules)

# required constructor arguments for classes that have some
REQUIRED = {
    "Dense": {"units": 3}, "Activation": {"activation": "relu"}, "Dropout": {"rate": 0.5},
    "LayerScale": {"init_values": 1e-6, "projection_dim": 4}, "StochasticDepth": {"drop_path_rate": 0.1},
    "Reshape": {"target_shape": [2, -1]}, "Permute": {"dims": [2, 1]}, "RepeatVector": {"n": 2},
    "InputLayer": {"shape": [4]}, "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9},
    "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "PiecewiseConstantDecay": {"boundaries": [10], "values": [0.1, 0.01]},
    "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
    "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
    "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 10},
    "CSVLogger": {"filename": "log.csv"}, "ModelCheckpoint": {"filepath": "m.fw"},
    "BackupAndRestore": {"backup_dir": "backup"}, "MeanIoU": {"num_classes": 3}, "IoU": {"num_classes": 3, "target_class_ids": [0]},
    "OneHotIoU": {"num_classes": 3, "target_class_ids": [0]}, "OneHotMeanIoU": {"num_classes": 3},
    "SensitivityAtSpecificity": {"specificity": 0.5}, "SpecificityAtSensitivity": {"sensitivity": 0.5},
    "PrecisionAtRecall": {"recall": 0.5}, "RecallAtPrecision": {"precision": 0.5}, "Constant": {"value": 0.5},
    "Conv1D": {"filters": 2, "kernel_size": 3}, "Conv2D": {"filters": 2, "kernel_size": 3},
    "Conv2DTranspose": {"filters": 2, "kernel_size": 3}, "DepthwiseConv2D": {"kernel_size": 3},
    "SeparableConv2D": {"filters": 2, "kernel_size": 3}, "SpatialDropout1D": {"rate": 0.5},
    "SpatialDropout2D": {"rate": 0.5}, "Embedding": {"input_dim": 10, "output_dim": 3},
    "SimpleRNN": {"units": 3}, "LSTM": {"units": 3}, "GRU": {"units": 3},
    "MultiHeadAttention": {"num_heads": 2, "key_dim": 4},
    "Rescaling": {"scale": 0.5}, "CategoryEncoding": {"num_tokens": 4}, "Resizing": {"height": 2, "width": 3},
    "CenterCrop": {"height": 2, "width": 3}, "RandomRotation": {"factor": (0.1, 0.2)},
    "RandomTranslation": {"height_factor": 0.1, "width_factor": [-0.2, 0.1]}, "RandomZoom": {"height_factor": 0.2},
}
def doubled(x):
    """A registered function: what a Lambda layer's config names."""
    return x * 2.0


utils.register_serializable(package="tests")(doubled)

# arguments that are objects, made fresh for each test
REQUIRED_OBJECTS = {
    "Lambda": lambda: {"function": doubled},
    "Bidirectional": lambda: {"layer": layers.get("LSTM")(3)},
    "TimeDistributed": lambda: {"layer": layers.get("Dense")(3)},
}
# holds a Python function, so it has no file form (documented)
NOT_SERIALIZABLE = {"LearningRateScheduler", "LambdaCallback", "ProgbarLogger", "History", "Function"}


def _classes(registry):
    seen = {}
    for name in registry.names():
        cls = registry.lookup(name)
        if inspect.isclass(cls) and cls.__name__ not in NOT_SERIALIZABLE and not inspect.isabstract(cls):
            seen.setdefault(cls, cls.__name__)
    return sorted(seen.items(), key=lambda item: item[1])


KINDS = {"layer": layers.REGISTRY, "loss": losses.REGISTRY, "metric": metrics.REGISTRY,
         "optimizer": optimizers.REGISTRY, "schedule": schedules.REGISTRY, "callback": callbacks.REGISTRY,
         "initializer": initializers.REGISTRY, "regularizer": regularizers.REGISTRY,
         "constraint": constraints.REGISTRY}
CASES = [(kind, cls) for kind, registry in KINDS.items() for cls, _ in _classes(registry)
         if cls.__name__ not in ("Layer", "Loss", "Metric", "Optimizer", "Callback", "Initializer", "Regularizer",
                                 "Constraint", "LearningRateSchedule", "Merge", "Mean", "MeanMetricWrapper",
                                 "LossFunctionWrapper")]


@pytest.mark.parametrize("kind,cls", CASES, ids=[f"{k}-{c.__name__}" for k, c in CASES])
def test_config_round_trip_through_yaml(kind, cls):
    made = REQUIRED_OBJECTS.get(cls.__name__)
    obj = cls(**REQUIRED.get(cls.__name__, {}), **(made() if made else {}))
    config = obj.get_config()
    text = yaml.safe_dump(config)  # plain values only: safe_dump refuses objects
    rebuilt = cls.from_config(yaml.safe_load(text))
    assert type(rebuilt) is cls
    assert yaml.safe_dump(rebuilt.get_config()) == text


def test_every_kind_has_registered_classes():
    assert {kind: len([c for k, c in CASES if k == kind]) >= 1 for kind in KINDS} == {k: True for k in KINDS}


@pytest.mark.parametrize("name", ["relu", "gelu", "softmax", "leaky_relu"])
def test_activations_serialize_to_names_and_back(name):
    fn = activations.get(name)
    assert activations.get(yaml.safe_load(yaml.safe_dump(activations.serialize(fn)))).name == fn.name
