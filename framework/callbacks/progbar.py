"""The progress display of fit / evaluate / predict (``ProgbarLogger``).

On a terminal (``verbose=1``) one live line per epoch: steps done, a bar, elapsed and remaining time,
milliseconds per step, samples per second, and as many metrics as the terminal's width leaves room
for; when the epoch ends the line is completed and every metric is shown, wrapped onto further lines
rather than cut off. Elsewhere (``verbose=2``, or output that is not a terminal) one plain line per
epoch with its time, as Keras prints.

The first step a process runs compiles the plan's kernels (or loads them from Numba's cache): the
live line says so while it runs, the time it took is printed when it took long, and it is kept out
of the step rate and the remaining time. An interrupted run (Ctrl-C) leaves no half-drawn bar:
``clear_live_lines()`` erases it (fit and the command line call it).
"""
import os
import shutil
import sys
import time
import weakref

from framework.callbacks.callback import REGISTRY, Callback

#: a first step longer than this is reported as compilation (seconds)
COMPILE_NOTICE_SECONDS = 2.0
#: the live line is redrawn at most this often (seconds)
REFRESH_SECONDS = 0.1

_live_lines = weakref.WeakSet()
_first_step_done = [False]  # per process: later fits find their kernels compiled


def clear_live_lines():
    """Erase any half-drawn progress line (after an interrupt), so the next output starts clean."""
    for line in list(_live_lines):
        line.erase()


def format_value(value):
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _metric_items(logs):
    return [f"{key}: {format_value(value)}" for key, value in (logs or {}).items()]


def _seconds(value):
    if value < 60:
        return f"{value:.1f}s" if value < 10 else f"{value:.0f}s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes}:{seconds:02d}" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


def _rate(seconds_per_step, batch_size):
    per_step = seconds_per_step * 1e3
    text = f"{per_step:.0f}ms/step" if per_step >= 100 else f"{per_step:.1f}ms/step" if per_step >= 1 \
        else f"{per_step * 1e3:.0f}us/step"
    if batch_size and seconds_per_step > 0:
        samples = batch_size / seconds_per_step
        text += f" {samples / 1e6:.1f}M samples/s" if samples >= 1e6 else f" {samples / 1e3:.1f}k samples/s" \
            if samples >= 1e3 else f" {samples:.0f} samples/s"
    return text


def _kernels_cached():
    """True when Numba's cache already holds compiled kernels of this installation."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels", "__pycache__")
    try:
        return any(name.endswith(".nbi") for name in os.listdir(folder))
    except OSError:
        return False


class _LiveLine:
    """One line redrawn in place on a terminal (``\\r`` + erase to the end)."""

    def __init__(self, stream):
        self.stream = stream
        self.drawn = False
        self.last = 0.0
        _live_lines.add(self)

    def width(self):
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return shutil.get_terminal_size((80, 24)).columns

    def draw(self, text, force=False):
        now = time.perf_counter()
        if not force and now - self.last < REFRESH_SECONDS:
            return
        self.last = now
        self.stream.write("\r" + text[:max(self.width() - 1, 1)] + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def finish(self, lines):
        """The final state: the first line in place of the live one, the others below it."""
        self.stream.write("\r" + "\n".join(lines) + "\x1b[K\n")
        self.stream.flush()
        self.drawn = False
        _live_lines.discard(self)

    def erase(self):
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
        _live_lines.discard(self)


class _Progress:
    """Steps and times of one epoch, evaluation or prediction, and how to draw them."""

    def __init__(self, title, total, batch_size):
        self.title, self.total, self.batch_size = title, total, batch_size
        self.done, self.timed_steps, self.timed_seconds = 0, 0, 0.0
        self.started = time.perf_counter()
        self.step_started = None
        self.compiling = None  # the note shown while the process's first step runs
        self.compile_seconds = None

    def begin_step(self):
        self.step_started = time.perf_counter()
        if not _first_step_done[0]:
            self.compiling = ("compiling kernels (the first run after install; cached for later runs)"
                              if not _kernels_cached() else "loading compiled kernels")

    def end_step(self):
        seconds = time.perf_counter() - (self.step_started or self.started)
        self.done += 1
        if self.compiling is not None:  # the process's first step: kept out of the step times
            _first_step_done[0] = True
            self.compiling = None
            if seconds >= COMPILE_NOTICE_SECONDS:
                self.compile_seconds = seconds
            return
        self.timed_steps += 1
        self.timed_seconds += seconds

    def elapsed(self):
        return time.perf_counter() - self.started

    def head(self, final, width=80):
        """'Epoch 1/5 23/57 |####      | 1.2s<2.0s 12.3ms/step', and samples/s once final."""
        total = self.total
        parts = [self.title] if self.title else []
        parts.append(f"{self.done}/{total}" if total else f"{self.done}")
        if total:
            size = 20 if width >= 120 else 10
            filled = int(size * min(self.done, total) / total)
            parts.append("|" + "#" * filled + " " * (size - filled) + "|")
        per_step = self.timed_seconds / self.timed_steps if self.timed_steps else None
        clock = _seconds(self.elapsed())
        if not final and per_step is not None and total:
            clock += "<" + _seconds(per_step * max(total - self.done, 0))
        parts.append(clock)
        if per_step is not None:
            parts.append(_rate(per_step, self.batch_size if final else None))
        if self.compiling is not None and not final:
            parts.append(self.compiling + "...")
        return " ".join(parts)

    def live_text(self, logs, width):
        """The head and as many metrics as fit in ``width`` columns ('...' when some are left out)."""
        text = self.head(False, width)
        items = _metric_items(logs)
        for index, item in enumerate(items):
            more = index < len(items) - 1
            candidate = text + " - " + item
            if len(candidate) + (4 if more else 0) > width - 1:
                return text + " ..."
            text = candidate
        return text

    def final_lines(self, logs, width):
        """The completed head, then every metric: on the same line when they fit, else on lines below,
        broken between metrics (never inside one)."""
        lines = [self.head(True, width)]
        items = _metric_items(logs)
        if items and len(lines[0]) + 3 + len(" - ".join(items)) <= width - 1:
            return [lines[0] + " - " + " - ".join(items)]
        for item in items:
            if len(lines) > 1 and len(lines[-1]) + 3 + len(item) <= width - 1:
                lines[-1] += " - " + item
            else:
                lines.append("  " + item)
        return lines


@REGISTRY.register("ProgbarLogger")
class ProgbarLogger(Callback):
    """Progress display. verbose=1: a live line per epoch on a terminal (a plain line per epoch
    elsewhere); verbose=2: one line per epoch with its time, steps, ms/step and logs.

    Args:
        verbose: 1 (live on a terminal) or 2 (one line per epoch).
        stream: where to write (default: standard output; the live line needs a terminal).
    """

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.progress = None
        self.line = None

    def get_config(self):
        return {"verbose": self.verbose}

    def _out(self):
        return self.stream or sys.stdout

    def _live(self):
        stream = self._out()
        return self.verbose == 1 and hasattr(stream, "isatty") and stream.isatty()

    def _begin(self, title, steps):
        self.progress = _Progress(title, steps, self.params.get("batch_size"))
        self.line = _LiveLine(self._out()) if self._live() else None
        if self.line is not None:
            self.line.draw(self.progress.head(False), force=True)

    def _step_begin(self):
        if self.progress is not None:
            self.progress.begin_step()
            if self.line is not None and self.progress.compiling is not None:
                self.line.draw(self.progress.head(False), force=True)

    def _step_end(self, logs):
        progress = self.progress
        if progress is None:
            return
        progress.end_step()
        if progress.compile_seconds is not None:
            self._compile_notice(progress.compile_seconds)
            progress.compile_seconds = None
        if self.line is not None:
            self.line.draw(progress.live_text(logs, self.line.width()), force=progress.done == progress.total)

    def _compile_notice(self, seconds):
        text = f"First step: {seconds:.1f}s compiling or loading kernels (left out of the step times)"
        if self.line is not None:
            self.line.finish([text])
            self.line = _LiveLine(self._out())
        elif self.verbose:
            print(text, file=self._out(), flush=True)

    def _end(self, logs):
        progress, self.progress = self.progress, None
        if progress is None:
            return
        if self.line is not None:
            self.line.finish(progress.final_lines(logs, self.line.width()))
            self.line = None
        elif self.verbose:
            self._print_plain(progress, logs)

    def _print_plain(self, progress, logs):
        parts = [progress.title] if progress.title else []
        steps = f"{progress.done}/{progress.total}" if progress.total else f"{progress.done} steps"
        parts += [steps, _seconds(progress.elapsed())]
        if progress.timed_steps:
            parts.append(_rate(progress.timed_seconds / progress.timed_steps, progress.batch_size))
        parts += _metric_items(logs)
        print(" - ".join(parts), file=self._out(), flush=True)

    # ----- fit --------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._begin(f"Epoch {epoch + 1}/{self.params.get('epochs')}", self.params.get("steps"))

    def on_train_batch_begin(self, batch, logs=None):
        self._step_begin()

    def on_train_batch_end(self, batch, logs=None):
        self._step_end(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._end(logs)

    # ----- evaluate and predict ---------------------------------------------------------------
    def on_test_begin(self, logs=None):
        if not self.params.get("in_fit"):
            self._begin("Evaluate", self.params.get("steps"))

    def on_test_batch_begin(self, batch, logs=None):
        if not self.params.get("in_fit"):
            self._step_begin()

    def on_test_batch_end(self, batch, logs=None):
        if not self.params.get("in_fit"):
            self._step_end(logs)

    def on_test_end(self, logs=None):
        if not self.params.get("in_fit"):
            self._end(logs)

    def on_predict_begin(self, logs=None):
        if self._live():
            self._begin("Predict", self.params.get("steps"))

    def on_predict_batch_begin(self, batch, logs=None):
        self._step_begin()

    def on_predict_batch_end(self, batch, logs=None):
        self._step_end(None)

    def on_predict_end(self, logs=None):
        if self.line is not None:
            self.line.finish([self.progress.head(True)])
        self.progress = self.line = None
