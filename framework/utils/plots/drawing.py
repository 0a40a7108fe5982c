"""matplotlib on demand: a figure that is only ever saved to a file.

Figures are made with ``matplotlib.figure.Figure`` and saved by the canvas their file's suffix picks
(Agg for PNG, matplotlib's SVG and PDF writers for those): pyplot is never imported, so no window
opens and the backend a user chose for their own plots (in a notebook, say) is left alone.
"""
import os
from pathlib import Path

EXTRA_HINT = 'pip install "framework[plots]"'
#: what each picture writer accepts, by suffix
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: the largest side of a PNG, in pixels (Agg refuses more than 2**16; this keeps memory bounded too)
MAX_PIXELS = 16384


class MissingExtraError(ImportError):
    """matplotlib (the ``plots`` extra) is not installed; the message says how to install it."""


class PlotInputError(ValueError):
    """A picture cannot be drawn from what it was given (a folder without history.csv, an unknown
    metric, a model that is not a classifier); the message names what and why."""


def figure_class():
    """``matplotlib.figure.Figure``, or MissingExtraError naming the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        state = "is not installed" if isinstance(e, ModuleNotFoundError) else f"cannot be imported ({_reason(e)})"
        raise MissingExtraError(f"drawing pictures needs matplotlib, which {state}: {EXTRA_HINT}") from None
    return Figure


def _reason(error):
    return str(error).splitlines()[0][:200] if str(error).strip() else type(error).__name__


def output_format(path, allowed=(".png",), what="the output"):
    """The matplotlib format for ``path``'s suffix; PlotInputError when it is not one of ``allowed``."""
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix not in allowed:
        raise PlotInputError(f"{what} {os.fspath(path)!r} must end in {' or '.join(allowed)} "
                             f"(received {suffix or 'no suffix'})")
    return FORMATS[suffix]


def save(figure, path, dpi, file_format):
    """Write ``figure`` to ``path`` (parent folders made), lowering the dpi of a PNG whose larger side
    would pass MAX_PIXELS. Returns the dpi used."""
    path = Path(os.fspath(path))
    if file_format == "png":
        width, height = figure.get_size_inches()
        dpi = min(dpi, MAX_PIXELS / max(width, height, 1e-9))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format=file_format, facecolor="white")
    return dpi
