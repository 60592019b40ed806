"""The recorder: sources -> guard -> redaction -> spool, with a control socket for pause, resume,
status and task marks.

The recorder only wires things together. The consent's sources are built and started by the
registry (``sources.registry``), each through the ``SourceSupervisor``, which restarts a source
whose thread died. Each source calls ``_on_event`` from its own thread; key events typed into a
terminal or a browser page first wait in the key hold (``record.keyhold``) until the terminal's or
page's timeline covers them. The guard decides what may be kept, kept input tells the screen source
which frames to persist, every kept event passes the one redaction stage (``redact.stage``) and
every kept frame the pixel stage (``redact.frames``), and the spool writer thread writes. Nothing
reaches the spool that the guard did not admit.

``run`` opens the spool and the control socket, starts the sources, and then loops every 0.25 s
until the duration ends, a signal or ``stop`` arrives, consent is revoked or the spool fails:
it releases typed text whose run has ended, polls the supervisor, applies retention hourly and
reloads the consent every second. Control requests (``handle``) pause and resume the guard and
write task marks (``record.tasks``).

When the consent allows uploads, the CLI hands in an uploader (``fleet.uploader.Uploader``, behind the
small ``Uploads`` protocol: the recorder does not import the fleet). It runs on its own thread from
ready to stop, is woken by the spool writer for each closed segment, never sees the segment being
written, pauses with the recording and stops before the last segment closes (``workscribe upload``
sends that one).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from workscribe import guard as guard_mod
from workscribe.events import Event, now_ns
from workscribe.guard import Consent, Guard
from workscribe.record.control import ControlServer
from workscribe.record.keyhold import KeyHold
from workscribe.record.process import compact_heap, install_stop_signals, restore_signals
from workscribe.record.tasks import TaskMarks
from workscribe.redact.frames import FrameRedactionStage
from workscribe.redact.identity import find_private, find_private_ocr, redact_private
from workscribe.redact.image import ImageRedactor
from workscribe.redact.keystrokes import KeystrokeRedactor
from workscribe.redact.ocr import OcrProcess
from workscribe.redact.page_text import PageTextIndex, view_from_snapshot
from workscribe.redact.stage import RedactionStage
from workscribe.redact.text import RULESET_VERSION
from workscribe.sources.base import SourceError, WindowState
from workscribe.sources.registry import SourceContext, create_sources
from workscribe.sources.supervise import SourceSupervisor
from workscribe.spool import crypto
from workscribe.spool.retention import delete_recordings, expired_recordings
from workscribe.spool.writer import SpoolConfig, SpoolWriter


@dataclass
class RecordOptions:
    """What ``workscribe record`` was asked to do."""

    out: Path  # spool folder
    duration: float | None = None  # stop after this many seconds (None: until stopped)
    display: str | None = None  # X display, e.g. ":1" (None: $DISPLAY)
    fps: float = 5.0  # screen grabs per second into the ring buffer
    keyframe_s: float = 2.0  # at most one change-triggered frame this often
    segment_s: float = 300.0  # roll segments this often
    quota_bytes: int = 2 * 1024**3  # disk quota of the spool folder

    def __post_init__(self) -> None:
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"--duration must be > 0 seconds, got {self.duration}")
        if not 0 < self.fps <= 60:
            raise ValueError(f"--fps must be in (0, 60], got {self.fps}")
        if self.segment_s <= 0:
            raise ValueError(f"--segment-seconds must be > 0, got {self.segment_s}")
        if self.keyframe_s < 1:
            raise ValueError(f"--keyframe-seconds must be >= 1, got {self.keyframe_s}")


class Uploads(Protocol):
    """Background uploads of closed segments (``fleet.uploader.Uploader``)."""

    def start(self, writing: Callable[[], Path | None]) -> None: ...  # writing(): the open segment
    def segment_closed(self, path: Path) -> None: ...  # on the spool writer's thread: returns at once
    def set_paused(self, paused: bool) -> None: ...
    def status(self) -> dict[str, Any]: ...
    def stop(self) -> None: ...


class Recorder:
    """Records one session into a spool folder until stopped.

    Args:
        consent: the active consent (scope and sources).
        options: output folder, duration, display, frame rate, segment and quota settings.
        log: where one-line status messages go.
        uploads: uploads closed segments in the background (None: nothing is uploaded).
    """

    def __init__(self, consent: Consent, options: RecordOptions,
                 log: Callable[[str], None] = print, uploads: Uploads | None = None) -> None:
        self.consent = consent
        self.options = options
        self.log = log
        self.uploads = uploads
        self.guard = Guard(consent)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.spool: SpoolWriter | None = None
        self.sources: list[Any] = []
        self.pages = PageTextIndex(find_private)  # the browser page's text, for pixel redaction
        self.supervisor = SourceSupervisor(self.sources, self._on_source_gap, log=log)  # restarts dead ones
        self._built: dict[str, Any] = {}  # the latest source built by each factory (a restart replaces it)
        self.frames: FrameRedactionStage | None = None
        # keys typed into a terminal or page wait until its timeline covers them
        self.key_hold = KeyHold(lambda: self.guard.state.active, lambda: self.browser, self._admit,
                                self._lock)
        # every kept event passes one redaction stage; typed text is held until its run ends
        self.redaction = RedactionStage(KeystrokeRedactor(find_private))
        self.started_t = 0
        self.ready = False  # every source started
        self.ready_t = 0  # when it became ready (recording clock, ns)
        self.stop_reason = ""
        self.tasks = TaskMarks()  # the open task (``workscribe task start``)

    @property
    def browser(self) -> Any:
        """The browser source (the latest one built), or None when it is not consented."""
        return self._built.get("browser")

    @property
    def screen(self) -> Any:
        """The screen source (the latest one built), or None when it is not consented."""
        return self._built.get("screen")

    # -- wiring -----------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if not self.key_hold.offer(event):  # a held key is admitted when the key hold releases it
            self._admit(event)

    def _admit(self, event: Event, echo_off: bool = False, secure: str | None = None) -> None:
        with self._lock:
            kept = self.guard.admit(event, echo_off, secure)
            if not kept:
                return
            self._store(kept)
        if self.screen is not None and kept[-1]["source"] == "input":
            self.screen.on_input(kept[-1])

    def _store(self, kept: list[Event]) -> None:
        """Redacts kept events (``redact.stage``) and hands them to the spool (call with the lock held)."""
        out = self.redaction.events(kept)
        if out:
            assert self.spool is not None
            self.spool.put_events(out)

    def _on_window(self, state: WindowState) -> None:
        with self._lock:
            closed = self.guard.on_window(state)
            if closed and self.spool is not None:
                self._store(closed)
        if self.browser is not None:
            self.browser.wake()

    def _on_page_scope(self, window_id: int, allowed: bool | None) -> None:
        with self._lock:
            closed = self.guard.on_page(window_id, allowed)
            if closed and self.spool is not None:
                self._store(closed)

    def _forget_pages(self) -> None:
        with self._lock:
            closed = self.guard.forget_pages()  # the browser source is down: no page is known
            if closed and self.spool is not None:
                self._store(closed)

    def _on_source_gap(self, event: Event) -> None:
        with self._lock:
            if self.spool is not None:
                self.spool.put_events([event])

    def _on_page_text(self, t: int, snapshot: dict[str, Any]) -> None:
        """A snapshot of the page in scope, with whole texts: the screen's redaction reads it."""
        self.pages.note(view_from_snapshot(t, snapshot))

    def _on_frame(self, event: Event, image: Any) -> bool:
        assert self.frames is not None
        return self.frames.put(event, image)  # OCR redaction first, then the spool

    def _set_paused(self, paused: bool) -> None:
        with self._lock:
            closed = self.guard.set_paused(paused)
            if self.spool is not None:
                self._store(closed)
                self.spool.put_events(self.redaction.flush())  # what was typed before the pause
        if self.uploads is not None:
            self.uploads.set_paused(paused)

    def handle(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Answers a control request: ``status``, ``pause``, ``resume``, ``stop``, ``task_start``
        (args ``title``, ``ticket``) or ``task_end`` (arg ``outcome``: ``success``, ``fail`` or None)."""
        args = args or {}
        if cmd in ("task_start", "task_end"):
            error = self._task(cmd, args)
            if error:
                return {"ok": False, "error": error}
        elif cmd == "pause":
            self._set_paused(True)
        elif cmd == "resume":
            self._set_paused(False)
        elif cmd == "stop":
            self.stop_reason = "stopped by request"
            self._stop.set()
        elif cmd != "status":
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        return {"ok": True, **self.status()}

    def _task(self, cmd: str, args: dict[str, Any]) -> str | None:
        """Writes a ``task/start`` or ``task/end`` marker; an error message if the request is wrong."""
        if self.spool is None:
            return "the recorder is not ready yet"
        t = now_ns()
        with self._lock:
            if cmd == "task_end":
                out = self.tasks.end(args.get("outcome"), t)
            else:
                out = self.tasks.start(args.get("title"), args.get("ticket"), t)
            if isinstance(out, str):
                return out
            self.spool.put_events(out)  # readers order events by t: held keys may follow it in the file
        return None

    def status(self) -> dict[str, Any]:
        """State, folder, elapsed time and counts, for ``workscribe status``."""
        spool = self.spool
        return {
            "state": self.guard.status,
            "out": str(self.options.out),
            "elapsed_s": round((now_ns() - self.started_t) / 1e9, 1) if self.started_t else 0.0,
            "events": spool.events_written if spool else 0,
            "frames": spool.frames_stored if spool else 0,
            "disk": spool.disk if spool else None,
            "frames_skipped_low_disk": spool.frames_skipped_low_disk if spool else 0,
            "segment": spool.segment_path.name if spool and spool.segment_path else None,
            "apps": self.consent.apps,
            "ready": self.ready,
            "ready_after_s": self._ready_after_s(),
            "task": self.tasks.title,
            "frames_waiting": self.frames.waiting if self.frames else 0,  # for redaction, now
            "sources": self.supervisor.health(),
            "uploads": self.uploads.status() if self.uploads is not None else None,
            "pid": os.getpid(),
        }

    # -- lifecycle --------------------------------------------------------------------------------
    def request_stop(self, reason: str = "stopped") -> None:
        """Asks ``run`` to finish (safe from signal handlers and other threads)."""
        self.stop_reason = self.stop_reason or reason
        self._stop.set()

    def run(self) -> dict[str, Any]:
        """Records until the duration ends, a signal or ``stop`` arrives, or consent is revoked."""
        opts = self.options
        compact_heap()
        if self.consent.gui:
            from workscribe.sources import platform_backend

            platform_backend()
        control = ControlServer(self.handle)
        try:
            self.spool = SpoolWriter(SpoolConfig(
                out=opts.out, key=crypto.load_or_create_key(), segment_s=opts.segment_s,
                quota_bytes=opts.quota_bytes,
                on_closed=self.uploads.segment_closed if self.uploads is not None else None,
                header={"consent": self.consent.scope(), "display_fps": opts.fps,
                        "redaction": {"text": RULESET_VERSION, "pixels": "rapidocr+" + RULESET_VERSION}}),
                warn=self.log)
        except BaseException:
            control.close()
            raise
        previous = install_stop_signals(self.request_stop)
        self.started_t = now_ns()
        self._expire()
        last_expiry = last_consent_check = time.monotonic()
        try:
            self._start_sources()
            shell = self._built.get("shell")
            if shell is not None:  # the port file tells hooked shells and tools that all is ready
                shell.publish()
            self.ready_t = now_ns()
            self.ready = True
            if self.uploads is not None:
                self.uploads.start(lambda: self.spool.segment_path if self.spool else None)
            scope = [f"apps: {', '.join(self.consent.apps)}"] if self.consent.apps else []
            if self.consent.repos:
                scope.append(f"repos: {', '.join(map(redact_private, self.consent.repos))}")
            self.log(f"recording to {opts.out} ({self.guard.status}); {'; '.join(scope)}; "
                     "`workscribe pause` / `workscribe status`; Ctrl-C stops")
            deadline = time.monotonic() + opts.duration if opts.duration else None
            while not self._stop.is_set():
                remaining = deadline - time.monotonic() if deadline else 1.0
                if remaining <= 0:
                    self.stop_reason = self.stop_reason or "duration reached"
                    break
                self._stop.wait(min(0.25, remaining))  # held typed text is released within 0.25 s
                with self._lock:
                    released = self.redaction.tick(now_ns())
                    if released:
                        self.spool.put_events(released)
                if not self.spool.alive:
                    self.stop_reason = "spool writer failed"
                    break
                self.supervisor.poll()
                if time.monotonic() - last_expiry > 3600:
                    self._expire()
                    last_expiry = time.monotonic()
                if time.monotonic() - last_consent_check < 1.0:
                    continue
                last_consent_check = time.monotonic()
                current = guard_mod.load()
                if current is None or not current.active:
                    self.stop_reason = "consent revoked"
                    break
        finally:
            if self.uploads is not None:
                self.uploads.stop()  # at once: before the last segment closes, also on revocation
            for source in reversed(self.sources):
                try:
                    source.stop()
                except SourceError:
                    pass
            self.supervisor.close()  # a source still down: its gap ends here
            if self.key_hold.echo is not None:
                self.key_hold.release(force=True)
            with self._lock:
                self._store(self.guard.close())
                self.spool.put_events(self.redaction.flush())
            if self.frames is not None:
                self.frames.close()
            try:
                self.spool.close()  # SpoolWriteError when writing failed (a full disk)
            finally:
                control.close()
                restore_signals(previous)
        return {"out": str(opts.out), "stop_reason": self.stop_reason or "stopped",
                "ready_after_s": self._ready_after_s(),
                "events": self.spool.events_written, "frames": self.spool.frames_stored,
                "frames_dropped": self.spool.frames_dropped + (self.frames.dropped if self.frames else 0),
                "frames_dropped_action": (self.screen.missed_before + self.screen.refused["before"]
                                          + self.screen.refused["after"]) if self.screen else 0,
                "frames_waiting_peak": self.frames.waiting_peak if self.frames else 0,
                "frames_redaction_failed": self.frames.failed if self.frames else 0,
                "frames_parked": self.frames.parked if self.frames else 0,
                "frames_redacted": self.frames.redacted_frames if self.frames else 0,
                "ocr": {**self.frames.redactor.stats, "frames_by_page_text": self.pages.plans,
                        "frames_not_by_page_text": dict(self.pages.refused)} if self.frames else {},
                "frames_skipped_low_disk": self.spool.frames_skipped_low_disk,
                "evicted": len(self.spool.evicted),
                "dropped_out_of_scope": self.guard.dropped,
                "refused_no_redaction_rule": dict(self.redaction.refused)}

    def _start_sources(self) -> None:
        """Starts the consent's sources in the registry's order (``sources.registry``), each through
        the supervisor, which calls its factory again when the source's thread dies."""
        opts = self.options
        assert self.spool is not None
        if "screen" in self.consent.sources:
            self.frames = FrameRedactionStage(ImageRedactor(finder=find_private_ocr, ocr=OcrProcess()),
                                              self.spool.put_frame, spill_dir=opts.out, pages=self.pages)
        ctx = SourceContext(
            display=opts.display, fps=opts.fps, keyframe_s=opts.keyframe_s,
            repos=[Path(r) for r in self.consent.repos], shell_output="shell-output" in self.consent.sources,
            log=self.log, on_event=self._on_event, on_built=self._on_built, ready=lambda: self.ready,
            on_window=self._on_window, active_window=lambda: self.guard.state.active, sites=self.guard.sites,
            on_page_scope=self._on_page_scope, on_pages_lost=self._forget_pages,
            on_page_text=self._on_page_text, frame_regions=self.guard.frame_regions, on_frame=self._on_frame,
            echo_watch=self.key_hold.echo_watch)
        for factory in create_sources(self.consent.sources):
            on_down = partial(factory.on_down, ctx) if factory.on_down is not None else None
            self.supervisor.start(factory.name, partial(factory.start, ctx), on_down=on_down)

    def _on_built(self, name: str, source: Any) -> None:
        self._built[name] = source

    def _ready_after_s(self) -> float | None:
        """Seconds from the start of ``run`` until every source was ready (None before)."""
        return round((self.ready_t - self.started_t) / 1e9, 3) if self.ready else None

    def _expire(self) -> None:
        """Deletes recordings older than the consent's retention (never the one being written)."""
        assert self.spool is not None
        expired = [r for r in expired_recordings(self.options.out, self.consent.retention_days)
                   if r != self.spool.recording_id[:8]]
        if expired:
            files = delete_recordings(self.options.out, expired, reason="retention")
            self.log(f"retention {self.consent.retention_days} days: deleted {len(expired)} old "
                     f"recording(s), {len(files)} segment(s)")
