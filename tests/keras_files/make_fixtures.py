"""Make the Keras-made fixture files that tests/test_keras_files.py reads.

Keras is a reference here, not a dependency of the project: it is needed only to re-make these
files (``pip install keras jax h5py``), then, from the project root::

    python tests/keras_files/make_fixtures.py

For each model below it writes, in this folder:

- ``<name>.keras``: Keras 3's own ``model.save`` (config.json, metadata.json, model.weights.h5);
- ``<name>.npz``: inputs (``x0``, ``x1``, ...) and Keras's ``model.predict`` outputs (``y0``, ...);

and also ``mlp.weights.h5`` (``model.save_weights``), ``mlp_keras3.h5`` and
``text_bilstm_keras3.h5`` (Keras 3's legacy ``model.save("x.h5")``: the ``model_weights/...``
layout with ``layer_names`` / ``weight_names`` attributes). ``mlp_tfkeras2.h5`` is the tf.keras 2
layout (``model_weights/<layer>/<layer>/kernel:0``, a tf.keras 2 ``model_config``): no tf.keras 2
is installed here (TensorFlow 2.21 ships Keras 3), so that one file is written with h5py from the
documented layout, with the MLP's weights. ``fixtures.json`` records the versions that made the
files. Layer sizes are small so each file stays well under 300 KB.
"""
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp():
    model = keras.Sequential([keras.Input((20,)), layers.Dense(32, activation="relu"), layers.Dropout(0.2),
                              layers.Dense(16, activation="tanh"), layers.Dense(5, activation="softmax")], name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.002), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = RNG.standard_normal((64, 20)).astype("float32")
    model.fit(x, RNG.integers(0, 5, 64), epochs=2, batch_size=16, verbose=0)
    return model, [RNG.standard_normal((6, 20)).astype("float32")]


def convnet():
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2),
                              layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                              layers.Dropout(0.5), layers.Dense(10, activation="softmax")], name="mnist_convnet")
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model, [RNG.random((4, 28, 28, 1)).astype("float32")]


def resnet_block():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    shortcut = layers.Activation("relu")(x)
    x = layers.Conv2D(8, 3, padding="same")(shortcut)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(8, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Add()([x, shortcut])
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="resnet_block")
    _randomize_batchnorm(model)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy")
    return model, [RNG.standard_normal((4, 8, 8, 3)).astype("float32")]


def text_bilstm():
    inputs = keras.Input((12,), dtype="int32")
    x = layers.Embedding(50, 8, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)
    x = layers.Bidirectional(layers.GRU(5), merge_mode="sum")(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="text_bilstm")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    tokens = RNG.integers(1, 50, (5, 12))
    for row, length in enumerate([12, 9, 5, 3, 1]):
        tokens[row, length:] = 0  # padding at the end, masked by mask_zero
    return model, [tokens.astype("int32")]


def transformer():
    inputs = keras.Input((10,), dtype="int32")
    x = layers.Embedding(40, 16)(inputs)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=8, dropout=0.1)(x, x)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, attention]))
    ff = layers.Dense(32, activation="relu")(x)
    ff = layers.Dense(16)(ff)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, ff]))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="transformer_encoder")
    _randomize_layernorm(model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, [RNG.integers(0, 40, (4, 10)).astype("int32")]


def nested_shared():
    """Two inputs, a Sequential inside used on both (shared weights), a shared Dense, a nested
    functional model, Concatenate and Subtract."""
    block = keras.Sequential([keras.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(4)], name="block")
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, layers.Dense(3, activation="sigmoid")(layers.LayerNormalization()(inner_in)),
                        name="inner")
    shared = layers.Dense(4, activation="tanh", name="shared_dense")
    a, b = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    ea, eb = block(a), block(b)
    diff = layers.Subtract()([shared(ea), shared(eb)])
    merged = layers.Concatenate()([inner(diff), ea, eb])
    outputs = layers.Dense(2, name="head")(merged)
    model = keras.Model([a, b], outputs, name="siamese")
    model.compile(optimizer="adam", loss="mse")
    return model, [RNG.standard_normal((5, 6)).astype("float32"), RNG.standard_normal((5, 6)).astype("float32")]


def image_zoo():
    """Layers of the image family that the other models do not use."""
    inputs = keras.Input((12, 12, 2))
    x = layers.ZeroPadding2D(1)(inputs)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu")(x)
    x = layers.SeparableConv2D(6, 3, padding="same")(x)
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = layers.PReLU()(x)
    x = layers.GroupNormalization(groups=2)(x)
    x = layers.Cropping2D(1)(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.Conv2D(3, 3, strides=2, dilation_rate=1, activation="elu")(x)
    pooled = layers.Concatenate()([layers.GlobalMaxPooling2D()(x), layers.GlobalAveragePooling2D()(x)])
    outputs = layers.Dense(4)(layers.Dropout(0.3)(pooled))
    model = keras.Model(inputs, outputs, name="image_zoo")
    return model, [RNG.standard_normal((3, 12, 12, 2)).astype("float32")]


def sequence_zoo():
    """Layers of the sequence family that the other models do not use."""
    inputs = keras.Input((9, 4))
    x = layers.Masking(0.0)(inputs)
    x = layers.SimpleRNN(5, return_sequences=True)(x)
    x = layers.TimeDistributed(layers.Dense(6, activation="relu"))(x)
    x = layers.Conv1D(6, 3, padding="causal")(x)
    y = layers.LSTM(4, return_sequences=True, go_backwards=False)(x)
    y = layers.GRU(4, return_sequences=True, reset_after=False)(y)
    attended = layers.Attention(use_scale=True)([y, y])
    x = layers.Concatenate()([y, attended])
    x = layers.MaxPooling1D(3)(x)
    x = layers.Permute((2, 1))(x)
    x = layers.Flatten()(x)
    x = layers.RepeatVector(2)(layers.Dense(3)(x))
    x = layers.Reshape((6,))(x)
    outputs = layers.Softmax()(layers.Dense(3)(x))
    model = keras.Model(inputs, outputs, name="sequence_zoo")
    x = RNG.standard_normal((4, 9, 4)).astype("float32")
    x[1, 6:] = 0.0  # masked steps
    return model, [x]


def _randomize_batchnorm(model):
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([RNG.uniform(0.5, 1.5, gamma.shape), RNG.normal(0, 0.2, beta.shape),
                               RNG.normal(0, 0.3, mean.shape), RNG.uniform(0.5, 2.0, variance.shape)])


def _randomize_layernorm(model):
    for layer in model.layers:
        if isinstance(layer, layers.LayerNormalization):
            gamma, beta = layer.get_weights()
            layer.set_weights([RNG.uniform(0.5, 1.5, gamma.shape), RNG.normal(0, 0.2, beta.shape)])


def write_tfkeras2_mlp(model, path):
    """The MLP in tf.keras 2's legacy layout, written with h5py from the documented format: root
    attributes ``keras_version``, ``backend`` and ``model_config`` (tf.keras 2's JSON: an InputLayer
    with ``batch_input_shape``, initializers without ``module``); group ``model_weights`` with
    attribute ``layer_names``; per layer a group with attribute ``weight_names``
    (``dense/kernel:0``, ...) and the datasets at ``model_weights/<layer>/<layer>/kernel:0``."""
    config_layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 20], "dtype": "float32",
                                                             "sparse": False, "ragged": False,
                                                             "name": "dense_input"}}]
    layer_names, weighted, count = ["dense_input"], [], 0
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            name = "dense" if count == 0 else f"dense_{count}"
            count += 1
            weighted.append((name, layer))
            config_layers.append({"class_name": "Dense", "config": {
                "name": name, "trainable": True, "dtype": "float32", "units": layer.units,
                "activation": keras.activations.serialize(layer.activation), "use_bias": True,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
                "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                "bias_constraint": None}})
        else:
            name = "dropout"
            config_layers.append({"class_name": "Dropout", "config": {
                "name": name, "trainable": True, "dtype": "float32", "rate": layer.rate,
                "noise_shape": None, "seed": None}})
        layer_names.append(name)
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": config_layers}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        group.attrs["keras_version"] = "2.15.0"
        group.attrs["backend"] = "tensorflow"
        group.attrs["layer_names"] = np.array([n.encode() for n in layer_names])
        for name in layer_names:
            group.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")
        for name, layer in weighted:
            weight_names = [f"{name}/kernel:0", f"{name}/bias:0"]
            group[name].attrs["weight_names"] = np.array([w.encode() for w in weight_names])
            for weight_name, value in zip(weight_names, layer.get_weights()):
                group[name].create_dataset(weight_name, data=value)


def record(name, model, inputs):
    outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    np.savez(os.path.join(HERE, f"{name}.npz"), **{f"x{i}": x for i, x in enumerate(inputs)},
             **{f"y{i}": np.asarray(y) for i, y in enumerate(outputs)})
    model.save(os.path.join(HERE, f"{name}.keras"))


MODELS = {"mlp": mlp, "convnet": convnet, "resnet_block": resnet_block, "text_bilstm": text_bilstm,
          "transformer": transformer, "nested_shared": nested_shared, "image_zoo": image_zoo,
          "sequence_zoo": sequence_zoo}

if __name__ == "__main__":
    keras.utils.set_random_seed(19)
    RNG = np.random.default_rng(19)
    made = {}
    for name, make in MODELS.items():
        model, inputs = make()
        record(name, model, inputs)
        made[name] = model
    made["mlp"].save_weights(os.path.join(HERE, "mlp.weights.h5"))
    made["mlp"].save(os.path.join(HERE, "mlp_keras3.h5"))
    made["text_bilstm"].save(os.path.join(HERE, "text_bilstm_keras3.h5"))
    write_tfkeras2_mlp(made["mlp"], os.path.join(HERE, "mlp_tfkeras2.h5"))
    import jax
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump({"keras_version": keras.__version__, "backend": keras.backend.backend(), "jax_version": jax.__version__,
                   "h5py_version": h5py.__version__, "numpy_version": np.__version__,
                   "python_version": sys.version.split()[0], "models": sorted(MODELS)}, f, indent=1)
        f.write("\n")
    sizes = {n: os.path.getsize(os.path.join(HERE, n)) for n in sorted(os.listdir(HERE)) if not n.endswith(".py")}
    for n, size in sizes.items():
        print(f"{n:32s} {size:>8,} bytes")
