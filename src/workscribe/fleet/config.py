"""Where a service's catalog and objects live: ``fleet.json`` in its data folder, written by ``org init``.

By default both are in the data folder (``catalog.sqlite``, ``objects/``); ``org init --catalog URL``
puts the catalog in a database server (PostgreSQL) and ``--store s3://BUCKET/PREFIX`` the objects in
an S3-compatible bucket. Partial uploads always stay in the data folder's ``staging/``. No secret is
written here: a database password comes from ``PGPASSWORD`` or ``~/.pgpass``, S3 credentials from the
standard AWS environment variables.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from workscribe.fleet.catalog import Catalog
from workscribe.fleet.store import FolderStore, ObjectStore

if TYPE_CHECKING:
    from workscribe.fleet.s3 import S3Location

CONFIG_FILE = "fleet.json"
_CATALOG_DRIVERS = ("sqlite", "postgresql")


class FleetConfigError(ValueError):
    """A catalog URL, a store address or a ``fleet.json`` that cannot be used as written."""


class ServiceUnreachable(RuntimeError):
    """The catalog's database server or the object store does not answer (one line)."""


@dataclass(frozen=True)
class FleetConfig:
    """What ``fleet.json`` records; the defaults are the data folder itself."""

    catalog: str | None = None  # an SQLAlchemy URL without password; None: catalog.sqlite in the folder
    store: str | None = None  # s3://BUCKET/PREFIX; None: objects/ in the data folder
    s3_endpoint: str | None = None  # http(s)://HOST[:PORT] of an S3-compatible service; None: AWS

    def __post_init__(self) -> None:
        if self.catalog is not None:
            try:
                url = sa.engine.make_url(self.catalog)
            except sa.exc.ArgumentError:
                raise FleetConfigError(f"catalog {self.catalog!r} is not a database URL "
                                       "(write it like postgresql+psycopg://USER@HOST:5432/DB)") from None
            if url.get_backend_name() not in _CATALOG_DRIVERS:
                raise FleetConfigError(f"catalog {self.catalog!r}: use a postgresql:// (or sqlite://) URL")
            if url.password is not None:
                raise FleetConfigError("catalog: leave the password out of the URL (it would be written to "
                                       f"{CONFIG_FILE}); give it in PGPASSWORD or ~/.pgpass")
        if self.s3_endpoint is not None and self.store is None:
            raise FleetConfigError("--s3-endpoint needs --store s3://BUCKET/PREFIX")
        if self.store is not None:
            self.s3_location()  # checks the address and the endpoint

    def s3_location(self) -> S3Location:
        """The S3 bucket, prefix and endpoint of ``store`` (boto3 is imported only for an S3 store)."""
        from workscribe.fleet.s3 import S3ConfigError, parse_location

        try:
            return parse_location(self.store or "", self.s3_endpoint)
        except S3ConfigError as exc:
            raise FleetConfigError(str(exc)) from None


def load_config(data_dir: Path) -> FleetConfig:
    """The data folder's ``fleet.json`` (the defaults where there is none, as in folders made before it)."""
    path = Path(data_dir) / CONFIG_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return FleetConfig()
    except (OSError, ValueError) as exc:
        raise FleetConfigError(f"{path}: unreadable ({exc})") from None
    if not isinstance(raw, dict) or set(raw) - {"catalog", "store", "s3_endpoint"}:
        raise FleetConfigError(f"{path}: expected an object with catalog, store and s3_endpoint")
    return FleetConfig(**raw)


def save_config(data_dir: Path, config: FleetConfig) -> None:
    """Writes ``fleet.json`` into the data folder (owner-only; it holds no secret, but names servers)."""
    path = Path(data_dir) / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(config), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def catalog_for(data_dir: Path, config: FleetConfig) -> Catalog:
    """The catalog ``config`` names (not yet connected)."""
    return Catalog(config.catalog) if config.catalog else Catalog.in_folder(data_dir)


def describe_catalog(catalog: Catalog) -> str:
    """The catalog's URL with any password hidden, for messages."""
    return catalog.engine.url.render_as_string(hide_password=True)


def unreachable_catalog(catalog: Catalog, exc: sa.exc.DBAPIError) -> ServiceUnreachable:
    """A one-line ``ServiceUnreachable`` for a database error while connecting."""
    reason = " ".join(str(exc.orig).split()) if exc.orig is not None else type(exc).__name__
    return ServiceUnreachable(f"catalog {describe_catalog(catalog)}: {reason[:300]}")


def store_for(data_dir: Path, config: FleetConfig, check: bool = True) -> ObjectStore:
    """The object store ``config`` names; with ``check``, an S3 bucket is asked first whether it answers.

    Raises:
        ServiceUnreachable: the endpoint, the bucket or the credentials do not answer.
    """
    if config.store is None:
        return FolderStore(data_dir)
    from workscribe.fleet.s3 import S3Store, S3Unreachable

    store = S3Store(config.s3_location())
    if check:
        try:
            store.check()
        except S3Unreachable as exc:
            raise ServiceUnreachable(str(exc)) from None
    return store


def open_store(data_dir: Path) -> ObjectStore:
    """The object store of an initialised data folder, checked to answer."""
    return store_for(data_dir, load_config(data_dir))
