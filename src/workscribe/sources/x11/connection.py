"""Opening an X connection that survives the X errors a desktop produces every day.

python-xlib 0.33's RANDR extension registers its three error classes at codes 0, 1 and 2 instead of
at the extension's own error base (python-xlib issues #241, #259): every core ``BadRequest`` and
``BadValue`` then builds a plain ``Exception`` without ``sequence_number``, and the reader raises
``AttributeError`` from inside the connection's I/O. That leaves the connection unusable: its next
round trip hangs. A ``BadValue`` is ordinary: ``get_full_property`` asks twice, and a title that
shrank in between (a browser closing its window) gets one. ``open_display`` gives each connection its
own error table with the core classes back in place, so such an error is the ``XError`` callers
catch; the RANDR errors then parse as plain ``XError`` too.
"""

from __future__ import annotations

from Xlib import display, error
from Xlib.error import DisplayError as XDisplayError

from workscribe.sources.base import SourceError


def repair_error_classes(d: display.Display) -> None:
    """Gives connection ``d`` its own error table with every core X error class in place.

    The table is the connection's own: python-xlib keeps one table for every connection of the
    process, and each new connection registers the misplaced RANDR classes in it again.
    """
    core = error.xerror_class  # codes 1..17; extensions' errors start at 128
    table = {code: cls for code, cls in d.display.error_classes.items() if code > max(core)}
    table.update(core)
    d.display.error_classes = table


def open_display(name: str | None) -> display.Display:
    """A connection to X display ``name`` (None: ``$DISPLAY``) whose errors parse as ``XError``.

    Raises:
        SourceError: the display cannot be opened.
    """
    try:
        d = display.Display(name)
    except (XDisplayError, OSError) as exc:
        raise SourceError(f"cannot open X display {name or '$DISPLAY'}: {exc}") from None
    repair_error_classes(d)
    return d
