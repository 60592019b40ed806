"""Helpers shared by tests: the real CLI in a subprocess, a recorder process handle."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path


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

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"recorder exited early: {self.proc.stderr.read()}")
            r = run_cli("status", "--json", env=self.env)
            if r.returncode == 0 and json.loads(r.stdout).get("ready"):
                return
            time.sleep(0.05)
        raise AssertionError("recorder did not become ready")

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
