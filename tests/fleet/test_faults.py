"""The fleet under faults (issue 13): connections cut in the middle of a request or before its answer, or
left open and silent, and a service killed with SIGKILL. The last test puts it all together: twenty devices,
each with a synthetic spool of several hours, upload at once with the real client through a proxy that
drops connections, while the service is killed twice and started again over the same data; every segment
ends up stored exactly once, with the hash its device noted, and nothing else is left in the store or in
staging."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fleetkit import FleetServer, SegmentFile, ServiceProcess, make_segment
from proxykit import DroppingProxy, Drops
from workscribe.fleet import client
from workscribe.fleet.org import invite
from workscribe.spool import crypto
from workscribe.testing.synthetic import write_synthetic_spool


def _upstream(server: FleetServer) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def _access_log(server: FleetServer) -> list[dict]:
    return [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith('{"t"')]


def _poll(what: Callable[[], object], why: str, deadline_s: float = 30.0) -> object:
    deadline = time.monotonic() + deadline_s
    while not (value := what()):
        assert time.monotonic() < deadline, why
        time.sleep(0.01)
    return value


def _settled(count: Callable[[], int]) -> int:
    """``count()`` once it stops changing (read 0.2 s apart), for a log still being written."""
    last = count()
    while True:
        time.sleep(0.2)
        now = count()
        if now == last:
            return now
        last = now


def _part_of_a_request(server: FleetServer, token: str, method: str, path: str, body: bytes,
                       sent: int) -> socket.socket:
    """A request whose first ``sent`` bytes of ``body`` went out, on a connection left open: close it to
    cut the request as a dropped connection does; leave it be and it is one the network cut silently."""
    kind = "application/json" if body.startswith(b"{") else "application/octet-stream"
    host, port = _upstream(server)
    raw = socket.create_connection((host, port))
    raw.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:sent])
    return raw


def test_a_request_cut_by_the_client_keeps_what_came_and_is_logged_499_not_as_a_service_error(
        fleet: FleetServer, segment_of: Callable[[int], SegmentFile]) -> None:
    enrolled, device = fleet.enroll()
    token, segment = enrolled["device_token"], segment_of(3)
    with device:
        # a chunk whose connection closes after 1000 of its bytes: what came stays, the upload resumes there
        _part_of_a_request(fleet, token, "PUT", f"/v1/uploads/{segment.sha256}?offset=0", segment.body,
                           1000).close()
        put = _poll(lambda: [r for r in _access_log(fleet) if r["method"] == "PUT"], "no log line of the PUT")
        assert [r["status"] for r in put] == [499]
        received = device.get(f"/v1/uploads/{segment.sha256}").json()["received"]
        assert 0 <= received <= 1000
        r = device.put(f"/v1/uploads/{segment.sha256}", params={"offset": received},
                       content=segment.body[received:])
        assert r.status_code == 200 and r.json()["received"] == len(segment.body)

        # a commit whose body is cut: logged as the client's doing too, and nothing is stored
        body = json.dumps(segment.commit_body()).encode()
        _part_of_a_request(fleet, token, "POST", f"/v1/uploads/{segment.sha256}/commit", body,
                           len(body) // 2).close()
        commits = _poll(lambda: [r for r in _access_log(fleet) if r["path"].endswith("/commit")],
                        "no log line of the commit")
        assert [r["status"] for r in commits] == [499]
        assert fleet.objects() == []
        r = device.post(f"/v1/uploads/{segment.sha256}/commit", json=segment.commit_body())
        assert r.status_code == 200 and r.json()["created"] is True
    assert fleet.object_bytes(segment.sha256) == segment.body
    assert "Traceback" not in fleet.log.read_text()
    assert all(r["status"] < 500 for r in _access_log(fleet))


@pytest.mark.parametrize("held", ["chunk", "commit"])
def test_while_a_silently_cut_request_holds_its_upload_the_device_backs_off_instead_of_asking_again(
        fleet: FleetServer, tmp_path: Path, held: str) -> None:
    home, contributor = tmp_path / "device", "00000000000000ff"
    home.mkdir()
    spool = home / "spool"
    write_synthetic_spool(spool, crypto.load_or_create_key(home), 0.02, seed=5, contributor=contributor,
                          segment_s=20)
    segments = sorted(p.name for p in spool.glob("seg-*.wss"))
    device = client.enroll(fleet.url, fleet.invite(), contributor, home)
    outbox = home / "fleet" / "outbox"  # the object the device sends first, begun by an earlier run
    entry = client._prepare(spool / segments[0], crypto.load_key(home), client._contributor_key(home), outbox)
    client._save_state(home, {segments[0]: entry})
    sha, staged = entry["sha256"], (outbox / segments[0]).read_bytes()

    def busy() -> int:  # answers that say "another request of this device writes this upload"
        return sum(1 for r in _access_log(fleet) if r["status"] == 409)

    results: list[dict] = []
    worker = threading.Thread(target=lambda: results.append(
        client.upload_pending(spool, home, attempts=3, backoff_s=0.01)))
    with fleet.client(device.device_token) as probe:
        if held == "chunk":  # the earlier run's first chunk, cut silently: the device's chunks meet it
            silent = _part_of_a_request(fleet, device.device_token, "PUT", f"/v1/uploads/{sha}?offset=0",
                                        staged, 1000)
        else:  # every byte came, then a last empty chunk was cut silently: the device's commit meets it
            assert probe.put(f"/v1/uploads/{sha}", params={"offset": 0}, content=staged).status_code == 200
            silent = _part_of_a_request(fleet, device.device_token, "PUT",
                                        f"/v1/uploads/{sha}?offset={len(staged)}", b"?", 0)
        try:  # wait until the silent request holds the upload
            _poll(lambda: probe.put(f"/v1/uploads/{sha}", params={"offset": len(staged) + 1}, content=b"")
                  .json()["detail"].startswith("another request"), "the silent request never began")
            before = _settled(busy)  # the probe's last answer can reach it before its log line is written
            worker.start()
            _poll(lambda: not worker.is_alive() or busy() > before + 50, "neither ended nor spun")
        finally:
            silent.close()  # the service hears of the cut now and lets go of the upload
            if worker.ident is not None:
                worker.join(timeout=60)
    assert not worker.is_alive()
    asked = busy() - before  # once per attempt, then the run ends: the service counted away for now
    assert asked == 3
    assert results == [{"uploaded": 0, "pending": len(segments), "failed": 0, "errors": [],
                        "unreachable": True}]
    assert client.upload_pending(spool, home)["uploaded"] == len(segments)
    assert sorted(fleet.objects()) == sorted(e["sha256"] for e in client._load_state(home).values())


def test_a_chunk_whose_body_stops_without_a_word_frees_its_upload_after_the_body_timeout(
        tmp_path: Path) -> None:
    segment = make_segment(tmp_path / "spool", seed=4)
    with ServiceProcess(tmp_path, serve_args=("--body-timeout", "0.5")) as service:
        fleet = service.start()
        enrolled, device = fleet.enroll()
        path = f"/v1/uploads/{segment.sha256}"
        with device, _part_of_a_request(fleet, enrolled["device_token"], "PUT", f"{path}?offset=0",
                                        segment.body, 1000):  # open and silent, as a connection the
            # network cut without a word: the service gives up on it and frees the upload, keeping what came
            put = _poll(lambda: [r for r in _access_log(fleet) if r["method"] == "PUT"],
                        "the service still waits for the body")
            assert [r["status"] for r in put] == [408]
            assert device.get(path).json() == {"received": 1000, "stored": False}
            r = device.put(path, params={"offset": 1000}, content=segment.body[1000:])
            assert r.status_code == 200 and r.json()["received"] == len(segment.body)
            r = device.post(f"{path}/commit", json=segment.commit_body())
            assert r.status_code == 200 and r.json()["created"] is True
        assert fleet.object_bytes(segment.sha256) == segment.body


# -- twenty devices, a dropping proxy, two kills --------------------------------------------------------

DEVICES = 20
HOURS = 3.0  # of synthetic work per device: events only, no images
SEGMENT_S = 600.0  # 18 segments per device, 360 in all
CHUNK_BYTES = 64 * 1024  # a segment (~100 KB) goes up in two or three requests: cuts fall between them
DROPS = Drops(request=0.25, response=0.25, stall=0.1)  # odds for each connection; a cut falls somewhere
# in its first bytes (Drops.request_bytes, response_bytes)
BODY_TIMEOUT_S = 2.0  # how soon the service gives up on a body that a stalled connection never finishes
AWAY_PAUSE_S = 0.5  # between runs while the service is away (the background uploader waits 1 s and more)
DEADLINE_S = 600.0  # liveness only: a run that stalls fails here instead of hanging


@dataclass
class DeviceRun:
    """One simulated device: its home, spool, contributor and what its uploads answered."""

    home: Path
    contributor: str
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    crash: BaseException | None = None
    done: bool = False

    @property
    def spool(self) -> Path:
        return self.home / "spool"


def _stored_count(data: Path) -> int:
    with sqlite3.connect(data / "catalog.sqlite", timeout=30) as db:
        return db.execute("select count(*) from segments").fetchone()[0]


def _wait_for_stored(data: Path, at_least: int, devices: list[DeviceRun]) -> int:
    """Polls the catalog until it holds ``at_least`` segments; the count then."""
    deadline = time.monotonic() + DEADLINE_S
    while (n := _stored_count(data)) < at_least:
        crashed = [d.crash for d in devices if d.crash is not None]
        assert not crashed, crashed
        assert time.monotonic() < deadline, f"only {n} of {at_least} segments stored"
        time.sleep(0.01)
    return n


def _keep_uploading(device: DeviceRun, stop: threading.Event) -> None:
    """What a device does: upload, and again while something is pending or the service is away."""
    try:
        while not stop.is_set():
            result = client.upload_pending(device.spool, device.home, chunk_bytes=CHUNK_BYTES, attempts=4,
                                           timeout=10.0, backoff_s=0.02)
            device.failed += result["failed"]
            device.errors += result["errors"]
            if result["failed"] or result["errors"]:
                return  # a refusal is what this test looks for: stop here and let it fail
            if not result["unreachable"] and result["pending"] == 0:
                device.done = True
                return
            stop.wait(AWAY_PAUSE_S)  # the service is away: a pause, as the background uploader makes
    except BaseException as exc:  # handed to the test, which fails with it
        device.crash = exc


def _make_devices(tmp_path: Path) -> list[DeviceRun]:
    devices = []
    for i in range(DEVICES):
        home = tmp_path / f"device-{i:02d}"
        home.mkdir()
        devices.append(DeviceRun(home, hashlib.sha256(f"contributor {i}".encode()).hexdigest()[:16]))
    # hours of synthetic work per device, written on every core (the spool writer is CPU-bound)
    with ProcessPoolExecutor(max_workers=min(DEVICES, os.cpu_count() or 1)) as pool:
        jobs = [pool.submit(write_synthetic_spool, d.spool, crypto.load_or_create_key(d.home), HOURS, seed=i,
                            contributor=d.contributor, segment_s=SEGMENT_S) for i, d in enumerate(devices)]
        for job in jobs:
            assert job.result()["segments"] >= 10
    return devices


@pytest.mark.slow
def test_twenty_devices_upload_through_dropped_connections_and_two_kills_storing_each_segment_once(
        tmp_path: Path) -> None:
    devices = _make_devices(tmp_path)
    local = {d.contributor: sorted(p.name for p in d.spool.glob("seg-*.wss")) for d in devices}
    total = sum(len(names) for names in local.values())
    assert total >= 300

    stop = threading.Event()
    threads: list[threading.Thread] = []
    kills: list[int] = []
    with (ServiceProcess(tmp_path, serve_args=("--body-timeout", str(BODY_TIMEOUT_S))) as service,
          DroppingProxy(seed=13) as proxy):
        server = service.start()
        proxy.set_upstream(_upstream(server))
        for d in devices:  # enrolled through the proxy: the device's service URL is the proxy's
            assert client.enroll(proxy.url, invite(server.data), d.contributor, d.home).url == proxy.url
        proxy.set_drops(DROPS)
        try:
            for d in devices:
                threads.append(threading.Thread(target=_keep_uploading, args=(d, stop), name=d.home.name))
                threads[-1].start()
            target = total // 4  # kill when a quarter is stored, and again when half of the rest is
            for _ in range(2):
                _wait_for_stored(server.data, target, devices)
                service.kill()
                kills.append(_stored_count(server.data))
                assert 0 < kills[-1] < total, kills  # killed while uploads were in flight
                assert any(t.is_alive() for t in threads)
                server = service.start()  # on another free port: the proxy follows it
                proxy.set_upstream(_upstream(server))
                target = kills[-1] + (total - kills[-1]) // 2
            deadline = time.monotonic() + DEADLINE_S
            for t in threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        assert not [t.name for t in threads if t.is_alive()]
        counts = proxy.counts

    assert [d.crash for d in devices if d.crash] == []
    assert [(d.home.name, d.failed, d.errors) for d in devices if d.failed or d.errors] == []
    assert all(d.done for d in devices)
    assert len(kills) == 2 and kills[0] < kills[1] < total
    assert counts.cut_requests > 0 and counts.cut_responses > 0 and counts.stalled > 0 and counts.refused > 0

    with sqlite3.connect(server.data / "catalog.sqlite") as db:
        rows = db.execute("select contributor_id, name, sha256, size, deleted_at from segments").fetchall()
    assert len(rows) == total
    per_contributor = {c: Counter(name for cid, name, *_ in rows if cid == c) for c in local}
    for contributor, names in local.items():  # each local segment exactly once, for its contributor
        assert per_contributor[contributor] == Counter(names), contributor
    assert all(deleted is None for *_, deleted in rows)

    catalogued = {sha: size for _, _, sha, size, _ in rows}
    objects = sorted(p.name for p in (server.data / "objects").glob("*/*"))
    assert sorted(catalogued) == objects  # no orphan object, no object twice
    for sha in objects:  # each object's bytes hash to its name and have the catalogued size
        body = (server.data / "objects" / sha[:2] / sha).read_bytes()
        assert hashlib.sha256(body).hexdigest() == sha and len(body) == catalogued[sha]
    by_name = {(cid, name): sha for cid, name, sha, *_ in rows}
    for d in devices:  # and to the hash its device noted before sending a byte
        state = json.loads((d.home / "fleet" / "uploads.json").read_text())
        assert sorted(state) == local[d.contributor]
        for name, entry in state.items():
            assert entry["status"] == "stored" and entry["sha256"] == by_name[(d.contributor, name)], name
        assert not list((d.home / "fleet" / "outbox").iterdir())

    log = server.log.read_text()  # the log of all three lifetimes of the service
    assert "Traceback" not in log
    assert [r for r in _access_log(server) if r["status"] >= 500] == []

    staged = {p.name: p.stat().st_size for p in (server.data / "staging").iterdir()}
    complete = [n for n, size in staged.items() if catalogued.get(n[:64]) == size]
    assert complete == []  # no finished upload left behind in staging
