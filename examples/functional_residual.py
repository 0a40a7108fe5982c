"""A functional model with two inputs, a shared layer, a residual block and two heads.

What it shows (the Keras functional API, on data it generates):

- two named inputs, ``"signal"`` and ``"reference"``, passed as a dict;
- one ``Dense`` layer applied to both inputs (a shared layer: one set of weights,
  gradients from both uses summed);
- a residual block written as ``x += residual`` (which builds an ``Add`` layer);
- two outputs: a 3-class classification head (``"kind"``, softmax) and a
  regression head (``"score"``, linear), trained together with a loss dict and
  ``loss_weights``; the logs get per-output keys (``kind_loss``, ``score_mae``...).

Run from the repository root (a few seconds):

    python examples/functional_residual.py
"""
import numpy as np

import framework as fw
from framework import layers

FEATURES = 16


def make_data(n, rng):
    """Inputs (dict of two (n, 16) arrays) and targets: a class 0-2 and a real score.

    The class is the largest of three fixed projections of (signal - reference);
    the score is a smooth nonlinear function of both inputs plus a little noise.
    """
    signal = rng.normal(size=(n, FEATURES)).astype("float32")
    reference = rng.normal(size=(n, FEATURES)).astype("float32")
    directions = np.random.default_rng(7).normal(size=(FEATURES, 3)).astype("float32")
    kind = np.argmax((signal - reference) @ directions, axis=1)
    score = (np.tanh(signal[:, :4]).sum(axis=1) + 0.5 * signal[:, 4] * reference[:, 4]
             + 0.1 * rng.normal(size=n)).astype("float32")
    return {"signal": signal, "reference": reference}, {"kind": kind, "score": score}


def build_model():
    signal = fw.Input(shape=(FEATURES,), name="signal")
    reference = fw.Input(shape=(FEATURES,), name="reference")

    embed = layers.Dense(32, activation="relu", name="embed")  # shared: called on both inputs
    x = layers.Concatenate(name="both")([embed(signal), embed(reference)])
    x = layers.Dense(32, activation="relu", name="mix")(x)

    residual = x  # residual block: x + f(x)
    h = layers.Dense(32, activation="relu", name="block_1")(x)
    h = layers.Dense(32, name="block_2")(h)
    x += h  # an Add layer, as in Keras
    x = layers.ReLU(name="block_out")(x)

    kind = layers.Dense(3, activation="softmax", name="kind")(x)
    score = layers.Dense(1, name="score")(x)
    return fw.Model(inputs={"signal": signal, "reference": reference},
                    outputs={"kind": kind, "score": score}, name="two_heads")


def main():
    fw.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = make_data(4000, rng)
    x_test, y_test = make_data(1000, rng)

    model = build_model()
    model.compile(
        optimizer=fw.optimizers.Adam(learning_rate=3e-3),
        loss={"kind": "sparse_categorical_crossentropy", "score": "mse"},
        loss_weights={"kind": 1.0, "score": 0.5},
        metrics={"kind": ["accuracy"], "score": ["mae"]},
    )
    model.summary()
    print("shared layer 'embed' weights:", [w.path for w in model.get_layer("embed").weights])

    history = model.fit(x_train, y_train, batch_size=64, epochs=8, validation_split=0.2, verbose=2)
    print("History keys:", list(history.history))

    results = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    print("Test:", " - ".join(f"{k}: {v:.4f}" for k, v in results.items()))

    predictions = model.predict({"signal": x_test["signal"][:3], "reference": x_test["reference"][:3]}, verbose=0)
    print("Predicted kinds:", np.argmax(predictions["kind"], axis=1).tolist(), "- true:", y_test["kind"][:3].tolist())
    print("Predicted scores:", ", ".join(f"{v:.2f}" for v in predictions["score"][:, 0]),
          "- true:", ", ".join(f"{v:.2f}" for v in y_test["score"][:3]))


if __name__ == "__main__":
    main()
