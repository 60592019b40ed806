"""``workscribe serve`` as a child process of a job: the demo's small fleet, ``workscribe bench fleet``.

``serve_child(data, log)`` starts it on a port the OS picks (its access log into ``log``), waits for the
URL it prints, and stops it when the block ends, however it ends.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVE_TIMEOUT_S = 60.0
"""Seconds ``workscribe serve`` may take to print its URL."""


class ServeError(RuntimeError):
    """The service did not start (one line, with the last line of its log)."""


@dataclass(frozen=True)
class Served:
    """A running child service: where it listens, and its process id."""

    url: str
    pid: int


@contextmanager
def serve_child(data: Path, log: Path, timeout_s: float = SERVE_TIMEOUT_S) -> Iterator[Served]:
    """``workscribe serve --data DATA --port 0`` as its own process until the block ends.

    Raises:
        ServeError: it printed no address within ``timeout_s`` (it is stopped).
    """
    argv = [sys.executable, "-m", "workscribe", "serve", "--data", str(data), "--port", "0", "--json"]
    with log.open("w") as stderr:  # the child keeps its own copy of the file
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=timeout_s)  # "" at once when the process ended
        except queue.Empty:
            line = ""
        try:
            url = json.loads(line)["listening"]
        except (ValueError, KeyError, TypeError):
            tail = " ".join(log.read_text(errors="replace").strip().splitlines()[-1:])
            raise ServeError(f"workscribe serve did not start: {tail or 'it printed no address'}") from None
        yield Served(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
