"""The device client against the real service: enrolment, upload, resume, no second copy, and what
the organisation's private key (and nothing else) reads back."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from fleetkit import FleetServer
from helpers import run_cli
from workscribe.export.driver import ExportOptions, export
from workscribe.fleet import client, keys
from workscribe.spool import crypto
from workscribe.spool.reader import Spool
from workscribe.testing.synthetic import write_synthetic_spool

CONTRIBUTOR = "0123456789abcdef"


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _recorded(home: Path, seed: int = 1) -> Path:
    """A spool of several closed segments, sealed with the device's own spool key."""
    spool = home / "spool"
    write_synthetic_spool(spool, crypto.load_or_create_key(home), 0.02, seed=seed, frames=True,
                          contributor=CONTRIBUTOR, segment_s=20)
    return spool


def _catalog_rows(fleet: FleetServer, sql: str) -> list[tuple]:
    with sqlite3.connect(fleet.data / "catalog.sqlite") as db:
        return db.execute(sql).fetchall()


def test_segments_upload_once_resume_and_read_back_only_with_the_organisation_key(
        fleet: FleetServer, tmp_path: Path) -> None:
    home = tmp_path / "device"
    home.mkdir()
    spool = _recorded(home)
    segments = sorted(p.name for p in spool.glob("seg-*.wss"))
    assert len(segments) >= 3
    device = client.enroll(fleet.url, fleet.invite(), CONTRIBUTOR, home)
    assert device.contributor_id == CONTRIBUTOR
    assert oct((home / "fleet" / "contributor.key").stat().st_mode & 0o777) == "0o600"

    # a run that died after sending part of the first object: the next run resumes that object
    state = {segments[0]: client._prepare(spool / segments[0], crypto.load_key(home),
                                           client._contributor_key(home), home / "fleet" / "outbox")}
    client._save_state(home, state)
    staged = (home / "fleet" / "outbox" / segments[0]).read_bytes()
    sha = state[segments[0]]["sha256"]
    with fleet.client(device.device_token) as c:
        assert c.put(f"/v1/uploads/{sha}", params={"offset": 0}, content=staged[:1000]).status_code == 200

    result = client.upload_pending(spool, home, chunk_bytes=64 * 1024)
    assert result == {"uploaded": len(segments), "pending": 0, "failed": 0, "errors": [],
                      "unreachable": False}
    assert client.upload_pending(spool, home) == {"uploaded": 0, "pending": 0, "failed": 0, "errors": [],
                                                  "unreachable": False}
    stored = _catalog_rows(fleet, "select sha256, name, recording_id, wrapped_data_key from segments")
    assert sorted(r[1] for r in stored) == segments  # each segment exactly once
    assert sha in {r[0] for r in stored}  # the resumed object is the one that was begun
    assert len(list((fleet.data / "objects").glob("*/*"))) == len(segments)
    assert not list((home / "fleet" / "outbox").iterdir())

    # the service holds nothing it can read: no event text, no spool key, no contributor key in clear
    contributor_key = (home / "fleet" / "contributor.key").read_bytes()
    blob = b"".join(p.read_bytes() for p in fleet.data.rglob("*") if p.is_file())
    assert contributor_key not in blob and crypto.load_key(home) not in blob
    assert b"Mozilla Firefox" not in blob and b"key_press" not in blob  # a window title, an event kind

    # the organisation's private key opens the contributor key, which opens each data key
    private = keys.load_private_key(Path(fleet.org["private_key"]))
    [(sealed,)] = _catalog_rows(fleet, f"select sealed_key from contributors where id = '{CONTRIBUTOR}'")
    k_c = keys.open_sealed(private, sealed, keys.contributor_key_aad(CONTRIBUTOR))
    assert k_c == contributor_key
    central = tmp_path / "central"
    central.mkdir()
    data_keys = []
    for sha256, name, _, wrapped in stored:
        data_keys.append(keys.unwrap(k_c, wrapped, keys.data_key_aad(sha256)))
        (central / name).write_bytes((fleet.data / "objects" / sha256[:2] / sha256).read_bytes())
    assert Spool(central, keys=data_keys).segments  # read with the data keys, not the spool key
    spool_key = crypto.load_key(home)
    for fmt in ("hf", "sft"):  # a central export is the local export, byte for byte
        local = export([spool], tmp_path / f"local-{fmt}", ExportOptions(format=fmt), key=spool_key)
        remote = export([central], tmp_path / f"central-{fmt}", ExportOptions(format=fmt), keys=data_keys)
        assert local["steps"] == remote["steps"] > 0
        assert _digest(tmp_path / f"local-{fmt}") == _digest(tmp_path / f"central-{fmt}")
    with pytest.raises(keys.FleetKeyError):  # without the contributor key nothing opens
        keys.unwrap(keys.new_key(), stored[0][3], keys.data_key_aad(stored[0][0]))


def test_the_cli_uploads_only_with_consent_and_says_so(fleet: FleetServer, tmp_path: Path) -> None:
    home = tmp_path / "state"
    home.mkdir()
    env = {**os.environ, "WORKSCRIBE_HOME": str(home)}
    r = run_cli("upload", "--json", env=env)
    assert r.returncode == 2 and r.stderr.startswith("Error: no consent granted")
    r = run_cli("consent", "grant", "--apps", "xterm", "--upload", "--yes", env=env)
    assert r.returncode == 2 and "needs an enrolled device" in r.stderr
    r = run_cli("enroll", fleet.url, "--token", "wsi_wrong", env=env)
    assert r.returncode == 1 and "enrolment refused (401)" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("enroll", fleet.url, "--token", fleet.invite(team="ops"), "--json", env=env)
    assert r.returncode == 0, r.stderr
    enrolled = json.loads(r.stdout)
    assert enrolled["team"] == "ops" and "device_token" not in enrolled
    r = run_cli("consent", "grant", "--apps", "xterm", "--yes", env=env)
    assert r.returncode == 0, r.stderr
    write_synthetic_spool(home / "spool", crypto.load_or_create_key(home), 0.01, seed=2,
                          contributor=enrolled["contributor_id"], segment_s=20)
    r = run_cli("upload", "--json", env=env)  # consent without --upload: nothing leaves
    assert r.returncode == 2 and "does not allow uploads" in r.stderr
    assert not list((fleet.data / "objects").glob("*/*"))
    r = run_cli("consent", "grant", "--apps", "xterm", "--upload", "--yes", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["upload"] == fleet.url
    r = run_cli("upload", "--json", env=env)
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    assert counts["uploaded"] == len(list((home / "spool").glob("seg-*.wss"))) > 0 and counts["failed"] == 0
    assert run_cli("consent", "revoke", env=env).returncode == 0
    r = run_cli("upload", "--json", env=env)  # revoked: uploads stop at once
    assert r.returncode == 2 and "revoked" in r.stderr
    with httpx.Client() as http:  # the enrolment answer's token is kept owner-only on the device
        assert http.get(f"{fleet.url}/v1/org").status_code == 200
    assert oct((home / "fleet" / "device.json").stat().st_mode & 0o777) == "0o600"
    assert base64.b64decode(enrolled["org_public_key"]) == base64.b64decode(fleet.org["public_key"])


def test_a_device_that_lost_its_upload_state_stores_nothing_twice(fleet: FleetServer, tmp_path: Path) -> None:
    home = tmp_path / "device"
    home.mkdir()
    spool = _recorded(home, seed=4)
    client.enroll(fleet.url, fleet.invite(), CONTRIBUTOR, home)
    first = client.upload_pending(spool, home)
    assert first["uploaded"] >= 3 and first["failed"] == 0
    before = _catalog_rows(fleet, "select sha256, name from segments order by name")
    objects = sorted(p.name for p in (fleet.data / "objects").glob("*/*"))

    # the state is gone (removed by hand, a restored backup...): every segment is re-sealed under new
    # data keys, so each object hashes anew; the service keeps the copy it has
    (home / "fleet" / "uploads.json").unlink()
    again = client.upload_pending(spool, home)
    assert again["uploaded"] == first["uploaded"] and again["failed"] == 0
    assert _catalog_rows(fleet, "select sha256, name from segments order by name") == before
    assert sorted(p.name for p in (fleet.data / "objects").glob("*/*")) == objects
    assert not list((fleet.data / "staging").iterdir())
    state = json.loads((home / "fleet" / "uploads.json").read_text())
    assert {(e["sha256"], n) for n, e in state.items()} == set(before)  # the device notes the copy kept
