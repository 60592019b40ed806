"""The on-disk layout of a spool, named once.

A spool is a folder of *segments*. A segment is an append-only file of framed records, so that a
recorder killed at any moment leaves a file whose every complete record reads back::

    record  = MAGIC (4 bytes) | length u32 | crc32 u32 | type u8 | payload (length bytes)

``crc32`` covers the type byte and the stored payload. A reader stops at the first torn record at
the end of a file (a crash mid-write) and reports it; a bad record in the middle is skipped by
scanning for the next ``MAGIC``.

Every payload but the envelope's is sealed with AES-256-GCM (``spool.crypto``): nothing readable is
on disk without the device key.

Record types:
    ENVELOPE plain JSON: format, version, cipher, key id, segment id (hex). Always the first record.
    HEADER   JSON: recording id, sequence number, wall-clock start, clock start, codec, consent
             scope, software versions. The second record.
    EVENTS   zlib-compressed JSON list of events (see ``workscribe.events``), in ``t`` order.
    PACKET   one encoded video packet of the screen stream: frame id u32 | keyframe u8 | bytes.
    FOOTER   JSON: counts; present only when the segment was closed cleanly.
"""

from __future__ import annotations

import struct

MAGIC = b"WSR1"
RECORD_HEAD = struct.Struct("<4sIIB")  # magic, payload length, crc32(type + payload), type
PACKET_HEAD = struct.Struct("<IB")  # frame id, keyframe flag

HEADER, EVENTS, PACKET, FOOTER, ENVELOPE = 1, 2, 3, 4, 5
RECORD_TYPES = {HEADER: "header", EVENTS: "events", PACKET: "packet", FOOTER: "footer", ENVELOPE: "envelope"}

FORMAT_NAME = "workscribe-segment"
FORMAT_VERSION = 2

SEGMENT_SUFFIX = ".wss"
SEGMENT_GLOB = "seg-*" + SEGMENT_SUFFIX
SEGMENT_NAME = "seg-{wall}-{recording}-{seq:05d}" + SEGMENT_SUFFIX
"""``wall`` is the UTC start as ``%Y%m%dT%H%M%S``, so names sort by time; ``recording`` is 8 hex digits."""

MAX_RECORD_BYTES = 64 * 1024 * 1024  # larger lengths are corruption, not data
