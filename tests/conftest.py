"""Shared fixtures: a real X display (Xvfb + openbox), a private WORKSCRIBE_HOME, a small filesystem."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import RecorderProcess
from workscribe.envs.xdisplay import XDisplay, missing_programs


@pytest.fixture
def xdisplay() -> Iterator[XDisplay]:
    """A fresh Xvfb + openbox display, stopped after the test."""
    missing = missing_programs()
    if missing:
        pytest.fail(f"X test programs missing: {missing}; run `make setup`")
    with XDisplay() as d:
        yield d


@pytest.fixture
def ws_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $WORKSCRIBE_HOME so tests never touch the user's state or each other's."""
    home = tmp_path / "ws-home"
    monkeypatch.setenv("WORKSCRIBE_HOME", str(home))
    return home


@pytest.fixture
def recorder(ws_home: Path, xdisplay: XDisplay, tmp_path: Path):
    """Starts `workscribe record` on the test display; every recorder is stopped after the test."""
    started: list[RecorderProcess] = []
    env = {**xdisplay.env, "WORKSCRIBE_HOME": str(ws_home)}

    def start(*args: str, out: Path | None = None, ready: bool = True) -> RecorderProcess:
        out = out or tmp_path / "spool"
        proc = subprocess.Popen([sys.executable, "-m", "workscribe", "record", "--out", str(out),
                                 "--display", xdisplay.name, *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        rp = RecorderProcess(proc, env, out)
        started.append(rp)
        if ready:
            rp.wait_ready()
        return rp

    start.env = env  # type: ignore[attr-defined]
    yield start
    for rp in started:
        if rp.proc.poll() is None:
            rp.proc.kill()
            rp.proc.communicate(timeout=10)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB filesystem (tmpfs), mounted for the test and unmounted after it; the test is
    skipped where this process may not mount one (not root)."""
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True)  # still busy: detached now
