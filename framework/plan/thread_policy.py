"""How many BLAS threads a plan's training and evaluation steps use, chosen by measuring them.

On a quiet machine two BLAS threads run a step's products faster; with other programs busy, a product
split over two spinning threads waits for whichever was descheduled, and one thread is many times
faster (the MNIST MLP at batch 32: 255 ms a step with two threads on a loaded machine). Which one wins
depends on the sizes and on what else runs, and the load changes while a model trains, so each plan
measures: it runs its steps with the current setting, and now and then one step with the other; when
the other is clearly faster (below ``SWITCH_RATIO`` of the recent median), it switches. A probe is
``PROBE_STEPS`` steps judged by their median, so one step that a loaded machine stalls (a 96 ms step among
5 ms ones was seen) neither decides nor vetoes a switch. A probe that
loses doubles the time to the next one (from ``FIRST_INTERVAL`` up to ``LONGEST_INTERVAL`` seconds; the
first probe comes once ``WINDOW`` steps after the ``WARMUP_STEPS`` first give a median), so a settled
choice costs one step in many.

One and two threads round some products differently (OpenBLAS splits some shapes along the inner
dimension), so a choice made by timing could make training results depend on the machine's load. Each
product therefore runs with the count it must (``kernels.blas_threads.bound_product``, checked once per
layout when a plan is bound): a product whose bits depend on the count always runs with all threads, a
small one always with one, and only the others follow this policy. A plan's results are then the same
whichever count the policy chose, and it measures even when ``framework.utils.set_random_seed`` asked for
bitwise reproducibility. ``FRAMEWORK_BLAS_POLICY`` is ``auto`` (the default) or ``measure`` (the same:
measure), or ``fixed`` (never switch: BLAS's own setting).
"""
import os
import time

import numpy as np

from framework.kernels import blas_threads

#: a probe switches when its step took less than this fraction of the recent median
SWITCH_RATIO = 0.85
#: seconds before the first probe, and the longest wait between probes
FIRST_INTERVAL, LONGEST_INTERVAL = 0.5, 16.0
#: steps of the current setting kept for its median; the first probe waits until the window is full
WINDOW = 7
#: a plan's first steps, not measured: they touch cold caches and fresh pages, and a median of them made
#: a quiet machine's first probe with one thread look faster than two (the MLP's benchmark ran at 3.9 ms
#: instead of 2.2 from there on)
WARMUP_STEPS = 3
#: consecutive steps of one probe, judged by their median
PROBE_STEPS = 3
#: environment variable: 'auto' (default), 'measure' or 'fixed'
SWITCH = "FRAMEWORK_BLAS_POLICY"
MODES = ("auto", "measure", "fixed")


class ThreadPolicy:
    """The BLAS thread count of one plan's steps, kept by measurement.

    Args:
        clock: a function returning seconds (time.perf_counter; tests give their own).
    """

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        most = blas_threads.most_threads()
        mode = os.environ.get(SWITCH, "auto")
        if mode not in MODES:
            raise ValueError(f"{SWITCH}={mode!r}: expected one of {', '.join(MODES)}")
        self.enabled = most > 1 and mode != "fixed"
        self.threads = most
        self.choices = (1, most)
        self.recent = np.zeros(WINDOW)  # the last WINDOW step times, a ring (no object per step)
        self.measured = 0
        self.interval = FIRST_INTERVAL
        self.next_probe = None
        self.warmup = WARMUP_STEPS
        self.probe = np.zeros(PROBE_STEPS)  # the current probe's step times
        self.probed = 0                     # steps of the current probe taken (0: not probing)

    def run(self, step, *arguments):
        """``step(*arguments)`` with this plan's thread count (sometimes the other one, to measure); its result."""
        if not self.enabled:
            return step(*arguments)
        now = self.clock()
        if self.next_probe is None:
            self.next_probe = now  # the first probe as soon as a full window gives a median
        probing = self.probed > 0 or (now >= self.next_probe and self.measured >= WINDOW)
        threads = self.other() if probing else self.threads
        blas_threads.set_threads(threads)
        result = step(*arguments)
        took = self.clock() - now
        if probing:
            self.probe[self.probed] = took
            self.probed += 1
            if self.probed == PROBE_STEPS:
                self.probed = 0
                self._judge(threads, _median(self.probe))
            blas_threads.set_threads(self.threads)  # what runs next (a tape's plans, predict) gets the choice
        elif self.warmup:
            self.warmup -= 1
        else:
            self.recent[self.measured % WINDOW] = took
            self.measured += 1
        return result

    def other(self):
        return self.choices[0] if self.threads == self.choices[1] else self.choices[1]

    def _judge(self, threads, took):
        if took < SWITCH_RATIO * _median(self.recent):
            self.threads, self.interval = threads, FIRST_INTERVAL
            self.measured = 0
        else:
            self.interval = min(self.interval * 2, LONGEST_INTERVAL)
        self.next_probe = self.clock() + self.interval


def _median(times):
    """The middle of an odd number of step times (a list for the moment, nothing kept)."""
    return sorted(times.tolist())[len(times) // 2]
