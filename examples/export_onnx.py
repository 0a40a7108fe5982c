"""Train a small convnet, export it to ONNX and run the file with onnxruntime (when installed).

    pip install 'framework[onnx]'
    python examples/export_onnx.py [--output model.onnx]
"""
import argparse
import os
import tempfile

import numpy as np

import framework as fw
from framework import layers


def build_model():
    model = fw.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(8, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def tiny_data(rng, n=256):
    """8x8 images whose class is the row holding a bright stripe (8 classes)."""
    y = rng.integers(0, 8, n)
    x = rng.random((n, 8, 8, 1), dtype=np.float32) * 0.2
    x[np.arange(n), y, :, 0] += 1.0
    return x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="where to write the .onnx file (default: a temporary folder)")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    fw.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = tiny_data(rng)
    model = build_model()
    model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
    path = args.output or os.path.join(tempfile.mkdtemp(), "model.onnx")
    model.export(path, format="onnx")
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed: the file was written but not run (pip install onnxruntime)")
        return path
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x[:10]})[0]
    want = model.predict(x[:10], verbose=0)
    print(f"onnxruntime vs predict, largest difference: {np.abs(got - want).max():.2e}")
    print("classes:", got.argmax(axis=1), "labels:", y[:10])
    return path


if __name__ == "__main__":
    main()
