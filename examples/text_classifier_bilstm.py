"""Classify variable-length token sequences with Embedding(mask_zero=True) + Bidirectional(LSTM).

The data is generated: each sequence holds 6 to 20 random "word" tokens (3..vocabulary-1)
and, somewhere among them, the two marker tokens 1 and 2, once each. The label says
whether marker 1 comes before marker 2, so the model has to read order, not just count
tokens. Sequences are padded after their end with 0; ``mask_zero=True`` makes the
padding invisible to both directions of the LSTM. Chance is 50%. Run from the
repository root:

    python examples/text_classifier_bilstm.py               # a few seconds
    python examples/text_classifier_bilstm.py --epochs 1 --samples 300   # smoke run
"""
import argparse
import time

import numpy as np

import framework as fw
from framework import layers

MAX_LENGTH = 20
VOCABULARY = 30
FIRST, SECOND = 1, 2


def make_data(samples, seed):
    """(tokens padded with 0, labels, lengths): label 1 when token FIRST precedes token SECOND."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros((samples, MAX_LENGTH), np.int32)
    labels = rng.integers(0, 2, samples)
    lengths = rng.integers(6, MAX_LENGTH + 1, samples)
    for i, n in enumerate(lengths):
        tokens[i, :n] = rng.integers(3, VOCABULARY, n)
        a, b = sorted(rng.choice(n, 2, replace=False))
        tokens[i, a], tokens[i, b] = (FIRST, SECOND) if labels[i] else (SECOND, FIRST)
    return tokens, labels.astype(np.float32), lengths


def build_model(units=16):
    return fw.Sequential([
        fw.Input((MAX_LENGTH,), dtype="int32"),
        layers.Embedding(VOCABULARY, 16, mask_zero=True),
        layers.Bidirectional(layers.LSTM(units)),
        layers.Dense(1, activation="sigmoid"),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    x, y, lengths = make_data(args.samples, args.seed)
    split = len(x) - max(len(x) // 5, 1)
    (x_train, y_train), (x_test, y_test) = (x[:split], y[:split]), (x[split:], y[split:])
    print(f"{len(x_train)} training and {len(x_test)} test sequences, lengths {lengths.min()}..{lengths.max()}; "
          f"first: {x[0, :lengths[0]].tolist()} -> {int(y[0])}")

    fw.utils.set_random_seed(args.seed)
    model = build_model()
    model.compile(optimizer=fw.optimizers.Adam(learning_rate=0.005), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              validation_split=0.1)
    seconds = time.perf_counter() - start

    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predicted = (model.predict(x_test[:8], verbose=0)[:, 0] > 0.5).astype(int)
    print(f"Trained {args.epochs} epochs in {seconds:.1f} s")
    print(f"First 8 test predictions: {predicted.tolist()}")
    print(f"First 8 test labels:      {y_test[:8].astype(int).tolist()}")
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f} (chance: 0.5)")
    return accuracy


if __name__ == "__main__":
    main()
