"""The number of threads BLAS (the OpenBLAS behind ``np.matmul``) runs a product with, set at run time.

OpenBLAS splits a product over its threads, and its threads spin while they wait for each other: when
another program holds a core, the split product waits for a descheduled partner and a 32 x 512 x 512
product took 9 ms instead of 0.15 ms. ``framework.plan.thread_policy`` measures training steps with one
thread and with all of them and keeps the faster; this module is the switch it turns, through
``threadpoolctl`` (the controller scikit-learn uses). Without threadpoolctl nothing is switched.
"""
import collections
import threading

import numpy as np

_lock = threading.Lock()
_state = {"controllers": None, "setters": None, "current": None, "most": 1}


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
            _state["setters"] = [_direct_setter(c) for c in found]
            _state["most"] = max([c.num_threads for c in found] or [1])
            _state["current"] = _state["most"]
        return _state["controllers"]


def _direct_setter(controller):
    """OpenBLAS's own ``openblas_set_num_threads`` (under the prefix and suffix of the build threadpoolctl
    found), looked up once: threadpoolctl's setter looks the symbol up at every call, which allocates; the
    controller's setter when the symbol is not there."""
    prefix = getattr(controller, "_symbol_prefix", None)
    suffix = getattr(controller, "_symbol_suffix", None)
    if getattr(controller, "internal_api", None) == "openblas" and prefix is not None and suffix is not None:
        try:
            return getattr(controller.dynlib, f"{prefix}openblas_set_num_threads{suffix}")
        except AttributeError:
            pass
    return controller.set_num_threads


def most_threads():
    """The threads BLAS had when the process started (its ceiling: ``OPENBLAS_NUM_THREADS`` or the cores)."""
    if _state["setters"] is None:
        _controllers()
    return _state["most"]


def current_threads():
    if _state["setters"] is None:
        _controllers()
    return _state["current"]


def set_threads(count):
    """Run later products with ``count`` threads (1 .. most_threads()); a no-op when already so."""
    count = max(1, min(int(count), most_threads()))
    if count == _state["current"]:
        return
    for setter in _state["setters"]:  # found by most_threads() above
        setter(count)
    _state["current"] = count


# ----------------------------------------------------------------------------- one product's threads
#: products whose result holds at most this many entries (per matrix) always run with one thread: two
#: threads were never faster for them, and on a busy machine they wait for a descheduled partner
#: (a 9 x 6760 by 6760 x 32 weight gradient: 0.13 ms with one thread, 0.6 to 6 ms with two under load)
ONE_THREAD_MAX_OUTPUT = 4096
#: products of at most this many multiply-adds OpenBLAS runs on one thread by itself (its SMP_THRESHOLD_MIN
#: times GEMM_MULTITHREAD_THRESHOLD): nothing to pin, and no check
BLAS_ONE_THREAD_WORK = 65536 * 4
#: products with bigger operands are not checked (a check makes operands of the same size): all threads
CHECK_MAX_BYTES = 16 * 2 ** 20
#: how many product layouts ``thread_invariant`` remembers
MAX_CHECKED_LAYOUTS = 256
_checked = collections.OrderedDict()
_checking = threading.Lock()


def bound_product(step, a, b, out):
    """``step`` (computing ``out = a @ b`` through BLAS) with the thread count it must run with:

    - a product too small for BLAS to split: as it is;
    - a small result: one thread, always;
    - a product that gives the same bits with one thread and with all of them: whatever count is current
      (``framework.plan.thread_policy`` chooses it by measurement);
    - one whose rounding depends on the count (OpenBLAS blocks a long inner dimension one way on one thread
      and another way on several: the MNIST MLP's 128 x 784 by 784 x 512 product): as a sum of products over
      ranges of the inner dimension that each give the same bits with any count (``inner_chunks``), which
      then follows the current count too;
    - any other (or one with operands over ``CHECK_MAX_BYTES``, not checked): all threads, always, so that a
      plan's results never depend on the count chosen. On a loaded machine such a product waits for a
      descheduled partner: pinned to two threads, the MLP's first product made its step 24 ms with three
      other busy processes, against 9 ms summed over chunks on the one thread the policy chose.
    """
    most = most_threads()
    if most == 1 or out.shape[-2] * out.shape[-1] * a.shape[-1] <= BLAS_ONE_THREAD_WORK:
        return step  # BLAS runs it on one thread whatever the count
    if out.shape[-2] * out.shape[-1] <= ONE_THREAD_MAX_OUTPUT:
        return pinned(step, 1)
    if a.nbytes + b.nbytes <= CHECK_MAX_BYTES:
        if thread_invariant(a, b, out.dtype):
            return step
        chunked = inner_chunks(a, b, out)
        if chunked is not None:
            return chunked
    return pinned(step, most)


#: how many ranges of the inner dimension ``inner_chunks`` tries, in order (fewer ranges run faster)
CHUNK_COUNTS = (2, 3, 4, 6, 8)
#: no range of the inner dimension is made shorter than this
MIN_CHUNK = 32


def inner_chunks(a, b, out):
    """A step computing ``out = a @ b`` (2-D, at least 2 x 2) as ``a[:, r0] @ b[r0] + a[:, r1] @ b[r1] + ...``
    over ranges of the inner dimension, summed in that order, where each range's product gives the same bits
    with one thread and with all of them; None when no split tried does. The step's bits therefore never
    depend on the thread count, and it costs one partial buffer the size of ``out`` and an addition per
    range after the first (the MLP's first product: 0.76 -> 0.80 ms on two quiet threads)."""
    if a.ndim != 2 or b.ndim != 2 or min(out.shape) < 2:
        return None
    inner = a.shape[1]
    for count in CHUNK_COUNTS:
        size = -(-inner // count)
        if size < MIN_CHUNK:
            return None
        parts = [(a[:, start:start + size], b[start:start + size]) for start in range(0, inner, size)]
        if all(thread_invariant(part_a, part_b, out.dtype) for part_a, part_b in parts):
            return _summed_step(parts, out)
    return None


def _summed_step(parts, out):
    """out = the sum of the products ``parts`` [(a, b), ...], in order, through one partial buffer."""
    matmul, add = np.matmul, np.add
    partial = np.empty_like(out)
    (first_a, first_b), rest = parts[0], tuple(parts[1:])

    def step():
        matmul(first_a, first_b, out=out)
        for part_a, part_b in rest:
            matmul(part_a, part_b, out=partial)
            add(out, partial, out=out)
    step.parts = len(parts)
    return step


def pinned(step, count):
    """``step`` run with ``count`` BLAS threads, the current count set back after it."""
    def run():
        current = _state["current"]
        if current == count:
            step()
            return
        set_threads(count)
        try:
            step()
        finally:
            set_threads(current)
    run.threads = count
    return run


def thread_invariant(a, b, dtype):
    """True when a product of operands laid out as ``a`` and ``b`` (shapes, strides, dtypes) gives the same
    bits with one thread as with all of them. BLAS's order of summation depends on the layout and the
    thread count, never on the values, so one product of made-up values of that layout answers for all;
    the answer is remembered (for ``MAX_CHECKED_LAYOUTS`` layouts)."""
    key = (a.shape, a.strides, a.dtype.str, b.shape, b.strides, b.dtype.str, np.dtype(dtype).str)
    with _lock:
        known = _checked.get(key)
        if known is not None:
            _checked.move_to_end(key)
            return known
    generator = np.random.default_rng(0)
    operands = [_made_up_like(x, generator) for x in (a, b)]
    if any(x is None for x in operands):
        return False
    results = []
    with _checking:  # one check at a time (plans bound from several threads)
        current = current_threads()
        try:
            for count in (1, most_threads()):
                set_threads(count)
                results.append(np.matmul(*operands).astype(dtype, copy=False))
        finally:
            set_threads(current)
    same = np.array_equal(results[0], results[1])
    with _lock:
        _checked[key] = same
        while len(_checked) > MAX_CHECKED_LAYOUTS:
            _checked.popitem(last=False)
    return same


def _made_up_like(array, generator):
    """Values in [0, 1) laid out as ``array`` (same shape and strides), or None for a layout that is not
    a plain strided view (negative or zero strides)."""
    if any(s <= 0 for s, n in zip(array.strides, array.shape) if n > 1):
        return None
    itemsize = array.dtype.itemsize
    span = sum((n - 1) * s for n, s in zip(array.shape, array.strides)) // itemsize + 1
    if array.dtype in (np.float32, np.float64):
        base = generator.random(span, dtype=array.dtype)
    else:
        base = generator.random(span).astype(array.dtype)
    return np.lib.stride_tricks.as_strided(base, array.shape, array.strides)
