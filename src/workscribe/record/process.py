"""Process helpers of the recorder: its heap settings, its stop signals, and starting a
``workscribe record`` child and waiting until it is ready (the demo, the collectors, the benchmarks
and the tests all start one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def install_stop_signals(stop: Callable[[str], None]) -> dict[int, Any]:
    """Makes SIGINT and SIGTERM call ``stop`` with the signal's name; returns the handlers they had,
    for ``restore_signals``. Only the main thread can install handlers: elsewhere nothing is done."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda s, f: stop(signal.Signals(s).name))
    return previous


def restore_signals(previous: dict[int, Any]) -> None:
    """Puts back the handlers ``install_stop_signals`` replaced."""
    for sig, handler in previous.items():
        signal.signal(sig, handler)


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
    from workscribe.record.control import ControlError, request

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
