"""The service's catalog: the organisation, invites, contributors, devices, segments and tombstones.

SQLAlchemy Core with portable types only (no SQLite-only SQL): a SQLite file in the data folder by
default, or a PostgreSQL database by URL (``org init --catalog``; tested against a real server). Times
are float seconds since the epoch (UTC). Tokens are kept as their SHA-256 only, and a found row's hash
is compared again in constant time. Ids are lower-case hex (``uuid4().hex``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

CATALOG_FILE = "catalog.sqlite"

metadata = sa.MetaData()

org_table = sa.Table(
    "org", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("public_key", sa.LargeBinary, nullable=False),  # X25519, 32 raw bytes
    sa.Column("admin_token_sha256", sa.String(64), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
invites = sa.Table(
    "invites", metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=True),
)
contributors = sa.Table(
    "contributors", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("sealed_key", sa.LargeBinary, nullable=True),  # seal(org_public, K_c); NULL once forgotten
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("forgotten_at", sa.Float, nullable=True),
)
devices = sa.Table(
    "devices", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("contributor_id", sa.String(32), sa.ForeignKey("contributors.id"), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created", sa.Float, nullable=False),
)
segments = sa.Table(
    "segments", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("contributor_id", sa.String(32), sa.ForeignKey("contributors.id"), nullable=False),
    sa.Column("recording_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("wrapped_data_key", sa.LargeBinary, nullable=True),  # wrap(K_c, K_s); NULL once deleted
    sa.Column("meta", sa.Text, nullable=True),  # JSON text from the device; NULL once deleted
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("deleted_at", sa.Float, nullable=True),
    # one object per segment of a recording: a segment re-sealed again (its device lost its upload state)
    # hashes to another name, and is the same segment all the same
    sa.Index("segments_one_per_name", "contributor_id", "recording_id", "name", unique=True),
)
tombstones = sa.Table(
    "tombstones", metadata,
    sa.Column("recording_id", sa.String(64), primary_key=True),
    sa.Column("contributor_id", sa.String(32), sa.ForeignKey("contributors.id"), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)


class CatalogError(RuntimeError):
    """The catalog is missing or not in the expected state."""


class ContributorExists(ValueError):
    """A device enrols a contributor id that is enrolled already."""


class InviteRefused(PermissionError):
    """An invite token that is unknown, expired or already used (the service answers 401 alike)."""


class SegmentConflict(RuntimeError):
    """The object is already catalogued for another contributor, or its recording was deleted."""


class AlreadyStored(RuntimeError):
    """The contributor's segment is catalogued already, as another object (``row``: its catalog row)."""

    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__(f"this segment is stored already as object {row['sha256']}")
        self.row = row


def token_sha256(token: str) -> str:
    """The hex SHA-256 of a token: the only form in which the catalog keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    """A fresh random id: 32 lower-case hex digits."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Device:
    """An enrolled device and the contributor it uploads for."""

    id: str
    contributor_id: str
    team: str


@dataclass(frozen=True)
class Enrolment:
    """What ``Catalog.enroll`` made."""

    device: Device
    device_token: str | None  # None when the device made its own token and sent only its hash


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Write-ahead logging: readers (every request's token check) do not wait for a writer, and a
    commit costs one sync of the log instead of the journal's several; still synchronous=FULL, so that a
    commit the service answered survives a power cut."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


class Catalog:
    """The catalog behind an SQLAlchemy engine.

    Args:
        url: an SQLAlchemy URL; see ``Catalog.in_folder`` for the default SQLite file.
    """

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}  # wait for another writer, do not fail at once
            # a connection for each of the service's worker threads, kept: not opened for each request
            kwargs["pool_size"], kwargs["max_overflow"] = 40, 10
        else:
            kwargs["pool_pre_ping"] = True  # a server restarted under a long-running service
            if url.startswith("postgresql"):
                kwargs["connect_args"] = {"connect_timeout": 10}  # an unreachable host fails, not hangs
        self.url = url
        self.engine: Engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @classmethod
    def in_folder(cls, data_dir: Path) -> Catalog:
        """The SQLite catalog of the data folder ``data_dir``."""
        return cls(f"sqlite:///{Path(data_dir).resolve() / CATALOG_FILE}")

    def create(self) -> None:
        """Creates the tables that do not exist yet."""
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Releases the engine's connections."""
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back on an error."""
        with self.engine.begin() as conn:
            yield conn

    # -- the organisation --------------------------------------------------------------------------
    def org(self) -> dict[str, Any] | None:
        """The organisation's row, or None before ``org init``."""
        with self.engine.connect() as conn:  # an unreachable server raises sa.exc.OperationalError
            if not sa.inspect(conn).has_table(org_table.name):  # no tables: not initialised
                return None
            row = conn.execute(sa.select(org_table)).mappings().first()
        return dict(row) if row else None

    def create_org(self, public_key: bytes, admin_token: str) -> str:
        """Writes the organisation's row; ``CatalogError`` if there is one. Returns the org id."""
        self.create()
        org_id = new_id()
        with self.begin() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(org_table)).scalar_one():
                raise CatalogError("this catalog already has an organisation")
            conn.execute(org_table.insert().values(id=org_id, public_key=public_key,
                                                   admin_token_sha256=token_sha256(admin_token),
                                                   created=time.time()))
        return org_id

    # -- invites and devices -----------------------------------------------------------------------
    def add_invite(self, token: str, team: str, expires: float) -> None:
        """Stores an invite (its token's hash) for ``team``, valid until ``expires``."""
        with self.begin() as conn:
            conn.execute(invites.insert().values(token_sha256=token_sha256(token), team=team,
                                                 expires=expires, used_at=None))

    def enroll(self, invite_token: str, contributor_id: str, sealed_key: bytes,
               device_token: str | None = None, device_token_sha256: str | None = None) -> Enrolment:
        """Uses the invite once: the new contributor ``contributor_id`` (the device's consent pseudonym)
        with ``sealed_key``, and a device with ``device_token``, or with the token whose hash is
        ``device_token_sha256`` (a token the device made itself).

        Raises:
            InviteRefused: the token is unknown, expired or used (one message for all three).
            ContributorExists: ``contributor_id`` is enrolled already, or the device token is taken (the
                invite stays unused).
        """
        if (device_token is None) == (device_token_sha256 is None):
            raise ValueError("give either device_token or device_token_sha256")
        device_digest = device_token_sha256 or token_sha256(device_token or "")
        digest, now = token_sha256(invite_token), time.time()
        with self.begin() as conn:
            row = conn.execute(sa.select(invites).where(invites.c.token_sha256 == digest)).mappings().first()
            if row is None or not hmac.compare_digest(row["token_sha256"], digest):
                raise InviteRefused("unknown, expired or used invite")
            claimed = conn.execute(invites.update()
                                   .where(invites.c.token_sha256 == digest, invites.c.used_at.is_(None),
                                          invites.c.expires > now)
                                   .values(used_at=now))
            if claimed.rowcount != 1:  # expired, or used (by a concurrent enrolment too)
                raise InviteRefused("unknown, expired or used invite")
            known = conn.execute(sa.select(contributors.c.id).where(contributors.c.id == contributor_id))
            if known.first() is not None:  # rolled back with the claim of the invite
                raise ContributorExists(f"contributor {contributor_id} is enrolled already")
            taken = conn.execute(sa.select(devices.c.id).where(devices.c.token_sha256 == device_digest))
            if taken.first() is not None:
                raise ContributorExists("that device token is taken; make a new one")
            device_id = new_id()
            conn.execute(contributors.insert().values(id=contributor_id, team=row["team"],
                                                      sealed_key=sealed_key, created=now, forgotten_at=None))
            conn.execute(devices.insert().values(id=device_id, contributor_id=contributor_id,
                                                 token_sha256=device_digest, created=now))
        return Enrolment(Device(device_id, contributor_id, row["team"]), device_token)

    def device_by_token(self, token: str) -> Device | None:
        """The device whose token is ``token`` (and whose contributor is not forgotten), or None."""
        digest = token_sha256(token)
        columns = (devices.c.id, devices.c.contributor_id, devices.c.token_sha256, contributors.c.team)
        query = (sa.select(*columns).join(contributors, contributors.c.id == devices.c.contributor_id)
                 .where(devices.c.token_sha256 == digest, contributors.c.forgotten_at.is_(None)))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None or not hmac.compare_digest(row["token_sha256"], digest):
            return None
        return Device(row["id"], row["contributor_id"], row["team"])

    # -- segments ----------------------------------------------------------------------------------
    def segment(self, sha256: str) -> dict[str, Any] | None:
        """The catalog row of the object ``sha256``, deleted or not, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(segments).where(segments.c.sha256 == sha256)).mappings().first()
        return dict(row) if row else None

    def is_tombstoned(self, recording_id: str, contributor_id: str) -> bool:
        """True if the contributor deleted the recording."""
        query = sa.select(tombstones.c.at).where(tombstones.c.recording_id == recording_id,
                                                 tombstones.c.contributor_id == contributor_id)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def segment_named(self, contributor_id: str, recording_id: str, name: str) -> dict[str, Any] | None:
        """The catalog row of the contributor's segment ``name`` of ``recording_id``, or None."""
        query = sa.select(segments).where(segments.c.contributor_id == contributor_id,
                                          segments.c.recording_id == recording_id, segments.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def add_segment(self, sha256: str, contributor_id: str, recording_id: str, name: str, size: int,
                    wrapped_data_key: bytes, meta: str) -> bool:
        """Catalogues a stored object for the contributor; False if this very row was already there.

        Raises:
            SegmentConflict: the object belongs to another contributor, was deleted, or its recording was;
                or the contributor was forgotten (``erase.py``, which this waits for while it runs).
            AlreadyStored: the same segment (contributor, recording, name) is catalogued as another object.
        """
        same_name = (segments.c.contributor_id == contributor_id, segments.c.recording_id == recording_id,
                     segments.c.name == name)
        try:
            with self.begin() as conn:
                conn.execute(self._lock_contributor(contributor_id))  # PostgreSQL: after an erasure under way
                row = conn.execute(sa.select(segments).where(segments.c.sha256 == sha256)).mappings().first()
                if row is not None:
                    if row["contributor_id"] != contributor_id:
                        raise SegmentConflict("this object is catalogued for another contributor")
                    if row["deleted_at"] is not None:
                        raise SegmentConflict("this object's recording was deleted")
                    return False
                other = conn.execute(sa.select(segments).where(*same_name)).mappings().first()
                if other is not None:
                    raise AlreadyStored(dict(other))
                conn.execute(segments.insert().values(
                    sha256=sha256, contributor_id=contributor_id, recording_id=recording_id, name=name,
                    size=size, wrapped_data_key=wrapped_data_key, meta=meta, created=time.time(),
                    deleted_at=None))
                # checked after the insert, which holds SQLite's write lock: an erasure or a deletion that
                # committed meanwhile is seen here, and the insert is rolled back
                person = conn.execute(self._lock_contributor(contributor_id)).first()
                if person is None or person.forgotten_at is not None:
                    raise SegmentConflict("this contributor was erased")
                stone = conn.execute(sa.select(tombstones.c.at).where(
                    tombstones.c.recording_id == recording_id,
                    tombstones.c.contributor_id == contributor_id)).first()
                if stone is not None:
                    raise SegmentConflict("this recording was deleted")
        except sa.exc.IntegrityError:  # the same segment committed at the same moment by another request
            other = self.segment_named(contributor_id, recording_id, name)
            if other is None or other["sha256"] == sha256:
                raise
            raise AlreadyStored(other) from None
        return True

    def delete_recording(self, recording_id: str, contributor_id: str) -> list[str] | None:
        """Tombstones the contributor's recording, shreds its wrapped keys and marks its rows deleted.

        Returns the objects to remove from the store (every row of the recording, deleted before or
        not, so that a retry finishes an interrupted removal), or None if the contributor has neither
        a row nor a tombstone of this recording.
        """
        now = time.time()
        mine = (segments.c.recording_id == recording_id, segments.c.contributor_id == contributor_id)
        with self.begin() as conn:
            conn.execute(self._lock_contributor(contributor_id))  # PostgreSQL: one change at a time each
            shas = list(conn.execute(sa.select(segments.c.sha256).where(*mine)).scalars())
            stoned = conn.execute(sa.select(tombstones.c.at).where(
                tombstones.c.recording_id == recording_id,
                tombstones.c.contributor_id == contributor_id)).first() is not None
            if not shas and not stoned:
                return None
            if not stoned:
                conn.execute(tombstones.insert().values(recording_id=recording_id,
                                                        contributor_id=contributor_id, at=now))
            conn.execute(segments.update().where(*mine, segments.c.deleted_at.is_(None))
                         .values(deleted_at=now))
            conn.execute(segments.update().where(*mine).values(wrapped_data_key=None, meta=None))
        return shas

    @staticmethod
    def _lock_contributor(contributor_id: str) -> sa.Select:
        """The contributor's ``forgotten_at``, its row locked to the end of the transaction (PostgreSQL; in
        SQLite a transaction's first write locks the whole file), so that an erasure, a deletion and a
        commit of one contributor happen one after the other."""
        return (sa.select(contributors.c.forgotten_at).where(contributors.c.id == contributor_id)
                .with_for_update())
