"""The one event shape every source emits, and the one clock that stamps it.

An event is a plain ``dict`` (cheap to build in a hot input callback, cheap to JSON-encode)::

    {"t": 1234567890, "source": "input", "kind": "key_press", "data": {...}}

``t`` is ``time.monotonic_ns()`` of this machine; every source of one recording uses it, and each
segment stores the wall-clock time of its start once (see ``spool.format``).

Kinds and their ``data`` (all coordinates are root-window pixels):

source ``input``
    ``key_press``      ``keycode`` int, ``keysym`` int (the symbol produced, shift level applied),
                       ``key`` str (X keysym name of the *base* level, e.g. ``"t"``, ``"Return"``,
                       ``"Control_L"``, ``"eacute"``), ``text`` str | None (the character the key
                       produced, ``None`` for non-printing keys and while ctrl/alt/super is held),
                       ``mods`` list[str] (modifiers held *before* this key: subset of
                       ``ctrl, shift, alt, super, altgr, capslock``), ``x``, ``y`` pointer position.
    ``key_release``    ``keycode``, ``keysym``, ``key``.
    ``motion``         ``x``, ``y`` (thinned to at most 60 Hz in storage, never across a press/release).
    ``button_press``   ``button`` (1 left, 2 middle, 3 right, 8/9 back/forward), ``x``, ``y``,
                       ``window``: the window under the pointer, which the press acts on and which
                       may not be the active one: ``{id, title (redacted), app}`` (``app`` as in
                       ``window/active``); absent without the ``window`` source and in recordings
                       made before it was added.
    ``button_release`` ``button``, ``x``, ``y``.
    ``scroll``         ``dx``, ``dy`` wheel steps (``dy`` > 0 is wheel down, ``dx`` > 0 is right),
                       ``x``, ``y``, ``window`` (as for ``button_press``).
source ``window``
    ``active``         ``id`` int, ``title``, ``instance``, ``class`` (WM_CLASS), ``pid`` int | None,
                       ``process`` str | None, ``x``, ``y``, ``w``, ``h`` (client area on screen),
                       ``app`` str (the allowlist entry that matched, else the WM_CLASS class).
                       Emitted on every change of the active window, its title or its geometry.
source ``browser`` (Chromium-family pages in the active window, within the consent's sites; every
text field is redacted like titles, see ``sources.browser``)
    ``page``           ``url``, ``title``: the page the active window shows, on every change of page,
                       URL or title.
    ``snapshot``       ``url``, ``origin_x``, ``origin_y`` (screen pixels of the viewport's top-left),
                       ``width``, ``height`` (viewport in pixels), ``elements`` (list, document
                       order, at most 300; ``truncated`` true if more were visible), each
                       ``{tag, box, role?, name?, text?, value?, type?, checked?, focused?, editing?,
                       secure?, disabled?}``: ``box`` ``[x, y, w, h]`` in screen pixels clipped to the
                       viewport; ``name`` the accessible name, ``text`` the element's own text, both at
                       most 80 characters; ``value`` of inputs, selects and text areas, never of
                       password inputs (``secure`` true); ``editing`` marks a focused field typed into
                       in the last second, whose last word is left out. Keys absent when empty/false.
                       Emitted when the page's content, scroll, focus or window geometry changed, at
                       most five a second, so the last snapshot before an action shows what it acted
                       on: the element under the pointer is the innermost box containing it, the one
                       with focus has ``focused``.
    ``focus``          ``url``, ``element`` (as in ``snapshot``, or None): the focused element changed.
source ``screen``
    ``frame``          ``id`` int (index of the stored image in this segment; two events may name
                       the same id when the screen did not change), ``reason``
                       (``before`` | ``after`` | ``change``), ``w``, ``h``.
source ``guard``
    ``gap``            ``reason`` (``out_of_scope`` | ``paused``), ``start``, ``end`` (clock ns).
                       Nothing is stored between start and end but this marker. A browser window
                       whose page is outside the consent's sites (or not known) is out of scope.
    ``secure_input``   ``reason`` (``echo_off`` | ``window_title`` | ``password_manager`` |
                       ``password_field`` | ``browser_frame``), ``start``, ``end``: keys typed into a
                       secure context; neither them nor their count is kept. ``password_field``: a
                       password input of a web page had focus; ``browser_frame``: a cross-origin frame
                       had focus, whose fields cannot be seen.
source ``recorder``
    ``source_gap``     ``source`` (``window``, ``input``, ``screen``, ``browser``, ``echo``, ``shell``,
                       ``files``, ``git``), ``start``, ``end`` (clock ns), ``reason`` (redacted),
                       ``restarts``: the source's thread died at ``start`` and the recorder's
                       supervisor had it running again at ``end`` (or the recording ended then):
                       that source recorded nothing in between. Stamped with ``end``.
source ``task``
    ``start``          ``id`` int (1, 2, ... within a recording), ``title`` str, ``ticket`` str | None
                       (both redacted): ``workscribe task start``. Starting a task ends the open one.
    ``end``            ``id``, ``outcome`` (``success`` | ``fail`` | None): ``workscribe task end``.
source ``shell`` (hooked interactive bash/zsh, see ``sources.shell``; only inside granted repos)
    ``command``        ``shell``, ``session`` (8 hex, one per shell), ``seq``, ``text`` (the command line),
                       ``cwd``, ``cwd_after``, ``exit_code``, ``start``, ``end`` (clock ns), ``output``
                       (the last 40 lines / 4,000 characters, ANSI stripped, with ``shell-output``;
                       else None), ``output_truncated``. Stamped with ``end``: it is known then. Every
                       text redacted.
source ``files`` (granted repos, see ``sources.files``)
    ``edit``           ``repo``, ``path`` (relative, posix), ``op`` (``modify`` | ``create`` | ``delete`` |
                       ``rename``), ``old_path``, ``diff`` (a ``git apply``-able unified diff against the
                       previous saved state, redacted), ``added``, ``removed``.
source ``git`` (granted repos, from the reflog, see ``sources.git``); every kind has ``repo``,
``branch`` (None when detached), ``hash`` (HEAD after). Stamped when git wrote the reflog.
    ``head``           ``dirty``: HEAD when the source started.
    ``commit``         ``parents``, ``message``, ``files`` (``{path, added, removed}``), ``insertions``,
                       ``deletions``, ``amend``, ``op``.
    ``checkout``       ``from``, ``to``, ``old``, ``new``: a branch switch.
    ``merge`` / ``rebase`` / ``reset`` / ``other``: ``old``, ``new``, ``op`` (the reflog verb), ``message``.
                       No author name or address is ever kept.
source ``spool``
    ``evicted``        ``segment`` str, ``bytes`` int: a closed segment deleted to respect the quota.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict


class Event(TypedDict):
    """One timestamped observation from one source."""

    t: int
    source: str
    kind: str
    data: dict[str, Any]


now_ns = time.monotonic_ns
"""The recording clock: monotonic nanoseconds, shared by every source of a recording."""


def make_event(source: str, kind: str, data: dict[str, Any], t: int | None = None) -> Event:
    """Builds an event stamped with the recording clock unless ``t`` is given."""
    return {"t": now_ns() if t is None else t, "source": source, "kind": kind, "data": data}


MODIFIER_KEYS: dict[str, str] = {
    "Control_L": "ctrl",
    "Control_R": "ctrl",
    "Shift_L": "shift",
    "Shift_R": "shift",
    "Alt_L": "alt",
    "Alt_R": "alt",
    "Meta_L": "alt",
    "Meta_R": "alt",
    "Super_L": "super",
    "Super_R": "super",
    "Hyper_L": "super",
    "Hyper_R": "super",
    "ISO_Level3_Shift": "altgr",
    "Mode_switch": "altgr",
    "Caps_Lock": "capslock",
}
"""X keysym names of modifier keys, mapped to the modifier names used in ``mods`` and hotkeys."""
