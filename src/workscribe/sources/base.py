"""The interface every source implements, whatever the platform.

A source is started with a *sink*, a callable that takes one event and is safe to call from the
source's own threads; it stops when asked and then emits nothing more. Platform backends (X11 now;
macOS and Windows through pynput and mss later) live in ``sources/<platform>/`` behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from workscribe.events import Event

Sink = Callable[[Event], None]


class SourceError(RuntimeError):
    """A source cannot start (no display, missing extension, ...)."""


class Source(Protocol):
    """A stream of events from one kind of activity."""

    name: str

    def start(self, sink: Sink) -> None:
        """Starts emitting events into ``sink`` from background threads; returns once the source is
        ready: what happens from then on is seen (the recorder reports ready after every start)."""

    def stop(self) -> None:
        """Stops; no event reaches the sink after this returns."""


@dataclass(frozen=True)
class WindowInfo:
    """One top-level window: identity, app and where it is on screen (client area)."""

    id: int
    title: str
    instance: str  # WM_CLASS instance name
    cls: str  # WM_CLASS class name
    pid: int | None
    process: str | None  # /proc/<pid>/comm
    x: int
    y: int
    w: int
    h: int

    def contains(self, x: int, y: int) -> bool:
        """True if screen point (x, y) lies inside this window."""
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


@dataclass(frozen=True)
class WindowState:
    """A snapshot of the desktop: the active window and every window, bottom to top."""

    active: WindowInfo | None = None
    stacking: tuple[WindowInfo, ...] = field(default_factory=tuple)

    def window_at(self, x: int, y: int) -> WindowInfo | None:
        """The topmost window containing screen point (x, y)."""
        for window in reversed(self.stacking):
            if window.contains(x, y):
                return window
        return None


# -- which windows are browsers (the browser source watches Chromium's; scope needs to know) ----------
CHROMIUM_PROCESSES = frozenset({"chromium", "chromium-browse", "chrome", "google-chrome", "brave",
                                "brave-browser", "msedge", "microsoft-edge", "vivaldi-bin", "opera",
                                "thorium", "yandex_browser"})
"""Process names (``/proc/PID/comm``, 15 characters at most) of Chromium-family browsers."""

CHROMIUM_CLASSES = frozenset({"chromium", "chromium-browser", "google-chrome", "brave-browser",
                              "microsoft-edge", "vivaldi-stable", "opera", "thorium-browser"})
"""WM_CLASS classes (lower case) of Chromium-family browser windows."""

OTHER_BROWSERS = frozenset({"firefox", "firefox-esr", "firefox-bin", "librewolf", "navigator",
                            "epiphany", "falkon", "qutebrowser", "konqueror", "midori", "waterfox"})
"""Browsers whose pages this source cannot see: out of scope wherever sites are enforced."""


def browser_family(window: Any) -> str | None:
    """``chromium`` for Chromium-family windows, ``other`` for browsers it cannot see, else None."""
    if window is None:
        return None
    names = {(n or "").lower() for n in (window.process, window.instance, window.cls)}
    if names & CHROMIUM_PROCESSES or names & CHROMIUM_CLASSES:
        return "chromium"
    if names & OTHER_BROWSERS:
        return "other"
    return None
