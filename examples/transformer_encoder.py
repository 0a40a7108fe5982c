"""A small Transformer encoder block (functional API) that finds a pattern in token sequences.

Each generated sequence holds 8 to 16 random tokens (3..vocabulary-1), padded with 0
after its end. Every sequence contains the tokens 1 and 2; the label says whether
somewhere token 1 is immediately followed by token 2 (the pattern "1 2"). Negative
sequences hold 1 and 2 too, but never adjacent in that order, so the model has to use
positions, not just notice which tokens occur. Chance is 50%.

The model: token Embedding(mask_zero=True) + position Embedding, one encoder block
(MultiHeadAttention, Add + LayerNormalization, a Dense feed-forward, Add +
LayerNormalization), GlobalAveragePooling1D over the real steps, Dense softmax. The mask
started by the token embedding hides the padding from attention and from the pooling.
Positions come in as a second input (0, 1, ..., T-1 for every sequence). Run from the
repository root:

    python examples/transformer_encoder.py                  # a few seconds per epoch
    python examples/transformer_encoder.py --epochs 1 --samples 400 --verbose 0   # smoke run
"""
import argparse
import time

import numpy as np

import framework as fw
from framework import layers

MAX_LENGTH = 16
VOCABULARY = 20
FIRST, SECOND = 1, 2


def make_data(samples, seed):
    """(tokens padded with 0, labels): label 1 when FIRST is immediately followed by SECOND."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros((samples, MAX_LENGTH), np.int32)
    labels = rng.integers(0, 2, samples)
    for i in range(samples):
        n = int(rng.integers(8, MAX_LENGTH + 1))
        row = rng.integers(3, VOCABULARY, n)
        if labels[i]:
            start = rng.integers(0, n - 1)
            row[start], row[start + 1] = FIRST, SECOND
        else:  # both tokens present, but never "FIRST SECOND"
            a, b = rng.choice(n, 2, replace=False)
            if a + 1 == b:
                a, b = b, a
            row[a], row[b] = FIRST, SECOND
        tokens[i, :n] = row
    return tokens, labels


def positions_for(tokens):
    return np.tile(np.arange(MAX_LENGTH, dtype=np.int32), (len(tokens), 1))


def encoder_block(x, heads, key_dim, feed_forward, dropout):
    """Post-norm Transformer encoder block: self-attention and a feed-forward, each with a residual."""
    attended = layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim, dropout=dropout)(x, x)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, attended]))
    hidden = layers.Dense(feed_forward, activation="relu")(x)
    hidden = layers.Dense(x.shape[-1])(hidden)
    return layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, hidden]))


def build_model(width=32, heads=2, feed_forward=64, dropout=0.0):
    tokens = fw.Input((MAX_LENGTH,), dtype="int32", name="tokens")
    positions = fw.Input((MAX_LENGTH,), dtype="int32", name="positions")
    x = layers.Add()([layers.Embedding(VOCABULARY, width, mask_zero=True)(tokens),
                      layers.Embedding(MAX_LENGTH, width)(positions)])
    x = encoder_block(x, heads, width // heads, feed_forward, dropout)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return fw.Model([tokens, positions], outputs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    fw.utils.set_random_seed(args.seed)
    x, y = make_data(args.samples, args.seed)
    split = len(x) - max(len(x) // 5, 1)
    train = ([x[:split], positions_for(x[:split])], y[:split])
    test = ([x[split:], positions_for(x[split:])], y[split:])
    print(f"{split} training and {len(x) - split} test sequences of up to {MAX_LENGTH} tokens; chance is 50%")

    model = build_model()
    model.compile(optimizer=fw.optimizers.Adam(learning_rate=5e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(*train, batch_size=args.batch_size, epochs=args.epochs, validation_data=test, verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(*test, verbose=0)
    print(f"trained {args.epochs} epochs in {seconds:.1f} s; test loss: {loss:.4f}, test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
