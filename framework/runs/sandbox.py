"""Building throwaway objects (validation, data checks) without side effects on the run."""
import contextlib
import random as _py_random

import numpy as np

from framework.plan.memory import symbolic_weights
from framework.utils import naming
from framework.utils import random as framework_random


@contextlib.contextmanager
def sandbox():
    """Build throwaway objects without moving layer-name counters or random streams; weights made
    inside are symbolic (zeros that take no memory, no initializer runs: ``framework.plan.memory``)."""
    names = naming.name_counters()
    state = framework_random.get_global_state()
    np_state, py_state = np.random.get_state(), _py_random.getstate()
    try:
        with symbolic_weights():
            yield
    finally:
        naming.restore_name_counters(names)
        framework_random.set_global_state(state)
        np.random.set_state(np_state)
        _py_random.setstate(py_state)
