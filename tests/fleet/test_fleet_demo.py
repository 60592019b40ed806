"""The fleet step of `workscribe demo` (``jobs.demo.fleet_demo``), run over the coding demo's real
recording: the service's catalog, the objects on disk and the export files it leaves are looked at
directly, and the local exports are made again here to compare with the central ones."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from workscribe.export.driver import ExportOptions, export
from workscribe.fleet import client, keys
from workscribe.fleet.client import FleetClientError
from workscribe.jobs import demo as demos
from workscribe.spool import crypto
from workscribe.spool.reader import Spool


def _serve_processes(data: Path) -> list[int]:
    """Ids of running `workscribe serve` processes over ``data`` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and str(data).encode() in argv:
            pids.append(int(entry.name))
    return pids


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _holds(folder: Path, text: str) -> bool:
    return any(text.encode() in p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The coding demo, then the fleet demo over it, with a private $WORKSCRIBE_HOME neither may touch."""
    root = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKSCRIBE_HOME", str(root / "user-home"))
        demos.coding_demo(root / "coding")
        result = demos.fleet_demo(root / "fleet", lines.append, coding=root / "coding")
    assert any("deletes recording" in line for line in lines)
    yield root, result


def test_the_service_holds_both_contributors_and_not_the_deleted_recording(
        ran: tuple[Path, dict[str, Any]]) -> None:
    root, result = ran
    data = Path(result["service"]["data"])
    first, second = result["contributors"]
    assert (first["source"], second["source"]) == ("coding demo", "synthetic")
    assert len(first["recordings"]) == 1 and len(second["recordings"]) == 2
    gone = result["deleted"]["recording_id"]
    assert gone == second["recordings"][0] and result["deleted"]["contributor_id"] == second["id"]
    kept = {first["recordings"][0], second["recordings"][1]}

    # each contributor's pseudonym is the one its segments carry, enrolled under its own team
    for person in (first, second):
        folder = Path(person["folder"])
        assert folder.parent == root / "fleet" and folder.stat().st_mode & 0o077 == 0  # owner-only
        spool = Spool(folder / "spool", key=crypto.load_key(folder / "home"))
        assert {s.header["consent"]["contributor_id"] for s in spool.segments} == {person["id"]}
        consent = json.loads((folder / "home" / "consent.json").read_text())
        assert consent["upload"] == result["service"]["url"]
    with sqlite3.connect(data / "catalog.sqlite") as db:
        people = set(db.execute("select id, team from contributors"))
        rows = db.execute("select sha256, contributor_id, recording_id, size, wrapped_data_key, meta, "
                          "deleted_at from segments").fetchall()
        stones = db.execute("select recording_id, contributor_id from tombstones").fetchall()
        [(public,)] = db.execute("select public_key from org").fetchall()
    assert people == {(first["id"], "engineering"), (second["id"], "support")}
    assert stones == [(gone, second["id"])]
    live = [r for r in rows if r[6] is None]
    dead = [r for r in rows if r[6] is not None]
    assert {r[2] for r in live} == kept and {r[2] for r in dead} == {gone}
    assert all(r[4] is not None for r in live) and all(r[4] is None and r[5] is None for r in dead)
    assert len(rows) == result["segments_uploaded"] == first["uploaded"] + second["uploaded"]
    assert sum(r[3] for r in rows) == result["bytes_uploaded"]
    assert result["deleted"]["objects_removed"] == result["deleted"]["segments"] == len(dead) > 0
    assert result["deleted"]["reached_service"] and result["deleted"]["tombstone"]

    # on disk: exactly the live objects, each named by its hash; the deleted ones are gone
    on_disk = {p.name: p for p in (data / "objects").glob("*/*")}
    assert set(on_disk) == {r[0] for r in live}
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == name for name, p in on_disk.items())
    # the organisation's private key is outside the data folder, and nothing in it is a private key
    private_key = Path(result["service"]["private_key"])
    assert not private_key.is_relative_to(data)
    assert keys.public_bytes(keys.load_private_key(private_key)) == bytes(public)
    assert not _holds(data, "PRIVATE KEY")


def test_the_central_exports_are_the_local_ones_without_the_deleted_recording(
        ran: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, result = ran
    first, second = result["contributors"]
    gone = result["deleted"]["recording_id"]
    assert set(result["exports"]) == {"hf", "sft", "swe"}
    homes = [Path(c["folder"]) for c in sorted(result["contributors"], key=lambda c: c["id"])]
    spool_keys = [crypto.load_key(h / "home") for h in homes]
    for fmt, info in result["exports"].items():
        central = Path(info["out"])
        assert central == root / "fleet" / f"dataset-{fmt}"
        local = export([h / "spool" for h in homes], tmp_path / fmt, ExportOptions(format=fmt),
                       key=spool_keys[0], keys=spool_keys[1:])
        assert _digest(central) == _digest(tmp_path / fmt) and len(_digest(central)) == info["files"]
        assert info["byte_identical"] and info["deleted_absent"] and not info["problems"]
        assert (info["episodes"], info["steps"]) == (local["episodes"], local["steps"]) and info["steps"] > 0
        assert not _holds(central, gone[:8])
    sessions = set(pq.read_table(root / "fleet" / "dataset-hf" / "data").column("session").to_pylist())
    assert sessions == {second["recordings"][1][:8]}  # the synthetic recording kept; coding has no frames
    swe = (root / "fleet" / "dataset-swe" / "data" / "train.jsonl").read_text().splitlines()
    assert {json.loads(line)["session"] for line in swe} == {first["recordings"][0][:8]}
    assert result["byte_identical"] and result["deleted_absent"]


def test_the_demo_stops_its_service_and_leaves_other_state_alone(ran: tuple[Path, dict[str, Any]]) -> None:
    root, result = ran
    assert _serve_processes(Path(result["service"]["data"])) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{result['service']['url']}/v1/org", timeout=5)
    assert b'"path": "/v1/recordings/{recording_id}", "status": 200' in Path(
        result["service"]["log"]).read_bytes()
    assert not (root / "user-home").exists()  # the user's own state was never touched
    coding_home = root / "coding" / "home"  # the coding demo's folder is as it was: copied, not enrolled
    assert not (coding_home / "fleet").exists()
    assert json.loads((coding_home / "consent.json").read_text())["upload"] is None
    assert not list((root / "fleet").glob("local-exports-*"))


def test_without_the_coding_session_both_contributors_are_synthetic(tmp_path: Path,
                                                                      ws_home: Path) -> None:
    result = demos.fleet_demo(tmp_path / "fleet")
    assert [c["source"] for c in result["contributors"]] == ["synthetic", "synthetic"]
    assert set(result["exports"]) == {"hf", "sft"}
    assert result["byte_identical"] and result["deleted_absent"] and result["deleted"]["reached_service"]
    assert sum(e["kept_recordings_in_it"] for e in result["exports"].values()) == 4  # 2 kept, in hf and sft
    assert not ws_home.exists()


def test_a_failure_midway_is_one_line_and_stops_the_service(tmp_path: Path, ws_home: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise FleetClientError("cannot reach the service: connection reset")

    monkeypatch.setattr(client, "delete_everywhere", refuse)  # fault injection after the uploads
    with pytest.raises(demos.DemoError) as caught:
        demos.fleet_demo(tmp_path / "fleet")
    assert str(caught.value) == "the fleet demo failed: cannot reach the service: connection reset"
    assert b"/v1/uploads/{sha256}/commit" in (tmp_path / "fleet" / "serve.log").read_bytes()  # it ran
    assert _serve_processes(tmp_path / "fleet" / "service") == []


def test_a_service_that_does_not_start_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(demos.DemoError, match=r"^workscribe serve did not start: Error: .*no organisation"):
        with demos.serving(tmp_path / "empty", tmp_path / "serve.log"):
            pass
    assert _serve_processes(tmp_path / "empty") == []
