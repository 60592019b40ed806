"""The catalog on a real PostgreSQL server this test starts (initdb into a temporary folder, `postgres` on
a free loopback port, as the `postgres` user where the tests run as root), stopped at the end: org init,
invite, enrolment and an upload through a real `workscribe serve`, then the upload health after a restart
and the admin's erasure through the service."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from fleetkit import running_service
from helpers import run_cli
from workscribe.fleet.catalog import Catalog, devices, org_table, segments
from workscribe.fleet.portal import upload_health

pytestmark = pytest.mark.slow


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL cluster on loopback (trust authentication); its URL; stopped and removed after."""
    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    if not (initdb and postgres):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; `make setup` does)")
    pytest.importorskip("psycopg")
    as_user = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}  # root cannot run it
    root = tempfile.mkdtemp(prefix="workscribe-pg-")  # not under tmp_path: root-only folders above it
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data, port = os.path.join(root, "data"), _free_port()
    subprocess.run([initdb, "-D", data, "-A", "trust", "-U", "workscribe", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, cwd=root, **as_user)
    proc = subprocess.Popen([postgres, "-D", data, "-k", root, "-p", str(port), "-h", "127.0.0.1",
                             "-c", "fsync=off"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=root, **as_user)
    url = f"postgresql+psycopg://workscribe@127.0.0.1:{port}/postgres"
    try:
        engine, deadline = sa.create_engine(url), time.monotonic() + 60
        while True:  # poll with a deadline until the server accepts connections
            try:
                with engine.connect():
                    break
            except sa.exc.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"postgres did not start: {proc.stderr.read()!r}") from None
                time.sleep(0.1)
        engine.dispose()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        shutil.rmtree(root, ignore_errors=True)


def test_the_catalog_on_postgresql_serves_enrolment_and_an_upload(postgres_url: str, tmp_path,
                                                                  segment_of) -> None:
    seg = segment_of()
    with running_service(tmp_path, init_args=("--catalog", postgres_url)) as fleet:
        assert fleet.org["catalog"] == postgres_url
        assert json.loads((fleet.data / "fleet.json").read_text())["catalog"] == postgres_url
        assert not (fleet.data / "catalog.sqlite").exists()
        device, c = fleet.enroll(team="labelling")
        assert device["team"] == "labelling"
        with c:
            url, body = f"/v1/uploads/{seg.sha256}", seg.body
            for offset in range(0, len(body), 4096):
                r = c.put(url, params={"offset": offset}, content=body[offset:offset + 4096])
                assert r.status_code == 200, r.text
            r = c.post(f"{url}/commit", json=seg.commit_body())
            assert r.status_code == 200 and r.json()["created"] is True, r.text
            assert c.post(f"{url}/commit", json=seg.commit_body()).json()["created"] is False
            assert c.get(url).json() == {"received": 0, "stored": True}
        assert fleet.objects() == [seg.sha256] and fleet.staged() == []
    catalog = Catalog(postgres_url)  # the rows are in the server, as SQLAlchemy wrote them there
    try:
        assert catalog.engine.dialect.name == "postgresql"
        with catalog.engine.connect() as conn:
            [org] = conn.execute(sa.select(org_table)).mappings().all()
            [dev] = conn.execute(sa.select(devices)).mappings().all()
            [row] = conn.execute(sa.select(segments)).mappings().all()
        assert org["id"] == fleet.org["org_id"] and dev["id"] == device["device_id"]
        assert row["sha256"] == seg.sha256 and row["size"] == len(seg.body)
        assert row["contributor_id"] == device["contributor_id"] and len(row["wrapped_data_key"]) == 60
    finally:
        catalog.close()

    # served anew over the same database: the upload health is the same, counted in PostgreSQL; the admin
    # erases the contributor through the service
    with running_service(tmp_path) as fleet, fleet.client(fleet.org["admin_token"]) as admin:
        health = admin.get("/v1/org/aggregates").json()["health"]
        assert health["commits_by_status_last_day"] == {"200": 2} and health["segments_stored_last_day"] == 1
        r = admin.delete(f"/v1/admin/contributors/{device['contributor_id']}")
        assert r.status_code == 200, r.text
        assert r.json()["objects_removed"] == 1 and r.json()["devices_disabled"] == 1
        assert fleet.objects() == []
        with fleet.client(device["device_token"]) as c:
            assert c.get(f"/v1/uploads/{seg.sha256}").status_code == 401
        again = admin.delete(f"/v1/admin/contributors/{device['contributor_id']}").json()
        assert again == r.json() | {"already_forgotten": True, "objects_removed": 0, "devices_disabled": 0}
    catalog = Catalog(postgres_url)
    try:
        with catalog.engine.connect() as conn:
            [row] = conn.execute(sa.select(segments)).mappings().all()
            counts = conn.execute(sa.select(upload_health.c.status, upload_health.c.commits)).all()
        assert row["wrapped_data_key"] is None and row["deleted_at"] is not None
        assert counts == [(200, 2)]
    finally:
        catalog.close()
    # a second organisation in the same catalog is refused, in one line
    r = run_cli("org", "init", "--data", str(tmp_path / "other"), "--private-key", str(tmp_path / "k2"),
                "--catalog", postgres_url)
    assert r.returncode == 2 and "already holds an organisation" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "k2").exists()
