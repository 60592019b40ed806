"""`workscribe bench shell` runs real hooked shells and reports per-state prompt latency."""

from __future__ import annotations

import json
import shutil

from helpers import run_cli


def test_bench_shell_times_every_state_and_every_record_arrives() -> None:
    r = run_cli("bench", "shell", "--prompts", "15", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    shells = ["bash"] + (["zsh"] if shutil.which("zsh") else [])
    assert sorted(result["shells"]) == sorted(shells)
    assert result["records_received"] == result["records_expected"] == (15 + 20) * 2 * len(shells)
    for states in result["shells"].values():
        assert list(states) == ["baseline", "hook, recorder down", "hook, recorder up",
                                "hook + output capture, recorder up"]
        for figures in states.values():
            assert 0 < figures["median_ms"] <= figures["p99_ms"]
        assert "added_median_ms" in states["hook, recorder up"]


def test_bench_shell_rejects_too_few_prompts() -> None:
    r = run_cli("bench", "shell", "--prompts", "3")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "at least 10" in r.stderr
