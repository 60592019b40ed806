"""The shell source with real interactive shells: bash (and zsh where installed) in a pty, hooked."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import wait_for
from shellkit import InteractiveShell
from workscribe.events import now_ns
from workscribe.sources.shell import ShellSource, hook_code

SHELLS = ["bash"] + (["zsh"] if shutil.which("zsh") else [])


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
        wait_for(lambda: len(events) >= 4, timeout=5, interval=0.02, what="the four commands' records")
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
    wait_for(lambda: src.rejected, timeout=3, interval=0.02, what="the record's refusal")
    assert src.rejected == 1 and events == []
    assert (src.port_path.stat().st_mode & 0o777) == 0o600


# the person's own prompt hook, run after ours: it shows the exit status of their last command
OWN_PROMPT_HOOK = {"bash": "PROMPT_COMMAND='__mine=$?'\n",
                   "zsh": "__mine_precmd() { __mine=$?; }\nprecmd_functions+=(__mine_precmd)\n"}


@pytest.mark.parametrize("shell", SHELLS)
def test_the_hook_keeps_the_exit_status_for_the_prompt_and_parses(shell: str, source, tmp_path: Path) -> None:
    for wrap in (False, True):
        code = hook_code(shell, tmp_path / "p", wrap_output=wrap)
        r = subprocess.run([shell, "-n"], input=code, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert ("shell_pty" in code) == wrap
    src, events = source
    sh = InteractiveShell(shell, OWN_PROMPT_HOOK[shell] + hook_code(shell, src.port_path), tmp_path / "home",
                          tmp_path)
    try:
        sh.run("sh -c 'exit 7'")
        after_7 = sh.run('echo "mine=$__mine"')
        sh.run("false")
        after_false = sh.run('echo "mine=$__mine status=$?"')
        got = _wait_commands(events, ["sh -c 'exit 7'", "false"])
    finally:
        sh.close()
    # the hook sent each command to the recorder in between, and the prompt hooks after it still saw
    # the command's own status (and so does `$?` at the prompt)
    assert got["sh -c 'exit 7'"]["exit_code"] == 7 and got["false"]["exit_code"] == 1
    assert "mine=7" in after_7 and "mine=1 status=1" in after_false


# -- the output wrapper, however the hook was loaded ------------------------------------------------

def _wait_commands(events: list, texts: list[str], timeout: float = 10.0) -> dict[str, dict]:
    """The recorded commands by text, once every one of ``texts`` is in ``events``."""
    def got() -> dict[str, dict] | None:
        by_text = {e["data"]["text"]: e["data"] for e in events}
        return by_text if all(t in by_text for t in texts) else None

    return wait_for(got, timeout=timeout, interval=0.02, what=f"the records of {texts}")


@pytest.fixture
def granted(ws_home: Path, tmp_path: Path):
    """A consent with ``shell-output`` in a private $WORKSCRIBE_HOME, and a shell source (with output)
    publishing its port there: what `workscribe shell-hook` and a running recorder give a shell."""
    from helpers import run_cli
    from workscribe.sources.shell import port_file

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    r = run_cli("consent", "grant", "--sources", "shell,shell-output", "--repos", str(repo), "--yes")
    assert r.returncode == 0, r.stderr
    events: list = []
    src = ShellSource(port_file(ws_home), output=True)
    src.start(events.append)
    yield src, events
    src.stop()


# (shell, how it starts, where the hook is loaded from, the start-up file the wrapped shell reads)
LOADED = [("bash", "typed", ["bash", "--norc", "--noprofile", "-i"], "bashrc"),
          ("bash", "rcfile", ["bash", "--rcfile", "RCFILE", "-i"], "rcfile"),
          ("bash", "login", ["bash", "--login", "-i"], "profile")]
if shutil.which("zsh"):
    LOADED.append(("zsh", "typed", ["zsh", "-f", "-i"], "zshrc"))


@pytest.mark.parametrize("shell, loaded, argv, marker", LOADED, ids=[f"{s}-{w}" for s, w, _, _ in LOADED])
def test_commands_and_output_are_recorded_however_the_hook_was_loaded(
        shell: str, loaded: str, argv: list[str], marker: str, granted, ws_home: Path,
        tmp_path: Path) -> None:
    """The hook re-runs the shell inside the output wrapper; that shell reads the start-up file the first
    one read (or the default one when the hook was typed), then the hook: commands and their output
    are recorded, and the person's start-up file was read again."""
    from workscribe.envs.coding import PROMPT

    src, events = granted
    home, real_home = tmp_path / "home", tmp_path / "real-home"
    real_home.mkdir()
    eval_line = f'eval "$({sys.executable} -m workscribe shell-hook {shell})"'
    env = {"WORKSCRIBE_HOME": str(ws_home), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    rc = f"marker={marker}"
    if loaded == "rcfile":
        rcfile = tmp_path / "custom-rc"
        rcfile.write_text(f"marker=rcfile\nPS1='{PROMPT}'\n{eval_line}\n")
        argv = [str(rcfile) if a == "RCFILE" else a for a in argv]
    elif loaded == "login":
        (home / ".bash_profile").parent.mkdir(parents=True, exist_ok=True)
        (home / ".bash_profile").write_text(f"marker=profile\nPS1='{PROMPT}'\n{eval_line}\n")
    if shell == "zsh":  # their ZDOTDIR is not their HOME: the wrapped shell must read it from ZDOTDIR
        env["HOME"] = str(real_home)
    sh = InteractiveShell(shell, rc, home, tmp_path, env=env, argv=argv)
    try:
        if loaded == "typed":
            sh.run(eval_line)
        shown = sh.run("echo out-$((6*7)) pty=$WORKSCRIBE_PTY marker=$marker zdotdir=${ZDOTDIR-}")
        sh.run("printf 'a\\nb\\n'; false")
        got = _wait_commands(events, ["printf 'a\\nb\\n'; false"])
    finally:
        sh.close()
    assert "out-42 pty=1" in shown and f"marker={marker}" in shown
    if shell == "zsh":
        assert f"zdotdir={home}\r" in shown  # their ZDOTDIR, back in place
    first = got["echo out-$((6*7)) pty=$WORKSCRIBE_PTY marker=$marker zdotdir=${ZDOTDIR-}"]
    assert first["output"].startswith("out-42 pty=1") and first["exit_code"] == 0
    assert got["printf 'a\\nb\\n'; false"]["output"] == "a\nb"
    assert got["printf 'a\\nb\\n'; false"]["exit_code"] == 1
    assert "workscribe:" not in sh.transcript  # nothing to say: everything is recorded
    init = ws_home / "shell-init"
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in init.rglob("*") if p.is_file())
    assert "marker" not in "".join(p.read_text() for p in init.rglob("*") if p.is_file())


@pytest.mark.parametrize("shell", SHELLS)
def test_without_its_start_up_files_the_wrapper_is_not_started_and_the_hook_says_so(
        shell: str, source, tmp_path: Path) -> None:
    """``hook_code`` alone (``install_init`` never ran): one line on stderr, and commands are still
    recorded, without their output."""
    src, events = source
    hook = tmp_path / "hook"
    hook.write_text(hook_code(shell, src.port_path, wrap_output=True))
    argv = ["bash", "--norc", "--noprofile", "-i"] if shell == "bash" else ["zsh", "-f", "-i"]
    sh = InteractiveShell(shell, "", tmp_path / "home", tmp_path, argv=argv)
    try:
        said = sh.run(f'eval "$(cat {hook})"')
        sh.run("echo still-recorded")
        got = _wait_commands(events, ["echo still-recorded"])
    finally:
        sh.close()
    lines = [line for line in said.splitlines() if "workscribe:" in line]
    assert len(lines) == 1 and "command output is not recorded" in lines[0] and "is missing" in lines[0]
    assert got["echo still-recorded"]["output"] is None
