"""Central datasets and erasure against the real service: `workscribe export --server` equals the local
export of the same spools, byte for byte, and honours deletions; `workscribe org forget` leaves nothing
that the organisation's private key can open, not even in a backup of the objects."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetkit import FleetServer
from helpers import run_cli
from workscribe.export.driver import ExportOptions, export
from workscribe.fleet import client, keys
from workscribe.spool import crypto
from workscribe.spool.reader import Spool, SpoolReadError
from workscribe.testing.synthetic import write_synthetic_spool


@dataclass
class Contributor:
    """An enrolled device with a spool it uploaded."""

    id: str
    home: Path
    spool_key: bytes
    recordings: list[str]
    token: str

    @property
    def spool(self) -> Path:
        return self.home / "spool"


def _contributor(fleet: FleetServer, root: Path, contributor_id: str, seeds: list[int]) -> Contributor:
    home = root / contributor_id
    home.mkdir()
    key = crypto.load_or_create_key(home)
    recordings = [write_synthetic_spool(home / "spool", key, 0.01, seed=seed, frames=True,
                                        contributor=contributor_id, segment_s=15)["recording_id"]
                  for seed in seeds]
    device = client.enroll(fleet.url, fleet.invite(), contributor_id, home)
    result = client.upload_pending(home / "spool", home)
    assert result["uploaded"] > 0 and result["failed"] == result["pending"] == 0
    return Contributor(contributor_id, home, key, recordings, device.device_token)


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _central(fleet: FleetServer, fmt: str, out: Path, *more: str) -> dict:
    r = run_cli("export", "--server", str(fleet.data), "--private-key", fleet.org["private_key"],
                "--format", fmt, "--out", str(out), "--json", *more)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _local(people: list[Contributor], fmt: str, out: Path) -> dict:
    return export([p.spool for p in people], out, ExportOptions(format=fmt), key=people[0].spool_key,
                  keys=[p.spool_key for p in people[1:]])


@pytest.fixture
def two(fleet: FleetServer, tmp_path: Path) -> list[Contributor]:
    return [_contributor(fleet, tmp_path, "aaaaaaaaaaaaaaa1", [11, 12]),
            _contributor(fleet, tmp_path, "bbbbbbbbbbbbbbb2", [13])]


def test_a_central_export_is_the_local_export_and_honours_deletions(
        fleet: FleetServer, two: list[Contributor], tmp_path: Path) -> None:
    for fmt in ("hf", "sft"):
        central = _central(fleet, fmt, tmp_path / f"central-{fmt}")
        local = _local(two, fmt, tmp_path / f"local-{fmt}")
        assert central["recordings"] == local["recordings"] == 3 and central["steps"] > 0
        assert _digest(tmp_path / f"central-{fmt}") == _digest(tmp_path / f"local-{fmt}")
    r = run_cli("stats", "--server", str(fleet.data), "--private-key", fleet.org["private_key"], "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["folders"] == [str(fleet.data)]

    # the first contributor deletes a recording: the next central export is the local one without it
    a = two[0]
    gone = a.recordings[0]
    done = client.delete_everywhere(a.spool, [gone], home=a.home)
    assert done["service"]["deleted"] == 1
    for fmt in ("hf", "sft"):
        central = _central(fleet, fmt, tmp_path / f"central-{fmt}")  # an earlier export is replaced
        local = _local(two, fmt, tmp_path / f"local-{fmt}")
        assert central["recordings"] == local["recordings"] == 2
        assert _digest(tmp_path / f"central-{fmt}") == _digest(tmp_path / f"local-{fmt}")
    rows = (tmp_path / "central-hf").rglob("*.parquet")
    assert not any(gone[:8].encode() in p.read_bytes() for p in rows)  # its episode ids are gone

    # one-line errors: no private key, the wrong one, both sources at once
    other_key = tmp_path / "other.key"
    keys.save_private_key(keys.generate_org_key(), other_key)
    for args, message in [((), "--server needs --private-key"),
                          (("--private-key", str(other_key)), "is not the private key of the organisation"),
                          (("--private-key", str(tmp_path / "none.key")), "cannot read the private key"),
                          (("--private-key", fleet.org["private_key"], str(a.spool)), "one of them")]:
        r = run_cli("export", "--server", str(fleet.data), *args, "--format", "hf", "--out",
                    str(tmp_path / "refused"))
        assert r.returncode == 2 and r.stderr.startswith("Error: ") and message in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1


def test_forgetting_a_contributor_leaves_nothing_the_organisation_key_opens(
        fleet: FleetServer, two: list[Contributor], tmp_path: Path) -> None:
    a, b = two
    backup = tmp_path / "backup"
    shutil.copytree(fleet.data / "objects", backup)  # a copy of the objects taken before
    with sqlite3.connect(fleet.data / "catalog.sqlite") as db:
        b_objects = [sha for (sha,) in db.execute(
            f"select sha256 from segments where contributor_id = '{b.id}'")]
    assert b_objects

    r = run_cli("org", "forget", "--data", str(fleet.data), "--contributor", b.id, "--json")
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout)
    assert done["already_forgotten"] is False and done["devices_disabled"] == 1
    assert done["recordings"] == 1 and done["objects_removed"] == done["segments"] == len(b_objects)

    # the catalog keeps no key of theirs; their objects and their device are gone
    with sqlite3.connect(fleet.data / "catalog.sqlite") as db:
        [(sealed, forgotten_at)] = db.execute(
            f"select sealed_key, forgotten_at from contributors where id = '{b.id}'").fetchall()
        wrapped = db.execute(f"select wrapped_data_key, meta, deleted_at from segments "
                             f"where contributor_id = '{b.id}'").fetchall()
        stones = db.execute(f"select recording_id from tombstones where contributor_id = '{b.id}'").fetchall()
        readable = db.execute("select sha256, contributor_id, wrapped_data_key from segments "
                              "where wrapped_data_key is not null").fetchall()
        sealed_keys = db.execute("select id, sealed_key from contributors "
                                 "where sealed_key is not null").fetchall()
    assert sealed is None and forgotten_at is not None and stones == [(b.recordings[0],)]
    assert wrapped and all(w is None and m is None and d is not None for w, m, d in wrapped)
    assert not set(b_objects) & set(fleet.objects())
    with fleet.client(b.token) as c:
        assert c.get(f"/v1/uploads/{b_objects[0]}").status_code == 401
    with fleet.client(a.token) as c:
        assert c.get(f"/v1/uploads/{b_objects[0]}").status_code == 200  # the others go on

    # with the organisation's private key and the backup, every key the catalog still opens fails on them
    private = keys.load_private_key(Path(fleet.org["private_key"]))
    contributor_keys = {cid: keys.open_sealed(private, s, keys.contributor_key_aad(cid))
                        for cid, s in sealed_keys}
    assert set(contributor_keys) == {a.id}
    data_keys = [keys.unwrap(contributor_keys[cid], w, keys.data_key_aad(sha)) for sha, cid, w in readable]
    view = tmp_path / "b-backup"
    view.mkdir()
    for sha in b_objects:
        shutil.copy(backup / sha[:2] / sha, view / f"seg-{sha[:12]}-{sha[12:20]}-000000.wss")
    with pytest.raises(SpoolReadError, match="no readable workscribe segments"):
        Spool(view, key=keys.new_key(), keys=[*data_keys, *contributor_keys.values(), a.spool_key])

    # the central export is the first contributor's alone; forgetting again changes nothing
    central = _central(fleet, "hf", tmp_path / "central")
    local = _local([a], "hf", tmp_path / "local")
    assert central["recordings"] == local["recordings"] == 2
    assert _digest(tmp_path / "central") == _digest(tmp_path / "local")
    r = run_cli("org", "forget", "--data", str(fleet.data), "--contributor", b.id, "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["already_forgotten"] is True and again["forgotten_at"] == done["forgotten_at"]
    assert again["objects_removed"] == again["devices_disabled"] == 0
    r = run_cli("org", "forget", "--data", str(fleet.data), "--contributor", "0000000000000000")
    assert r.returncode == 2 and r.stderr.startswith("Error: no contributor") and r.stderr.count("\n") == 1
    r = run_cli("enroll", fleet.url, "--token", fleet.invite(), env={**os.environ, "WORKSCRIBE_HOME": str(
        tmp_path / "fresh")})
    assert r.returncode == 0, r.stderr  # the service goes on enrolling others
