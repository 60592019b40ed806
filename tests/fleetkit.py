"""A real fleet service for tests: `workscribe org init` and `workscribe serve --port 0` as processes,
a client per enrolled device, and real segment files written by the spool writer."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from helpers import run_cli
from workscribe.testing.synthetic import write_synthetic_spool


@dataclass
class S3Bucket:
    """A bucket on a real S3-compatible server (moto's, on loopback) and the environment to reach it."""

    endpoint: str
    name: str
    prefix: str
    client: object  # a boto3 S3 client of the endpoint
    env: dict[str, str]  # os.environ with the AWS credentials the server accepts

    @property
    def url(self) -> str:
        """``s3://BUCKET/PREFIX``, as `org init --store` takes it."""
        return f"s3://{self.name}/{self.prefix}"

    def keys(self) -> list[str]:
        """Every key in the bucket."""
        answer = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in answer.get("Contents", []))


@dataclass
class FleetServer:
    """A running service: its URL, data folder, organisation and access log; its bucket when the objects
    are in S3."""

    url: str
    data: Path
    org: dict
    log: Path
    bucket: S3Bucket | None = None
    env: dict[str, str] | None = None

    def invite(self, team: str = "default") -> str:
        """A fresh invite token, made by the real CLI."""
        r = run_cli("org", "invite", "--data", str(self.data), "--team", team, "--json", env=self.env)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["token"]

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client of the service, with a device token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def enroll(self, team: str = "default") -> tuple[dict, httpx.Client]:
        """Enrols a new device (a new contributor); its answer and a client carrying its token."""
        with self.client() as c:
            r = c.post("/v1/enroll", json={"token": self.invite(team), "contributor_id": secrets.token_hex(8),
                                           "sealed_contributor_key": sealed_key()})
        assert r.status_code == 200, r.text
        return r.json(), self.client(r.json()["device_token"])

    def staged(self) -> list[str]:
        """Files in the staging folder."""
        return sorted(p.name for p in (self.data / "staging").iterdir())

    def objects(self) -> list[str]:
        """Names of the stored objects (in the data folder, or in the bucket under PREFIX/objects/ab/)."""
        if self.bucket is None:
            return sorted(p.name for p in (self.data / "objects").glob("*/*"))
        names = []
        for key in self.bucket.keys():
            assert key.startswith(f"{self.bucket.prefix}/objects/"), key  # nothing else in the bucket
            names.append(key.rsplit("/", 1)[-1])
            assert key == f"{self.bucket.prefix}/objects/{names[-1][:2]}/{names[-1]}"
        return sorted(names)

    def object_bytes(self, sha256: str) -> bytes:
        """The bytes of a stored object, read where the store keeps it."""
        if self.bucket is None:
            return (self.data / "objects" / sha256[:2] / sha256).read_bytes()
        key = f"{self.bucket.prefix}/objects/{sha256[:2]}/{sha256}"
        return self.bucket.client.get_object(Bucket=self.bucket.name, Key=key)["Body"].read()


def sealed_key() -> str:
    """A stand-in for a sealed contributor key (the service stores it and cannot open it), base64."""
    return base64.b64encode(os.urandom(92)).decode()


class ServiceProcess:
    """`workscribe serve` over one data folder (made by `workscribe org init` the first time) as a real
    process that a test can kill with SIGKILL and start again over the same data; a context manager that
    kills it at the end. Its log (``serve.log``) starts anew with the first start of this object and
    goes on over the next ones.

    Args:
        bucket: keep the objects in this bucket (`--store`, `--s3-endpoint`) instead of the data folder.
        init_args: more options of `org init` (``--catalog URL``).
        serve_args: more options of `serve` (``--body-timeout S``).
    """

    def __init__(self, tmp_path: Path, bucket: S3Bucket | None = None,
                 init_args: tuple[str, ...] = (), serve_args: tuple[str, ...] = ()) -> None:
        self.serve_args = serve_args
        self.data, key = tmp_path / "fleet-data", tmp_path / "org.key"
        self.bucket, self.log = bucket, tmp_path / "serve.log"
        self.env = bucket.env if bucket else dict(os.environ)
        if bucket:
            init_args = (*init_args, "--store", bucket.url, "--s3-endpoint", bucket.endpoint)
        if not (tmp_path / "org.json").exists():
            r = run_cli("org", "init", "--data", str(self.data), "--private-key", str(key), *init_args,
                        "--json", env=self.env)
            assert r.returncode == 0, r.stderr
            (tmp_path / "org.json").write_text(r.stdout)
        self.org = json.loads((tmp_path / "org.json").read_text())
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, port: int = 0) -> FleetServer:
        """Starts `workscribe serve --port PORT` (0: a free one) and waits until it listens."""
        assert self.proc is None, "the service is running already"
        with open(self.log, "a" if self.starts else "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workscribe", "serve", "--data", str(self.data), "--port", str(port),
                 *self.serve_args],
                stdout=subprocess.PIPE, stderr=err, text=True, env=self.env)
        self.starts += 1
        proc = self.proc
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            raise AssertionError(f"serve printed nothing in 60 s; stderr: {self.log.read_text()}") from None
        assert line.startswith("listening on http://"), (line, self.log.read_text())
        return FleetServer(line.split()[-1], self.data, self.org, self.log, self.bucket, self.env)

    def kill(self) -> None:
        """Kills the service at once (SIGKILL: no cleanup of any kind) and reaps it."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@contextmanager
def running_service(tmp_path: Path, port: int = 0, bucket: S3Bucket | None = None,
                    init_args: tuple[str, ...] = ()) -> Iterator[FleetServer]:
    """`workscribe org init` then `workscribe serve --port PORT` as a real process, always killed after;
    again over the same ``tmp_path``: the same organisation and data, served anew (its log starts anew).

    Args:
        bucket: keep the objects in this bucket (`--store`, `--s3-endpoint`) instead of the data folder.
        init_args: more options of `org init` (``--catalog URL``).
    """
    with ServiceProcess(tmp_path, bucket, init_args) as service:
        yield service.start(port)


@dataclass
class SegmentFile:
    """One real segment file and what a device commits with it."""

    path: Path
    body: bytes
    sha256: str
    recording_id: str

    def commit_body(self, **changes: object) -> dict:
        """The JSON body of a commit of this segment."""
        body = {"size": len(self.body), "wrapped_data_key": base64.b64encode(os.urandom(60)).decode(),
                "recording_id": self.recording_id, "segment": self.path.name, "meta": {"seq": 1}}
        return {**body, **changes}


def make_segment(folder: Path, seed: int = 0) -> SegmentFile:
    """A closed segment of a synthetic recording, written by the spool writer into ``folder``."""
    made = write_synthetic_spool(folder, os.urandom(32), hours=0.01, seed=seed)
    path = sorted(folder.glob("seg-*.wss"))[0]
    body = path.read_bytes()
    return SegmentFile(path, body, hashlib.sha256(body).hexdigest(), made["recording_id"])
