"""Screen frames: grabs into an in-memory ring at ``fps``, persisting only the frames that matter.

Persisted (handed to the spool, which encodes them and stores identical images once):
  * ``before``: the last grab taken before an input that may start an action;
  * ``after``: the first *settled* grab (equal to the one before it) after the latest input that
    may end an action, or the latest grab once ``after_timeout_s`` has passed without the screen
    settling;
  * ``change``: a grab that differs from the last persisted one, at most once per ``keyframe_s``
    (2 s by default: during a long run of typing these are the only frames, and encoding them is
    the recorder's main CPU cost).

Each grab carries the scope decision taken when it was grabbed: a grab taken out of scope or while
paused is never persisted, and every persisted image is masked to the visible parts of allowed
windows before it leaves this module. mss works the same on macOS and Windows; only the masking
rectangles come from the platform's window source.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from Xlib.error import DisplayError as XDisplayError
from Xlib.error import XError

from workscribe.events import MODIFIER_KEYS, Event, now_ns
from workscribe.sources.base import SourceError

Rect = tuple[int, int, int, int]  # x, y, w, h
Regions = list[tuple[Rect, bool]]
ScopeFn = Callable[[], "Regions | None"]
"""Returns screen regions bottom to top, each kept or blacked out; None when nothing may be persisted."""
FrameSink = Callable[[Event, np.ndarray], bool]


@dataclass
class _Grab:
    seq: int
    t: int
    raw: bytearray
    keep: Regions | None
    settled: bool  # equal to the grab before it
    persisted: bool = False


def mask_image(raw: bytes | bytearray, width: int, height: int, regions: Regions) -> np.ndarray:
    """A BGRA image, black but for the kept regions.

    ``regions`` are painted bottom to top: a kept one copies the screen, another one paints black,
    so a window of another app on top of an allowed one hides it.
    """
    src = np.frombuffer(raw, np.uint8).reshape(height, width, 4)
    out = np.zeros_like(src)
    for (x, y, w, h), keep in regions:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = src[y0:y1, x0:x1] if keep else 0
    return out


class DamageWatch:
    """Tells whether anything on an X screen was drawn since the last call (XDAMAGE).

    Lets the grab loop skip grabbing and comparing a screen that did not change: an idle desktop
    then costs almost nothing. Platforms without it grab every tick.
    """

    def __init__(self, display_name: str | None) -> None:
        from Xlib.ext import damage

        from workscribe.sources.x11.connection import open_display

        self._d = open_display(display_name)
        if not self._d.has_extension("DAMAGE"):
            self._d.close()
            raise SourceError("no DAMAGE extension")
        self._d.damage_query_version()
        self._damage = self._d.screen().root.damage_create(damage.DamageReportNonEmpty)
        self._notify = self._d.extension_event.DamageNotify
        self._d.sync()
        self._dirty = True

    def changed(self) -> bool:
        """True if the screen may have changed since the previous call (True on the first)."""
        dirty = self._dirty
        for _ in range(self._d.pending_events()):
            if self._d.next_event().type == self._notify:
                dirty = True
        if dirty:
            # Reset before the caller grabs: a change after this point notifies again.
            self._d.damage_subtract(self._damage)
            self._d.sync()
        self._dirty = False
        return dirty

    def close(self) -> None:
        """Releases the damage object and the connection."""
        try:
            self._d.damage_destroy(self._damage)
            self._d.close()
        except Exception:  # the server may already be gone
            pass


class ScreenSource:
    """Grabs the screen with mss into a ring buffer and persists selected frames.

    Args:
        scope: called for each grab; the rectangles to keep, or None if out of scope.
        fps: grabs per second into the ring.
        display_name: X display (mss reads ``$DISPLAY`` on Linux; pass it here instead).
    """

    name = "screen"

    def __init__(self, scope: ScopeFn, fps: float = 5.0, display_name: str | None = None,
                 keyframe_s: float = 2.0, after_timeout_s: float = 1.0, ring: int = 4) -> None:
        if fps <= 0 or fps > 60:
            raise ValueError(f"fps must be in (0, 60], got {fps}")
        self.scope = scope
        self.period = 1.0 / fps
        self.display_name = display_name
        self.keyframe_ns = int(keyframe_s * 1e9)
        self.after_timeout_ns = int(after_timeout_s * 1e9)
        self._ring: deque[_Grab] = deque(maxlen=ring)
        self._lock = threading.Lock()
        self._before: list[int] = []
        self._after_since: int | None = None
        self._last_persist_t = 0
        self._dirty = False
        self._last_scroll_t = 0
        self._last_text_t = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink: FrameSink | None = None
        self.grabs = 0
        self.persisted = 0
        self.missed_before = 0  # before-frames asked for after their grab had left the ring
        self.refused = {"before": 0, "after": 0, "change": 0}  # persisted frames the sink refused
        self.size = (0, 0)

    def start(self, sink: FrameSink) -> None:  # type: ignore[override]
        """Starts grabbing; persisted frames go to ``sink(event, bgra_image)``."""
        import mss

        try:
            probe = mss.MSS(display=self.display_name) if self.display_name else mss.MSS()
            mon = probe.monitors[0]
            probe.close()
        except Exception as exc:  # mss raises its own ScreenShotError and OSError
            raise SourceError(f"cannot grab the screen: {exc}") from None
        self.size = (mon["width"], mon["height"])
        self._sink = sink
        self._thread = threading.Thread(target=self._loop, name="screen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops grabbing (persisting a pending ``after`` frame first)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=5)
        self._thread = None
        self._sink = None

    # -- input hints (any thread) ----------------------------------------------------------------
    def on_input(self, event: Event) -> None:
        """Asks for the frames around an input event that was kept.

        A press that may start an action wants the frame before it; one that may end an action
        wants the first settled frame after it. A run of typed text wants a frame before its first
        key only (and, through the after rule, at most one frame a second while it goes on).
        """
        kind, data, t = event["kind"], event["data"], event["t"]
        if kind == "button_press":
            self._last_text_t = 0
            self.want_before(t)
        elif kind in ("button_release", "key_release"):
            self.want_after(t)
        elif kind == "scroll":
            if t - self._last_scroll_t > 300_000_000:
                self.want_before(t)
            self._last_scroll_t = t
            self.want_after(t)
        elif kind == "key_press" and data["key"] not in MODIFIER_KEYS:
            is_text = data.get("text") is not None
            if not (is_text and self._last_text_t and t - self._last_text_t <= 1_000_000_000):
                self.want_before(t)
            self._last_text_t = t if is_text else 0
            self.want_after(t)

    def want_before(self, t: int) -> None:
        """Persist the last grab taken at or before clock time ``t``."""
        with self._lock:
            self._before.append(t)

    def want_after(self, t: int) -> None:
        """Persist the first settled grab after clock time ``t``.

        A newer request replaces a pending one: while input goes on, the screen after the last
        input is what matters (and ``change`` keyframes cover the time in between).
        """
        with self._lock:
            self._after_since = t if self._after_since is None else max(self._after_since, t)

    # -- grab loop -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        import mss

        sct = mss.MSS(display=self.display_name) if self.display_name else mss.MSS()
        mon = sct.monitors[0]
        try:
            watch: DamageWatch | None = DamageWatch(self.display_name)
        except (SourceError, XError, XDisplayError, OSError):  # no X DAMAGE: grab every tick
            watch = None
        seq = 0
        next_t = time.monotonic()
        try:
            while not self._stopping.is_set():
                t = now_ns()
                keep = self.scope()
                prev = self._ring[-1] if self._ring else None
                if prev is None or watch is None or watch.changed():
                    raw = sct.grab(mon).raw  # a fresh bytearray; never written after this
                    self.grabs += 1
                    if prev is None or (watch is not None and self._after_since is None):
                        settled = False  # drawn on; comparing 4 MB (0.4 ms) only pays when an
                        # after-frame waits for the screen to settle
                    else:
                        settled = prev.raw == raw
                else:  # nothing was drawn: the previous grab is this one
                    raw, settled = prev.raw, True
                if prev is not None and not settled:
                    self._dirty = True
                self._ring.append(_Grab(seq, t, raw, keep, settled))
                seq += 1
                self._decide(t)
                next_t += self.period
                delay = next_t - time.monotonic()
                if delay < 0:
                    next_t = time.monotonic()
                    delay = 0
                self._stopping.wait(delay)
            self._decide(now_ns(), final=True)
        finally:
            sct.close()
            if watch is not None:
                watch.close()

    def _decide(self, now: int, final: bool = False) -> None:
        with self._lock:
            before, self._before = self._before, []
            after_since = self._after_since
        for t in before:
            grab = next((g for g in reversed(self._ring) if g.t <= t), None)
            if grab is not None:
                self._persist(grab, "before")
            else:  # the request came later than the ring reaches back
                self.missed_before += 1
        latest = self._ring[-1] if self._ring else None
        if latest is None:
            return
        if after_since is not None:
            done = latest.t > after_since and (latest.settled or final)
            if done or now - after_since >= self.after_timeout_ns:
                self._persist(latest, "after")
                with self._lock:
                    if self._after_since == after_since:
                        self._after_since = None
        if self._dirty and now - self._last_persist_t >= self.keyframe_ns:
            self._persist(latest, "change")

    def _persist(self, grab: _Grab, reason: str) -> None:
        if grab.keep is None or self._sink is None or grab.persisted:
            return
        grab.persisted = True
        w, h = self.size
        image = mask_image(grab.raw, w, h, grab.keep)
        event: Event = {"t": grab.t, "source": "screen", "kind": "frame", "data": {"reason": reason}}
        event["kept"] = [rect for rect, keep in grab.keep if keep]  # type: ignore[typeddict-unknown-key]
        # (read by the redaction stage, which reads each allowed window on its own; never stored)
        if self._sink(event, image):
            self.persisted += 1
        else:
            self.refused[reason] += 1
        self._last_persist_t = max(self._last_persist_t, grab.t)
        self._dirty = False
