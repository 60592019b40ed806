"""The guard: the scope state machine of one recording, which decides for every event whether it
may be kept, and marks the gaps (paused, out of scope) and secure-input runs in between."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

from workscribe.events import Event
from workscribe.guard.consent import Consent
from workscribe.guard.scope import AppMatcher, SiteMatcher
from workscribe.guard.secure import password_manager, secure_window

Rect = tuple[int, int, int, int]


class Guard:
    """Scope decisions for one recording: which events may be kept, and the gaps in between.

    Keyboard input is in scope when the window active at the time it was typed is allowed, and secure
    input when that window is a secure context (keys may wait 80 ms before they are judged, and a
    click can move focus meanwhile: ``_active_at``). Pointer input is in scope when
    the window under the pointer is allowed (a click that activates an allowed window is kept), and
    a release is kept when its press was; a kept press or scroll carries that window (``id``, ``title``,
    ``app``) in ``data["window"]``, as it may not be the active one. Nothing is kept while paused.
    While the active window is out of scope, or the recorder is paused, only a ``guard/gap`` event
    with start and end is kept.

    When the consent has sites, a browser window counts as allowed only while the browser source
    has reported (``on_page``) that the page it shows is within them; ``browser`` events are kept
    only for such pages.

    Shell commands, file edits and git events do not depend on windows: they are kept unless they
    happened during a pause, a command only when its working directory is inside a granted repo.
    Without display sources there is no window scope at all (no ``out_of_scope`` gaps).

    Args:
        consent: the active consent.
        now: the recording clock (injectable for tests).
    """

    def __init__(self, consent: Consent, now: Callable[[], int] | None = None) -> None:
        from workscribe.events import now_ns
        from workscribe.sources.base import WindowState

        self.consent = consent
        self.matcher = AppMatcher(consent.apps)
        self.sites = SiteMatcher(consent.sites) if "browser" in consent.sources else None
        self._pages: dict[int, bool] = {}  # browser window id -> its page is within the sites
        self.store_windows = "window" in consent.sources
        self.gui = consent.gui  # without display sources there is no window scope, only pauses
        self.repos = [r.rstrip("/") for r in consent.repos]
        self.now = now or now_ns
        self.paused = False
        self._pauses: deque[list[int | None]] = deque(maxlen=8)  # [start, end or None] of recent pauses
        self.state = WindowState()
        self._active_app: str | None = None
        self._gap: tuple[int, str] | None = None  # (start, reason) of the open gap
        self._keys: set[int] = set()
        self._buttons: set[int] = set()
        self._active_secure: str | None = None  # why the active window is a secure context
        # (since, app, title-secure reason) of the active window, newest last: a key is judged by the
        # window of the moment it was typed too, not only of the moment it is judged (keys wait 80 ms)
        self._typed_into: deque[tuple[int, str | None, str | None]] = deque([(0, None, None)], maxlen=64)
        self._secure: tuple[int, int, str] | None = None  # (start, last key, reason) of a secure run
        self.dropped = 0

    # -- state ------------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """``recording``, ``paused`` or ``out of scope``."""
        if self.paused:
            return "paused"
        return "recording" if self._active_app or not self.gui else "out of scope"

    def on_window(self, state: Any) -> list[Event]:
        """Takes a new window snapshot; returns gap events that this change closes."""
        self.state = state
        present = {w.id for w in state.stacking} | ({state.active.id} if state.active else set())
        self._pages = {w: ok for w, ok in self._pages.items() if w in present}
        self._active_app = self._match(state.active)
        active = state.active
        self._active_secure = secure_window(active.title, (active.instance, active.cls, active.process)) \
            if active else None
        self._note_active()
        return self._end_secure() + self._update_gap(self.now())

    def on_page(self, window_id: int, allowed: bool | None) -> list[Event]:
        """The browser source's report: the page shown in window ``window_id`` is within the sites
        (True), outside them (False) or not known (None); returns gap events this closes."""
        if allowed is None:
            self._pages.pop(window_id, None)
        else:
            self._pages[window_id] = allowed
        self._active_app = self._match(self.state.active)
        self._note_active()
        return self._update_gap(self.now())

    def forget_pages(self) -> list[Event]:
        """Forgets every page the browser source reported (it stopped watching them): browser
        windows are out of scope until it reports again; returns gap events this closes."""
        self._pages.clear()
        self._active_app = self._match(self.state.active)
        self._note_active()
        return self._update_gap(self.now())

    def _note_active(self) -> None:
        now = (self._active_app, self._title_secure())
        if (self._typed_into[-1][1], self._typed_into[-1][2]) != now:
            self._typed_into.append((self.now(), *now))

    def _active_at(self, t: int) -> tuple[str | None, str | None]:
        """The app (None: out of scope) and title-secure reason of the window active at time ``t``."""
        for since, app, secure in reversed(self._typed_into):
            if since <= t:
                return app, secure
        return None, None  # older than what is kept: nothing known, nothing kept

    def _title_secure(self) -> str | None:
        """The title rule (a window called "Login", a password manager) where nothing better is known.

        In a browser whose page the browser source watches, the page says which field has focus: only
        password fields are secure there (``password_field``), so a page titled "Login" does not make
        its user-name field secure. Password managers stay secure whatever they show.
        """
        active = self.state.active
        if (self._active_secure == "window_title" and active is not None and self.sites is not None
                and self._pages.get(active.id)):
            return None
        return self._active_secure

    def _match(self, window: Any) -> str | None:
        """The allowlist entry that admits ``window`` (its app, and its page where sites apply)."""
        from workscribe.sources.base import browser_family

        app = self.matcher.match(window)
        if app is None or self.sites is None or browser_family(window) is None:
            return app
        return app if self._pages.get(window.id) else None

    def set_paused(self, paused: bool) -> list[Event]:
        """Pauses or resumes; returns gap events that this closes.

        Input is judged by when it happened, not when it arrived: keys typed just before a pause
        (still in flight from the X server, or held for the echo check) are kept, and keys typed
        during a pause that arrive after ``resume`` are dropped.
        """
        t = self.now()
        if paused and not self.paused:
            self._pauses.append([t, None])
        elif not paused and self.paused and self._pauses:
            self._pauses[-1][1] = t
        self.paused = paused
        return self._update_gap(t)

    def _in_pause(self, t: int) -> bool:
        return any(start <= t and (end is None or t < end) for start, end in self._pauses)

    def close(self) -> list[Event]:
        """Closes an open gap or secure run at the end of the recording."""
        out = self._end_secure() + self._end_gap(self.now())
        self._gap = None
        return out

    def _update_gap(self, t: int) -> list[Event]:
        reason = "paused" if self.paused else (None if self._active_app or not self.gui else "out_of_scope")
        current = self._gap[1] if self._gap else None
        if reason == current:
            return []
        out = self._end_gap(t)
        self._gap = (t, reason) if reason else None
        return out

    def _end_gap(self, t: int) -> list[Event]:
        if self._gap is None:
            return []
        start, reason = self._gap
        self._gap = None
        data = {"reason": reason, "start": start, "end": t}
        return [{"t": t, "source": "guard", "kind": "gap", "data": data}]

    def _end_secure(self) -> list[Event]:
        if self._secure is None:
            return []
        start, last, reason = self._secure
        self._secure = None
        return [{"t": last, "source": "guard", "kind": "secure_input",
                 "data": {"reason": reason, "start": start, "end": last}}]

    # -- decisions -------------------------------------------------------------------------------
    def admit(self, event: Event, echo_off: bool = False, secure: str | None = None) -> list[Event]:
        """The events to store for ``event``: none, the event, or closed markers then the event.

        ``echo_off`` says that the active terminal was at a password prompt when the key was typed;
        ``secure`` names another secure context it was typed into (``password_field`` ...).
        """
        source, kind, data = event["source"], event["kind"], event["data"]
        if source == "window":
            if self.paused or not self._active_app or not self.store_windows:
                return []
            return [{**event, "data": {**data, "app": self._active_app}}]
        if source == "browser":
            if (self._in_pause(event["t"]) or self.paused or not self._active_app or self.sites is None
                    or not self.sites.match(data.get("url", ""))):
                return []
            return [event]
        if source in ("shell", "files", "git"):
            return self._admit_coding(event)
        if source != "input" or self._in_pause(event["t"]):
            self.dropped += source == "input"
            return []
        keep, prefix = False, []
        if kind == "key_press":
            # judged by the window active when it was typed: a click can move focus while keys wait
            typed_app, typed_secure = self._active_at(event["t"])
            keep = typed_app is not None
            reason = "echo_off" if echo_off else secure or typed_secure
            if keep and reason:  # a secure context: not the key, not even that one was typed
                start = self._secure[0] if self._secure else event["t"]
                self._secure = (start, event["t"], self._secure[2] if self._secure else reason)
                return []
            if keep:
                prefix = self._end_secure()
                self._keys.add(data["keycode"])
        elif kind == "key_release":
            keep = data["keycode"] in self._keys
            self._keys.discard(data["keycode"])
        elif kind == "button_press":
            window, app = self._pointed(data["x"], data["y"])
            keep = app is not None
            if keep:
                prefix = self._end_secure()  # a click leaves the secure field: its run is over
                self._buttons.add(data["button"])
                if self._gap is not None:  # a click that activates an allowed window
                    prefix += self._end_gap(event["t"] - 1)
                event = self._with_window(event, window, app)
        elif kind == "button_release":
            keep = data["button"] in self._buttons
            self._buttons.discard(data["button"])
        elif kind == "motion":
            keep = bool(self._buttons) or (
                self._active_app is not None and self._pointer_allowed(data["x"], data["y"]))
        elif kind == "scroll":
            window, app = self._pointed(data["x"], data["y"])
            keep = app is not None
            if keep:
                event = self._with_window(event, window, app)
        if not keep:
            self.dropped += 1
            return prefix
        return [*prefix, event]

    def _admit_coding(self, event: Event) -> list[Event]:
        """Shell commands, file edits and git events: kept unless paused while they happened, and a
        command only when its working directory (before or after) is inside a granted repo."""
        data = event["data"]
        start = end = event["t"]
        if event["source"] == "shell":  # a command that ran while a pause began or ended is dropped whole
            start, end = min(data.get("start", start), start), max(data.get("end", end), end)
            if not (self.in_repos(data.get("cwd")) or self.in_repos(data.get("cwd_after"))):
                self.dropped += 1
                return []
        if self.paused or any(p_start <= end and (p_end is None or start < p_end)
                              for p_start, p_end in self._pauses):
            self.dropped += 1
            return []
        return [event]

    def in_repos(self, path: str | None) -> bool:
        """True if ``path`` (absolute; symlinks are resolved too) is a granted repo or inside one."""
        if not path:
            return False
        for candidate in dict.fromkeys((path.rstrip("/") or "/", os.path.realpath(path))):
            if any(candidate == r or candidate.startswith(r + "/") for r in self.repos):
                return True
        return False

    def _pointer_allowed(self, x: int, y: int) -> bool:
        return self._pointed(x, y)[1] is not None

    def _pointed(self, x: int, y: int) -> tuple[Any, str | None]:
        """The window under the pointer and the allowlist entry that admits it (None: not allowed)."""
        window = self.state.window_at(x, y)
        return window, self._match(window)

    def _with_window(self, event: Event, window: Any, app: str) -> Event:
        """A press or scroll with the window it acts on: ``data["window"]`` ``{id, title, app}``
        (kept only with the window source, like ``window/active`` events)."""
        if not self.store_windows:
            return event
        return {**event, "data": {**event["data"], "window": {"id": window.id, "title": window.title,
                                                              "app": app}}}

    def frame_regions(self) -> list[tuple[Rect, bool]] | None:
        """Screen regions bottom to top, each kept (allowed window) or blacked out; None = no frame."""
        if self.paused or not self._active_app:
            return None
        def keep(w: Any) -> bool:
            return self._match(w) is not None and not password_manager(
                w.title, (w.instance, w.cls, w.process))

        return [((w.x, w.y, w.w, w.h), keep(w)) for w in self.state.stacking]
