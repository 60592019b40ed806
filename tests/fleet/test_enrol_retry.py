"""An enrolment whose answer is lost: the service enrolled the device, the device never heard. Run again,
`workscribe enroll` finds the enrolment it began (the device made its own token) and finishes it; the used
invite stays refused to anyone else."""

from __future__ import annotations

import base64
import hashlib
import json
import selectors
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fleetkit import FleetServer, sealed_key
from workscribe.fleet import client
from workscribe.spool import crypto
from workscribe.testing.synthetic import write_synthetic_spool

CONTRIBUTOR = "00000000000000ee"


class AnswerEater:
    """A TCP proxy on loopback that forwards everything, except that once a connection has carried
    ``POST /v1/enroll`` it closes that connection when the answer starts: the service has answered,
    the device hears nothing."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.eaten = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._pump, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _pump(self, conn: socket.socket) -> None:
        up = socket.create_connection(self.upstream)
        enrolling = False
        with conn, up, selectors.DefaultSelector() as sel:
            sel.register(conn, selectors.EVENT_READ, up)
            sel.register(up, selectors.EVENT_READ, conn)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    if key.fileobj is conn and b"POST /v1/enroll" in data:
                        enrolling = True
                    if key.fileobj is up and enrolling:
                        self.eaten += 1
                        return  # the answer is dropped with the connection
                    key.data.sendall(data)

    def __enter__(self) -> AnswerEater:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()


def test_an_enrolment_whose_answer_was_lost_is_finished_by_running_it_again(fleet: FleetServer,
                                                                            tmp_path: Path) -> None:
    home = tmp_path / "device"
    home.mkdir()
    token = fleet.invite()
    with AnswerEater(fleet.url) as eater:
        with pytest.raises(client.FleetClientError, match="run the same command again"):
            client.enroll(eater.url, token, CONTRIBUTOR, home)
        assert eater.eaten == 1
    assert client.load_device(home) is None and not (home / "fleet" / "contributor.key").exists()
    pending = json.loads((home / "fleet" / "enrolling.json").read_text())
    assert oct((home / "fleet" / "enrolling.json").stat().st_mode & 0o777) == "0o600"
    assert token not in json.dumps(pending)  # the invite is noted only as its hash

    # the service did enrol it: the invite is used, and the pseudonym taken, for anyone else
    with fleet.client() as c:
        again = c.post("/v1/enroll", json={"token": token, "contributor_id": CONTRIBUTOR,
                                           "sealed_contributor_key": pending["sealed"]})
        assert again.status_code == 401
        other = c.post("/v1/enroll", json={"token": fleet.invite(), "contributor_id": CONTRIBUTOR,
                                           "sealed_contributor_key": sealed_key()})
        assert other.status_code == 409

    device = client.enroll(fleet.url, token, CONTRIBUTOR, home)  # the same command, run again
    assert device.contributor_id == CONTRIBUTOR and device.device_token == pending["device_token"]
    assert (home / "fleet" / "contributor.key").read_bytes() == base64.b64decode(
        pending["contributor_key"])
    assert not (home / "fleet" / "enrolling.json").exists()
    with fleet.client(device.device_token) as c:
        me = c.get("/v1/device").json()
    assert me == {"device_id": device.device_id, "contributor_id": CONTRIBUTOR, "team": "default"}

    # and it uploads: the service opens nothing, the organisation's key reads it (test_upload.py)
    write_synthetic_spool(home / "spool", crypto.load_or_create_key(home), 0.01, seed=9,
                          contributor=CONTRIBUTOR, segment_s=20)
    result = client.upload_pending(home / "spool", home)
    assert result["uploaded"] >= 1 and result["failed"] == 0


def test_a_device_made_token_travels_only_as_its_hash_and_the_service_made_one_still_works(
        fleet: FleetServer, tmp_path: Path) -> None:
    home = tmp_path / "device"
    home.mkdir()
    device = client.enroll(fleet.url, fleet.invite(), CONTRIBUTOR, home)
    log = fleet.log.read_text()
    assert device.device_token not in log
    assert device.device_token.encode() not in (fleet.data / "catalog.sqlite").read_bytes()
    with fleet.client(device.device_token) as c:
        assert c.get("/v1/device").status_code == 200
    with fleet.client("wsd_not-a-device") as c:
        assert c.get("/v1/device").status_code == 401
    with fleet.client() as c:  # a device that leaves the token to the service gets it once, in the answer
        r = c.post("/v1/enroll", json={"token": fleet.invite(), "contributor_id": "00000000000000ef",
                                       "sealed_contributor_key": sealed_key()})
        assert r.status_code == 200 and r.json()["device_token"].startswith("wsd_")
        made = r.json()["device_token"]
        taken = c.post("/v1/enroll", json={
            "token": fleet.invite(), "contributor_id": "00000000000000f0",
            "sealed_contributor_key": sealed_key(),
            "device_token_sha256": hashlib.sha256(made.encode()).hexdigest()})
        assert taken.status_code == 409  # a token already in use is never given to a second device
    with fleet.client(made) as c:
        assert c.get("/v1/device").json()["contributor_id"] == "00000000000000ef"
