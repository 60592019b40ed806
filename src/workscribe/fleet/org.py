"""Setting up an organisation's service: ``init_org`` (key pair, admin token, catalog, store, and
``fleet.json`` saying where they are) and ``invite`` (one-use enrolment tokens).

The organisation's X25519 private key is written once, owner-only, to a file *outside* the data folder
(the dataset builders keep it); the service keeps the public key only, so it can read nothing it stores.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from workscribe.fleet import keys
from workscribe.fleet.catalog import CATALOG_FILE, Catalog
from workscribe.fleet.config import (
    CONFIG_FILE,
    FleetConfig,
    catalog_for,
    describe_catalog,
    load_config,
    save_config,
    store_for,
    unreachable_catalog,
)
from workscribe.fleet.store import OBJECTS_DIR, Staging

ADMIN_TOKEN_PREFIX = "wsa_"
INVITE_TOKEN_PREFIX = "wsi_"
DEVICE_TOKEN_PREFIX = "wsd_"
"""Token prefixes name what a token is when one turns up in a log or a paste."""

DEFAULT_TEAM = "default"
_TEAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class OrgError(ValueError):
    """The organisation cannot be set up or used as asked (exists already, missing, bad argument)."""


def new_token(prefix: str) -> str:
    """A fresh secret token: ``prefix`` and 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def init_org(data_dir: Path, private_key_out: Path, config: FleetConfig | None = None) -> dict[str, Any]:
    """Creates the organisation: its key pair, admin token, catalog and object store, and ``fleet.json``.

    Args:
        data_dir: the service's data folder (created if missing).
        private_key_out: where the X25519 private key goes (PKCS#8 PEM, mode 0600); must not exist and
            must not be inside ``data_dir``.
        config: where the catalog and the objects live (default: both in ``data_dir``).

    Returns:
        ``{"org_id", "admin_token", "public_key" (base64), "data_dir", "private_key", "catalog", "store"}``.

    Raises:
        OrgError: an organisation exists in ``data_dir`` or in the catalog, or ``private_key_out`` exists
            or is inside ``data_dir``.
        FleetConfigError: ``fleet.json`` of ``data_dir`` is unreadable.
        ServiceUnreachable: the catalog's server or the object store does not answer (nothing is written).
    """
    config = config or FleetConfig()
    data_dir, private_key_out = Path(data_dir).resolve(), Path(private_key_out).resolve()
    if private_key_out.is_relative_to(data_dir):
        raise OrgError(f"the private key must be kept outside the data folder {data_dir} "
                       f"(the service must not hold it); choose another --private-key")
    if private_key_out.exists():
        raise OrgError(f"{private_key_out} exists; refusing to overwrite a key")
    if not private_key_out.parent.is_dir():
        raise OrgError(f"{private_key_out.parent}: no such folder for the private key")
    if data_dir.exists() and not data_dir.is_dir():
        raise OrgError(f"{data_dir} is not a folder")
    if (data_dir / CONFIG_FILE).exists():
        raise OrgError(f"{data_dir} already holds an organisation")
    catalog = catalog_for(data_dir, config)
    try:
        try:
            if (config.catalog or (data_dir / CATALOG_FILE).exists()) and catalog.org() is not None:
                where = data_dir if config.catalog is None else f"the catalog {describe_catalog(catalog)}"
                raise OrgError(f"{where} already holds an organisation")
        except sa.exc.DBAPIError as exc:
            raise unreachable_catalog(catalog, exc) from None
        if config.store is not None:
            store_for(data_dir, config)  # the bucket is asked whether it answers before anything is written
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store_for(data_dir, config, check=False)  # a FolderStore makes objects/
        private = keys.generate_org_key()
        public = keys.public_bytes(private)
        keys.save_private_key(private, private_key_out)
        admin_token = new_token(ADMIN_TOKEN_PREFIX)
        try:
            org_id = catalog.create_org(public, admin_token)
            save_config(data_dir, config)
        except Exception as exc:
            private_key_out.unlink(missing_ok=True)  # no key without its organisation
            if isinstance(exc, sa.exc.DBAPIError):
                raise unreachable_catalog(catalog, exc) from None
            raise
        Staging(data_dir)
    finally:
        catalog.close()
    return {"org_id": org_id, "admin_token": admin_token, "public_key": base64.b64encode(public).decode(),
            "data_dir": str(data_dir), "private_key": str(private_key_out),
            "catalog": describe_catalog(catalog), "store": config.store or str(data_dir / OBJECTS_DIR)}


def invite(data_dir: Path, team: str = DEFAULT_TEAM, expires_s: float = 7 * 86400) -> str:
    """A new one-use enrolment token for ``team``, valid for ``expires_s`` seconds.

    Raises:
        OrgError: no organisation in ``data_dir``, a bad team name or a non-positive ``expires_s``.
    """
    if not _TEAM.match(team or ""):
        raise OrgError(f"team {team!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    if not expires_s > 0:
        raise OrgError(f"expires {expires_s!r}: must be a positive number of seconds")
    catalog = open_catalog(data_dir)
    try:
        token = new_token(INVITE_TOKEN_PREFIX)
        catalog.add_invite(token, team, time.time() + expires_s)
    finally:
        catalog.close()
    return token


def open_catalog(data_dir: Path) -> Catalog:
    """The catalog of an initialised data folder (where its ``fleet.json`` says).

    Raises:
        OrgError: there is no organisation in ``data_dir`` or in its catalog.
        FleetConfigError: ``fleet.json`` is unreadable.
        ServiceUnreachable: the catalog's database server does not answer.
    """
    data_dir = Path(data_dir)
    config = load_config(data_dir)
    if config.catalog is None and not (data_dir / CATALOG_FILE).is_file():
        raise OrgError(f"{data_dir}: no organisation here (run `workscribe org init --data {data_dir}`)")
    catalog = catalog_for(data_dir, config)
    try:
        org = catalog.org()
    except sa.exc.DBAPIError as exc:
        catalog.close()
        raise unreachable_catalog(catalog, exc) from None
    if org is None:
        catalog.close()
        raise OrgError(f"{data_dir}: the catalog has no organisation (run `workscribe org init`)")
    return catalog
