"""Model configs: get_config / from_config, YAML and JSON round trips, registry-only loading."""
import numpy as np
import pytest
import yaml

import framework as fw
from framework import layers


def _functional():
    a = fw.Input((3,), name="a")
    b = fw.Input((2,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    inner = fw.Sequential([fw.Input((4,)), layers.Dense(4, activation="tanh")], name="inner")
    h = shared(layers.Concatenate()([a, layers.Dense(1)(b)]))
    x = h + shared(layers.Dense(4)(h))
    x = inner(x)
    return fw.Model({"a": a, "b": b}, {"cls": layers.Dense(3, activation="softmax", name="cls")(x),
                                       "reg": layers.Dense(1, name="reg")(x)})


def _same_predictions(model, rebuilt, data):
    rebuilt.set_weights(model.get_weights())
    before, after = model.predict(data, verbose=0), rebuilt.predict(data, verbose=0)
    if isinstance(before, dict):
        assert before.keys() == after.keys()
        for key in before:
            np.testing.assert_array_equal(before[key], after[key])
    else:
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("fmt", ["yaml", "json", "config"])
def test_functional_round_trip_keeps_topology_and_predictions(fmt):
    fw.utils.set_random_seed(0)
    model = _functional()
    if fmt == "yaml":
        rebuilt = fw.models.model_from_yaml(model.to_yaml())
    elif fmt == "json":
        rebuilt = fw.models.model_from_json(model.to_json())
    else:
        rebuilt = fw.Model.from_config(model.get_config())
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    shared = rebuilt.get_layer("shared")
    assert len([n for n in rebuilt.graph_nodes() if n.layer is shared]) == 2  # still one layer, called twice
    assert rebuilt.output_names == ["cls", "reg"] and sorted(rebuilt._input_keys) == ["a", "b"]
    rng = np.random.default_rng(1)
    _same_predictions(model, rebuilt, {"a": rng.random((5, 3)), "b": rng.random((5, 2))})


def test_sequential_round_trip_with_regularizers_and_dropout():
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((4,)), layers.Dense(3, kernel_regularizer="l2", kernel_constraint="max_norm"),
                           layers.Dropout(0.5, seed=3), layers.Dense(2, activation="sigmoid")], name="seq")
    rebuilt = fw.models.model_from_yaml(model.to_yaml())
    assert isinstance(rebuilt, fw.Sequential) and rebuilt.name == "seq"
    dense = rebuilt.layers[0]
    assert dense.kernel.regularizer.get_config() == model.layers[0].kernel.regularizer.get_config()
    assert dense.kernel_constraint.get_config() == model.layers[0].kernel_constraint.get_config()
    _same_predictions(model, rebuilt, np.random.default_rng(2).random((6, 4)))


def test_unbuilt_sequential_round_trip_builds_later():
    model = fw.Sequential([layers.Dense(3), layers.Dense(1)])
    rebuilt = fw.Model.from_config(model.get_config())
    assert not rebuilt.built
    assert rebuilt.predict(np.ones((2, 5)), verbose=0).shape == (2, 1)


def test_unknown_layer_name_lists_close_matches():
    config = fw.Sequential([fw.Input((4,)), layers.Dense(3)]).get_config()
    config["layers"][0]["class_name"] = "Dens"
    with pytest.raises(ValueError, match="Unknown layer 'Dens'. Did you mean 'Dense'"):
        fw.models.model_from_config(config)


def test_module_paths_are_names_not_imports():
    config = fw.Sequential([fw.Input((4,)), layers.Dense(3)]).get_config()
    config["layers"][0]["class_name"] = "os.system"
    with pytest.raises(ValueError, match="Unknown layer 'os.system'"):
        fw.models.model_from_config(config)


def test_python_tags_in_yaml_are_rejected():
    text = fw.Sequential([fw.Input((4,)), layers.Dense(3)]).to_yaml()
    tampered = text.replace("class_name: Dense", "class_name: !!python/object/apply:os.system ['echo hi']")
    with pytest.raises(yaml.constructor.ConstructorError):
        fw.models.model_from_yaml(tampered)


def test_custom_layers_need_registration():
    class Doubler(layers.Layer):
        def compute_output_shape(self, input_shape):
            return input_shape

    model = fw.Sequential([fw.Input((2,)), Doubler()])
    unregistered = model.to_yaml()  # the config names the class; only custom_objects can give it back
    assert "custom: true" in unregistered
    with pytest.raises(ValueError, match="Doubler' is a custom class that was not registered.*register_serializable"):
        fw.models.model_from_yaml(unregistered)
    with fw.utils.custom_object_scope({"Doubler": Doubler}):
        assert isinstance(fw.models.model_from_yaml(unregistered).layers[0], Doubler)
    fw.utils.register_serializable(package="Tests")(Doubler)
    text = model.to_yaml()
    assert "Tests>Doubler" in text
    assert isinstance(fw.models.model_from_yaml(text).layers[0], Doubler)
