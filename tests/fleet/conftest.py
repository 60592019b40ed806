"""Fleet fixtures: a real service process over a data folder `org init` made, real segment files, and a
real S3-compatible server (moto's, on loopback) for the S3 object store."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetkit import FleetServer, S3Bucket, SegmentFile, make_segment, running_service

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}
"""Credentials moto's server accepts; given to the processes through the environment only."""


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetServer]:
    """A running `workscribe serve --port 0` over a fresh organisation; killed after the test."""
    with running_service(tmp_path) as server:
        yield server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, for the whole session; stopped at the end."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> S3Bucket:
    """A fresh, empty bucket on the moto server, with a prefix the store must keep to."""
    import boto3

    env = {**os.environ, **S3_ENV}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=S3_ENV["AWS_DEFAULT_REGION"],
                          aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])
    name = f"fleet-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name)
    return S3Bucket(s3_endpoint, name, "team/prod", client, env)


@pytest.fixture
def segment_of(tmp_path: Path) -> Callable[[int], SegmentFile]:
    """``segment_of(seed)``: a closed segment of a synthetic recording of that seed."""
    return lambda seed=0: make_segment(tmp_path / f"spool-{seed}", seed)
