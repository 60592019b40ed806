"""End to end: a scripted coding session in a real repository, recorded without a display, exported
as swe, next-edit and next-command; the swe record replays to the committed tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import RecorderProcess, run_cli, spool_bytes, spool_events, wait_for
from workscribe.envs.coding import (
    CALC_BUGGY,
    GIT_ENV,
    SECRETS,
    InteractiveShell,
    coding_session,
    make_repo,
    replay_swe,
    save,
    tool_calls,
)


@pytest.mark.slow
@pytest.mark.parametrize("shell", ["bash"] + (["zsh"] if shutil.which("zsh") else []))
def test_a_coding_session_is_recorded_without_a_display_and_exports_replay(shell: str, ws_home: Path,
                                                                          tmp_path: Path) -> None:
    repo = tmp_path / "app"
    base = make_repo(repo)

    r = run_cli("consent", "grant", "--sources", "shell,shell-output,files,git", "--repos", str(repo),
                "--yes")
    assert r.returncode == 0, r.stderr
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # no X server anywhere
    out = tmp_path / "spool"
    proc = subprocess.Popen([sys.executable, "-m", "workscribe", "record", "--out", str(out)], env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    recorder = RecorderProcess(proc, env, out)
    sh = None
    try:
        recorder.wait_ready()
        hook = run_cli("shell-hook", shell, env=env)
        assert hook.returncode == 0, hook.stderr
        sh = InteractiveShell(shell, hook.stdout, tmp_path / "home", repo, env=GIT_ENV)
        session = coding_session(repo, sh)
        commit = session["commit"]
        assert "add is wrong" in session["failing"] and "all tests passed" in session["passing"]

        def last_changes_stored() -> bool:  # the files and git sources saw them, and they are on disk
            events = spool_events(out)
            edits = [e for e in events if e["source"] == "files" and e["kind"] == "edit"]
            return len(edits) >= 4 and any(e["source"] == "git" and e["kind"] == "commit" for e in events)

        wait_for(last_changes_stored, timeout=15, what="the last edit and the commit in the spool")
    finally:
        if sh is not None:
            sh.close()
        code, _, err = recorder.stop()
    assert code == 0, err
    assert not (ws_home / "shell.port").exists()

    # what the spool holds: commands, edits and git events, and no secret
    blob = spool_bytes(out)
    for secret in SECRETS:
        assert secret.encode() not in blob
    actions = json.loads(run_cli("actions", str(out), "--json").stdout)
    commands = [a for a in actions if a["type"] == "command"]
    assert [a["text"] for a in commands][:2] == ["git switch -c fix-add", "python3 test_calc.py"]
    assert commands[2]["text"].startswith("export API_TOKEN=<") and "ghp_" not in commands[2]["text"]
    assert [a["text"] for a in commands][3:] == [
        "python3 test_calc.py", "git add -A && git commit -qm 'Fix add: it subtracted'"]
    assert [a["exit_code"] for a in commands] == [0, 1, 0, 0, 0]
    assert "add is wrong" in commands[1]["output"] and "all tests passed" in commands[3]["output"]
    assert all(a["cwd"] and a["duration_s"] >= 0 for a in commands)
    edits = [a for a in actions if a["type"] == "edit"]
    assert [(a["path"], a["detail"]["op"]) for a in edits] == [
        ("calc.py", "modify"), ("settings.py", "create"), ("settings.py", "delete"), ("calc.py", "modify")]
    assert "debug.log" not in str(actions)
    gits = [a["detail"]["kind"] for a in actions if a["type"] == "git"]
    assert gits == ["checkout", "commit"]
    [session] = json.loads(run_cli("review", "--spool", str(out), "--json").stdout)
    assert [(e["cut"], e["steps"]) for e in session["episodes"]] == [("commit", 11)]
    assert session["episodes"][0]["repo"] and session["episodes"][0]["commit"] == commit
    coding = json.loads(run_cli("stats", str(out), "--json").stdout)["coding"]
    assert coding["episodes"] == 1 and coding["cut_reasons"]["commit"] == 1
    assert coding["steps"] == {"command ok": 4, "edit modify": 2, "command failed": 1, "edit create": 1,
                               "edit delete": 1, "git checkout": 1, "git commit": 1}
    counts = json.loads(run_cli("inspect", str(out), "--json").stdout)
    assert counts["actions"]["command"] == 5 and counts["events"]["shell.command"] == 5

    # exports
    reports = {}
    for fmt in ("swe", "next-edit", "next-command"):
        r = run_cli("export", str(out), "--format", fmt, "--out", str(tmp_path / fmt), "--json")
        assert r.returncode == 0, r.stderr
        reports[fmt] = json.loads(r.stdout)
    records = [json.loads(line)
               for line in (tmp_path / "swe" / "data" / "train.jsonl").read_text().splitlines()]
    assert len(records) == 1
    swe = records[0]
    assert swe["base"]["hash"] == base and swe["commit"] == commit and swe["cut"] == "commit"
    names = [c["function"]["name"] for c in tool_calls(swe)]
    assert names.count("bash") == 5 and names.count("edit") == 4
    tool_turns = [m for m in swe["messages"] if m["role"] == "tool"]
    assert any("add is wrong" in m["content"] for m in tool_turns)

    # replay: the edits, in order, turn the starting tree into the committed tree, and so does the patch
    assert replay_swe(repo, swe, commit, tmp_path / "replay") == {"edits": True, "patch": True}

    cmds = [json.loads(line)
            for line in (tmp_path / "next-command" / "data" / "train.jsonl").read_text().splitlines()]
    assert [c["next"] for c in cmds] == [a["text"] for a in commands[1:]]
    assert reports["next-edit"]["episodes"] == 1
    lines = (tmp_path / "next-edit" / "data" / "train.jsonl").read_text().splitlines()
    examples = [json.loads(line) for line in lines]
    assert len(examples) == 1  # the fix: the first edit has none before it; creates, deletes no excerpt
    fix = examples[0]
    assert fix["path"] == "calc.py" and "settings.py" in fix["events"]
    assert "a - b" in fix["input"] and "<|user_cursor_is_here|>" in fix["input"]
    assert "a + b" in fix["output"] and "a - b" not in fix["output"]


def _record(out: Path, env: dict[str, str]) -> RecorderProcess:
    proc = subprocess.Popen([sys.executable, "-m", "workscribe", "record", "--out", str(out)], env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    recorder = RecorderProcess(proc, env, out)
    recorder.wait_ready()
    return recorder


@pytest.mark.slow
def test_no_command_is_kept_while_paused_outside_the_repos_or_without_the_shell_source(
        ws_home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "app"
    make_repo(repo)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}

    def grant(sources: str) -> None:
        r = run_cli("consent", "grant", "--sources", sources, "--repos", str(repo), "--yes")
        assert r.returncode == 0, r.stderr

    hook = run_cli("shell-hook", "bash", env=env).stdout
    sh = InteractiveShell("bash", hook, tmp_path / "home", repo, env=GIT_ENV)
    recorders: list[RecorderProcess] = []
    try:
        grant("files,git")
        recorders.append(_record(tmp_path / "no-shell", env))
        assert not (ws_home / "shell.port").exists()
        sh.run("echo not-consented")
        recorders[-1].stop()
        grant("shell")
        recorders.append(_record(tmp_path / "shell", env))
        sh.run("echo before-pause")
        assert recorders[-1].control("pause")["state"] == "paused"
        sh.run("echo while-paused")
        recorders[-1].control("resume")
        sh.run(f"cd {tmp_path} && echo leaving-the-repo")  # cwd before was in the repo: kept
        sh.run("echo outside-the-repo")
        sh.run(f"cd {repo} && echo back")
        wait_for(lambda: any(e["kind"] == "command" and e["data"]["text"] == f"cd {repo} && echo back"
                             for e in spool_events(tmp_path / "shell")),
                 timeout=15, what="the last command in the spool")
        code, _, err = recorders[-1].stop()
        assert code == 0, err
    finally:
        sh.close()
        for recorder in recorders:
            if recorder.proc.poll() is None:
                recorder.kill9()
    events = json.loads(run_cli("inspect", str(tmp_path / "no-shell"), "--json").stdout)["events"]
    assert "shell.command" not in events
    actions = json.loads(run_cli("actions", str(tmp_path / "shell"), "--json").stdout)
    assert [a["text"] for a in actions if a["type"] == "command"] == [
        "echo before-pause", f"cd {tmp_path} && echo leaving-the-repo", f"cd {repo} && echo back"]
    assert b"while-paused" not in spool_bytes(tmp_path / "shell")
    assert b"outside-the-repo" not in spool_bytes(tmp_path / "shell")


@pytest.mark.slow
def test_an_edit_saved_the_moment_the_recorder_is_ready_is_recorded(ws_home: Path, tmp_path: Path) -> None:
    """Ready (the control socket's ``ready``, or the shell's port file) means every source is: the
    files source watches the repository. Each round starts a real recorder, saves a file the moment
    it is ready and stops it; the edit must be in the spool."""
    from workscribe import paths
    from workscribe.record.control import request
    from workscribe.record.process import spawn_recorder, wait_until_ready
    from workscribe.sources.shell import port_file

    repo = tmp_path / "app"
    make_repo(repo)
    r = run_cli("consent", "grant", "--sources", "shell,files,git", "--repos", str(repo), "--yes")
    assert r.returncode == 0, r.stderr
    for round_ in range(6):
        out, log = tmp_path / f"spool-{round_}", tmp_path / f"recorder-{round_}.log"
        proc = spawn_recorder(out, None, ws_home, "--json", log=log)
        try:
            if round_ % 2:  # what a script may wait for instead: the port file hooked shells read
                def port_published(proc=proc, log=log) -> bool:
                    assert proc.poll() is None, log.read_text()
                    return port_file(ws_home).exists()

                wait_for(port_published, timeout=30, interval=0.005, what="the shell's port file")
            else:
                wait_until_ready(proc, ws_home, log=log)
            save(repo / "calc.py", f"# round {round_}\n" + CALC_BUGGY)
            status = request("status", paths.control_socket(ws_home))
            request("stop", paths.control_socket(ws_home))
            stdout, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, log.read_text()
        assert status["ready"] and 0 < status["ready_after_s"] < 30
        summary = json.loads(stdout)
        assert summary["ready_after_s"] == status["ready_after_s"]
        actions = json.loads(run_cli("actions", str(out), "--json").stdout)
        edits = [a for a in actions if a["type"] == "edit"]
        assert [(a["path"], a["detail"]["op"]) for a in edits] == [("calc.py", "modify")], (round_, actions)
        assert f"+# round {round_}" in edits[0]["diff"]
    assert not port_file(ws_home).exists()


@pytest.mark.slow
def test_a_full_disk_stops_the_recorder_with_exit_1_and_one_line(ws_home: Path, tmp_path: Path,
                                                                 tmpfs: Path) -> None:
    """The spool on a real 8 MiB filesystem: under the free-space margin from the start (frames would
    pause; status says so), then filled up; edits keep coming until a write fails. The recorder stops
    with exit code 1 (the work failed, not the request) and one line, and leaves no control socket."""
    import random

    from helpers import fill_disk

    repo = tmp_path / "app"
    make_repo(repo)
    r = run_cli("consent", "grant", "--sources", "files,git", "--repos", str(repo), "--yes")
    assert r.returncode == 0, r.stderr
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    recorder = _record(tmpfs / "spool", env)
    try:
        status = recorder.control("status")
        assert status["disk"] == "low: frames paused" and status["frames_skipped_low_disk"] == 0
        fill_disk(tmpfs)
        rng = random.Random(0)

        def one_more_edit() -> bool:  # each save is an edit whose diff no longer fits
            if recorder.proc.poll() is None:
                save(repo / "calc.py", "".join(f"# {rng.getrandbits(128):032x}\n" for _ in range(300)))
            return recorder.proc.poll() is not None

        wait_for(one_more_edit, timeout=30, interval=0.1, what="the recorder to stop on a full disk")
        code, _, err = recorder.stop_waiting()
    finally:
        if recorder.proc.poll() is None:
            recorder.kill9()
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert errors == [f"Error: the disk holding {tmpfs / 'spool'} is full (No space left on device): "
                      "recording stopped"], err
    assert err.rstrip("\n").endswith(errors[0]) and "Traceback" not in err
    assert "disk low:" in err  # what the recorder logged when it started under the margin
    assert run_cli("status", env=env).returncode == 3  # no recorder, no stale socket
