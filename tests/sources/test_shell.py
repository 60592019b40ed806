"""The shell source with real interactive shells: bash (and zsh where installed) in a pty, hooked."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from shellkit import InteractiveShell
from workscribe.events import now_ns
from workscribe.sources.shell import ShellSource, hook_code

SHELLS = ["bash"] + (["zsh"] if shutil.which("zsh") else [])


def wait_for(events: list, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(events) < n and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def source(tmp_path: Path):
    events: list = []
    src = ShellSource(tmp_path / "shell.port")
    src.start(events.append)
    yield src, events
    src.stop()


@pytest.mark.parametrize("shell", SHELLS)
def test_each_command_is_recorded_with_its_folders_exit_code_and_times(shell: str, source,
                                                                       tmp_path: Path) -> None:
    src, events = source
    quiet = "HISTCONTROL=ignoreboth\n" if shell == "bash" else "setopt HIST_IGNORE_SPACE\n"
    sh = InteractiveShell(shell, quiet + hook_code(shell, src.port_path), tmp_path / "home", tmp_path)
    try:
        before = now_ns()
        sh.run("echo one | tr o 0 && false")
        sh.run("")  # an empty line runs nothing
        sh.run("mkdir -p sub && cd sub")
        sh.run(" echo kept-out-of-history")  # a leading space: the shell does not keep it, nor do we
        sh.run("sleep 0.3; ls /nonexistent-ws")
        sh.run("echo one | tr o 0 && false")  # the same line again is a new command
        wait_for(events, 4)
        after = now_ns()
    finally:
        sh.close()
    data = [e["data"] for e in events]
    assert [d["text"] for d in data] == ["echo one | tr o 0 && false", "mkdir -p sub && cd sub",
                                         "sleep 0.3; ls /nonexistent-ws", "echo one | tr o 0 && false"]
    assert [d["exit_code"] for d in data] == [1, 0, 2, 1]
    assert data[1]["cwd"] == str(tmp_path) and data[1]["cwd_after"] == str(tmp_path / "sub")
    assert data[2]["cwd"] == str(tmp_path / "sub")
    assert all(before <= d["start"] <= d["end"] <= after for d in data)
    assert 0.25 < (data[2]["end"] - data[2]["start"]) / 1e9 < 3
    assert [d["seq"] for d in data] == sorted(d["seq"] for d in data) and data[0]["shell"] == shell
    assert all(e["t"] == e["data"]["end"] for e in events)
    assert "kept-out-of-history" not in str(events)


@pytest.mark.parametrize("shell", SHELLS)
def test_with_no_recorder_the_hook_is_silent_and_the_shell_works(shell: str, tmp_path: Path) -> None:
    port_file = tmp_path / "shell.port"
    sh = InteractiveShell(shell, hook_code(shell, port_file), tmp_path / "home", tmp_path)
    try:
        assert "hello" in sh.run("echo hello")
        with socket.socket() as s:  # a stale port file: a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port_file.write_text(f"{s.getsockname()[1]} token\n")
        shown = sh.run("echo again; false")
        status = sh.run("echo status=$?")
    finally:
        sh.close()
    assert "again" in shown
    assert "status=1" in status  # the hook ran in between and left `$?` as the command set it
    assert "refused" not in sh.transcript.lower() and "connect" not in sh.transcript.lower()


def test_records_with_a_wrong_token_are_refused(source) -> None:
    src, events = source
    with socket.create_connection(("127.0.0.1", src.port)) as s:
        s.sendall(b"WS1 C not-the-token bash 00000000 1 0 1.0 2.0 - 1\n/\0/\0ls\0  1  ls\n")
    deadline = time.monotonic() + 3
    while src.rejected == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert src.rejected == 1 and events == []
    assert (src.port_path.stat().st_mode & 0o777) == 0o600


def test_the_hook_keeps_the_exit_status_for_the_prompt_and_parses(tmp_path: Path) -> None:
    for shell in SHELLS:
        code = hook_code(shell, tmp_path / "p", wrap_output=True)
        r = subprocess.run([shell, "-n"], input=code, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "shell_pty" in code
