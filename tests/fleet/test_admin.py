"""The organisation's admin against a real `workscribe serve`: erasing a contributor through the service
(`DELETE /v1/admin/contributors/{id}`, `workscribe org forget --server`) with the admin token only, which
answers counts and nothing of the contributor's content; and the upload health of the organisation's page,
kept in the catalog, the same after the service restarts."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fleetkit import FleetServer, SegmentFile, running_service
from helpers import run_cli
from workscribe.fleet import portal
from workscribe.fleet.catalog import Catalog, SegmentConflict, contributors, segments
from workscribe.fleet.erase import ANSWER_KEYS
from workscribe.fleet.org import init_org

TOKEN_ENV = "WORKSCRIBE_ADMIN_TOKEN"
ERASE = "/v1/admin/contributors/{}"


def _store(c: httpx.Client, seg: SegmentFile, **commit: object) -> None:
    """Uploads the segment in one chunk and commits it (200)."""
    assert c.put(f"/v1/uploads/{seg.sha256}", params={"offset": 0}, content=seg.body).status_code == 200
    r = c.post(f"/v1/uploads/{seg.sha256}/commit", json=seg.commit_body(**commit))
    assert r.status_code == 200, r.text


def _env(**more: str) -> dict[str, str]:
    """This environment without an admin token of its own, and ``more``."""
    return {**{k: v for k, v in os.environ.items() if k != TOKEN_ENV}, **more}


def _catalog_rows(fleet: FleetServer, query: sa.Select) -> list[dict]:
    catalog = Catalog.in_folder(fleet.data)
    try:
        with catalog.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        catalog.close()


def test_the_admin_erases_a_contributor_through_the_service_and_learns_only_counts(
        fleet: FleetServer, segment_of, tmp_path: Path) -> None:
    admin = fleet.org["admin_token"]
    a, c_a = fleet.enroll()
    b, c_b = fleet.enroll(team="secretlab")
    kept, b1, b2, partial = segment_of(1), segment_of(2), segment_of(3), segment_of(4)
    meta = {"v": 1, "apps": {"secret-app": {"s": 12.5, "actions": 3}}, "actions": 3}
    with c_a, c_b:
        _store(c_a, kept)
        _store(c_b, b1, meta=meta)
        _store(c_b, b2, meta=meta)
        assert c_b.put(f"/v1/uploads/{partial.sha256}", params={"offset": 0},
                       content=partial.body[:100]).status_code == 200
    assert sorted(fleet.objects()) == sorted([kept.sha256, b1.sha256, b2.sha256]) and len(fleet.staged()) == 1
    b_id = b["contributor_id"]

    # only the admin token erases: not nothing, a device's token, a wrong one, nor the /org page's session
    with fleet.client() as anon:
        login = anon.post("/org/login", data={"token": admin}, follow_redirects=False)
        assert login.status_code == 303 and portal.ORG_COOKIE in login.cookies
        assert anon.get("/v1/org/aggregates").status_code == 200  # the session works where it should
        for headers in [{}, {"Authorization": f"Bearer {b['device_token']}"},
                        {"Authorization": f"Bearer {admin}x"}, {"Authorization": "Basic d3NhOng="}]:
            r = anon.delete(ERASE.format(b_id), headers=headers)  # with the admin session's cookie too
            assert r.status_code == 401 and r.json() == {"detail": "missing or invalid admin token"}, r.text
    with fleet.client(admin) as http:
        r = http.delete(ERASE.format("0" * 16))
        assert r.status_code == 404 and r.json() == {"detail": "no such contributor"}
        assert http.delete(ERASE.format("NOT-A-PSEUDONYM")).status_code == 422
    assert len(fleet.objects()) == 3 and len(fleet.staged()) == 1  # nothing of theirs went yet

    # the CLI from elsewhere, the token in a file: the same erasure as on the host, counts only
    token_file = tmp_path / "admin-token"
    token_file.write_text(admin + "\n")
    r = run_cli("org", "forget", "--server", fleet.url, "--admin-token-file", str(token_file),
                "--contributor", b_id, "--json", env=_env())
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout)
    assert list(done) == list(ANSWER_KEYS)
    assert done | {"forgotten_at": 0} == {"contributor_id": b_id, "forgotten_at": 0,
                                          "already_forgotten": False, "recordings": 2, "segments": 2,
                                          "objects_removed": 2, "devices_disabled": 1}
    for secret in (b1.sha256, b1.recording_id, b2.recording_id, "secret-app", "secretlab",
                   a["contributor_id"]):
        assert secret not in r.stdout
    assert fleet.objects() == [kept.sha256] and fleet.staged() == []
    [person] = _catalog_rows(fleet, sa.select(contributors).where(contributors.c.id == b_id))
    assert person["sealed_key"] is None and person["forgotten_at"] == done["forgotten_at"]
    rows = _catalog_rows(fleet, sa.select(segments).where(segments.c.contributor_id == b_id))
    assert len(rows) == 2 and all(r["wrapped_data_key"] is None and r["meta"] is None for r in rows)
    with fleet.client(b["device_token"]) as gone, fleet.client(a["device_token"]) as other:
        assert gone.get(f"/v1/uploads/{b1.sha256}").status_code == 401
        assert other.get(f"/v1/uploads/{kept.sha256}").json() == {"received": 0, "stored": True}
    late = Catalog.in_folder(fleet.data)  # a commit that was under way: nothing is catalogued for them
    with pytest.raises(SegmentConflict, match="erased"):
        late.add_segment("c" * 64, b_id, "d" * 32, b1.path.name, 1, b"k", "{}")
    late.close()

    # again, the token in the environment: nothing more to do; the host's answer is the same
    r = run_cli("org", "forget", "--server", fleet.url, "--contributor", b_id, "--json",
                env=_env(**{TOKEN_ENV: admin}))
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again == done | {"already_forgotten": True, "objects_removed": 0, "devices_disabled": 0}
    r = run_cli("org", "forget", "--data", str(fleet.data), "--contributor", b_id, "--json", env=_env())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == again
    r = run_cli("org", "forget", "--server", fleet.url, "--admin-token-file", "-", "--contributor", b_id,
                env=_env(), input=admin + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"contributor {b_id} forgotten (already, since ") and "0 object(s)" in r.stdout

    # the access log names the route, never the contributor or a token
    log = fleet.log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {(x["method"], x["path"], x["status"]) for x in lines} >= {
        ("DELETE", ERASE.format("{contributor_id}"), status) for status in (200, 401, 404, 422)}
    assert b_id not in log and admin not in log and b["device_token"] not in log


def test_org_forget_refuses_bad_input_in_one_line_and_erases_nothing(
        fleet: FleetServer, segment_of, tmp_path: Path) -> None:
    admin = fleet.org["admin_token"]
    b, c_b = fleet.enroll()
    with c_b:
        _store(c_b, segment_of(1))
    good, empty, wrong = tmp_path / "good", tmp_path / "empty", tmp_path / "wrong"
    good.write_text(admin)
    empty.write_text("\n")
    wrong.write_text(admin[:-1] + ("A" if admin[-1] != "A" else "B"))
    with socket.socket() as s:  # a loopback port nobody listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    who = ["--contributor", b["contributor_id"]]
    cases = [
        ([*who], 2, "--data DIR (on the service's host) or --server URL (one of them)"),
        (["--data", str(fleet.data), "--server", fleet.url, *who], 2, "one of them"),
        (["--data", str(fleet.data), "--admin-token-file", str(good), *who], 2, "goes with --server"),
        (["--server", fleet.url, *who], 2, f"needs the admin token: --admin-token-file FILE (or - for "
                                           f"standard input) or {TOKEN_ENV}"),
        (["--server", fleet.url, "--admin-token-file", str(tmp_path / "none"), *who], 2,
         "cannot read the admin token from"),
        (["--server", fleet.url, "--admin-token-file", str(empty), *who], 2, "holds no admin token"),
        (["--server", fleet.url, "--admin-token-file", str(wrong), *who], 2, "refused the admin token (401)"),
        (["--server", fleet.url, "--admin-token-file", str(good), "--contributor", "0" * 16], 2,
         f"no contributor '{'0' * 16}' at {fleet.url}"),
        (["--server", fleet.url, "--admin-token-file", str(good), "--contributor", "../x"], 2,
         "no contributor '../x' (an id is 16 lower-case hex digits)"),
        (["--server", "ftp://host", "--admin-token-file", str(good), *who], 2, "http(s)://HOST[:PORT]"),
        (["--server", dead, "--admin-token-file", str(good), *who], 1, f"cannot reach {dead}"),
        (["--data", str(tmp_path / "none"), *who], 2, "no organisation here"),
    ]
    for args, code, message in cases:
        r = run_cli("org", "forget", *args, "--json", env=_env())
        assert r.returncode == code, (args, r.stderr)
        assert r.stderr.startswith("Error: ") and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert r.stdout == "" and admin[4:] not in r.stderr
    assert len(fleet.objects()) == 1
    with fleet.client(b["device_token"]) as c:
        assert c.get(f"/v1/uploads/{'a' * 64}").status_code == 200  # the device still works


def test_upload_health_is_kept_in_the_catalog_and_survives_a_restart(tmp_path: Path, segment_of) -> None:
    seg = segment_of()
    commit = f"/v1/uploads/{seg.sha256}/commit"
    with running_service(tmp_path) as fleet:
        _, c = fleet.enroll()
        with c, fleet.client() as anon:
            assert c.post(commit, json=seg.commit_body()).status_code == 404  # nothing received
            r = c.put(f"/v1/uploads/{seg.sha256}", params={"offset": 0}, content=seg.body)
            assert r.status_code == 200
            assert c.post(commit, json=seg.commit_body(size=len(seg.body) + 1)).status_code == 400
            _store(c, seg)
            assert c.post(commit, json=seg.commit_body()).status_code == 200  # again: no change
            assert c.post(commit, json={}).status_code == 422
            assert anon.post(commit, json=seg.commit_body()).status_code == 401
        with fleet.client(fleet.org["admin_token"]) as admin:
            before = admin.get("/v1/org/aggregates").json()["health"]  # at once: counted before the answer
            page = admin.get("/org").text
    expected = {"200": 2, "400": 1, "401": 1, "404": 1, "422": 1}
    assert before == {"commits_by_status_last_day": expected, "segments_stored_last_day": 1,
                      "recordings_deleted_last_day": 0}
    assert "commits by status: 200: 2, 400: 1, 401: 1, 404: 1, 422: 1;" in page

    # the table holds counts per hour and status only; counts of older hours: one within the few days
    # kept (not in the last day), one beyond them (pruned when the service starts)
    catalog = Catalog.in_folder(fleet.data)
    try:
        table = sa.Table("upload_health", sa.MetaData(), autoload_with=catalog.engine)
        assert set(table.c.keys()) == {"hour", "status", "commits"}
        hour = int(time.time() // 3600)
        with catalog.begin() as conn:
            assert sum(r.commits for r in conn.execute(sa.select(table))) == 6
            conn.execute(table.insert(), [{"hour": hour - 30, "status": 200, "commits": 7},
                                          {"hour": hour - 24 * 4, "status": 500, "commits": 3}])
    finally:
        catalog.close()

    with running_service(tmp_path) as fleet:  # the same data, served anew
        with fleet.client(fleet.org["admin_token"]) as admin:
            assert admin.get("/v1/org/aggregates").json()["health"] == before
            assert "commits by status: 200: 2, 400: 1, 401: 1, 404: 1, 422: 1;" in admin.get("/org").text
            with fleet.client() as anon:
                assert anon.post(commit, json=seg.commit_body()).status_code == 401
            after = admin.get("/v1/org/aggregates").json()["health"]["commits_by_status_last_day"]
            assert after == expected | {"401": 2}
    stored = _catalog_rows(fleet, sa.select(portal.upload_health.c.hour, portal.upload_health.c.status))
    assert (hour - 30, 200) in {(r["hour"], r["status"]) for r in stored}
    assert 500 not in {r["status"] for r in stored}


def test_hourly_commit_counts_add_up_cover_the_last_day_and_are_pruned(tmp_path: Path) -> None:
    init_org(tmp_path / "data", tmp_path / "org.key")
    catalog = Catalog.in_folder(tmp_path / "data")
    try:
        portal.create_tables(catalog)
        t0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, the start of an hour
        for hours, status in [(0, 200), (0, 200), (0.5, 409), (1, 200), (23, 200)]:
            portal.count_commit(catalog, status, now=t0 + hours * 3600)
        # at hour 23 the last day is hours 0..23; at hour 24 hour 0 has left it
        assert portal.commits_last_day(catalog, now=t0 + 23.9 * 3600) == {"200": 4, "409": 1}
        assert portal.commits_last_day(catalog, now=t0 + 24 * 3600) == {"200": 2}
        for hours, status in [(50, 500), (74, 200)]:
            portal.count_commit(catalog, status, now=t0 + hours * 3600)
        # hour 74's first count pruned what is more than three days older (hours 0 and 1)
        with catalog.engine.connect() as conn:
            left = sorted(conn.execute(sa.select(portal.upload_health)).all())
        assert [(h - int(t0 // 3600), s, n) for h, s, n in left] == [(23, 200, 1), (50, 500, 1), (74, 200, 1)]
        portal.prune_health(catalog, now=t0 + 24 * 3600 * 10)
        assert portal.commits_last_day(catalog, now=t0 + 72 * 3600) == {}
    finally:
        catalog.close()
