"""`workscribe delete` on an enrolled device deletes on the service too; what the service cannot take
now is queued and sent by the next upload or delete; a deleted recording's segments never leave again."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from fleetkit import FleetServer
from helpers import run_cli
from workscribe.fleet import client
from workscribe.spool import crypto
from workscribe.spool.format import SEGMENT_GLOB
from workscribe.testing.synthetic import write_synthetic_spool

CONTRIBUTOR = "fedcba9876543210"
DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing listens


def _record(home: Path, seed: int) -> str:
    """One more recording in the device's spool (several closed segments); its id."""
    made = write_synthetic_spool(home / "spool", crypto.load_or_create_key(home), 0.01, seed=seed,
                                 contributor=CONTRIBUTOR, segment_s=15)
    return made["recording_id"]


def _rows(fleet: FleetServer, sql: str) -> list[tuple]:
    with sqlite3.connect(fleet.data / "catalog.sqlite") as db:
        return db.execute(sql).fetchall()


def _point_at(home: Path, url: str) -> None:
    path = home / "fleet" / "device.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "url": url}))


def _segments_of(home: Path, recording_id: str) -> list[Path]:
    return [p for p in (home / "spool").glob(SEGMENT_GLOB) if recording_id[:8] in p.name]


def test_delete_reaches_the_service_or_waits_for_it_and_nothing_deleted_leaves(
        fleet: FleetServer, tmp_path: Path) -> None:
    home = tmp_path / "device"
    home.mkdir()
    env = {**os.environ, "WORKSCRIBE_HOME": str(home)}
    first, second = _record(home, 1), _record(home, 2)
    client.enroll(fleet.url, fleet.invite(), CONTRIBUTOR, home)
    uploaded = client.upload_pending(home / "spool", home)["uploaded"]
    assert uploaded == len(list((home / "spool").glob(SEGMENT_GLOB)))
    stored = dict(_rows(fleet, "select sha256, recording_id from segments"))
    assert set(stored.values()) == {first, second}

    # reachable: deleted here and there at once
    r = run_cli("delete", first[:8], "--yes", "--json", env=env)
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["service"] == {"deleted": 1, "not_uploaded": 0, "queued": 0, "errors": []}
    assert answer["deleted_files"] and not _segments_of(home, first)
    rows = _rows(fleet, "select sha256, wrapped_data_key, deleted_at from segments "
                        f"where recording_id = '{first}'")
    assert rows and all(w is None and d is not None for _, w, d in rows)
    assert not set(fleet.objects()) & {sha for sha, _, _ in rows}
    assert _rows(fleet, "select recording_id from tombstones") == [(first,)]

    # a third recording is staged but not sent when the service goes away; the second is stored
    third = _record(home, 3)
    _point_at(home, DEAD_URL)
    result = client.upload_pending(home / "spool", home, attempts=1)
    assert result["uploaded"] == 0 and result["pending"] > 0
    staged = [n for n in os.listdir(home / "fleet" / "outbox") if third[:8] in n]
    assert staged
    copies = {p.name: p.read_bytes() for p in _segments_of(home, third)}
    r = run_cli("delete", second[:8], third[:8], "--yes", "--json", env=env)
    assert r.returncode == 0, r.stderr
    service = json.loads(r.stdout)["service"]
    assert service["queued"] == 2 and service["deleted"] == 0 and "cannot reach" in service["errors"][0]
    assert json.loads((home / "fleet" / "deletions.json").read_text()) == [second, third]
    assert oct((home / "fleet" / "deletions.json").stat().st_mode & 0o777) == "0o600"
    assert not [n for n in os.listdir(home / "fleet" / "outbox") if third[:8] in n]  # outbox copies gone
    state = json.loads((home / "fleet" / "uploads.json").read_text())
    assert not [n for n in state if second[:8] in n or third[:8] in n]  # and their upload entries
    assert {rid for _, rid in _rows(fleet, "select sha256, recording_id from segments "
                                           "where deleted_at is null")} == {second}  # not yet there

    # a copy of a deleted segment comes back into the spool: it is never uploaded
    for name, body in copies.items():
        (home / "spool" / name).write_bytes(body)
    _point_at(home, fleet.url)
    fourth = _record(home, 4)
    result = client.upload_pending(home / "spool", home)  # sends the queued deletions first
    assert result["failed"] == result["pending"] == 0 and result["errors"] == []
    assert result["uploaded"] == len(_segments_of(home, fourth))
    assert json.loads((home / "fleet" / "deletions.json").read_text()) == []
    live = {rid for (rid,) in _rows(fleet, "select recording_id from segments where deleted_at is null")}
    assert live == {fourth}
    assert not _rows(fleet, f"select sha256 from segments where recording_id = '{third}'")  # never sent
    stones = sorted(rid for (rid,) in _rows(fleet, "select recording_id from tombstones"))
    assert stones == sorted([first, second])
    stored_objects = set(fleet.objects())
    assert stored_objects == {sha for (sha,) in _rows(fleet, "select sha256 from segments "
                                                              "where deleted_at is null")}

    # a device that never enrolled deletes locally only, as before
    other = tmp_path / "other"
    other.mkdir()
    write_synthetic_spool(other / "spool", crypto.load_or_create_key(other), 0.01, seed=5)
    r = run_cli("delete", "--all", "--yes", "--json", env={**os.environ, "WORKSCRIBE_HOME": str(other)})
    assert r.returncode == 0, r.stderr
    assert "service" not in json.loads(r.stdout) and not list((other / "spool").glob(SEGMENT_GLOB))
