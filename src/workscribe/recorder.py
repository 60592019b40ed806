"""The recorder: sources -> guard -> spool, with a control socket for pause, resume and status.

The loop only wires things together: each source calls ``_on_event`` from its own thread, the guard
decides what may be kept, kept input tells the screen source which frames to persist, and the spool
writer thread writes. Nothing reaches the spool that the guard did not admit.

Keys typed into a terminal or a browser window wait ``KEY_HOLD_NS`` before they are judged, so the
terminal's echo timeline (``EchoWatch``) or the page's pushed focus timeline (``BrowserSource``)
covers the moment they were typed: keys typed at a password prompt or into a password field are
secure input.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workscribe import guard as guard_mod
from workscribe.control import ControlServer
from workscribe.events import Event, make_event, now_ns
from workscribe.guard import Consent, Guard
from workscribe.redact.frames import FrameRedactionStage
from workscribe.redact.identity import find_private, find_private_ocr, redact_private
from workscribe.redact.image import ImageRedactor
from workscribe.redact.keystrokes import KeystrokeRedactor
from workscribe.redact.ocr import OcrProcess
from workscribe.redact.page_text import PageTextIndex, view_from_snapshot
from workscribe.redact.stage import RedactionStage
from workscribe.redact.text import RULESET_VERSION
from workscribe.secure import EchoWatch, terminal_of
from workscribe.sources.base import SourceError, WindowState
from workscribe.sources.browser import browser_family
from workscribe.sources.supervise import SourceSupervisor
from workscribe.spool import crypto
from workscribe.spool.retention import delete_recordings, expired_recordings
from workscribe.spool.writer import SpoolConfig, SpoolWriter

KEY_HOLD_NS = 80_000_000
"""Key events wait this long before they are judged, so the terminal's echo timeline covers them."""
_KEY_KINDS = ("key_press", "key_release")
MAX_TASK_TITLE = 500  # characters of a task title or ticket kept


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


class Recorder:
    """Records one session into a spool folder until stopped.

    Args:
        consent: the active consent (scope and sources).
        options: output folder, duration, display, frame rate, segment and quota settings.
        log: where one-line status messages go.
    """

    def __init__(self, consent: Consent, options: RecordOptions,
                 log: Callable[[str], None] = print) -> None:
        self.consent = consent
        self.options = options
        self.log = log
        self.guard = Guard(consent)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.spool: SpoolWriter | None = None
        self.sources: list[Any] = []
        self.pages = PageTextIndex(find_private)  # the browser page's text, for pixel redaction
        self.supervisor = SourceSupervisor(self.sources, self._on_source_gap, log=log)  # restarts dead ones
        self.screen = None
        self.frames: FrameRedactionStage | None = None
        self.echo: EchoWatch | None = None
        self._held: deque[Event] = deque()
        self._line_ends: deque[int] = deque(maxlen=8)  # times of recent Return presses
        self._focus_moves: deque[int] = deque(maxlen=8)  # times of recent Tab presses (focus moves)
        self.browser: Any = None  # the browser source, when consented
        # every kept event passes one redaction stage; typed text is held until its run ends
        self.redaction = RedactionStage(KeystrokeRedactor(find_private))
        self._tty_cache: tuple[int, str | None, float] | None = None
        self.started_t = 0
        self.ready = False  # every source started
        self.ready_t = 0  # when it became ready (recording clock, ns)
        self._shell: Any = None  # the shell source: publishes its port file once every source is ready
        self.stop_reason = ""
        self.task: dict[str, Any] | None = None  # the open task (``workscribe task start``)
        self._task_seq = 0

    # -- wiring -----------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if event["source"] == "input" and self._browser_active():
            self.browser.on_input(event)  # a click or Tab: later keys wait for the page's focus
        if (event["source"] == "input" and event["kind"] in _KEY_KINDS and self.echo is not None
                and (self._held or self._browser_active() or self._active_tty() is not None)):
            self.echo.sample()  # only terminals have prompts, only pages password fields
            with self._lock:  # judged once the terminal's or page's timeline covers it (_release_keys)
                self._held.append(event)
                if event["kind"] == "key_press" and event["data"]["key"] in ("Return", "KP_Enter"):
                    self._line_ends.append(event["t"])
                elif event["kind"] == "key_press" and event["data"]["key"] in ("Tab", "ISO_Left_Tab"):
                    self._focus_moves.append(event["t"])
            self.echo.notify()
            return
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

    def _release_keys(self, force: bool = False) -> None:
        """Admits held key events older than ``KEY_HOLD_NS``, judged by the terminal's or page's state
        then; keys after a click or Tab in a page also wait until the page said where focus went."""
        assert self.echo is not None
        cutoff = now_ns() - KEY_HOLD_NS
        while True:
            with self._lock:
                if not self._held or (not force and (self._held[0]["t"] > cutoff or (
                        self.browser is not None and not self.browser.covered(self._held[0]["t"])))):
                    return
                event = self._held.popleft()
            secure = None
            if self.browser is not None and event["kind"] == "key_press":
                secure = self.browser.secure_at(event["t"], (*self._line_ends, *self._focus_moves))
            self._admit(event, echo_off=self.echo.secure_at(event["t"], tuple(self._line_ends)),
                        secure=secure)

    def _browser_active(self) -> bool:
        """True when the active window is a browser whose pages the browser source watches."""
        return self.browser is not None and browser_family(self.guard.state.active) == "chromium"

    def _active_tty(self) -> str | None:
        active = self.guard.state.active
        if active is None:
            return None
        cached = self._tty_cache
        if cached and cached[0] == active.id and time.monotonic() - cached[2] < 1.0:
            return cached[1]
        tty = terminal_of(active.pid)
        self._tty_cache = (active.id, tty, time.monotonic())
        return tty

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
            out: list[Event] = []
            if cmd == "task_end":
                if self.task is None:
                    return "no task is open; start one with: workscribe task start TITLE"
                outcome = args.get("outcome")
                if outcome not in (None, "success", "fail"):
                    return f"unknown outcome {outcome!r}; use success or fail"
                out.append(make_event("task", "end", {"id": self.task["id"], "outcome": outcome}, t))
                self.task = None
            else:
                title = str(args.get("title") or "").strip()
                if not title:
                    return "a task needs a title, e.g. workscribe task start \"Fix the login redirect\""
                if self.task is not None:  # starting a new task ends the open one, without an outcome
                    out.append(make_event("task", "end", {"id": self.task["id"], "outcome": None}, t))
                ticket = str(args.get("ticket") or "").strip() or None
                self._task_seq += 1
                self.task = {"id": self._task_seq, "title": redact_private(title[:MAX_TASK_TITLE]),
                             "ticket": redact_private(ticket[:MAX_TASK_TITLE]) if ticket else None}
                out.append(make_event("task", "start", dict(self.task), t))
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
            "task": self.task["title"] if self.task else None,
            "frames_waiting": self.frames.waiting if self.frames else 0,  # for redaction, now
            "sources": self.supervisor.health(),
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
                header={"consent": self.consent.scope(), "display_fps": opts.fps,
                        "redaction": {"text": RULESET_VERSION, "pixels": "rapidocr+" + RULESET_VERSION}}),
                warn=self.log)
        except BaseException:
            control.close()
            raise
        previous = self._install_signals()
        self.started_t = now_ns()
        self._expire()
        last_expiry = last_consent_check = time.monotonic()
        try:
            if self.consent.gui:
                self._start_display_sources()
            self._start_coding_sources()
            if self._shell is not None:  # the port file tells hooked shells and tools that all is ready
                self._shell.publish()
            self.ready_t = now_ns()
            self.ready = True
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
            for source in reversed(self.sources):
                try:
                    source.stop()
                except SourceError:
                    pass
            self.supervisor.close()  # a source still down: its gap ends here
            if self.echo is not None:
                self._release_keys(force=True)
            with self._lock:
                self._store(self.guard.close())
                self.spool.put_events(self.redaction.flush())
            if self.frames is not None:
                self.frames.close()
            try:
                self.spool.close()  # SpoolWriteError when writing failed (a full disk)
            finally:
                control.close()
                self._restore_signals(previous)
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

    def _start_display_sources(self) -> None:
        """The window, browser, screen and input sources of the consent (X11). Each is started by a
        function the supervisor calls again when the source's thread dies."""
        from workscribe.sources.x11.input import X11InputSource
        from workscribe.sources.x11.screen import ScreenSource
        from workscribe.sources.x11.window import X11WindowSource

        opts = self.options
        assert self.spool is not None

        def window() -> X11WindowSource:
            source = X11WindowSource(opts.display, on_change=self._on_window, log=self.log)
            source.start(self._on_event)
            return source

        # while the window source is down no window is known: nothing is in scope
        self.supervisor.start("window", window, on_down=lambda: self._on_window(WindowState()))
        if "browser" in self.consent.sources:
            from workscribe.sources.browser import BrowserSource

            def browser() -> BrowserSource:
                self.browser = BrowserSource(self.guard.sites, lambda: self.guard.state.active,
                                             self._on_page_scope, log=self.log,
                                             on_page_text=self._on_page_text)
                self.browser.start(self._on_event)
                return self.browser

            self.supervisor.start("browser", browser, on_down=self._forget_pages)
        if "screen" in self.consent.sources:
            self.frames = FrameRedactionStage(ImageRedactor(finder=find_private_ocr, ocr=OcrProcess()),
                                              self.spool.put_frame, spill_dir=opts.out, pages=self.pages)

            def screen() -> ScreenSource:
                self.screen = ScreenSource(self.guard.frame_regions, fps=opts.fps, display_name=opts.display,
                                           keyframe_s=opts.keyframe_s)
                self.screen.start(self._on_frame)
                return self.screen

            self.supervisor.start("screen", screen)
        if "input" in self.consent.sources:
            def echo() -> EchoWatch:
                self.echo = EchoWatch(self._active_tty, self._release_keys, lambda: bool(self._held))
                self.echo.start()
                return self.echo

            def input_() -> X11InputSource:
                source = X11InputSource(opts.display)
                source.start(self._on_event)
                return source

            self.supervisor.start("echo", echo)
            self.supervisor.start("input", input_)

    def _start_coding_sources(self) -> None:
        """The shell, files and git sources of the consent: they need no display."""
        repos = [Path(r) for r in self.consent.repos]
        if "shell" in self.consent.sources:
            from workscribe.sources.shell import ShellSource, port_file

            def shell() -> ShellSource:
                # the port file is published once every source is ready (a restart publishes at once)
                source = ShellSource(port_file(), output="shell-output" in self.consent.sources, log=self.log,
                                     publish_on_start=self.ready)
                source.start(self._on_event)
                self._shell = source
                return source

            self.supervisor.start("shell", shell)
        if "files" in self.consent.sources:
            from workscribe.sources.files import FilesSource

            def files() -> FilesSource:
                source = FilesSource(repos, log=self.log)
                source.start(self._on_event)
                return source

            self.supervisor.start("files", files)
        if "git" in self.consent.sources:
            from workscribe.sources.git import GitSource

            def git() -> GitSource:
                source = GitSource(repos, log=self.log)
                source.start(self._on_event)
                return source

            self.supervisor.start("git", git)

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

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda s, f: self.request_stop(signal.Signals(s).name))
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def compact_heap() -> None:
    """Keeps the recorder's memory close to what it uses (glibc): blocks of 1 MB and more (frames)
    are always mapped and unmapped, never kept in the heap once freed (glibc otherwise raises that
    threshold as they are freed, and 4 MB frames pile up in the heap), and threads share two arenas.
    Elsewhere (macOS, musl, Windows) nothing is done."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def spawn_recorder(out: Path, display: str | None, state: Path, *args: str,
                   log: Path | None = None) -> subprocess.Popen:
    """Starts ``workscribe record`` in its own process, as a contributor would, with state in ``state``
    (``display`` None: no X display at all, for a consent of coding sources only).

    Its stdout is a pipe (text); its stderr (the recorder's log lines) is appended to ``log`` when
    given, else a pipe too. A long run should pass ``log``: nobody reads the pipe until the end, and
    a recorder whose log fills it would block. Wait for it with ``wait_until_ready``.
    """
    env = {**os.environ, "WORKSCRIBE_HOME": str(state)}
    env.pop("DISPLAY", None)
    argv = [sys.executable, "-m", "workscribe", "record", "--out", str(out), *args]
    if display is not None:
        env["DISPLAY"] = display
        argv[6:6] = ["--display", display]
    if log is None:
        return subprocess.Popen(argv, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with log.open("a") as stderr:  # the child keeps its own copy of the file
        return subprocess.Popen(argv, env=env, text=True, stdout=subprocess.PIPE, stderr=stderr)


def recorder_log_tail(proc: subprocess.Popen, log: Path | None = None, lines: int = 20) -> str:
    """The last ``lines`` lines the recorder wrote to stderr: from ``log``, else from its pipe."""
    if log is not None:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            return ""
    else:
        text = proc.stderr.read() if proc.stderr else ""
    return "\n".join(text.strip().splitlines()[-lines:])


def wait_until_ready(proc: subprocess.Popen, state: Path, timeout: float = 30.0,
                     log: Path | None = None) -> None:
    """Polls the recorder's control socket until every source is ready, the shell's port file
    published included (``log``: where its stderr goes, as given to ``spawn_recorder``).

    Raises:
        ControlError: the recorder exited, or was not ready within ``timeout`` seconds.
    """
    from workscribe import paths
    from workscribe.control import ControlError, request

    socket_path = paths.control_socket(state)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if request("status", socket_path).get("ready"):
                return
        except ControlError:
            pass
        if proc.poll() is not None:
            why = recorder_log_tail(proc, log)
            raise ControlError(f"the recorder did not start: {why}")
        if time.monotonic() > deadline:
            raise ControlError(f"the recorder was not ready within {timeout:.0f} s")
        time.sleep(0.05)
