"""The coding verbs refuse bad input in one line, and a coding-only consent needs no display."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import run_cli


def test_consent_for_coding_sources_names_what_is_missing(ws_home: Path, tmp_path: Path) -> None:
    cases = [
        (["--sources", "shell"], "need repos"),
        (["--sources", "files", "--repos", str(tmp_path)], "not a git work tree"),
        (["--sources", "git", "--repos", str(tmp_path / "missing")], "not a folder"),
        (["--sources", "shell-output", "--repos", str(tmp_path)], "not a git work tree"),
        (["--sources", "input"], "no apps granted"),
    ]
    for args, message in cases:
        r = run_cli("consent", "grant", *args, "--yes")
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not (ws_home / "consent.json").exists()
    subprocess.run(["git", "init", "-q", str(tmp_path / "app")], check=True)
    r = run_cli("consent", "grant", "--sources", "shell,files,git", "--repos", str(tmp_path / "app"),
                "--yes", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["repos"] == [str((tmp_path / "app").resolve())]


def test_shell_hook_prints_code_for_bash_and_zsh_only(ws_home: Path) -> None:
    r = run_cli("shell-hook", "bash")
    assert r.returncode == 0 and "__ws_precmd" in r.stdout and str(ws_home / "shell.port") in r.stdout
    assert "shell_pty" not in r.stdout  # no shell-output consent: no wrapper
    r = run_cli("shell-hook", "fish")
    assert r.returncode == 2 and "fish" in r.stderr


def test_export_of_a_spool_without_coding_work_gives_no_swe_records(ws_home: Path, tmp_path: Path) -> None:
    from workscribe.testing.synthetic import write_synthetic_spool

    key = b"k" * 32
    (tmp_path / "spool.key").write_bytes(key)
    write_synthetic_spool(tmp_path / "spool", key, hours=0.02, seed=1)
    r = run_cli("export", str(tmp_path / "spool"), "--format", "swe", "--out", str(tmp_path / "swe"),
                "--key", str(tmp_path / "spool.key"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["episodes"] == 0
