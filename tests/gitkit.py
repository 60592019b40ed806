"""Real git repositories in tmp_path, and a sink that tests wait on, for the files and git sources."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

AUTHOR = "Quentin Authorname"
AUTHOR_EMAIL = "quentin.authorname@example.org"

GIT_ENV = {
    "GIT_AUTHOR_NAME": AUTHOR, "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
    "GIT_COMMITTER_NAME": AUTHOR, "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,  # no config of this machine's user
    "GIT_EDITOR": "true", "GIT_SEQUENCE_EDITOR": "true",
}


def use_git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits work on a fresh machine, whatever HOME's git config says (or lacks)."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def git(repo: Path, *args: str) -> str:
    """Runs a real git command in ``repo``; fails the test if git fails."""
    done = subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=repo, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_repo(root: Path, files: dict[str, str], message: str = "initial") -> Path:
    """A repository on branch ``main`` with ``files`` committed."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return root


class Sink:
    """Collects events from a source's threads; tests wait on it with a deadline."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._cond = threading.Condition()

    def __call__(self, event: dict) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait(self, pred: Callable[[dict], bool], count: int = 1, timeout: float = 5.0) -> list[dict]:
        """The events matching ``pred`` once there are ``count`` of them; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self.events if pred(e)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout}s for {count} event(s); got {self.events}")
                self._cond.wait(left)

    def of(self, kind: str) -> list[dict]:
        with self._cond:
            return [e for e in self.events if e["kind"] == kind]


@contextmanager
def started_sources(make: Callable[..., Any]) -> Iterator[Callable[..., tuple[Any, Sink]]]:
    """``start(*args, **kw)`` makes a source with ``make``, starts it on a new ``Sink`` and returns both;
    every source started is stopped on leaving."""
    started: list[Any] = []

    def start(*args: Any, **kw: Any) -> tuple[Any, Sink]:
        sink = Sink()
        source = make(*args, **kw)
        source.start(sink)
        started.append(source)
        return source, sink

    try:
        yield start
    finally:
        for source in started:
            source.stop()


def child_processes() -> set[int]:
    """Live (not zombie-reaped) child processes of this test process."""
    me, children = str(os.getpid()), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == me:
            children.add(int(entry))
    return children
