"""The org and serve verbs as people and scripts use them: JSON, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from helpers import run_cli


def test_org_init_then_invite_as_json(tmp_path: Path) -> None:
    data, key = str(tmp_path / "d"), str(tmp_path / "org.key")
    r = run_cli("org", "init", "--data", data, "--private-key", key, "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert set(made) >= {"org_id", "admin_token", "public_key"} and made["admin_token"].startswith("wsa_")
    assert os.stat(tmp_path / "org.key").st_mode & 0o777 == 0o600
    r = run_cli("org", "invite", "--data", data, "--team", "labelling", "--expires", "2d", "--json")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["team"] == "labelling" and answer["token"].startswith("wsi_")
    assert answer["token"].encode() not in (tmp_path / "d" / "catalog.sqlite").read_bytes()


@pytest.mark.parametrize("args, message", [
    (["org", "invite", "--data", "{tmp}/none"], "no organisation here"),
    (["org", "invite", "--data", "{tmp}/d", "--expires", "soon"], "cannot read duration"),
    (["org", "invite", "--data", "{tmp}/d", "--team", "a b"], "team 'a b'"),
    (["org", "init", "--data", "{tmp}/d", "--private-key", "{tmp}/other.key"], "already holds an org"),
    (["org", "init", "--data", "{tmp}/e", "--private-key", "{tmp}/e/org.key"], "outside the data folder"),
    (["serve", "--data", "{tmp}/none", "--port", "0"], "no organisation here"),
])
def test_bad_input_is_one_line_with_exit_code_2(tmp_path: Path, args: list[str], message: str) -> None:
    assert run_cli("org", "init", "--data", str(tmp_path / "d"), "--private-key",
                   str(tmp_path / "org.key")).returncode == 0
    r = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("Error: ") and message in r.stderr and r.stderr.count("\n") == 1
    assert r.stdout == ""
    assert not (tmp_path / "other.key").exists() and not (tmp_path / "e" / "org.key").exists()


@pytest.mark.parametrize("args, code, message", [
    (["--store", "s3://Bad_Bucket/x"], 2, "is not an S3 bucket name"),
    (["--store", "s3://fleet/../up"], 2, "the prefix may hold"),
    (["--store", "/srv/objects"], 2, "write it as s3://BUCKET/PREFIX"),
    (["--s3-endpoint", "http://127.0.0.1:9"], 2, "--s3-endpoint needs --store"),
    (["--store", "s3://fleet/p", "--s3-endpoint", "ftp://host"], 2, "write it as http(s)://HOST[:PORT]"),
    (["--catalog", "postgresql+psycopg://u:secret@127.0.0.1/db"], 2, "leave the password out"),
    (["--catalog", "mysql://u@h/db"], 2, "use a postgresql://"),
    (["--store", "s3://fleet/p", "--s3-endpoint", "http://127.0.0.1:{port}"], 1, "store s3://fleet/p at"),
    (["--catalog", "postgresql+psycopg://u@127.0.0.1:{port}/db"], 1, "catalog postgresql+psycopg://u@"),
])
def test_a_bad_or_unreachable_catalog_or_store_is_one_line_and_writes_nothing(
        tmp_path: Path, args: list[str], code: int, message: str) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    r = run_cli("org", "init", "--data", str(tmp_path / "d"), "--private-key", str(tmp_path / "org.key"),
                *[a.format(port=port) for a in args], env=env)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith("Error: ") and message in r.stderr and r.stderr.count("\n") == 1
    assert "secret" not in r.stderr and "testing" not in r.stderr
    assert not (tmp_path / "org.key").exists() and not (tmp_path / "d").exists()
