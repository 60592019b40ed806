"""Erasing a contributor from the service: on the service's host (``forget_contributor``, ``workscribe org
forget --data``) or through the running service with the admin token (``forget_on_service``, ``workscribe
org forget --server``, which asks ``DELETE /v1/admin/contributors/{id}``; the service runs ``erase``).

The contributor's sealed key ``K_c`` and every wrapped data key are set to NULL (shredded), each of
their recordings gets a tombstone, their devices' token hashes are replaced by random ones (their tokens
answer 401, as they would for a forgotten contributor anyway), their objects and partial uploads are
removed, and ``contributors.forgotten_at`` is set. Without ``K_c``, which only the contributor's device
held besides its sealed copy, no backup of the objects can be read, even with the organisation's
private key. Forgetting again finishes an interrupted removal and changes nothing else. The answer is
counts only: nothing of the contributor's recordings, apps or summaries.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from workscribe.fleet.catalog import Catalog, contributors, devices, segments, token_sha256, tombstones
from workscribe.fleet.config import ServiceUnreachable, open_store
from workscribe.fleet.org import OrgError, open_catalog
from workscribe.fleet.store import ObjectStore, Staging

CONTRIBUTOR_PATTERN = r"^[0-9a-f]{16}$"
"""A contributor id: the device's consent pseudonym, 16 lower-case hex digits (as enrolment takes it)."""
ANSWER_KEYS = ("contributor_id", "forgotten_at", "already_forgotten", "recordings", "segments",
               "objects_removed", "devices_disabled")
"""What an erasure answers, locally and through the service: the id asked for, when, and counts."""


class UnknownContributor(OrgError):
    """No contributor of that id in the catalog (the service answers 404)."""


def erase(catalog: Catalog, store: ObjectStore, staging: Staging, contributor_id: str) -> dict[str, Any]:
    """Erases the contributor ``contributor_id`` with the service's open catalog, store and staging.

    Returns:
        ``{"contributor_id", "forgotten_at", "already_forgotten", "recordings", "segments",
        "objects_removed", "devices_disabled"}``: the recordings and segments erased, objects removed
        from the store now and devices disabled now.

    Raises:
        UnknownContributor: no such contributor.
    """
    with catalog.begin() as conn:
        row = conn.execute(sa.select(contributors.c.forgotten_at).where(contributors.c.id == contributor_id)
                           .with_for_update()).first()  # a commit under way for them waits, then is refused
        if row is None:
            raise UnknownContributor(f"no contributor {contributor_id!r}")
        now = row.forgotten_at or time.time()
        conn.execute(contributors.update().where(contributors.c.id == contributor_id)
                     .values(sealed_key=None, forgotten_at=now))
        mine = segments.c.contributor_id == contributor_id
        shas = list(conn.execute(sa.select(segments.c.sha256).where(mine)).scalars())
        recordings = set(conn.execute(sa.select(segments.c.recording_id).where(mine)).scalars())
        conn.execute(segments.update().where(mine, segments.c.deleted_at.is_(None))
                     .values(deleted_at=now))
        conn.execute(segments.update().where(mine).values(wrapped_data_key=None, meta=None))
        stoned = set(conn.execute(sa.select(tombstones.c.recording_id)
                                  .where(tombstones.c.contributor_id == contributor_id)).scalars())
        for rid in sorted(recordings - stoned):
            conn.execute(tombstones.insert().values(recording_id=rid, contributor_id=contributor_id, at=now))
        device_ids = list(conn.execute(sa.select(devices.c.id)
                                       .where(devices.c.contributor_id == contributor_id)).scalars())
        disabled = 0
        if row.forgotten_at is None:  # a token hash no token has: the device cannot sign in again
            for device_id in device_ids:
                conn.execute(devices.update().where(devices.c.id == device_id)
                             .values(token_sha256=token_sha256(secrets.token_urlsafe(32))))
                disabled += 1
    removed = sum(store.delete(sha) for sha in shas)
    for part in staging.root.glob("*.part"):  # partial uploads of its devices
        if any(part.name.endswith(f"-{device_id}.part") for device_id in device_ids):
            part.unlink(missing_ok=True)
    return {"contributor_id": contributor_id, "forgotten_at": now,
            "already_forgotten": row.forgotten_at is not None, "recordings": len(recordings | stoned),
            "segments": len(shas), "objects_removed": removed, "devices_disabled": disabled}


def forget_contributor(data_dir: Path, contributor_id: str) -> dict[str, Any]:
    """Erases the contributor ``contributor_id`` from the service in ``data_dir`` (on its host; the
    service may be running). Returns what ``erase`` returns.

    Raises:
        OrgError: no organisation in ``data_dir``, or no such contributor (``UnknownContributor``).
    """
    data_dir = Path(data_dir)
    catalog = open_catalog(data_dir)
    try:
        return erase(catalog, open_store(data_dir), Staging(data_dir), contributor_id)
    except UnknownContributor as exc:
        raise UnknownContributor(f"{exc} in {data_dir}") from None
    finally:
        catalog.close()


def forget_on_service(url: str, admin_token: str, contributor_id: str, timeout: float = 300.0
                      ) -> dict[str, Any]:
    """Erases the contributor through the running service at ``url`` with the organisation's admin token
    (``DELETE /v1/admin/contributors/{id}``). Returns what ``erase`` returns, as the service answered.

    Raises:
        OrgError: a malformed URL or contributor id, a token the service refuses, no such contributor.
        ServiceUnreachable: the service cannot be reached, or failed (5xx); forgetting again is safe.
    """
    import httpx

    url = url.rstrip("/")
    if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", url):
        raise OrgError(f"--server {url!r}: write the service's address as http(s)://HOST[:PORT]")
    if not re.match(CONTRIBUTOR_PATTERN, contributor_id):
        raise UnknownContributor(f"no contributor {contributor_id!r} (an id is 16 lower-case hex digits)")
    if not admin_token or any(c.isspace() for c in admin_token):
        raise OrgError("the admin token is empty or holds spaces; give the one `org init` printed")
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0)) as http:
            answer = http.delete(f"{url}/v1/admin/contributors/{contributor_id}",
                                 headers={"Authorization": f"Bearer {admin_token}"})
    except httpx.HTTPError as exc:
        raise ServiceUnreachable(f"cannot reach {url}: {type(exc).__name__}: {exc}"[:300]
                                 + "; forgetting again finishes what was started") from None
    if answer.status_code == 401:
        raise OrgError(f"{url} refused the admin token (401); give the one `org init` printed")
    if answer.status_code == 404:
        raise UnknownContributor(f"no contributor {contributor_id!r} at {url}")
    if answer.status_code >= 500:
        raise ServiceUnreachable(f"{url} failed ({answer.status_code}); forgetting again finishes what was "
                                 "started")
    try:
        done = answer.json() if answer.status_code == 200 else None
    except ValueError:
        done = None
    if not isinstance(done, dict) or set(done) != set(ANSWER_KEYS):
        raise OrgError(f"{url} is not a workscribe service that erases contributors ({answer.status_code})")
    return done
