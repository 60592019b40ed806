"""Helpers shared by tests: the real CLI in a subprocess, a recorder process handle, waiting on a
condition with a deadline."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
             what: str = "the condition") -> T:
    """Polls ``predicate`` until it returns something true and returns that; raises AssertionError
    naming ``what`` when ``timeout`` seconds pass first. The way tests wait: never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs the real `workscribe` CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "workscribe", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=timeout)


class RecorderProcess:
    """A real `workscribe record` process on a test display."""

    def __init__(self, proc: subprocess.Popen, env: dict[str, str], out: Path) -> None:
        self.proc, self.env, self.out = proc, env, out

    def control(self, cmd: str) -> dict:
        """Runs `workscribe CMD --json` against this recorder."""
        r = run_cli(cmd, "--json", env=self.env)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def status(self) -> dict:
        """The recorder's status over its control socket (in process: quick enough to poll); {} while
        it does not answer."""
        from workscribe import paths
        from workscribe.record.control import ControlError, request

        home = self.env.get("WORKSCRIBE_HOME")
        try:
            return request("status", paths.control_socket(Path(home) if home else None))
        except ControlError:
            return {}

    def wait_status(self, what: str, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        """Polls the status until ``predicate(status)`` holds; returns that status."""
        def check() -> dict | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"recorder exited while waiting for {what}: {self.proc.stderr.read()}")
            status = self.status()  # this recorder's (not a stale socket's), and as wanted
            return status if status.get("pid") == self.proc.pid and predicate(status) else None

        return wait_for(check, timeout=timeout, what=what)

    def wait_ready(self, timeout: float = 20.0) -> None:
        self.wait_status("the recorder to be ready", lambda s: s.get("ready"), timeout=timeout)

    def stop(self, timeout: float = 20.0) -> tuple[int, str, str]:
        """Sends SIGINT (a clean stop) and returns (exit code, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def stop_waiting(self, timeout: float = 20.0) -> tuple[int, str, str]:
        """Waits for the recorder to stop by itself and returns (exit code, stdout, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=10)


def spool_bytes(out: Path, raw_files: bool = True) -> bytes:
    """What a search for a leaked value must look through: every file under the spool folder (as
    stored) and every event payload decrypted and decompressed."""
    import zlib

    from workscribe.spool import format as fmt
    from workscribe.spool.reader import Spool

    blob = b""
    if raw_files:
        for path in out.rglob("*"):
            if path.is_file():
                blob += path.read_bytes()
    for seg in Spool(out).segments:
        for payload in seg.payloads(fmt.EVENTS):
            blob += zlib.decompress(payload)
    return blob


def spool_events(out: Path) -> list[dict]:
    """Every event in the spool files as they are now, also while a recorder writes them (what a
    kill -9 would leave); [] while there is no readable segment yet."""
    from workscribe.spool.reader import Spool, SpoolReadError

    try:
        spool = Spool(out)
    except SpoolReadError:
        return []
    return [e for seg in spool.segments for e in seg.events()]


def wait_settled_frame(out: Path, since_ns: int, timeout: float = 15.0) -> dict:
    """Waits until the spool file holds a settled frame (``after``: the screen had stopped changing)
    grabbed after ``since_ns`` (``time.monotonic_ns()``, the recording clock); returns its event."""
    def frame() -> dict | None:
        return next((e for e in spool_events(out) if e["kind"] == "frame" and e["t"] > since_ns
                     and e["data"].get("reason") == "after"), None)

    return wait_for(frame, timeout=timeout, interval=0.1, what="a settled frame in the spool file")


def fill_disk(folder: Path, leave: int = 0) -> Path:
    """Writes a ballast file in ``folder`` until at most ``leave`` bytes are free on its filesystem
    (about: a filesystem hands out whole pages); returns it (delete it to free the space)."""
    import errno
    import os

    from workscribe.spool.writer import disk_free

    ballast = folder / f"ballast-{time.monotonic_ns()}"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        chunk = 1 << 20
        while chunk >= 4096:
            want = disk_free(folder) - leave
            if want < 4096:
                break
            try:
                os.write(fd, b"\0" * min(chunk, want))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 4
    finally:
        os.close(fd)
    return ballast
