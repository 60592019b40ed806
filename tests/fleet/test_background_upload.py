"""A real recorder uploads its closed segments to a real service in the background: pause holds the
uploads, stop leaves the rest to `workscribe upload`, and a service that was away gets them once back,
each segment exactly once."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fleetkit import FleetServer, running_service
from helpers import RecorderProcess, run_cli, wait_for
from workscribe.envs.xdisplay import XDisplay, open_window, xdotool
from workscribe.spool import format as fmt
from workscribe.spool.reader import Spool

pytestmark = pytest.mark.x11

APP = "uploadterm"


def _enrol_and_grant(fleet: FleetServer, env: dict[str, str]) -> None:
    r = run_cli("enroll", fleet.url, "--token", fleet.invite(), "--json", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("consent", "grant", "--apps", APP, "--sources", "input,window", "--upload", "--yes", env=env)
    assert r.returncode == 0, r.stderr


def _closed(out: Path) -> list[str]:
    """Names of the spool's segments that have a footer."""
    return [s.path.name for s in Spool(out).segments if s.complete]


def _requests(fleet: FleetServer) -> list[dict]:
    """The service's access log: one JSON line per request."""
    return [json.loads(line) for line in fleet.log.read_text().splitlines() if line.startswith("{")]


def _upload_requests(fleet: FleetServer) -> int:
    return sum(1 for r in _requests(fleet) if r["path"].startswith("/v1/uploads"))


def _stored(fleet: FleetServer) -> list[str]:
    """Segment names in the service's catalog, one per row."""
    with sqlite3.connect(fleet.data / "catalog.sqlite") as db:
        return [name for (name,) in db.execute("select name from segments")]


def _type(d: XDisplay, text: str) -> None:
    xdotool(d.name, "type", "--delay", "20", text)


def _status_uploads(rec: RecorderProcess, what: str, predicate, timeout: float = 20.0) -> dict:
    return rec.wait_status(what, lambda s: bool(s.get("uploads")) and predicate(s["uploads"]),
                           timeout=timeout)["uploads"]


def test_recorder_uploads_closed_segments_pauses_and_leaves_the_rest_to_upload(
        fleet: FleetServer, xdisplay: XDisplay, recorder) -> None:
    env = recorder.env
    _enrol_and_grant(fleet, env)
    term, wid = open_window(xdisplay.name, "xterm", "-name", APP, "-geometry", "80x20+40+40", wm_class=APP)
    try:
        rec = recorder("--segment-seconds", "1")
        xdotool(xdisplay.name, "mousemove", "--window", str(wid), "40", "40", "click", "1")
        _type(xdisplay, "echo uploaded in the background")
        wait_for(lambda: len(set(_stored(fleet))) >= 2, timeout=30, interval=0.2,
                 what="the service to hold two closed segments")
        assert set(_stored(fleet)) <= set(_closed(rec.out))  # never the segment being written
        uploads = rec.control("status")["uploads"]
        assert uploads["uploaded"] >= 2 and uploads["failed"] == 0

        rec.control("pause")
        _status_uploads(rec, "the uploader to hold", lambda u: u["state"] == "paused")
        before, closed_then = _upload_requests(fleet), len(_closed(rec.out))
        wait_for(lambda: len(_closed(rec.out)) >= closed_then + 2, timeout=20, interval=0.2,
                 what="two more segments to close while paused")
        assert _upload_requests(fleet) == before  # paused: not one request
        assert rec.control("status")["uploads"]["pending"] >= 2

        rec.control("resume")
        _type(xdisplay, "echo after the pause")
        wait_for(lambda: _upload_requests(fleet) > before, timeout=20, interval=0.2,
                 what="uploads to go on after resume")
        code, _, err = rec.stop()
        assert code == 0, err
    finally:
        term.kill()
        term.wait()

    segments = sorted(p.name for p in rec.out.glob(fmt.SEGMENT_GLOB))
    r = run_cli("status", "--spool", str(rec.out), "--json", env=env)  # no recorder: what is left
    assert r.returncode == 3 and "no recorder" in r.stderr
    left = json.loads(r.stdout)["uploads"]
    assert left["pending"] == len(segments) - len(set(_stored(fleet))) >= 1  # at least the last one
    r = run_cli("upload", "--spool", str(rec.out), "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["uploaded"] == left["pending"]
    stored = _stored(fleet)
    assert sorted(stored) == segments  # every segment, exactly once
    commits = Counter(r["status"] for r in _requests(fleet) if r["path"].endswith("/commit"))
    assert commits == {200: len(segments)}  # no segment was committed twice
    r = run_cli("status", "--spool", str(rec.out), "--json", env=env)
    assert json.loads(r.stdout)["uploads"] == {"pending": 0, "uploaded": len(segments), "failed": 0,
                                               "last_error": None}


def test_segments_closed_while_the_service_is_away_upload_when_it_is_back(
        xdisplay: XDisplay, recorder, tmp_path: Path) -> None:
    env = recorder.env
    place = tmp_path / "service"
    place.mkdir()
    with running_service(place) as fleet:
        _enrol_and_grant(fleet, env)
        port = urlsplit(fleet.url).port
    # the service is down now
    term, wid = open_window(xdisplay.name, "xterm", "-name", APP, "-geometry", "80x20+40+40", wm_class=APP)
    try:
        rec = recorder("--segment-seconds", "1")
        xdotool(xdisplay.name, "mousemove", "--window", str(wid), "40", "40", "click", "1")
        _type(xdisplay, "echo while the service is away")
        away = _status_uploads(rec, "the uploader to wait for the service",
                               lambda u: u["state"] == "waiting" and u["pending"] >= 2)
        assert "cannot be reached" in away["last_error"]
        with running_service(place, port=port) as fleet:
            closed = _closed(rec.out)
            wait_for(lambda: set(closed) <= set(_stored(fleet)), timeout=40, interval=0.2,
                     what="the segments closed while the service was away to be stored")
            code, _, err = rec.stop()
            assert code == 0, err
            assert err.count("upload: the service cannot be reached") == 1  # logged once, not per try
            assert "wsd_" not in err  # no token in any message
            r = run_cli("upload", "--spool", str(rec.out), "--json", env=env)
            assert r.returncode == 0, r.stderr
            segments = sorted(p.name for p in rec.out.glob(fmt.SEGMENT_GLOB))
            assert sorted(_stored(fleet)) == segments  # each once: no duplicate from the retries
            assert len(fleet.objects()) == len(segments)
    finally:
        term.kill()
        term.wait()


def test_the_uploader_sends_nothing_while_consent_does_not_allow_it(
        fleet: FleetServer, tmp_path: Path) -> None:
    from workscribe.fleet import client
    from workscribe.fleet.uploader import Uploader
    from workscribe.spool import crypto
    from workscribe.testing.synthetic import write_synthetic_spool

    home = tmp_path / "device"
    home.mkdir()
    spool = home / "spool"
    client.enroll(fleet.url, fleet.invite(), "0123456789abcdef", home)
    write_synthetic_spool(spool, crypto.load_or_create_key(home), 0.01, seed=4, segment_s=10)
    allowed = [False]  # revoked from the start: nothing leaves
    uploader = Uploader(spool, home, may_upload=lambda: allowed[0], log=lambda msg: None, poll_s=0.1)
    uploader.start(lambda: None)
    try:
        wait_for(lambda: uploader.status()["pending"] >= 2, what="segments to wait")
        uploader.segment_closed(spool)  # woken: still nothing may leave
        assert _upload_requests(fleet) == 0
        allowed[0] = True
        wait_for(lambda: uploader.status()["pending"] == 0, timeout=30, what="the uploads")
    finally:
        uploader.stop()
    assert uploader.status()["state"] == "stopped"
    assert sorted(_stored(fleet)) == sorted(p.name for p in spool.glob(fmt.SEGMENT_GLOB))
