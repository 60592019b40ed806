"""The key hold: keys typed into a terminal or a browser page wait before the guard judges them.

A key event waits ``KEY_HOLD_NS`` (and, after a click or Tab in a page, until the page said where
focus went) so that the terminal's echo timeline (``sources.terminal.EchoWatch``) or the page's pushed
focus timeline (``BrowserSource``) covers the moment it was typed: keys typed at a password prompt
or into a password field are then judged secure input. Keys typed elsewhere are not held; other
input waits only behind held keys, so that the guard judges input in the order it happened. The
echo watch's thread releases held keys on each of its ticks; the recorder releases what is left
when it stops.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from workscribe.events import Event, now_ns
from workscribe.sources.base import WindowInfo, browser_family
from workscribe.sources.terminal import EchoWatch, terminal_of

KEY_HOLD_NS = 80_000_000
"""Key events wait this long before they are judged, so the terminal's echo timeline covers them."""
_KEY_KINDS = ("key_press", "key_release")

Admit = Callable[[Event, bool, str | None], None]
"""Judges one event: ``admit(event, echo_off, secure)`` (``secure``: why it is secure input, or None)."""


class KeyHold:
    """Holds key events until the terminal's or page's timeline covers them, then hands them to ``admit``.

    Args:
        active_window: the active window now (the guard's state).
        browser: the browser source now (a restart replaces it), or None when it is not consented.
        admit: judges a released key with the terminal's and page's verdicts.
        lock: the recorder's lock; held keys are changed under it (``admit`` takes it itself).
    """

    def __init__(self, active_window: Callable[[], WindowInfo | None], browser: Callable[[], Any],
                 admit: Admit, lock: threading.Lock) -> None:
        self._active_window = active_window
        self._browser = browser
        self._admit = admit
        self._lock = lock
        self.echo: EchoWatch | None = None  # the echo watch of the input source, once built
        self._held: deque[Event] = deque()
        self._line_ends: deque[int] = deque(maxlen=8)  # times of recent Return presses
        self._focus_moves: deque[int] = deque(maxlen=8)  # times of recent Tab presses (focus moves)
        self._tty_cache: tuple[int, str | None, float] | None = None

    def echo_watch(self) -> EchoWatch:
        """A new echo watch (not started) that samples the active terminal and releases held keys on
        each tick; it replaces the one before (a restart)."""
        self.echo = EchoWatch(self._active_tty, self.release, lambda: bool(self._held))
        return self.echo

    def offer(self, event: Event) -> bool:
        """Holds ``event`` if it is a key that must wait, or other input that follows held keys (so
        that a click right after typing is judged after the keys, in the order they happened); True
        when held (then the caller must not admit it: ``release`` will). A click or Tab in a watched
        page also tells the browser source, so that later keys wait for the page's focus."""
        if event["source"] == "input" and self.browser_active():
            self._browser().on_input(event)  # a click or Tab: later keys wait for the page's focus
        if event["source"] == "input" and event["kind"] not in _KEY_KINDS:
            with self._lock:  # input after held keys waits behind them: the guard judges it in order
                if not self._held:
                    return False
                self._held.append(event)
            return True
        if not (event["source"] == "input" and event["kind"] in _KEY_KINDS and self.echo is not None
                and (self._held or self.browser_active() or self._active_tty() is not None)):
            return False
        self.echo.sample()  # only terminals have prompts, only pages password fields
        with self._lock:  # judged once the terminal's or page's timeline covers it (release)
            self._held.append(event)
            if event["kind"] == "key_press" and event["data"]["key"] in ("Return", "KP_Enter"):
                self._line_ends.append(event["t"])
            elif event["kind"] == "key_press" and event["data"]["key"] in ("Tab", "ISO_Left_Tab"):
                self._focus_moves.append(event["t"])
        self.echo.notify()
        return True

    def release(self, force: bool = False) -> None:
        """Admits held key events older than ``KEY_HOLD_NS``, judged by the terminal's or page's state
        then; keys after a click or Tab in a page also wait until the page said where focus went
        (``force``: all of them, now)."""
        assert self.echo is not None
        cutoff = now_ns() - KEY_HOLD_NS
        while True:
            browser = self._browser()
            with self._lock:
                if not self._held or (not force and (self._held[0]["t"] > cutoff or (
                        browser is not None and not browser.covered(self._held[0]["t"])))):
                    return
                event = self._held.popleft()
            if event["kind"] not in _KEY_KINDS:  # a click or motion that waited behind keys
                self._admit(event, False, None)
                continue
            secure = None
            if browser is not None and event["kind"] == "key_press":
                secure = browser.secure_at(event["t"], (*self._line_ends, *self._focus_moves))
            self._admit(event, self.echo.secure_at(event["t"], tuple(self._line_ends)), secure)

    def browser_active(self) -> bool:
        """True when the active window is a browser whose pages the browser source watches."""
        return self._browser() is not None and browser_family(self._active_window()) == "chromium"

    def _active_tty(self) -> str | None:
        active = self._active_window()
        if active is None:
            return None
        cached = self._tty_cache
        if cached and cached[0] == active.id and time.monotonic() - cached[2] < 1.0:
            return cached[1]
        tty = terminal_of(active.pid)
        self._tty_cache = (active.id, tty, time.monotonic())
        return tty
