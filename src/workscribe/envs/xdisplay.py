"""A real X display for demos, tests and benchmarks: Xvfb plus the openbox window manager.

``XDisplay`` starts both on a display number that Xvfb picks itself (``-displayfd``), waits until the
window manager has announced itself through EWMH, and stops every process it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from types import TracebackType


class DisplayError(RuntimeError):
    """The X display could not be started."""


REQUIRED_PROGRAMS = ("Xvfb", "openbox", "xdotool")


def terminate(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stops ``proc``: SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def missing_programs() -> list[str]:
    """Names of the programs an X display session needs that are not on PATH."""
    return [p for p in REQUIRED_PROGRAMS if shutil.which(p) is None]


@dataclass
class XDisplay:
    """An Xvfb server with openbox on it.

    Use as a context manager; ``name`` (``":42"``) is valid inside it and ``env`` is ``os.environ``
    with ``DISPLAY`` set.
    """

    width: int = 1280  # screen width in pixels
    height: int = 800  # screen height in pixels
    window_manager: bool = True  # start openbox (EWMH active window, frames, focus)
    name: str = ""
    _procs: list[subprocess.Popen] = field(default_factory=list, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """The environment for programs that should run on this display."""
        return {**os.environ, "DISPLAY": self.name}

    def start(self, timeout: float = 15.0) -> XDisplay:
        """Starts Xvfb (and openbox) and waits until they are ready."""
        missing = missing_programs()
        if missing:
            raise DisplayError(f"missing programs: {', '.join(missing)} (run `make setup`)")
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{self.width}x{self.height}x24",
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._procs.append(xvfb)
        os.close(write_fd)
        try:
            number = _read_display_number(read_fd, xvfb, timeout)
        finally:
            os.close(read_fd)
        self.name = f":{number}"
        if self.window_manager:
            self._procs.append(subprocess.Popen(
                ["openbox", "--sm-disable"], env=self.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
            self._wait_for_wm(timeout)
        return self

    def _wait_for_wm(self, timeout: float) -> None:
        from Xlib import display as xdisplay

        deadline = time.monotonic() + timeout
        d = xdisplay.Display(self.name)
        try:
            atom = d.intern_atom("_NET_SUPPORTING_WM_CHECK")
            while time.monotonic() < deadline:
                if d.screen().root.get_full_property(atom, 0) is not None:
                    return
                if self._procs[-1].poll() is not None:
                    break
                time.sleep(0.02)
        finally:
            d.close()
        self.stop()
        raise DisplayError("openbox did not start on the X display")

    def stop(self) -> None:
        """Stops every process this display started (window manager first)."""
        for proc in reversed(self._procs):
            terminate(proc)
        self._procs.clear()

    def __enter__(self) -> XDisplay:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _read_display_number(fd: int, proc: subprocess.Popen, timeout: float) -> int:
    import select

    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            proc.kill()
            proc.wait()
            raise DisplayError("Xvfb did not start")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            chunk = os.read(fd, 16)
            if not chunk:
                continue
            buf += chunk
    return int(buf.strip())


def xdotool(display: str, *args: str, check: bool = True) -> str:
    """Runs ``xdotool ARGS`` on ``display`` and returns its standard output."""
    out = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display},
                         capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise DisplayError(f"xdotool {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def open_window(display: str, *cmd: str, wm_class: str | None = None,
                timeout: float = 10.0) -> tuple[subprocess.Popen, int]:
    """Starts a program on ``display`` and waits for its window to be mapped and active.

    Returns the process and the window id. ``wm_class`` is the class to wait for (default: the
    program's name).
    """
    proc = subprocess.Popen(list(cmd), env={**os.environ, "DISPLAY": display},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = wm_class or os.path.basename(cmd[0])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = xdotool(display, "search", "--onlyvisible", "--classname", pattern, check=False).split()
        out = out or xdotool(display, "search", "--onlyvisible", "--class", pattern, check=False).split()
        if out:
            wid = int(out[-1])
            xdotool(display, "windowactivate", str(wid), check=False)
            return proc, wid
        if proc.poll() is not None:
            raise DisplayError(f"{cmd[0]} exited with code {proc.returncode}")
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise DisplayError(f"no window of {pattern} appeared within {timeout:.0f} s")
