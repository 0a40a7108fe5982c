"""Fixtures shared by the test files (plain helpers are in helpers.py and gradcheck.py)."""
import pytest

import framework as fw
from gradcheck import float64_mode


@pytest.fixture
def float64_seed_1():
    """The test builds and runs models in float64, with the random seed set to 1."""
    with float64_mode():
        fw.utils.set_random_seed(1)
        yield
