"""Terminals: which pseudo-terminal a terminal window runs, and whether it is reading a password.

A program reading a password (sudo, ssh, su, gpg, ``read -s``) turns off ECHO while keeping the
terminal in canonical (line) mode; full-screen programs such as vim turn off both, so they are not
mistaken for prompts. ``EchoWatch`` samples the terminal of the active window and keeps a short
timeline, so that a key is judged (by the guard, ``secure.py``) by the terminal's state *at the time
it was typed*, even when the prompt has ended by the time the key is looked at.
"""

from __future__ import annotations

import os
import termios
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from workscribe.events import now_ns


def terminal_of(pid: int | None) -> str | None:
    """The pseudo-terminal a terminal emulator's shell runs on (``/dev/pts/N``), or None.

    Looks at the emulator's children: the first whose standard input is a pty.
    """
    if not pid:
        return None
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            tty = os.readlink(f"/proc/{child}/fd/0")
        except OSError:
            continue
        if tty.startswith("/dev/pts/"):
            return tty
    return None


def echo_off_prompt(fd: int) -> bool:
    """True when the terminal reads a line without echoing it: a password prompt."""
    lflag = termios.tcgetattr(fd)[3]
    return not lflag & termios.ECHO and bool(lflag & termios.ICANON)


class EchoWatch:
    """Samples whether the active terminal is at a password prompt, with a timeline for look-back.

    It samples when a key arrives (``sample``, from the input thread) and, while keys wait to be
    judged (``pending()``), every ``period_s`` from its own thread; it sleeps otherwise.

    Args:
        tty_for: returns the pty path of the active window (None if it is not a terminal).
        on_tick: called after every sample of the thread (the recorder releases held keys there).
        pending: True while keys wait to be judged.
        period_s: sampling period while keys wait.
    """

    def __init__(self, tty_for: Callable[[], str | None], on_tick: Callable[[], None],
                 pending: Callable[[], bool], period_s: float = 0.04) -> None:
        self.tty_for = tty_for
        self.on_tick = on_tick
        self.pending = pending
        self.period_s = period_s
        self._timeline: deque[tuple[int, bool]] = deque(maxlen=512)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._tty: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="echo-watch", daemon=True)

    def start(self) -> None:
        """Starts the sampling thread."""
        self._thread.start()

    def notify(self) -> None:
        """Keys are waiting: sample until they are judged."""
        self._wake.set()

    def stop(self) -> None:
        """Stops sampling (after one last tick) and closes the terminal."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._tty = None

    def sample(self) -> bool:
        """Reads the active terminal's mode now and records it (any thread)."""
        tty = self.tty_for()
        with self._lock:
            if tty != self._tty:
                self._close()
                if tty is not None:
                    try:
                        self._fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
                        self._tty = tty
                    except OSError:
                        self._fd = None
            secure = False
            if self._fd is not None:
                try:
                    secure = echo_off_prompt(self._fd)
                except (OSError, termios.error):
                    self._close()
            self._timeline.append((now_ns(), secure))
        return secure

    def secure_at(self, t: int, line_ends: Iterable[int] = (), margin_ns: int = 40_000_000) -> bool:
        """True if the terminal was at a password prompt when a key was typed at ``t``.

        Samples are ``period_s`` apart, so a key typed just before a prompt appeared falls between a
        plain sample and a secure one. It is judged secure (a password typed at machine speed)
        unless a line ended (``line_ends``: times of Return presses) after it and before the prompt
        was seen: then it belongs to the command line that started the prompt.
        """
        with self._lock:
            samples = list(self._timeline)
        before = [s for ts, s in samples if ts <= t]
        if before and before[-1]:
            return True
        seen = next((ts for ts, s in samples if t < ts <= t + margin_ns and s), None)
        if seen is None:
            return False
        return not any(t <= end <= seen for end in line_ends)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while self.pending() and not self._stop.is_set():
                self._stop.wait(self.period_s)
                self.sample()
                self.on_tick()
        self.sample()
        self.on_tick()
