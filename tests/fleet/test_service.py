"""The fleet service as devices use it: a real `workscribe serve` process over HTTP, real segment files,
and the real catalog and store it writes; the tests of stored objects run with the objects in the data
folder and in an S3 bucket (moto's server on loopback)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from fleetkit import FleetServer, SegmentFile, running_service, sealed_key
from workscribe.fleet.catalog import Catalog, contributors, devices, org_table, segments, tombstones


@pytest.fixture
def fleet(request: pytest.FixtureRequest, tmp_path) -> Iterator[FleetServer]:
    """The service with its objects in the data folder, or in an S3 bucket (`org init --store`) where a
    test is parametrized with ``STORES``."""
    bucket = request.getfixturevalue("s3_bucket") if getattr(request, "param", "folder") == "s3" else None
    with running_service(tmp_path, bucket=bucket) as server:
        yield server
    if bucket is not None:  # nothing of the objects lives locally; no credential is written
        assert not (server.data / "objects").exists()
        assert json.loads((server.data / "fleet.json").read_text()) == {
            "catalog": None, "store": bucket.url, "s3_endpoint": bucket.endpoint}


STORES = pytest.mark.parametrize("fleet", ["folder", "s3"], indirect=True)
"""The tests of what the store holds run over both stores."""


def _upload(client: httpx.Client, seg: SegmentFile, body: bytes | None = None, sha: str | None = None,
            chunks: int = 3) -> None:
    body = seg.body if body is None else body
    sha = sha or seg.sha256
    step = -(-len(body) // chunks)
    for offset in range(0, len(body), step):
        r = client.put(f"/v1/uploads/{sha}", params={"offset": offset}, content=body[offset:offset + step])
        assert r.status_code == 200, r.text
        assert r.json() == {"received": min(offset + step, len(body)), "stored": False}


def _rows(fleet: FleetServer, table: sa.Table) -> list[dict]:
    catalog = Catalog.in_folder(fleet.data)
    try:
        with catalog.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    finally:
        catalog.close()


def test_org_info_is_the_public_key_org_init_made(fleet: FleetServer) -> None:
    with fleet.client() as c:
        r = c.get("/v1/org")
    assert r.status_code == 200
    assert r.json() == {"org_id": fleet.org["org_id"], "public_key": fleet.org["public_key"]}
    assert len(base64.b64decode(r.json()["public_key"])) == 32
    [row] = _rows(fleet, org_table)
    assert row["admin_token_sha256"] == hashlib.sha256(fleet.org["admin_token"].encode()).hexdigest()


def test_enrol_once_with_a_good_invite_and_never_with_a_wrong_expired_or_used_one(fleet: FleetServer) -> None:
    token = fleet.invite(team="labelling")
    sealed = sealed_key()
    expired = "wsi_expired-for-the-test"
    Catalog.in_folder(fleet.data).add_invite(expired, "default", time.time() - 1)
    with fleet.client() as c:
        def enroll(token: str, contributor_id: str = "0123456789abcdef") -> httpx.Response:
            return c.post("/v1/enroll", json={"token": token, "contributor_id": contributor_id,
                                              "sealed_contributor_key": sealed})

        r = enroll(token)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["team"] == "labelling" and answer["device_token"].startswith("wsd_")
        assert answer["contributor_id"] == "0123456789abcdef"  # the device's pseudonym, as segments carry
        for refused in (token, token + "x", expired):  # used, wrong, expired: one answer for all
            r = enroll(refused)
            assert r.status_code == 401 and r.json() == {"detail": "unknown, expired or used invite token"}
        second = fleet.invite()
        assert enroll(second).status_code == 409  # that contributor is enrolled already
        assert enroll(second, "NOT-A-PSEUDONYM").status_code == 422
        assert enroll(second, "fedcba9876543210").status_code == 200  # the refusals left the invite unused
    # the catalog holds hashes of tokens, and the contributor's sealed key as sent
    device = next(d for d in _rows(fleet, devices) if d["id"] == answer["device_id"])
    assert device["token_sha256"] == hashlib.sha256(answer["device_token"].encode()).hexdigest()
    person = next(p for p in _rows(fleet, contributors) if p["id"] == answer["contributor_id"])
    assert person["sealed_key"] == base64.b64decode(sealed)
    assert answer["device_token"].encode() not in (fleet.data / "catalog.sqlite").read_bytes()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wsd_not-a-device"},
                                     {"Authorization": "Basic d3NkOng="}, {"Authorization": "Bearer"}])
def test_a_request_without_a_good_device_token_is_401(fleet: FleetServer, headers: dict) -> None:
    with httpx.Client(base_url=fleet.url, headers=headers) as c:
        sha = "a" * 64
        assert c.get(f"/v1/uploads/{sha}").status_code == 401
        assert c.put(f"/v1/uploads/{sha}", params={"offset": 0}, content=b"x").status_code == 401
        assert c.delete(f"/v1/recordings/{'b' * 32}").status_code == 401
    assert fleet.staged() == []


@STORES
def test_an_upload_in_three_chunks_resumes_after_a_lost_chunk_and_commits_once(
        fleet: FleetServer, segment_of) -> None:
    seg = segment_of()
    device, c = fleet.enroll()
    n = len(seg.body)
    a, b = n // 3, 2 * n // 3
    url = f"/v1/uploads/{seg.sha256}"
    with c:
        assert c.get(url).json() == {"received": 0, "stored": False}
        r = c.put(url, params={"offset": 0}, content=seg.body[:a])
        assert r.json() == {"received": a, "stored": False}
        # the second chunk is lost on the way: the third is refused and says where to continue
        r = c.put(url, params={"offset": b}, content=seg.body[b:])
        assert r.status_code == 409 and r.json()["received"] == a
        assert c.get(url).json() == {"received": a, "stored": False}
        assert c.put(url, params={"offset": a}, content=seg.body[a:b]).json()["received"] == b
        assert c.put(url, params={"offset": a}, content=seg.body[a:b]).status_code == 409  # a replayed chunk
        r = c.put(url, params={"offset": b}, content=seg.body[b:])
        assert r.json() == {"received": n, "stored": False}
        r = c.post(f"{url}/commit", json=seg.commit_body())
        assert r.status_code == 200, r.text
        assert r.json() == {"sha256": seg.sha256, "size": n, "recording_id": seg.recording_id,
                            "segment": seg.path.name, "created": True}
        assert c.get(url).json() == {"received": 0, "stored": True}
        # committing again, even with another key in the body, changes nothing
        again = c.post(f"{url}/commit", json=seg.commit_body())
        assert again.status_code == 200 and again.json()["created"] is False
        assert c.put(url, params={"offset": 0}, content=seg.body).json() == {"received": 0, "stored": True}
    assert fleet.objects() == [seg.sha256] and fleet.staged() == []
    assert fleet.object_bytes(seg.sha256) == seg.body
    rows = _rows(fleet, segments)
    assert len(rows) == 1
    assert rows[0]["contributor_id"] == device["contributor_id"]
    assert rows[0]["recording_id"] == seg.recording_id
    assert rows[0]["size"] == n and len(rows[0]["wrapped_data_key"]) == 60
    assert json.loads(rows[0]["meta"]) == {"seq": 1}


@STORES
def test_tampered_truncated_and_foreign_objects_are_refused_and_leave_nothing(
        fleet: FleetServer, segment_of) -> None:
    seg = segment_of()
    _, c = fleet.enroll()
    tampered = bytearray(seg.body)
    tampered[len(tampered) // 2] ^= 0x01
    truncated = seg.body[:-7]
    foreign = os.urandom(4000)
    unframed_tail = seg.body + b"trailing bytes"
    def own(body: bytes) -> tuple[bytes, str, dict]:  # uploaded under its own hash, committed with its size
        return body, hashlib.sha256(body).hexdigest(), seg.commit_body(size=len(body))

    cases = [
        ((bytes(tampered), seg.sha256, seg.commit_body()), 400, "hash mismatch"),
        ((seg.body, seg.sha256, seg.commit_body(size=len(seg.body) + 1)), 400, "size mismatch"),
        (own(truncated), 422, "truncated"),
        (own(foreign), 422, "not a workscribe segment"),
        (own(unframed_tail), 422, "not a workscribe segment"),
    ]
    with c:
        for (body, sha, commit), status, words in cases:
            _upload(c, seg, body=body, sha=sha)
            r = c.post(f"/v1/uploads/{sha}/commit", json=commit)
            assert r.status_code == status, (words, r.text)
            assert words in r.json()["detail"] and "\n" not in r.json()["detail"]
            assert c.get(f"/v1/uploads/{sha}").json() == {"received": 0, "stored": False}
            assert fleet.staged() == [] and fleet.objects() == []
        r = c.post(f"/v1/uploads/{seg.sha256}/commit", json=seg.commit_body())
        assert r.status_code == 404 and r.json()["received"] == 0  # nothing uploaded
    assert _rows(fleet, segments) == []


@STORES
def test_only_the_owner_deletes_a_recording_and_deletion_shreds_its_keys(fleet: FleetServer,
                                                                         segment_of) -> None:
    mine, other = segment_of(1), segment_of(2)
    me, c_me = fleet.enroll()
    _, c_other = fleet.enroll()
    with c_me, c_other:
        _upload(c_me, mine)
        assert c_me.post(f"/v1/uploads/{mine.sha256}/commit", json=mine.commit_body()).status_code == 200
        _upload(c_other, other)
        assert c_other.post(f"/v1/uploads/{other.sha256}/commit", json=other.commit_body()).status_code == 200
        assert c_other.get(f"/v1/uploads/{mine.sha256}").json()["stored"] is False  # not theirs
        r = c_other.delete(f"/v1/recordings/{mine.recording_id}")
        assert r.status_code == 404
        assert c_me.delete(f"/v1/recordings/{'0' * 32}").status_code == 404  # no such recording
        assert sorted(fleet.objects()) == sorted([mine.sha256, other.sha256])
        r = c_me.delete(f"/v1/recordings/{mine.recording_id}")
        assert r.status_code == 200 and r.json() == {"recording_id": mine.recording_id, "objects_removed": 1}
        assert fleet.objects() == [other.sha256]
        # a retry answers the same; the recording cannot come back
        assert c_me.delete(f"/v1/recordings/{mine.recording_id}").json()["objects_removed"] == 0
        _upload(c_me, mine)
        r = c_me.post(f"/v1/uploads/{mine.sha256}/commit", json=mine.commit_body())
        assert r.status_code == 410 and fleet.staged() == [] and fleet.objects() == [other.sha256]
    rows = {r["sha256"]: r for r in _rows(fleet, segments)}
    assert rows[mine.sha256]["wrapped_data_key"] is None and rows[mine.sha256]["meta"] is None
    assert rows[mine.sha256]["deleted_at"] is not None
    assert rows[other.sha256]["wrapped_data_key"] is not None and rows[other.sha256]["deleted_at"] is None
    assert [(t["recording_id"], t["contributor_id"]) for t in _rows(fleet, tombstones)] == [
        (mine.recording_id, me["contributor_id"])]


def test_openapi_documents_every_path_and_body(fleet: FleetServer) -> None:
    with fleet.client() as c:
        spec = c.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/v1/org", "/v1/enroll", "/v1/device", "/v1/uploads/{sha256}",
                                  "/v1/uploads/{sha256}/commit", "/v1/recordings/{recording_id}",
                                  # the portal (fleet/portal.py, tests/fleet/test_portal.py)
                                  "/v1/portal-links", "/portal/open/{token}", "/portal", "/portal/pause",
                                  "/portal/recordings/{recording_id}/delete", "/org", "/org/login",
                                  "/v1/org/aggregates",
                                  # the admin's erasure (tests/fleet/test_admin.py)
                                  "/v1/admin/contributors/{contributor_id}"}
    assert set(spec["paths"]["/v1/uploads/{sha256}"]) == {"get", "put"}
    assert {"EnrollRequest", "EnrollAnswer", "UploadState", "CommitRequest", "CommitAnswer", "DeleteAnswer",
            "ForgetAnswer", "Problem", "OrgInfo"} <= set(spec["components"]["schemas"])
    forget = spec["paths"]["/v1/admin/contributors/{contributor_id}"]
    assert set(forget) == {"delete"} and {"200", "401", "404", "422"} <= set(forget["delete"]["responses"])
    assert forget["delete"]["security"] == [{"AdminToken": []}]
    put = spec["paths"]["/v1/uploads/{sha256}"]["put"]
    assert "application/octet-stream" in put["requestBody"]["content"] and "409" in put["responses"]


@pytest.mark.parametrize("name", ["..%2F..%2Fcatalog.sqlite", "..%2F" + "a" * 61, "A" * 64, "a" * 63,
                                  "%2E%2E", "a" * 64 + "%00"])
def test_a_path_trick_in_the_object_name_is_refused(fleet: FleetServer, name: str) -> None:
    _, c = fleet.enroll()
    before = sorted(str(p.relative_to(fleet.data)) for p in fleet.data.rglob("*"))
    with c:
        for r in (c.get(f"/v1/uploads/{name}"),
                  c.put(f"/v1/uploads/{name}", params={"offset": 0}, content=b"WSR1"),
                  c.post(f"/v1/uploads/{name}/commit", json={"size": 4})):
            assert r.status_code in (404, 422), r.text
    after = sorted(str(p.relative_to(fleet.data)) for p in fleet.data.rglob("*"))
    assert [p for p in after if not p.startswith("catalog.sqlite")] == \
           [p for p in before if not p.startswith("catalog.sqlite")]
    assert (fleet.data / "catalog.sqlite").stat().st_size > 0


def test_the_access_log_is_one_json_line_per_request_without_tokens(fleet: FleetServer, segment_of) -> None:
    seg = segment_of()
    device, c = fleet.enroll()
    with c:
        _upload(c, seg)
        assert c.post(f"/v1/uploads/{seg.sha256}/commit", json=seg.commit_body()).status_code == 200
    with fleet.client() as anon:
        anon.get("/no/such/path")
    lines = [json.loads(line) for line in fleet.log.read_text().splitlines() if line.startswith("{")]
    assert {"method": "PUT", "path": "/v1/uploads/{sha256}", "status": 200} in [
        {k: v for k, v in line.items() if k in ("method", "path", "status")} for line in lines]
    assert {(line["method"], line["path"], line["status"]) for line in lines} >= {
        ("POST", "/v1/enroll", 200), ("POST", "/v1/uploads/{sha256}/commit", 200),
        ("GET", "<unmatched>", 404)}
    assert all(set(line) == {"t", "method", "path", "status", "ms"} for line in lines)
    text = fleet.log.read_text()
    assert device["device_token"] not in text and seg.sha256 not in text and "wsi_" not in text
