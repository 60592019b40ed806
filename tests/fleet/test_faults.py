"""The fleet under faults (issue 13): connections cut in the middle of a request or before its answer, or
left open and silent."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fleetkit import FleetServer, SegmentFile, ServiceProcess, make_segment
from workscribe.fleet import client
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
            before = busy()
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
