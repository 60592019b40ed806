"""An ``ObjectStore`` in an S3-compatible bucket: ``s3://BUCKET/PREFIX`` holds ``PREFIX/objects/ab/abc...``.

Partial uploads stay in the data folder's local ``staging/``; a checked upload goes to the bucket in one
managed transfer (one PUT, or a multipart upload for a large object; an S3 object appears whole or not at
all) and its local file is removed. Credentials come from boto3's usual chain (the ``AWS_ACCESS_KEY_ID``
and ``AWS_SECRET_ACCESS_KEY`` environment variables first) and are never written anywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from workscribe.fleet.store import OBJECTS_DIR, ObjectMissing, check_sha256

SCHEME = "s3://"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3ConfigError(ValueError):
    """An ``s3://`` address or endpoint that cannot be used as written."""


class S3Unreachable(RuntimeError):
    """The endpoint, the bucket or the credentials do not answer as a store must."""


@dataclass(frozen=True)
class S3Location:
    """Where a store's objects live in S3."""

    bucket: str  # an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-'
    prefix: str  # '' or parts of letters, digits, '.', '_', '-' joined by '/', each starting alnum
    endpoint: str | None = None  # http(s)://host[:port] of an S3-compatible service; None: AWS

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"


def parse_location(url: str, endpoint: str | None = None) -> S3Location:
    """``s3://BUCKET/PREFIX`` (and an optional endpoint URL) -> ``S3Location``; ``S3ConfigError`` if
    the bucket, the prefix or the endpoint is not well formed."""
    if not url.startswith(SCHEME):
        raise S3ConfigError(f"store {url!r}: write it as s3://BUCKET/PREFIX")
    bucket, _, prefix = url[len(SCHEME):].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise S3ConfigError(f"store {url!r}: {bucket!r} is not an S3 bucket name "
                            "(3 to 63 lower-case letters, digits, '.' and '-')")
    prefix = prefix.strip("/")
    if prefix and not all(_PREFIX_PART.match(part) for part in prefix.split("/")):
        raise S3ConfigError(f"store {url!r}: the prefix may hold letters, digits, '.', '_' and '-' "
                            "in parts joined by '/', each starting with a letter or digit")
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
                or parts.query or parts.fragment or parts.username or parts.password:
            raise S3ConfigError(f"--s3-endpoint {endpoint!r}: write it as http(s)://HOST[:PORT], "
                                "without a path or credentials")
        try:
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            raise S3ConfigError(f"--s3-endpoint {endpoint!r}: the port is not a number") from None
    return S3Location(bucket, prefix, endpoint)


class S3Store:
    """An ``ObjectStore`` in an S3 bucket (AWS, MinIO, Ceph, moto: anything that speaks S3).

    Args:
        location: the bucket, prefix and endpoint.
        client: an S3 client to use (default: boto3's, from the standard AWS environment variables).
    """

    def __init__(self, location: S3Location, client: object | None = None) -> None:
        self.location = location
        base = f"{location.prefix}/{OBJECTS_DIR}" if location.prefix else OBJECTS_DIR
        self._base = base
        self.client = client or boto3.client(
            "s3", endpoint_url=location.endpoint,
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                          # a custom endpoint (MinIO, moto) seldom has a DNS name per bucket
                          s3={"addressing_style": "path" if location.endpoint else "auto"}))

    def key(self, sha256: str) -> str:
        """The object key of ``sha256``: ``PREFIX/objects/ab/abcdef...``."""
        check_sha256(sha256)
        return f"{self._base}/{sha256[:2]}/{sha256}"

    def check(self) -> None:
        """Asks the bucket whether it is there and ours to use; ``S3Unreachable`` (one line) if not."""
        where = f"{self.location} at {self.location.endpoint or 'AWS'}"
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except NoCredentialsError:
            raise S3Unreachable("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") \
                from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            what = "no such bucket" if code in _MISSING else f"refused ({code})"
            raise S3Unreachable(f"store {where}: {what}") from None
        except BotoCoreError as exc:
            raise S3Unreachable(f"store {where}: {_one_line(exc)}") from None

    def local_path(self, sha256: str) -> Path | None:
        """None: no object of this store is a local file."""
        return None

    def put_file(self, sha256: str, path: Path) -> None:
        """Uploads ``path`` as the object (one PUT, or multipart when large) and removes the local file;
        an object already there stays as it is."""
        if not self.exists(sha256):
            self.client.upload_file(str(path), self.location.bucket, self.key(sha256))
        Path(path).unlink(missing_ok=True)

    def exists(self, sha256: str) -> bool:
        """True if the object is stored."""
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True

    def open(self, sha256: str) -> BinaryIO:
        """The object's bytes as a stream (``read``, ``close``, a context manager)."""
        try:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectMissing(f"no object {sha256}") from None
            raise
        return answer["Body"]

    def read(self, sha256: str) -> bytes:
        """The object's bytes (small objects; prefer ``open``)."""
        with self.open(sha256) as body:
            return body.read()

    def delete(self, sha256: str) -> bool:
        """Removes the object; True if it was there."""
        if not self.exists(sha256):
            return False
        self.client.delete_object(Bucket=self.location.bucket, Key=self.key(sha256))
        return True

    def size(self, sha256: str) -> int:
        """The object's size in bytes."""
        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectMissing(f"no object {sha256}") from None
            raise
        return int(head["ContentLength"])

    def __iter__(self) -> Iterator[str]:
        """The names of every stored object."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self._base + "/")
        names = [item["Key"].rsplit("/", 1)[-1] for page in pages for item in page.get("Contents", [])]
        yield from sorted(n for n in names if re.match(r"^[0-9a-f]{64}$", n))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
