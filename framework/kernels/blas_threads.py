"""The number of threads BLAS (the OpenBLAS behind ``np.matmul``) runs a product with, set at run time.

OpenBLAS splits a product over its threads, and its threads spin while they wait for each other: when
another program holds a core, the split product waits for a descheduled partner and a 32 x 512 x 512
product took 9 ms instead of 0.15 ms. ``framework.plan.thread_policy`` measures training steps with one
thread and with all of them and keeps the faster; this module is the switch it turns, through
``threadpoolctl`` (the controller scikit-learn uses). Without threadpoolctl nothing is switched.
"""
import threading

_lock = threading.Lock()
_state = {"controllers": None, "current": None, "most": 1}


def _controllers():
    """The OpenBLAS / BLAS libraries loaded in this process (found once)."""
    with _lock:
        if _state["controllers"] is None:
            try:
                from threadpoolctl import ThreadpoolController
                found = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
            except Exception:  # noqa: BLE001 - no controller: BLAS keeps its own setting
                found = []
            _state["controllers"] = found
            _state["most"] = max([c.num_threads for c in found] or [1])
            _state["current"] = _state["most"]
        return _state["controllers"]


def most_threads():
    """The threads BLAS had when the process started (its ceiling: ``OPENBLAS_NUM_THREADS`` or the cores)."""
    _controllers()
    return _state["most"]


def current_threads():
    _controllers()
    return _state["current"]


def set_threads(count):
    """Run later products with ``count`` threads (1 .. most_threads()); a no-op when already so."""
    count = max(1, min(int(count), most_threads()))
    if count == _state["current"]:
        return
    for controller in _controllers():
        controller.set_num_threads(count)
    _state["current"] = count
