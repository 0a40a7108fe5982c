"""pad_sequences: lists of sequences of different lengths as one array, as Keras's."""
import numpy as np

_SIDES = ("pre", "post")


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """An array (number of sequences, maxlen, ...) of ``sequences`` padded with ``value`` or cut to ``maxlen``.

    Args:
        sequences: a list of sequences (lists or arrays; entries may themselves be arrays of one shape).
        maxlen: the length of every row; the longest sequence's when None.
        dtype: the dtype of the result ('int32' as Keras; use 'float32' or 'object' for other data).
        padding: 'pre' or 'post': pad before or after each sequence.
        truncating: 'pre' or 'post': drop values from the start or the end of longer sequences.
        value: the padding value.
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in _SIDES:
            raise ValueError(f"pad_sequences: {name}={side!r} is not understood; valid choices: {', '.join(_SIDES)}")
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences: `sequences` must be a list of sequences (iterables with a length)")
    rows = [np.asarray(s) for s in sequences]
    for i, row in enumerate(rows):
        if row.ndim == 0:
            raise ValueError(f"pad_sequences: sequence {i} is a scalar ({row!r}), not a sequence")
    lengths = [len(row) for row in rows]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if int(maxlen) != maxlen or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative integer, received {maxlen!r}")
    maxlen = int(maxlen)
    tails = {row.shape[1:] for row in rows if len(row)}
    if len(tails) > 1:
        raise ValueError(f"pad_sequences: the entries of the sequences have different shapes {sorted(tails)}")
    tail = tails.pop() if tails else ()
    out = np.full((len(rows), maxlen) + tail, value, dtype=dtype)
    for i, row in enumerate(rows):
        if not len(row) or not maxlen:
            continue
        kept = row[-maxlen:] if truncating == "pre" else row[:maxlen]
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out
