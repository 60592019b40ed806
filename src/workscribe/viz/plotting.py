"""What the HTML reports share: the page style and matplotlib figures saved as PNGs of stable bytes.

matplotlib is imported inside the functions (Agg, through ``Figure``), so importing a report module
stays cheap. ``viz.report`` (``workscribe stats``) and ``viz.bc_report`` use these.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.n { text-align: right; }
img { max-width: 100%; }
p.note { color: #555; margin-top: 0.2em; }
"""
"""The CSS of every report page."""


def figure(n_rows: int = 0) -> Figure:
    """A figure 8 inches wide, tall enough for ``n_rows`` labelled bars."""
    from matplotlib.figure import Figure

    return Figure(figsize=(8, max(2.5, 0.6 + 0.3 * n_rows)), dpi=100, layout="constrained")


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes, without the matplotlib version: the same figure gives the same bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version: identical bytes
    return buf.getvalue()


def integer_ticks(axis: Axis) -> None:
    """Ticks only at whole numbers (for counts)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def no_data(ax: Axes) -> None:
    """Writes "no data" in the middle of an empty plot."""
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_yticks([])
