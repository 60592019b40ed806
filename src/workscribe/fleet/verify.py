"""The check that an uploaded object is a whole workscribe segment, without any key.

The service cannot decrypt, but the framing of a segment is in clear (``spool.format``): every record
has the magic, a length and a CRC-32, the first record is the plain-JSON envelope and the second the
(sealed) header. An uploaded segment is a closed one, so unlike the spool reader, which reads what a
crash left, this check accepts nothing torn or damaged: every record intact, the envelope of the
format and version this package writes, a footer as the last record and no byte after it.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from workscribe.spool import format as fmt


class NotASegment(ValueError):
    """The bytes are not a whole, intact workscribe segment (foreign, truncated or damaged)."""


@dataclass(frozen=True)
class SegmentShape:
    """What the clear framing of a segment says: its envelope and how many records of each type."""

    envelope: dict[str, Any]
    records: dict[str, int]


def check_segment(path: Path) -> SegmentShape:
    """Reads the file ``path`` record by record (memory: one record) and checks it is a whole segment.

    Raises:
        NotASegment: with a one-line reason naming the byte offset.
    """
    with open(path, "rb") as f:
        return check_stream(f)


def check_stream(f: BinaryIO) -> SegmentShape:
    """``check_segment`` of an open binary file, read from its current position to its end."""
    counts: dict[str, int] = {}
    envelope: dict[str, Any] | None = None
    pos, last = 0, None
    while True:
        head = f.read(fmt.RECORD_HEAD.size)
        if not head:
            break
        if len(head) < fmt.RECORD_HEAD.size:
            raise NotASegment(f"truncated: a partial record head at byte {pos}")
        magic, length, crc, rtype = fmt.RECORD_HEAD.unpack(head)
        if magic != fmt.MAGIC:
            raise NotASegment(f"no record at byte {pos} (not a workscribe segment, or damaged)")
        if rtype not in fmt.RECORD_TYPES:
            raise NotASegment(f"unknown record type {rtype} at byte {pos}")
        if length > fmt.MAX_RECORD_BYTES:
            raise NotASegment(f"record at byte {pos} claims {length} bytes, more than a record may hold")
        payload = f.read(length)
        if len(payload) < length:
            raise NotASegment(f"truncated: the record at byte {pos} is cut short")
        if zlib.crc32(payload, zlib.crc32(bytes([rtype]))) != crc:
            raise NotASegment(f"checksum mismatch in the record at byte {pos}")
        if last is None:
            if rtype != fmt.ENVELOPE:
                raise NotASegment("the first record is not the envelope")
            envelope = _envelope(payload)
        elif last == fmt.ENVELOPE:
            if rtype != fmt.HEADER:
                raise NotASegment("the second record is not the header")
        elif rtype in (fmt.ENVELOPE, fmt.HEADER) or last == fmt.FOOTER:
            raise NotASegment(f"a {fmt.RECORD_TYPES[rtype]} record at byte {pos} out of place")
        counts[fmt.RECORD_TYPES[rtype]] = counts.get(fmt.RECORD_TYPES[rtype], 0) + 1
        last = rtype
        pos += fmt.RECORD_HEAD.size + length
    if envelope is None:
        raise NotASegment("empty: no records")
    if last != fmt.FOOTER:
        raise NotASegment("truncated: the segment has no footer (not closed, or cut short)")
    return SegmentShape(envelope, counts)


def _envelope(payload: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(payload)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("format") != fmt.FORMAT_NAME:
        raise NotASegment("the envelope is not that of a workscribe segment")
    if envelope.get("version") != fmt.FORMAT_VERSION:
        raise NotASegment(f"segment format {envelope.get('version')!r} is not {fmt.FORMAT_VERSION}")
    for field in ("key_id", "segment_id"):
        if not isinstance(envelope.get(field), str):
            raise NotASegment(f"the envelope has no {field}")
    return envelope
