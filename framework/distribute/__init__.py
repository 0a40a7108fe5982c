"""Data-parallel training over MPI: the same model and ``fit`` on N processes, with the result of one.

Start N processes with ``mpirun -n N python script.py`` (or ``framework train CONFIG --distribute``)
and call ``initialize()`` once in each, before ``fit``. Every process then trains on its shard of each
global batch (``batch_size`` is the global batch), the gradients are summed in one all-reduce over the
parameter arena per step, logs are those of the global batch, and only rank 0 prints and writes files.
See docs/distributed.md.
"""
from framework.distribute.communicator import World, load_mpi
from framework.distribute.faults import abort_on_uncaught_errors, report_and_abort
from framework.distribute.strategy import DataParallel
from framework.training import parallel

_state = {"world": None, "strategy": None}


def initialize(abort_on_error=True, overlap=False):
    """Switch data-parallel training on in this process (a second call does nothing); returns the ``World``.

    Args:
        abort_on_error: an uncaught exception in any process ends every process (``MPI_Abort``) after
            printing its traceback, so no process waits forever for one that is gone.
        overlap: start summing the last layers' gradients (non-blocking ``Iallreduce``) while backward
            runs through the first ones, instead of one blocking call after backward (docs/distributed.md
            has the measurements; off by default).
    """
    if _state["world"] is None:
        world = World(load_mpi())
        if abort_on_error:
            abort_on_uncaught_errors(world)
        strategy = DataParallel(world, overlap=overlap)
        parallel.install(strategy)
        _state.update(world=world, strategy=strategy)
    return _state["world"]


def is_initialized():
    return _state["world"] is not None


def rank():
    """This process's rank (0 when data-parallel training is off)."""
    return 0 if _state["world"] is None else _state["world"].rank


def size():
    """The number of processes training together (1 when data-parallel training is off)."""
    return 1 if _state["world"] is None else _state["world"].size


def is_rank_zero():
    """True in the process that prints and writes files (rank 0, or the only process)."""
    return rank() == 0


def abort(reason, code=1):
    """Print ``reason`` and end every process of the run (just this one when training alone)."""
    if _state["world"] is None:
        raise SystemExit(code)
    report_and_abort(_state["world"], reason, code)


def statistics():
    """The gradient all-reduce so far in this process: ``calls`` (steps), ``seconds`` spent in MPI's calls,
    ``bytes`` of the gradient array, and ``slices`` started during backward (with ``overlap``)."""
    reducer = None if _state["strategy"] is None else _state["strategy"].reducer
    if reducer is None:
        return {"calls": 0, "seconds": 0.0, "bytes": 0, "slices": 0}
    return {"calls": reducer.calls, "seconds": reducer.seconds, "bytes": reducer.bytes, "slices": reducer.slices}

__all__ = ["initialize", "is_initialized", "rank", "size", "is_rank_zero", "abort", "statistics"]
