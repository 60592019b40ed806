"""`workscribe bench process` on a few simulated minutes: the figures it prints, and its clean-up."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from helpers import run_cli
from workscribe.bench import process


def test_bench_process_json_prints_the_figures_and_leaves_no_temp_files(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    r = run_cli("bench", "process", "--hours", "0.05", "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # the progress bar is on stderr, never in the JSON
    assert {"hours", "events", "seconds", "realtime_factor", "peak_rss_mb"} <= out.keys()
    assert out["hours"] == 0.05 and out["events"] > 1000 and out["steps"] > 0
    assert out["seconds"] > 0
    # "seconds" is rounded to ms, a few % of a run this short
    assert out["realtime_factor"] == pytest.approx(0.05 * 3600 / out["seconds"], rel=0.05)
    assert 10 < out["peak_rss_mb"] < 4096 and out["rss_by_hours"] == {"0.05": out["peak_rss_mb"]}
    assert out["pinned_cpu"] in os.sched_getaffinity(0)
    assert list(tmp_path.iterdir()) == []


def test_bench_process_removes_its_spool_when_measuring_fails(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(folder: Path, key: bytes) -> dict:
        assert any(folder.glob("seg-*.wss"))
        raise RuntimeError("the measuring process failed: boom")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(process, "_measure_in_child", fail)
    with pytest.raises(RuntimeError, match="boom"):
        process.bench_process(hours=0.01)
    assert list(tmp_path.iterdir()) == []


def test_bench_process_rejects_non_positive_hours() -> None:
    r = run_cli("bench", "process", "--hours", "0")
    assert r.returncode == 2 and r.stderr.strip() == "Error: --hours must be > 0"
