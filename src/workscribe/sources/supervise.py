"""Keeps a recording's sources running: no source stops recording without a word.

A source works in background threads. When one of them ends while nobody asked the source to stop
(an exception in its loop, a connection the server closed), the source has stopped recording, and
nothing else would say so. ``SourceSupervisor.poll``, called from the recorder's main loop about
every 0.25 s, looks at the threads of every source it started (any ``threading.Thread`` among the
source's attributes that was started and has ended). For a dead source it:

- logs one line (why, where) and reports the source as ``restarting`` in ``health()``;
- calls the source's ``on_down`` (the recorder closes the scope that source decided) and stops it;
- starts a fresh one after ``RestartPolicy.first_delay_s``, doubling the wait after every try;
  after ``max_restarts`` tries in a row (failed ones, or ones whose source died again within
  ``stable_s``), it logs that it gives up and reports ``failed``;
- once the source is back, hands ``on_gap`` a ``recorder/source_gap`` event covering the time it
  recorded nothing; a source still down when the recording ends gets one from ``close``::

    {"t": end, "source": "recorder", "kind": "source_gap",
     "data": {"source": "window", "start": t0, "end": end, "reason": "AttributeError: ...", "restarts": 1}}

``start`` is when the source was last seen alive (or its thread's exception was raised), ``end`` when
the fresh source started; ``reason`` is redacted like window titles.
"""

from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workscribe.events import Event, make_event, now_ns

HEALTH = ("ok", "restarting", "failed")
"""What ``SourceSupervisor.health`` says of each source."""

MAX_REASON = 300  # characters of a reason kept


@dataclass(frozen=True)
class RestartPolicy:
    """How a source whose thread died is restarted."""

    first_delay_s: float = 0.5  # wait before the first restart
    max_delay_s: float = 30.0  # longest wait between two restarts (the wait doubles after each try)
    max_restarts: int = 5  # failed restarts in a row before the source is given up
    stable_s: float = 30.0  # a source that dies sooner than this after a restart counts on its tries

    def __post_init__(self) -> None:
        for name in ("first_delay_s", "max_delay_s", "stable_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"RestartPolicy.{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 1:
            raise ValueError(f"RestartPolicy.max_restarts must be an int >= 1, got {self.max_restarts!r}; "
                             "e.g. the default 5")

    def delay(self, tries: int) -> float:
        """Seconds to wait before restart number ``tries + 1``."""
        return min(self.first_delay_s * 2 ** tries, self.max_delay_s)


def source_threads(source: Any) -> list[threading.Thread]:
    """The started threads a source holds in its attributes (its loops, a watchdog observer)."""
    return [v for v in getattr(source, "__dict__", {}).values()
            if isinstance(v, threading.Thread) and v.ident is not None]


def describe(exc: BaseException) -> str:
    """``Type: message (file.py:line)``, redacted, at most ``MAX_REASON`` characters."""
    from workscribe.redact.identity import redact_private

    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" ({Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact_private(text)[:MAX_REASON - len(at)] + at


class _ThreadDeaths:
    """Why watched threads ended: a ``threading.excepthook`` that keeps their exception.

    Installed while any supervisor is open. A watched thread's traceback is not printed: the
    supervisor logs one line for it. Every other thread goes to the hook that was there before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: weakref.WeakKeyDictionary[threading.Thread, tuple[int, BaseException]] = \
            weakref.WeakKeyDictionary()
        self._watched: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self._users = 0
        self._previous: Any = None

    def open(self) -> None:
        with self._lock:
            self._users += 1
            if threading.excepthook != self._hook:
                self._previous = threading.excepthook
                threading.excepthook = self._hook

    def close(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                if threading.excepthook == self._hook:  # nobody replaced it meanwhile
                    threading.excepthook = self._previous
                self._previous = None

    def watch(self, threads: list[threading.Thread]) -> None:
        with self._lock:
            self._watched.update(threads)

    def pop(self, thread: threading.Thread) -> tuple[int, BaseException] | None:
        """When and with what ``thread`` died, if it raised."""
        with self._lock:
            return self._errors.pop(thread, None)

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        thread = args.thread
        with self._lock:
            watched = thread is not None and thread in self._watched
            if watched and args.exc_value is not None:
                self._errors[thread] = (now_ns(), args.exc_value)
            previous = self._previous
        if not watched and previous is not None:
            previous(args)


_deaths = _ThreadDeaths()


@dataclass(eq=False)
class _Watched:
    name: str
    source: Any
    start: Callable[[], Any]  # builds, starts and returns a fresh source
    on_down: Callable[[], None] | None
    state: str = "ok"
    seen_t: int = 0  # last time every thread was seen alive (clock ns)
    up_t: int = 0  # when the running source started
    down_t: int = 0  # when it died: the start of the gap
    reason: str = ""
    tries: int = 0  # restarts tried since it last ran for stable_s
    next_try: float = 0.0  # time.monotonic() of the next restart


class SourceSupervisor:
    """Starts sources, notices the ones whose threads died, restarts them and records their gaps.

    Args:
        sources: the recorder's list of running sources; ``start`` appends to it and a restart
            replaces the dead source in it, so stopping what it holds stops what runs.
        on_gap: takes each ``recorder/source_gap`` event (from the thread that calls ``poll``).
        log: one-line messages.
        policy: waits and limits of restarts.
    """

    def __init__(self, sources: list[Any], on_gap: Callable[[Event], None],
                 log: Callable[[str], None] = print, policy: RestartPolicy | None = None) -> None:
        self.sources = sources
        self.on_gap = on_gap
        self.log = log
        self.policy = policy or RestartPolicy()
        self._watched: list[_Watched] = []
        self._lock = threading.Lock()
        self._open = False

    def start(self, name: str, start: Callable[[], Any], on_down: Callable[[], None] | None = None) -> Any:
        """Starts a source and watches it; returns it.

        Args:
            name: the source's name in ``health()``, the log and gap events.
            start: builds, starts and returns a source; called again for every restart. It raises
                (``SourceError``, ``OSError`` ...) when the source cannot start.
            on_down: called when the source's thread died, before it is stopped.
        """
        if not self._open:
            _deaths.open()
            self._open = True
        source = start()
        self.sources.append(source)
        t = now_ns()
        with self._lock:
            self._watched.append(_Watched(name, source, start, on_down, seen_t=t, up_t=t))
        _deaths.watch(source_threads(source))
        return source

    def health(self) -> dict[str, str]:
        """Each source's state, in the order they started: ``ok``, ``restarting`` or ``failed``."""
        with self._lock:
            return {w.name: w.state for w in self._watched}

    def poll(self) -> None:
        """Looks at every source once: notices dead threads, restarts sources whose wait is over."""
        for w in list(self._watched):
            if w.state == "ok":
                threads = source_threads(w.source)
                _deaths.watch(threads)  # threads a source started after its start
                dead = next((th for th in threads if not th.is_alive()), None)
                if dead is None:
                    w.seen_t = now_ns()
                else:
                    self._down(w, dead)
            elif w.state == "restarting" and time.monotonic() >= w.next_try:
                self._restart(w)

    def close(self) -> None:
        """Ends supervision (call after the sources were stopped): gaps of sources still down end now."""
        t = now_ns()
        for w in self._watched:
            if w.state != "ok":
                self.on_gap(self._gap(w, t))
        with self._lock:
            self._watched.clear()
        if self._open:
            _deaths.close()
            self._open = False

    # -- a source down and back ------------------------------------------------------------------
    def _down(self, w: _Watched, thread: threading.Thread) -> None:
        death = _deaths.pop(thread)
        if death is not None:
            w.down_t, w.reason = death[0], describe(death[1])
        else:  # it returned: no exception says why
            w.down_t, w.reason = w.seen_t, f"its thread {thread.name} ended"
        if w.down_t - w.up_t > self.policy.stable_s * 1e9:
            w.tries = 0
        with self._lock:
            w.state = "restarting" if w.tries < self.policy.max_restarts else "failed"
        if w.state == "failed":
            self.log(f"{w.name} source stopped ({w.reason}) again after {w.tries} restarts in a row; "
                     "the recording goes on without it")
        else:
            delay = self.policy.delay(w.tries)
            w.next_try = time.monotonic() + delay
            self.log(f"{w.name} source stopped ({w.reason}); restarting it in {delay:.1f} s")
        if w.on_down is not None:
            try:
                w.on_down()
            except Exception as exc:  # noqa: BLE001 - the recorder's loop must go on
                self.log(f"{w.name} source: closing its scope failed ({describe(exc)})")
        try:
            w.source.stop()
        except Exception:  # noqa: BLE001 - what is left of a dead source may fail to stop
            pass

    def _restart(self, w: _Watched) -> None:
        w.tries += 1
        begin = now_ns()
        try:
            source = w.start()
        except Exception as exc:  # noqa: BLE001 - any failure to start is retried, then given up
            if w.tries >= self.policy.max_restarts:
                with self._lock:
                    w.state = "failed"
                self.log(f"{w.name} source failed to restart {w.tries} times ({describe(exc)}); "
                         "the recording goes on without it")
                return
            delay = self.policy.delay(w.tries)
            w.next_try = time.monotonic() + delay
            self.log(f"{w.name} source did not restart ({describe(exc)}); next try in {delay:.1f} s")
            return
        at = next((i for i, s in enumerate(self.sources) if s is w.source), None)
        if at is None:
            self.sources.append(source)
        else:
            self.sources[at] = source
        _deaths.watch(source_threads(source))
        gap = self._gap(w, begin)
        with self._lock:
            w.source, w.state, w.seen_t, w.up_t = source, "ok", now_ns(), begin
        self.on_gap(gap)
        self.log(f"{w.name} source is back after {(begin - w.down_t) / 1e9:.1f} s "
                 f"(restart {w.tries})")

    def _gap(self, w: _Watched, end: int) -> Event:
        return make_event("recorder", "source_gap", {"source": w.name, "start": w.down_t, "end": end,
                                                     "reason": w.reason, "restarts": w.tries}, t=end)
