"""Content-addressed object storage: an object's name is the SHA-256 of its bytes.

``ObjectStore`` is the small protocol the service needs; ``FolderStore`` keeps objects in a folder
(``objects/ab/abcdef...``), ``s3.S3Store`` in an S3-compatible bucket. Partial uploads live in ``Staging``
(``staging/``) in the data folder, on the same file system as a ``FolderStore``, so that moving a checked
upload into it is one atomic rename (into S3 it is one upload, then the local file goes). Every name is
checked to be a hex SHA-256 (or a hex id) before it touches a path, so no name can reach outside these
folders.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

OBJECTS_DIR = "objects"
STAGING_DIR = "staging"
STAGING_SUFFIX = ".part"
STAGING_MAX_AGE_S = 24 * 3600
"""A partial upload untouched this long is removed (the device starts it again)."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[0-9a-f]{8,64}$")


class BadObjectName(ValueError):
    """A name that is not a lower-case hex SHA-256 (or an id that is not lower-case hex)."""


class ObjectMissing(LookupError):
    """No object of that name in the store."""


def check_sha256(name: str) -> str:
    """``name`` if it is a lower-case hex SHA-256; ``BadObjectName`` otherwise."""
    if not isinstance(name, str) or not _SHA256.match(name):
        raise BadObjectName(f"{name!r} is not a hex SHA-256")
    return name


class ObjectStore(Protocol):
    """Where committed objects live. Objects are immutable; ``put_file`` is atomic."""

    def local_path(self, sha256: str) -> Path | None:
        """The object's file where the store keeps objects on this machine; None for a remote store."""

    def put_file(self, sha256: str, path: Path) -> None:
        """Moves (or copies) the file ``path``, whose SHA-256 is ``sha256``, into the store atomically."""

    def exists(self, sha256: str) -> bool:
        """True if the object is stored."""

    def open(self, sha256: str) -> BinaryIO:
        """The object's bytes as a file open for reading; ``ObjectMissing`` if absent."""

    def delete(self, sha256: str) -> bool:
        """Removes the object; True if it was there."""

    def size(self, sha256: str) -> int:
        """The object's size in bytes; ``ObjectMissing`` if absent."""


class FolderStore:
    """An ``ObjectStore`` in a local folder: ``<root>/objects/ab/abcdef...``.

    Args:
        root: the service's data folder; ``objects/`` is created in it.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / OBJECTS_DIR
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, sha256: str) -> Path:
        """Where the object ``sha256`` lives (whether or not it is there)."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def local_path(self, sha256: str) -> Path | None:
        """The object's file (whether or not it is there)."""
        return self.path(sha256)

    def put_file(self, sha256: str, path: Path) -> None:
        """Renames ``path`` into the store (same file system: atomic); an object already there stays."""
        target = self.path(sha256)
        target.parent.mkdir(exist_ok=True, mode=0o700)
        if target.exists():
            Path(path).unlink(missing_ok=True)
            return
        fd = os.open(path, os.O_RDONLY)  # the bytes reach the disk before the name does
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(path, target)
        _fsync_dir(target.parent)

    def exists(self, sha256: str) -> bool:
        """True if the object is stored."""
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The object opened for reading."""
        try:
            return open(self.path(sha256), "rb")
        except FileNotFoundError:
            raise ObjectMissing(f"no object {sha256}") from None

    def read(self, sha256: str) -> bytes:
        """The object's bytes (small objects; prefer ``open``)."""
        with self.open(sha256) as f:
            return f.read()

    def delete(self, sha256: str) -> bool:
        """Removes the object; True if it was there."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def size(self, sha256: str) -> int:
        """The object's size in bytes."""
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            raise ObjectMissing(f"no object {sha256}") from None

    def __iter__(self) -> Iterator[str]:
        """The names of every stored object."""
        for path in sorted(self.root.glob("??/*")):
            if _SHA256.match(path.name):
                yield path.name


class Staging:
    """Partial uploads, one file per (device, object): ``<root>/staging/<sha256>-<device>.part``.

    Args:
        root: the service's data folder; ``staging/`` is created in it (same file system as the store).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / STAGING_DIR
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, sha256: str, device_id: str) -> Path:
        """The partial upload of ``sha256`` by ``device_id``."""
        check_sha256(sha256)
        if not _ID.match(device_id):
            raise BadObjectName(f"{device_id!r} is not a device id")
        return self.root / f"{sha256}-{device_id}{STAGING_SUFFIX}"

    def received(self, sha256: str, device_id: str) -> int:
        """Bytes received so far (0 when nothing was)."""
        try:
            return self.path(sha256, device_id).stat().st_size
        except FileNotFoundError:
            return 0

    def discard(self, sha256: str, device_id: str) -> None:
        """Removes the partial upload, if any."""
        self.path(sha256, device_id).unlink(missing_ok=True)

    def sweep(self, max_age_s: float = STAGING_MAX_AGE_S) -> int:
        """Removes partial uploads untouched for ``max_age_s``; returns how many."""
        limit, n = time.time() - max_age_s, 0
        for path in self.root.iterdir():
            try:
                if path.stat().st_mtime < limit:
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    n += 1
            except FileNotFoundError:
                continue
        return n

    def names(self) -> list[str]:
        """Every file in the staging folder (for tests and checks)."""
        return sorted(p.name for p in self.root.iterdir())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
