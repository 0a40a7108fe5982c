"""The progress display (framework/callbacks/progbar.py): a live line that fits the terminal with
every metric shown when the epoch ends, step times, the first (compiling) step kept apart, and no
half-drawn bar after an interrupt."""
import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap

import numpy as np
import pytest

import framework as fw
from framework.callbacks import Callback, ProgbarLogger, progbar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

SCRIPT = textwrap.dedent('''
    import numpy as np, framework as fw
    from framework import layers
    fw.utils.set_random_seed(0)
    inputs = fw.Input((6,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    model = fw.Model(inputs, [layers.Dense(3, activation="softmax", name="category_output")(hidden),
                              layers.Dense(1, name="regression_output")(hidden)])
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"],
                  metrics=[["accuracy", fw.metrics.SparseTopKCategoricalAccuracy(k=2)], ["mae"]])
    x = np.random.default_rng(0).random((256, 6)).astype("float32")
    y = [np.random.default_rng(1).integers(0, 3, 256), np.random.default_rng(2).random((256, 1))]
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=1)
    print("KEYS", " ".join(history.history))
''')


def _run_in_terminal(columns, script):
    """Run ``script`` with its output on a pseudo-terminal of ``columns`` columns; return the text."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-c", script], stdin=follower, stdout=follower, stderr=follower,
                               cwd=ROOT, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks).decode(errors="replace")


def test_an_80_column_terminal_shows_every_metric_and_no_line_is_cut():
    text = _run_in_terminal(80, SCRIPT)
    keys = re.search(r"KEYS (.*)", text).group(1).split()
    assert len(keys) == 12 and "val_category_output_sparse_top_k_categorical_accuracy" in keys
    screen = [ESCAPE.sub("", part) for line in text.split("\n") for part in line.split("\r")]
    assert max(len(part.rstrip()) for part in screen if not part.startswith("KEYS")) <= 80
    final = text.split("Epoch 2/2")[-1]  # the finished epoch: its last drawing of the line, then the metrics
    shown = re.findall(r"([a-z_]+): \d", ESCAPE.sub("", final))
    assert set(keys) <= set(shown)
    assert re.search(r"\d+(\.\d)?(ms|us)/step \d+(\.\d)?[kM]? samples/s", final)


def _model():
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((4,)), fw.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.random((n, 4)), rng.random((n, 2))


def test_plain_lines_carry_the_epochs_time_steps_and_step_rate(capsys):
    _model().fit(*_data(), epochs=2, batch_size=16, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 2
    for line in lines:
        assert re.match(r"Epoch \d/2 - 4/4 - \d+\.\ds - \d+(\.\d)?(ms|us)/step \d+(\.\d)?[kM]? samples/s - loss: ",
                        line), line


def test_the_first_step_of_a_process_is_reported_and_kept_out_of_the_step_times(monkeypatch, capsys):
    monkeypatch.setattr(progbar, "_first_step_done", [False])
    monkeypatch.setattr(progbar, "COMPILE_NOTICE_SECONDS", 0.0)
    stream = io.StringIO()

    class SlowFirstStep(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0 and self.params.get("epochs") == 1:
                import time
                time.sleep(0.3)

    _model().fit(*_data(), epochs=1, batch_size=16, verbose=2, callbacks=[SlowFirstStep(), ProgbarLogger(2, stream)])
    first, epoch = stream.getvalue().splitlines()
    assert re.match(r"First step: \d+\.\ds compiling or loading kernels \(left out of the step times\)", first)
    per_step = re.search(r"(\d+(?:\.\d)?)(ms|us)/step", epoch)
    assert float(per_step.group(1)) * (1 if per_step.group(2) == "ms" else 1e-3) < 100  # 0.3 s left out


class _Terminal(io.StringIO):
    def isatty(self):
        return True

    def fileno(self):
        raise OSError("not a real terminal")


def test_an_interrupted_fit_leaves_no_half_drawn_bar():
    stream = _Terminal()

    class Interrupt(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _model().fit(*_data(), epochs=3, batch_size=8, callbacks=[ProgbarLogger(1, stream), Interrupt()])
    text = stream.getvalue()
    assert "Epoch 1/3" in text and text.endswith("\r\x1b[K")  # the live line erased


def test_the_live_line_is_cut_between_metrics_with_an_ellipsis():
    line = progbar._Progress("Epoch 1/1", 10, 32)
    line.done = 4
    text = line.live_text({"loss": 0.5, "a_very_long_metric_name": 0.25, "another_long_metric_name": 0.125}, 60)
    assert len(text) <= 59 and text.endswith(" ...") and "loss: 0.5000" in text
    final = line.final_lines({"loss": 0.5, "a_very_long_metric_name": 0.25, "another_long_metric_name": 0.125}, 60)
    assert all(len(row) <= 59 for row in final) and "another_long_metric_name: 0.1250" in "\n".join(final)
