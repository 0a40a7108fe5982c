"""Fixtures shared by the test files (plain helpers are in helpers.py and gradcheck.py), and the kernel
compilation started beside a suite that runs on a cold Numba cache."""
import os
import subprocess
import sys

import pytest

import framework as fw
from framework.kernels import kernel_cache_is_warm
from gradcheck import float64_mode

#: environment variable: '0' keeps the suite from compiling kernels in a second process
WARMUP_SWITCH = "FRAMEWORK_TEST_WARMUP"
#: the compiling process starts no new work after this many seconds
WARMUP_SECONDS = 300
_warmup = []


def pytest_sessionstart(session):
    """On a cold kernel cache (a fresh machine, CI), compile kernels in a second process while the tests
    run: `framework compile-kernels` on the idle core; the tests then load from the cache what it has
    compiled (framework/runs/kernel_warmup.py). A fresh CI machine's suite took 9 min 13 s without it."""
    if os.environ.get(WARMUP_SWITCH, "1") == "0" or kernel_cache_is_warm():
        return
    command = [sys.executable, "-m", "framework", "compile-kernels", "--quiet", "--seconds", str(WARMUP_SECONDS)]
    _warmup.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def pytest_sessionfinish(session, exitstatus):
    for process in _warmup:
        if process.poll() is None:
            process.terminate()
        process.wait()


@pytest.fixture
def float64_seed_1():
    """The test builds and runs models in float64, with the random seed set to 1."""
    with float64_mode():
        fw.utils.set_random_seed(1)
        yield
