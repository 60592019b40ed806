"""Erasing a contributor from the service: ``forget_contributor`` (``workscribe org forget``).

The contributor's sealed key ``K_c`` and every wrapped data key are set to NULL (shredded), each of
their recordings gets a tombstone, their devices' token hashes are replaced by random ones (their tokens
answer 401, as they would for a forgotten contributor anyway), their objects and partial uploads are
removed, and ``contributors.forgotten_at`` is set. Without ``K_c``, which only the contributor's device
held besides its sealed copy, no backup of the objects can be read, even with the organisation's
private key. Forgetting again finishes an interrupted removal and changes nothing else.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from workscribe.fleet.catalog import contributors, devices, segments, token_sha256, tombstones
from workscribe.fleet.config import open_store
from workscribe.fleet.org import OrgError, open_catalog
from workscribe.fleet.store import Staging


def forget_contributor(data_dir: Path, contributor_id: str) -> dict[str, Any]:
    """Erases the contributor ``contributor_id`` from the service in ``data_dir``.

    Returns:
        ``{"contributor_id", "forgotten_at", "already_forgotten", "recordings", "segments",
        "objects_removed", "devices_disabled"}``: the recordings and segments erased, objects removed
        from the store now and devices disabled now.

    Raises:
        OrgError: no organisation in ``data_dir``, or no such contributor.
    """
    data_dir = Path(data_dir)
    catalog = open_catalog(data_dir)
    try:
        with catalog.begin() as conn:
            row = conn.execute(sa.select(contributors.c.forgotten_at)
                               .where(contributors.c.id == contributor_id)).first()
            if row is None:
                raise OrgError(f"no contributor {contributor_id!r} in {data_dir}")
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
                conn.execute(tombstones.insert().values(recording_id=rid, contributor_id=contributor_id,
                                                        at=now))
            device_ids = list(conn.execute(sa.select(devices.c.id)
                                           .where(devices.c.contributor_id == contributor_id)).scalars())
            disabled = 0
            if row.forgotten_at is None:  # a token hash no token has: the device cannot sign in again
                for device_id in device_ids:
                    conn.execute(devices.update().where(devices.c.id == device_id)
                                 .values(token_sha256=token_sha256(secrets.token_urlsafe(32))))
                    disabled += 1
    finally:
        catalog.close()
    store, staging = open_store(data_dir), Staging(data_dir)
    removed = sum(store.delete(sha) for sha in shas)
    for part in staging.root.glob("*.part"):  # partial uploads of its devices
        if any(part.name.endswith(f"-{device_id}.part") for device_id in device_ids):
            part.unlink(missing_ok=True)
    return {"contributor_id": contributor_id, "forgotten_at": now,
            "already_forgotten": row.forgotten_at is not None, "recordings": len(recordings | stoned),
            "segments": len(shas), "objects_removed": removed, "devices_disabled": disabled}
