"""Review and delete: the contributor sees what was kept and removes it for good."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from helpers import run_cli
from workscribe.envs.xdisplay import XDisplay, open_window, xdotool
from workscribe.events import make_event
from workscribe.spool import format as fmt
from workscribe.spool.reader import Spool, SpoolReadError
from workscribe.spool.retention import delete_recordings, expired_recordings, tombstoned
from workscribe.spool.writer import SpoolConfig, SpoolWriter

KEY = bytes(range(32))


def _recording(folder: Path, n: int = 3) -> str:
    w = SpoolWriter(SpoolConfig(out=folder, key=KEY))
    w.put_events([make_event("input", "motion", {"x": i, "y": i}) for i in range(n)])
    w.close()
    return w.recording_id


def test_deleted_recordings_are_gone_and_never_read_again(tmp_path: Path) -> None:
    first, second = _recording(tmp_path), _recording(tmp_path)
    copy = tmp_path / "backup.bin"
    victim = next(p for p in tmp_path.glob(fmt.SEGMENT_GLOB) if first[:8] in p.name)
    copy.write_bytes(victim.read_bytes())
    files = delete_recordings(tmp_path, [first], reason="test")
    assert files == [victim.name] and not victim.exists()
    assert tombstoned(tmp_path) == {first}
    copy.rename(victim)  # a copy that survived somewhere comes back: still not read
    spool = Spool(tmp_path, key=KEY)
    assert [s.header["recording_id"] for s in spool.segments] == [second]
    assert spool.deleted_segments == 1
    delete_recordings(tmp_path, [second], reason="test")
    with pytest.raises(SpoolReadError):
        Spool(tmp_path, key=KEY)


def test_retention_finds_recordings_older_than_the_consent_allows(tmp_path: Path) -> None:
    old, _ = _recording(tmp_path), _recording(tmp_path)
    for p in tmp_path.glob(fmt.SEGMENT_GLOB):
        if old[:8] in p.name:
            stamp = time.time() - 31 * 86400
            os.utime(p, (stamp, stamp))
    assert expired_recordings(tmp_path, 30) == [old[:8]]
    assert expired_recordings(tmp_path, 40) == []


@pytest.mark.x11
def test_review_lists_sessions_and_delete_removes_every_file(xdisplay: XDisplay, recorder,
                                                             tmp_path: Path) -> None:
    term, _ = open_window(xdisplay.name, "xterm", "-geometry", "60x10+30+30")
    try:
        assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
        spool = Path(recorder.env["WORKSCRIBE_HOME"]) / "spool"
        for _ in range(2):
            rec = recorder(out=spool)
            xdotool(xdisplay.name, "mousemove", "100", "80", "click", "--delay", "0", "1")
            xdotool(xdisplay.name, "type", "--delay", "20", "ls")
            assert rec.stop()[0] == 0  # at once: a clean stop drains the input the server has delivered
    finally:
        term.kill()
        term.wait()
    r = run_cli("review", "--json", env=recorder.env)
    assert r.returncode == 0, r.stderr
    sessions = json.loads(r.stdout)
    assert len(sessions) == 2 and all(s["apps"] == ["xterm"] and s["actions"] >= 2 for s in sessions)
    for s in sessions:  # each session is one app session: one episode with its steps
        [episode] = s["episodes"]
        assert episode["episode_id"].startswith(s["session"]) and episode["apps"] == ["xterm"]
        assert episode["steps"] >= 1 and episode["cut"] == "recording_end"
    png = tmp_path / "s.png"
    r = run_cli("review", "--frames", sessions[0]["session"], "--out", str(png), env=recorder.env)
    assert r.returncode == 0 and png.read_bytes()[:4] == b"\x89PNG"
    r = run_cli("delete", "nosuch", "--yes", env=recorder.env)
    assert r.returncode == 2 and "no session" in r.stderr
    r = run_cli("delete", sessions[0]["session"], "--yes", "--json", env=recorder.env)
    assert r.returncode == 0 and json.loads(r.stdout)["deleted_sessions"] == [sessions[0]["session"]]
    assert not [p for p in spool.iterdir() if sessions[0]["session"] in p.name]
    left = json.loads(run_cli("review", "--json", env=recorder.env).stdout)
    assert [s["session"] for s in left] == [sessions[1]["session"]]
    assert run_cli("delete", "--all", "--yes", env=recorder.env).returncode == 0
    assert json.loads(run_cli("review", "--json", env=recorder.env).stdout) == []
    assert not list(spool.glob(fmt.SEGMENT_GLOB))
