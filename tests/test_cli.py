"""The CLI as people and scripts use it: errors, JSON, the control socket, demo and bench."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from helpers import run_cli, wait_for
from workscribe.envs.xdisplay import XDisplay, open_window, xdotool
from workscribe.spool.reader import Spool


def _env(home: Path, display: XDisplay | None = None) -> dict[str, str]:
    base = display.env if display else dict(os.environ)
    return {**base, "WORKSCRIBE_HOME": str(home)}


@pytest.mark.parametrize("args, message", [
    (["consent", "grant", "--apps", "xterm", "--sources", "input,webcam", "--yes"], "unknown source"),
    (["consent", "grant", "--apps", " , ", "--yes"], "no apps"),
    (["consent", "grant", "--apps", "xterm", "--retention-days", "0", "--yes"], "retention"),
    (["consent", "revoke"], "no active consent"),
    (["record", "--out", "x", "--fps", "0"], "no consent"),
    (["status"], "no recorder is running"),
    (["inspect"], "Missing argument"),
])
def test_bad_input_is_one_line_with_an_exit_code(ws_home: Path, args: list[str], message: str) -> None:
    r = run_cli(*args, env=_env(ws_home))
    assert r.returncode in (2, 3)
    assert r.stderr.startswith("Error: ") and message in r.stderr and r.stderr.count("\n") == 1
    assert r.stdout == ""


def test_bad_record_options_after_consent(ws_home: Path, tmp_path: Path) -> None:
    env = _env(ws_home)
    assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=env).returncode == 0
    for args, message in ((["--fps", "0"], "--fps"), (["--quota", "lots"], "cannot read size"),
                          (["--duration", "-1"], "--duration")):
        r = run_cli("record", "--out", str(tmp_path / "s"), *args, env=env)
        assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1
    (tmp_path / "file").write_text("x")
    r = run_cli("record", "--out", str(tmp_path / "file"), env=env)
    assert r.returncode == 2 and "not a folder" in r.stderr
    assert (tmp_path / "file").read_text() == "x"


def test_consent_grant_prompt_can_be_declined(ws_home: Path) -> None:
    r = run_cli("consent", "grant", "--apps", "xterm", env=_env(ws_home), input="n\n")
    assert r.returncode == 1 and "What" not in r.stderr
    assert json.loads(run_cli("consent", "show", "--json", env=_env(ws_home)).stdout) is None


@pytest.mark.x11
def test_control_socket_is_owner_only_and_sigterm_closes_cleanly(ws_home: Path, xdisplay: XDisplay,
                                                                  recorder) -> None:
    assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
    rec = recorder()
    sock = ws_home / "run" / "recorder.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    status = rec.control("status")
    assert status["state"] == "out of scope" and status["pid"] == rec.proc.pid  # no xterm open yet
    second = run_cli("record", "--out", str(ws_home / "other"), "--display", xdisplay.name, env=recorder.env)
    assert second.returncode == 2 and "already running" in second.stderr
    rec.proc.send_signal(signal.SIGTERM)
    assert rec.proc.wait(timeout=20) == 0
    assert all(s.complete for s in Spool(rec.out).segments)
    assert not sock.exists()


@pytest.mark.x11
def test_revoking_consent_stops_the_recorder(xdisplay: XDisplay, recorder) -> None:
    assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
    rec = recorder()
    assert run_cli("consent", "revoke", env=recorder.env).returncode == 0
    start = time.monotonic()
    code, out, _ = rec.stop_waiting(timeout=10)
    assert code == 0 and "consent revoked" in out and time.monotonic() - start < 5


@pytest.mark.x11
def test_damage_watch_sees_drawing_and_idleness(xdisplay: XDisplay) -> None:
    from workscribe.sources.x11.screen import DamageWatch

    term, wid = open_window(xdisplay.name, "xterm")
    try:
        watch = DamageWatch(xdisplay.name)
        assert watch.changed()  # the first call always says yes
        deadline = time.monotonic() + 10
        quiet = 0
        while quiet < 3:  # xterm finishes drawing; then three polls in a row see no damage
            assert time.monotonic() < deadline, "the screen never settled"
            quiet = 0 if watch.changed() else quiet + 1
            time.sleep(0.1)  # part of the test: "settled" is three polls 0.1 s apart without damage
        xdotool(xdisplay.name, "type", "--delay", "0", "drawn")
        wait_for(watch.changed, timeout=5, interval=0.02, what="damage after typing into xterm")
        watch.close()
    finally:
        term.kill()
        term.wait()


@pytest.mark.x11
@pytest.mark.slow
def test_demo_runs_end_to_end_and_matches_its_ground_truth(tmp_path: Path) -> None:
    r = run_cli("demo", "--out", str(tmp_path / "demo"), "--bc-episodes", "3", "--eval-episodes", "2",
                "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["types_match_ground_truth"] and result["actions"] >= 10
    sheet = Path(result["contact_sheet"])
    assert sheet.stat().st_size > 10_000 and sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["summary"]["frames"] > 0
    from datasets import load_dataset

    assert set(result["exports"]) >= {"hf", "sft"}
    hf = load_dataset("parquet", data_dir=result["exports"]["hf"]["out"])["train"]
    assert len(hf) == result["actions"] and set(hf["task"]) == {"Type a greeting and tidy up the terminal"}
    assert [r["action_type"] for r in hf] == [json.loads(r["action"])["type"] for r in hf]
    for fmt, info in result["exports"].items():
        assert info["steps"] == result["actions"], fmt
    html = Path(result["stats_html"]).read_text()
    assert html.count("<img") >= 4 and "tasks: success" in html
    loop = result["bc"]  # the behaviour-cloning loop at its smallest: plumbing, not quality
    assert loop["demonstrations"] == 6 and set(loop["eval"]["tasks"]) == {"click-button", "enter-text"}
    assert all(v["episodes"] == 2 for v in loop["eval"]["tasks"].values())
    assert loop["eval"]["baselines"]["demonstrator"]["mean_success"] == 1.0
    assert Path(loop["report"]).read_text().count("<img") >= 3
    coding = result["coding"]  # the scripted coding session, recorded without a display
    assert (coding["commands"], coding["edits"], coding["git"]) == (5, 4, 2)
    assert coding["replays"] and coding["patch_replays"]
    assert coding["exports"] == {"swe": 1, "next-edit": 1, "next-command": 4}
    fleet = result["fleet"]  # a service, two contributors, a deletion, central exports (test_fleet_demo.py)
    assert [c["source"] for c in fleet["contributors"]] == ["coding demo", "synthetic"]
    assert fleet["deleted"]["reached_service"] and fleet["byte_identical"] and fleet["deleted_absent"]
    assert set(fleet["exports"]) == {"hf", "sft", "swe"} and fleet["exports"]["swe"]["steps"] > 0


@pytest.mark.x11
@pytest.mark.slow
def test_bench_record_reports_each_workload_and_loses_nothing() -> None:
    r = run_cli("bench", "record", "--duration", "5", "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert set(result["workloads"]) == {"typing", "terminal", "browser"}
    for name, figures in result["workloads"].items():
        assert set(figures) >= {"cpu_percent", "rss_peak_mb", "bytes_per_hour", "frames_stored",
                                "frames_dropped", "events_injected", "events_lost"}, name
        assert figures["frames_stored"] > 0, name
        assert figures["frames_dropped"]["action"] == 0, (name, figures)
        assert figures["events_lost"] == 0 and figures["events_captured"] == figures["events_injected"], name
        assert 0 < figures["rss_peak_mb"] and 0 <= figures["cpu_percent"], name
    typing = result["workloads"]["typing"]
    assert typing["events_injected"] > 500  # the burst alone is 1000 events
    assert typing["burst_events_per_s"] > 100
    assert result["workloads"]["terminal"]["text_reads"]["lines_glyphs"] > 0  # terminal text read by glyphs


def test_bench_record_refuses_an_unknown_workload() -> None:
    r = run_cli("bench", "record", "--workload", "spreadsheet", "--json")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "spreadsheet" in r.stderr


@pytest.mark.x11
def test_a_spool_reads_only_with_its_device_key(xdisplay: XDisplay, recorder, tmp_path: Path) -> None:
    assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
    rec = recorder()
    rec.stop()
    other_home = _env(tmp_path / "elsewhere")
    r = run_cli("inspect", str(rec.out), "--json", env=other_home)
    assert r.returncode == 2 and "encrypted and no key" in r.stderr and r.stderr.count("\n") == 1
    key = Path(recorder.env["WORKSCRIBE_HOME"]) / "spool.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    r = run_cli("inspect", str(rec.out), "--json", "--key", str(key), env=other_home)
    assert r.returncode == 0 and json.loads(r.stdout)["segments"] == 1
    (tmp_path / "bad.key").write_bytes(b"short")
    r = run_cli("inspect", str(rec.out), "--key", str(tmp_path / "bad.key"), env=other_home)
    assert r.returncode == 2 and "not a workscribe key" in r.stderr
