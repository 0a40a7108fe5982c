"""Load a model that Keras 3 made (a ``.keras`` file), predict with it, keep training it, and write it
back in Keras's format.

What it shows: ``framework.models.load_model`` on a Keras file (config, weights and compile settings),
predictions equal to those Keras recorded for the same inputs, and ``model.save("x.keras")`` writing a
file Keras 3 loads. The default file is the text model of the tests (Embedding(mask_zero=True) and
bidirectional LSTM / GRU layers), made by ``tests/keras_files/make_fixtures.py`` with Keras 3.15.1.
Needs h5py (``pip install 'framework[h5]'``). Run from the repository root:

    python examples/load_keras_model.py
    python examples/load_keras_model.py --model transformer
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np

import framework as fw

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "keras_files"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="text_bilstm", help="a fixture name in tests/keras_files")
    args = parser.parse_args()
    model = fw.models.load_model(FIXTURES / f"{args.model}.keras")
    model.summary()
    with np.load(FIXTURES / f"{args.model}.npz", allow_pickle=False) as data:
        xs = [data[k] for k in sorted(data.files) if k.startswith("x")]
        keras_outputs = data["y0"]
    x = xs if len(xs) > 1 else xs[0]
    ours = model.predict(x, verbose=0)
    print(f"largest difference from Keras's outputs: {np.abs(ours - keras_outputs).max():.2e}")
    if model.compiled:
        sparse = "sparse" in str(model.compile_arguments["loss"])  # class ids, or targets like the outputs
        targets = np.argmax(keras_outputs, axis=-1) if sparse else keras_outputs
        history = model.fit(x, targets, epochs=3, verbose=0)
        print("fine-tuning loss per epoch:", [round(v, 4) for v in history.history["loss"]])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "again.keras"
        model.save(path)
        again = fw.models.load_model(path)
        print(f"written as Keras 3's format ({path.stat().st_size:,} bytes) and read back: "
              f"{np.array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))}")


if __name__ == "__main__":
    main()
