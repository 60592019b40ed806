"""Uploading closed segments in the background while the recorder records (docs/fleet.md).

The recorder starts an ``Uploader`` when its consent allows uploads and the device is enrolled (the CLI
builds it: the recorder does not import the fleet). Its one thread, at a lower CPU priority than the
recording threads, calls ``client.upload_pending`` for the spool folder, never for the segment being
written; the spool writer wakes it when it closes a segment, and it looks again every ``poll_s``
seconds anyway. While the service cannot be reached it waits ``backoff_s``, doubling up to
``max_backoff_s``: the local spool is the offline queue (bounded by the quota; a segment the quota
evicts leaves the queue with it). A pause holds it before the next segment; ``stop`` ends it before
the next segment and waits at most ``stop_wait_s`` for a request in flight (the upload state is
noted before each object leaves, so the next run resumes it). Errors are logged as one line, once
until they change, and never hold a token.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workscribe.fleet import client


class Uploader:
    """Uploads the closed segments of one spool folder on a background thread.

    Args:
        spool: the spool folder the recorder writes.
        home: the workscribe home (enrolment and upload state); None: ``$WORKSCRIBE_HOME``.
        may_upload: asked before each round and each segment; False (consent revoked, or no longer
            allowing uploads) holds the uploader.
        log: where one-line messages go.
        poll_s: look for closed segments this often without being woken.
        backoff_s, max_backoff_s: the first and the longest wait while the service is away.
        timeout_s: per HTTP request.
    """

    def __init__(self, spool: Path, home: Path | None = None, may_upload: Callable[[], bool] = lambda: True,
                 log: Callable[[str], None] = print, poll_s: float = 5.0, backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0, timeout_s: float = 10.0, stop_wait_s: float = 2.0) -> None:
        self.spool, self.home, self.may_upload, self.log = Path(spool), home, may_upload, log
        self.poll_s, self.backoff_s, self.max_backoff_s = poll_s, backoff_s, max_backoff_s
        self.timeout_s, self.stop_wait_s = timeout_s, stop_wait_s
        self._writing: Callable[[], Path | None] = lambda: None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()  # no upload is under way
        self._idle.set()
        self._paused = False
        self._thread: threading.Thread | None = None
        self.state = "starting"  # uploading, idle, paused, waiting (service away), stopped
        self.last_error: str | None = None
        self.uploaded = 0  # by this uploader
        self._backoff = 0.0  # the last wait while the service was away (0: it answers)

    # -- the recorder's side ----------------------------------------------------------------------
    def start(self, writing: Callable[[], Path | None]) -> None:
        """Starts the thread; ``writing()`` is the segment being written (never uploaded)."""
        self._writing = writing
        self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)
        self._thread.start()

    def segment_closed(self, path: Path) -> None:
        """The spool writer closed ``path`` (called on its thread: only wakes this one)."""
        self._wake.set()

    def set_paused(self, paused: bool) -> None:
        """Holds uploads (before the next segment; waits up to ``stop_wait_s`` for one under way) or
        lets them go on."""
        self._paused = paused
        if paused:
            self._idle.wait(self.stop_wait_s)
        else:
            self._wake.set()

    def stop(self) -> None:
        """Ends the thread before its next segment (waits at most ``stop_wait_s``)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.stop_wait_s)
        self.state = "stopped"

    def status(self) -> dict[str, Any]:
        """``{"state", "pending", "uploaded", "failed", "last_error"}`` for the recorder's status."""
        writing = self._writing()
        try:
            counts = client.upload_status(self.spool, self.home, writing.name if writing else None)
        except client.FleetClientError as exc:
            counts = {"pending": None, "uploaded": None, "failed": None, "last_error": str(exc)}
        state = "paused" if self._paused and self._idle.is_set() else self.state
        return {"state": state, **counts, "last_error": self.last_error or counts["last_error"]}

    # -- the thread -------------------------------------------------------------------------------
    def _go_on(self) -> bool:
        if self._stop.is_set() or self._paused:
            return False
        try:
            return bool(self.may_upload())
        except Exception:  # noqa: BLE001 - an unreadable consent allows nothing
            return False

    def _run(self) -> None:
        try:  # this thread only (Linux: a thread is a task): recording keeps the CPU first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        wait = 0.0
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if not self._go_on():
                self.state = "paused" if self._paused else self.state
                wait = self.poll_s
                continue
            wait = self._round()
        self.state = "stopped"

    def _round(self) -> float:
        """One pass over the spool; the wait before the next one."""
        self.state = "uploading"
        self._idle.clear()
        writing = self._writing()
        try:
            result = client.upload_pending(self.spool, self.home, attempts=1, timeout=self.timeout_s,
                                           skip={writing.name} if writing else (), keep_going=self._go_on)
        except client.UploadBusy:  # `workscribe upload` runs: its turn
            self.state = "idle"
            return self.poll_s
        except Exception as exc:  # noqa: BLE001 - logged; the recorder goes on
            self._error(f"{type(exc).__name__}: {exc}")
            self.state = "idle"
            return self.poll_s
        finally:
            self._idle.set()
        self.uploaded += result["uploaded"]
        if result["unreachable"]:
            self.state = "waiting"
            self._error("the service cannot be reached; retrying")
            self._backoff = min(max(self._backoff * 2, self.backoff_s), self.max_backoff_s)
            self._stop.wait(self._backoff)  # not cut short by a closed segment, only by stop
            return 0.0
        self._backoff = 0.0
        if result["errors"]:
            self._error(result["errors"][-1])
        elif result["uploaded"]:
            self.last_error = None
        self.state = "idle"
        return self.poll_s

    def _error(self, message: str) -> None:
        line = " ".join(message.split())[:300]
        if line != self.last_error:
            self.log(f"upload: {line}")
        self.last_error = line
