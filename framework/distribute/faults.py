"""A process that fails ends the whole run: the others would otherwise wait forever in their next
all-reduce for a partner that is gone."""
import sys
import threading
import traceback


def abort_on_uncaught_errors(world):
    """Make an uncaught exception (in the main thread or any other) print its traceback, say which
    process failed, and abort every process of the run (``MPI_Abort``)."""
    def stop_everyone(kind, value, trace):
        traceback.print_exception(kind, value, trace, file=sys.stderr)
        report_and_abort(world, f"{kind.__name__}: {value}")

    sys.excepthook = stop_everyone
    threading.excepthook = lambda args: stop_everyone(args.exc_type, args.exc_value, args.exc_traceback)


def report_and_abort(world, reason, code=1):
    """Print why process ``world.rank`` stops, then end every process."""
    sys.stderr.write(f"framework.distribute: process {world.rank} of {world.size} failed ({reason}); "
                     "stopping all processes\n")
    sys.stderr.flush()
    sys.stdout.flush()
    world.abort(code)
