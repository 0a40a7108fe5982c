"""The models of the Keras parity reference, written once for both libraries.

``build(lib, case)`` takes ``keras`` or ``framework`` (the two speak the same API here), so
the recording script (make_conv_bn_reference.py, Keras) and tests/test_keras_parity.py
(framework, no Keras needed) build the very same layers. ``initial_weights(case, shapes)``
draws the starting weights from NumPy, exactly representable in float16, so the reference
does not depend on either library's random initializers.
"""
import numpy as np

LEARNING_RATE = 0.01
STEPS = 3
BATCH = 8
INPUT_SHAPE = (8, 8, 3)
CLASSES = 3

#: case name -> (conv options, pooling layer name, pooling options, loss)
CASES = {
    # the stack of issue 15: dilated "same" conv, 2x2 average pooling, batch norm
    "dilated_same_avgpool_bn": ({"dilation_rate": 2, "padding": "same"}, "AveragePooling2D",
                                {"pool_size": 2}, "mse"),
    # dilated "valid" conv (4x4 out), average pooling whose "same" padding leaves partial windows
    "dilated_valid_avgpool_same_bn": ({"dilation_rate": 2, "padding": "valid"}, "AveragePooling2D",
                                      {"pool_size": 3, "strides": 2, "padding": "same"},
                                      "categorical_crossentropy"),
    # the plain stack the issue says agrees
    "plain_maxpool_bn": ({"padding": "same"}, "MaxPooling2D", {"pool_size": 2}, "mse"),
}


def build(lib, case):
    """Input (8, 8, 3) -> Conv2D(4, 3, ...) -> pooling -> BatchNormalization -> Flatten -> Dense(3),
    compiled with Adam (Keras defaults but the learning rate) and the case's loss."""
    conv, pooling, pool_options, loss = CASES[case]
    layers = lib.layers
    inputs = layers.Input(INPUT_SHAPE)
    x = layers.Conv2D(4, 3, **conv)(inputs)
    x = getattr(layers, pooling)(**pool_options)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    activation = "softmax" if loss == "categorical_crossentropy" else None
    outputs = layers.Dense(CLASSES, activation=activation)(x)
    model = lib.Model(inputs, outputs)
    model.compile(optimizer=lib.optimizers.Adam(learning_rate=LEARNING_RATE), loss=loss)
    return model


def initial_weights(case, shapes):
    """Starting weights for ``shapes`` (Keras's order: conv kernel, conv bias, gamma, beta,
    moving mean, moving variance, dense kernel, dense bias); non-trivial batch-norm state."""
    rng = np.random.default_rng(sorted(CASES).index(case) + 100)
    weights = [rng.normal(0.0, 0.3, shape) for shape in shapes]
    weights[2] = 1.0 + 0.2 * weights[2]          # gamma around 1
    weights[5] = rng.uniform(0.5, 2.0, shapes[5])  # moving variance > 0
    return [w.astype(np.float16) for w in weights]


def data(case):
    """(x, y) of one batch, exactly representable in float16; y one-hot for cross-entropy."""
    rng = np.random.default_rng(sorted(CASES).index(case))
    x = rng.normal(size=(BATCH,) + INPUT_SHAPE).astype(np.float16)
    if CASES[case][3] == "categorical_crossentropy":
        y = np.eye(CLASSES, dtype=np.float16)[rng.integers(0, CLASSES, BATCH)]
    else:
        y = rng.normal(size=(BATCH, CLASSES)).astype(np.float16)
    return x, y
