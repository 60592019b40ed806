"""A real interactive bash or zsh in a pseudo-terminal, driven like a person at a prompt."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from pathlib import Path

PROMPT = "WS-PROMPT> "


class InteractiveShell:
    """``shell`` (bash or zsh) started interactively in a pty with ``rc`` as its start-up file.

    ``run(line)`` types the line and Enter and waits for the next prompt; ``close()`` ends it.
    """

    def __init__(self, shell: str, rc: str, home: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "TERM": "xterm", "LANG": "C.UTF-8",
               **(env or {})}
        if shell == "bash":
            (home / ".bashrc").write_text(rc + f"\nPS1='{PROMPT}'\n")
            argv = ["bash", "--rcfile", str(home / ".bashrc"), "-i"]
        else:
            (home / ".zshrc").write_text(rc + f"\nPS1='{PROMPT}'\nunsetopt zle\n")
            env["ZDOTDIR"] = str(home)
            argv = ["zsh", "-i"]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the shell
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        self.transcript = ""
        self.expect(PROMPT, 10)

    def read(self, timeout: float) -> str:
        out = b""
        r, _, _ = select.select([self.fd], [], [], timeout)
        while r:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            r, _, _ = select.select([self.fd], [], [], 0)
        text = out.decode("utf-8", "replace")
        self.transcript += text
        return text

    def expect(self, marker: str, timeout: float = 10.0) -> str:
        """Reads until ``marker`` appears after what was read before; returns what came."""
        start = len(self.transcript)
        deadline = time.monotonic() + timeout
        while marker not in self.transcript[start:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} within {timeout} s; got {self.transcript[start:]!r}")
            self.read(0.05)
        return self.transcript[start:]

    def run(self, line: str, timeout: float = 30.0) -> str:
        """Types ``line`` and Enter; returns what the terminal showed until the next prompt."""
        os.write(self.fd, line.encode() + b"\r")
        return self.expect(PROMPT, timeout)

    def close(self) -> None:
        try:
            os.write(self.fd, b"exit\r")
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            self.read(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
