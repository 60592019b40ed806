"""The size limit of an object, in process with a small limit (512 MiB is too much to send in a test):
the declared length and the running total of a body without one are both checked."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from workscribe.fleet import service
from workscribe.fleet.org import OrgError, init_org, invite


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(service, "MAX_OBJECT_BYTES", 1000)
    init_org(tmp_path / "data", tmp_path / "org.key")
    app = service.create_app(tmp_path / "data", log=io.StringIO())
    c = TestClient(app)
    r = c.post("/v1/enroll", json={"token": invite(tmp_path / "data"), "contributor_id": "0123456789abcdef",
                                   "sealed_contributor_key": base64.b64encode(os.urandom(92)).decode()})
    c.headers["Authorization"] = f"Bearer {r.json()['device_token']}"
    return c


def test_a_declared_length_beyond_the_limit_is_413(client: TestClient, tmp_path: Path) -> None:
    sha = "c" * 64
    r = client.put(f"/v1/uploads/{sha}", params={"offset": 0}, content=b"x" * 600)
    assert r.json()["received"] == 600
    r = client.put(f"/v1/uploads/{sha}", params={"offset": 600}, content=b"x" * 401)
    assert r.status_code == 413 and "at most 1000 bytes" in r.json()["detail"]
    assert list((tmp_path / "data" / "staging").iterdir()) == []


def test_a_running_total_beyond_the_limit_is_413(client: TestClient, tmp_path: Path) -> None:
    sha = "d" * 64
    r = client.put(f"/v1/uploads/{sha}", params={"offset": 0}, content=iter([b"y" * 400] * 3))  # chunked
    assert r.status_code == 413
    assert list((tmp_path / "data" / "staging").iterdir()) == []
    assert client.get(f"/v1/uploads/{sha}").json() == {"received": 0, "stored": False}


def test_the_private_key_is_owner_only_and_never_in_the_data_folder(tmp_path: Path) -> None:
    made = init_org(tmp_path / "d", tmp_path / "k")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8 PEM
    assert made["public_key"] and (tmp_path / "d" / "catalog.sqlite").is_file()
    key = (tmp_path / "k").read_bytes()
    assert all(key not in p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file())
    with pytest.raises(OrgError, match="already holds an organisation"):
        init_org(tmp_path / "d", tmp_path / "k2")
    assert not (tmp_path / "k2").exists()
    with pytest.raises(OrgError, match="outside the data folder"):
        init_org(tmp_path / "e", tmp_path / "e" / "k")
