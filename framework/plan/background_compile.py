"""The first training plan of a cold process compiles its kernels from both ends at once.

Numba compiles a kernel the first time a step calls it, one after the other: on a machine whose Numba
cache is empty (the first run after install, every fresh CI machine) the first training step of the MNIST
convnet spends most of half a minute compiling on one core. Numba holds one compiler lock per process, so
threads cannot share the work; a second process can. When the first training plan of a process is built
and the cache is cold, a forked child runs the plan's steps in reverse order (backward and optimizer
first) on zeroed copies of the buffers, which compiles their kernels and writes them to Numba's disk
cache, then exits without touching anything else. The parent runs its first step as usual, forward
first; when it reaches a kernel the child has already compiled, Numba loads it from the cache instead of
compiling it. The two meet near the middle.

The child works on copies (fork's copy-on-write): no weight, file or output of the parent changes. It ends
itself after ``CHILD_SECONDS`` in any case. Only where ``os.fork`` exists, never under MPI, and not when
``FRAMEWORK_BACKGROUND_COMPILE=0``.
"""
import os
import signal
import threading

from framework.kernels import kernel_cache_is_warm

#: the child ends itself after this many seconds whatever it is doing
CHILD_SECONDS = 300
#: environment variable: '0' turns the background compilation off
SWITCH = "FRAMEWORK_BACKGROUND_COMPILE"

_started = [False]  # one child per process: later plans find the kernels compiled


def maybe_start(plan):
    """Fork the compiling child for ``plan`` (a training plan) when this process has not yet and the
    kernel cache is cold. Returns the child's pid, or None."""
    if _started[0] or not hasattr(os, "fork") or os.environ.get(SWITCH, "1") == "0" or _under_mpi():
        return None
    _started[0] = True
    if kernel_cache_is_warm():
        return None
    steps = list(plan.forward) + list(plan.loss_steps) + list(plan.backward) + list(plan.penalties) + \
        [plan.optimizer_step] + list(plan.metric_steps)
    pid = os.fork()
    if pid == 0:  # the child: compile, never return into the parent's code
        code = 0
        try:
            signal.alarm(CHILD_SECONDS)
            for block in plan.blocks:
                block.fill(0)  # indices and counts read from buffers (argmax, ids) are valid when zero
            for step in reversed(steps):
                if step is not None:
                    step()
        except BaseException:  # noqa: BLE001 - whatever failed, the parent compiles it itself
            code = 1
        finally:
            os._exit(code)
    reaper = threading.Thread(target=_reap, args=(pid,), daemon=True, name="framework-compile-reaper")
    _children[pid] = [reaper, None]
    reaper.start()
    return pid


def wait(pid, timeout=None):
    """The exit code of the child ``pid`` (0: it ran every step), waiting up to ``timeout`` seconds;
    None while it runs."""
    reaper, _ = _children[pid]
    reaper.join(timeout)
    return _children[pid][1]


_children = {}  # pid -> [reaper thread, exit code]


def _reap(pid):
    try:
        _, status = os.waitpid(pid, 0)
        _children[pid][1] = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        _children[pid][1] = -1


def _under_mpi():
    return any(name in os.environ for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))
