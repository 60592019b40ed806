"""Deleting recordings for good: on request, and when they outlive the consent's retention.

A deletion removes every segment of the recording and appends a *tombstone* (recording id, time,
reason) to ``tombstones.jsonl`` in the spool folder. Every reader skips tombstoned recordings, so
a copy of a segment that survived somewhere (a backup, an upload queue) is still not exported.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from workscribe.spool import format as fmt

TOMBSTONES = "tombstones.jsonl"


def _recording_of(path: Path) -> str:
    """The 8-hex recording prefix in a segment's name (``seg-<wall>-<recording>-<seq>.wss``)."""
    return path.name.split("-")[2]


def tombstoned(folder: Path) -> set[str]:
    """Recording ids (or their 8-hex prefixes) deleted from ``folder``."""
    path = folder / TOMBSTONES
    if not path.exists():
        return set()
    out = set()
    for line in path.read_text().splitlines():
        try:
            out.add(json.loads(line)["recording_id"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def is_tombstoned(recording_id: str, stones: set[str]) -> bool:
    """True if ``recording_id`` (full or prefix) was deleted."""
    return any(recording_id.startswith(s) or s.startswith(recording_id) for s in stones)


def delete_recordings(folder: Path, recording_ids: list[str], reason: str) -> list[str]:
    """Deletes every segment of the given recordings and tombstones them; returns deleted file names."""
    deleted = []
    stones = folder / TOMBSTONES
    fd = os.open(stones, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        for rid in recording_ids:
            f.write(json.dumps({"recording_id": rid, "deleted_at": datetime.now(UTC).isoformat(
                timespec="seconds"), "reason": reason}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    for path in sorted(folder.glob(fmt.SEGMENT_GLOB)):
        if any(_recording_of(path) == rid[:8] for rid in recording_ids):
            path.unlink()
            deleted.append(path.name)
    return deleted


def expired_recordings(folder: Path, retention_days: int, now: float | None = None) -> list[str]:
    """8-hex ids of recordings whose newest segment is older than the retention."""
    cutoff = (now or time.time()) - retention_days * 86400
    newest: dict[str, float] = {}
    for path in folder.glob(fmt.SEGMENT_GLOB):
        rid = _recording_of(path)
        newest[rid] = max(newest.get(rid, 0.0), path.stat().st_mtime)
    return sorted(rid for rid, mtime in newest.items() if mtime < cutoff)
