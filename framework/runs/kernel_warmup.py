"""Compile the Numba kernels ahead of the first run: ``framework compile-kernels``.

Numba compiles a kernel the first time a step calls it and keeps it in its disk cache, so the first run
after install (and every fresh CI machine) pays the compilation inside its first steps. This module trains,
evaluates and predicts a few small models covering the built-in layers, losses, metrics and optimizers, in
float32 and float64, so their kernels are compiled and cached before any real run needs them. Started in
the background while something else runs (the test suite does this on a cold machine, tests/conftest.py),
it uses the idle core: what it has compiled, the other process loads from the cache instead.

Each workload is independent: one that fails is reported and the rest go on. Shapes are tiny; what a
kernel is compiled for is the dtypes and array layouts, which tiny models share with large ones.
"""
import time

import numpy as np

#: the dtypes compiled when none are named
DTYPES = ("float32", "float64")


SAMPLES = 16


def _features(rng, dtype, *shape):
    return rng.random((SAMPLES,) + shape).astype(dtype)


def _labels(rng, classes):
    return rng.integers(0, classes, SAMPLES)


# Each workload: (fw, layers, rng, dtype) -> (model, optimizer, loss, metrics, x, y)

def _dense(fw, layers, rng, dtype):
    model = fw.Sequential([fw.Input((12,)), layers.Dense(16, activation="relu"), layers.BatchNormalization(),
                           layers.Dropout(0.2), layers.Dense(8, activation="tanh"), layers.LayerNormalization(),
                           layers.Dense(4, activation="softmax")])
    return model, "adam", "sparse_categorical_crossentropy", ["accuracy"], _features(rng, dtype, 12), _labels(rng, 4)


def _dense_regression(fw, layers, rng, dtype):
    model = fw.Sequential([fw.Input((6,)), layers.Dense(8, activation="sigmoid"), layers.Dense(1)])
    return (model, fw.optimizers.SGD(0.01, momentum=0.9), "mse", ["mae"], _features(rng, dtype, 6),
            _features(rng, dtype, 1))


def _convnet(fw, layers, rng, dtype):
    model = fw.Sequential([
        fw.Input((12, 12, 1)), layers.Conv2D(6, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(8, 3, padding="same", activation="relu"), layers.AveragePooling2D(2),
        layers.Flatten(), layers.Dense(4, activation="softmax")])
    return (model, "adam", "sparse_categorical_crossentropy", ["accuracy"], _features(rng, dtype, 12, 12, 1),
            _labels(rng, 4))


def _image_blocks(fw, layers, rng, dtype):
    model = fw.Sequential([
        fw.Input((8, 8, 3)), layers.Conv2D(8, 3, strides=2, padding="same"), layers.BatchNormalization(),
        layers.ReLU(), layers.DepthwiseConv2D(3, padding="same"), layers.SeparableConv2D(8, 3, padding="same"),
        layers.Conv2DTranspose(6, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(4, 3, strides=2, padding="same"), layers.UpSampling2D(2),
        layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax")])
    one_hot = np.eye(3, dtype=dtype)[_labels(rng, 3)]
    return model, "rmsprop", "categorical_crossentropy", ["accuracy"], _features(rng, dtype, 8, 8, 3), one_hot


def _sequence(fw, layers, rng, dtype):
    model = fw.Sequential([
        fw.Input((7,)), layers.Embedding(20, 8, mask_zero=True), layers.LSTM(8, return_sequences=True),
        layers.Bidirectional(layers.GRU(6, return_sequences=True)), layers.SimpleRNN(5),
        layers.Dense(1, activation="sigmoid")])
    token_ids = rng.integers(1, 20, (SAMPLES, 7))
    targets = _labels(rng, 2).reshape(-1, 1).astype(dtype)
    return model, "adam", "binary_crossentropy", ["accuracy"], token_ids, targets


def _attention(fw, layers, rng, dtype):
    inputs = fw.Input((6, 8))
    attended = layers.MultiHeadAttention(2, 4)(inputs, inputs)
    merged = layers.LayerNormalization()(layers.Add()([inputs, attended]))
    pooled = layers.GlobalAveragePooling1D()(layers.Conv1D(8, 3, padding="same", activation="gelu")(merged))
    model = fw.Model(inputs, layers.Dense(3, activation="softmax")(pooled))
    return (model, "adamw", "sparse_categorical_crossentropy", ["accuracy"], _features(rng, dtype, 6, 8),
            _labels(rng, 3))


#: (name, workload) in the order they are compiled
WORKLOADS = (("dense", _dense), ("convolution", _convnet), ("regression", _dense_regression),
             ("sequence", _sequence), ("attention", _attention), ("image blocks", _image_blocks))


def _run(fw, layers, workload, dtype):
    """Train two epochs, evaluate and predict one small model, and take one gradient-tape step."""
    model, optimizer, loss, metrics, x, y = workload(fw, layers, np.random.default_rng(0), dtype)
    model.compile(optimizer, loss, metrics=metrics)
    model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25, verbose=0)
    model.evaluate(x, y, batch_size=8, verbose=0)
    model.predict(x[:3], verbose=0)
    with fw.GradientTape() as tape:
        value = model.compute_loss(x[:8], y[:8], model(x[:8], training=True))
    model.optimizer.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)


def warm_kernels(dtypes=DTYPES, deadline=None, report=None):
    """Compile the kernels of the built-in layers for ``dtypes`` by running small models.

    Args:
        dtypes: float dtype names to compile for ('float32', 'float64').
        deadline: a ``time.monotonic()`` value; no workload starts after it (None: no limit).
        report: called as ``report(dtype, name, seconds, error)`` after each workload (error is None or
            the exception's one-line text).

    Returns the number of workloads that failed.
    """
    import framework as fw
    from framework import layers
    failed, previous = 0, fw.backend.floatx()
    try:
        for dtype in dtypes:
            fw.backend.set_floatx(dtype)
            for name, workload in WORKLOADS:
                if deadline is not None and time.monotonic() > deadline:
                    return failed
                start, error = time.perf_counter(), None
                try:
                    _run(fw, layers, workload, dtype)
                except Exception as e:  # noqa: BLE001 - one workload failing leaves the others to compile
                    failed += 1
                    error = f"{type(e).__name__}: {e}".splitlines()[0]
                if report is not None:
                    report(dtype, name, time.perf_counter() - start, error)
    finally:
        fw.backend.set_floatx(previous)
    return failed
