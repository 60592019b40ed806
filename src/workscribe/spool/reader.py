"""Reading a spool back: segments, events in clock order, frames by reference.

Reading never modifies a spool. A segment torn by a crash reads up to its last complete record; a
damaged record in the middle is skipped; a segment whose header cannot be read is skipped with a
warning. Only a folder without any readable segment is an error.
"""

from __future__ import annotations

import heapq
import json
import mmap
import os
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workscribe.events import Event
from workscribe.spool import crypto, retention
from workscribe.spool import format as fmt
from workscribe.spool.video import decode_packets, iter_decoded


class SpoolReadError(ValueError):
    """A spool folder or segment cannot be read."""


BODY_TYPES = frozenset({fmt.EVENTS, fmt.PACKET})
"""The records between a segment's header and its footer."""

REORDER_HORIZON_NS = 5_000_000_000
"""Events of one recording reach the file at most this much out of ``t`` order (batches, frames)."""


@dataclass
class Segment:
    """One segment file: its header, footer and an index of its records."""

    path: Path
    header: dict[str, Any]
    footer: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    _index: list[tuple[int, int, int]] = field(default_factory=list, repr=False)  # type, offset, len
    _cipher: crypto.SegmentCipher | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The file name without its suffix; frame references start with it."""
        return self.path.name.removesuffix(fmt.SEGMENT_SUFFIX)

    @property
    def complete(self) -> bool:
        """True when the recorder closed this segment cleanly."""
        return self.footer is not None

    @property
    def size(self) -> int:
        """Bytes on disk."""
        return self.path.stat().st_size

    def records(self, types: frozenset[int] = BODY_TYPES) -> Iterator[tuple[int, bytes]]:
        """``(type, payload)`` of every intact record of ``types`` (events and packets), decrypted, in
        file order; the header and footer are ``header`` and ``footer``."""
        assert self._cipher is not None
        with open(self.path, "rb") as f:
            for t, offset, length in self._index:
                if t in types:
                    f.seek(offset)
                    try:
                        yield t, self._cipher.open(t, f.read(length))
                    except crypto.DecryptError as exc:
                        self.problems.append(f"record at byte {offset} skipped: {exc}")

    def payloads(self, rtype: int) -> Iterator[bytes]:
        """The decrypted payloads of every intact record of type ``rtype``, in file order."""
        for _, payload in self.records(frozenset({rtype})):
            yield payload

    def events(self) -> Iterator[Event]:
        """The events of this segment, frame events carrying ``data["ref"]``."""
        for payload in self.payloads(fmt.EVENTS):
            for event in json.loads(zlib.decompress(payload)):
                if event["source"] == "screen" and event["kind"] == "frame":
                    event["data"]["ref"] = f"{self.name}#{event['data']['id']}"
                yield event

    def packets(self) -> Iterator[tuple[int, bool, bytes]]:
        """``(frame_id, keyframe, packet)`` of the screen stream, in stream order."""
        for payload in self.payloads(fmt.PACKET):
            frame_id, key = fmt.PACKET_HEAD.unpack_from(payload)
            yield frame_id, bool(key), payload[fmt.PACKET_HEAD.size:]

    def frames(self, ids: set[int] | None = None) -> dict[int, np.ndarray]:
        """Decodes the frames ``ids`` (all if None) as RGB arrays."""
        return decode_packets(self.packets(), ids)

    def iter_frames(self, ids: set[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``frames`` one at a time, in stream order (memory for one frame, not all of them)."""
        return iter_decoded(self.packets(), ids)

    def count_frames(self) -> int:
        """Number of distinct stored images."""
        return len({fid for fid, _, _ in self.packets()})


def open_segment(path: Path, key: bytes | None, keys: Mapping[str, bytes] | None = None) -> Segment:
    """Indexes a segment file and decrypts its header with ``key``, or with the key of ``keys`` (by
    ``key_id``, see ``crypto.keyring``) that its envelope names.

    Raises:
        SpoolReadError: not a segment, a newer format, no key, or a key that does not open it.
    """
    index: list[tuple[int, int, int]] = []
    problems: list[str] = []
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except OSError as exc:
        raise SpoolReadError(f"{path.name}: cannot read ({exc.strerror})") from None
    sealed: dict[int, bytes] = {}
    try:
        envelope = _scan(data, index, problems, sealed)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    if envelope is None or envelope.get("format") != fmt.FORMAT_NAME:
        raise SpoolReadError(f"{path.name}: not a workscribe segment (no readable envelope)")
    if envelope.get("version", 0) != fmt.FORMAT_VERSION:
        raise SpoolReadError(f"{path.name}: segment format {envelope.get('version')} is not the one this "
                             f"reader knows ({fmt.FORMAT_VERSION})")
    if keys and envelope.get("key_id") in keys:
        key = keys[envelope["key_id"]]
    if key is None:
        raise SpoolReadError(f"{path.name}: the segment is encrypted and no key was found "
                             f"(the device's {crypto.KEY_FILE}, or --key FILE)")
    if crypto.key_id(key) != envelope.get("key_id"):
        raise SpoolReadError(f"{path.name}: sealed with key {envelope.get('key_id')}, not with the key given")
    cipher = crypto.SegmentCipher(key, bytes.fromhex(envelope["segment_id"]))
    try:
        header = _json(cipher.open(fmt.HEADER, sealed[fmt.HEADER])) if fmt.HEADER in sealed else None
        footer = _json(cipher.open(fmt.FOOTER, sealed[fmt.FOOTER])) if fmt.FOOTER in sealed else None
    except crypto.DecryptError as exc:
        raise SpoolReadError(f"{path.name}: {exc}") from None
    if header is None:
        raise SpoolReadError(f"{path.name}: the segment header is missing or damaged")
    return Segment(path, header, footer, problems, index, cipher)


def _scan(data: bytes | mmap.mmap, index: list[tuple[int, int, int]], problems: list[str],
          sealed: dict[int, bytes]) -> dict[str, Any] | None:
    """Walks the records: returns the envelope, fills ``index`` and the sealed header/footer."""
    envelope = None
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < fmt.RECORD_HEAD.size:
            problems.append(f"torn record at byte {pos} (crash while writing)")
            break
        magic, length, crc, rtype = fmt.RECORD_HEAD.unpack_from(data, pos)
        start = pos + fmt.RECORD_HEAD.size
        if magic != fmt.MAGIC or length > fmt.MAX_RECORD_BYTES:
            nxt = data.find(fmt.MAGIC, pos + 1)
            problems.append(f"damaged record at byte {pos}, skipped to {nxt if nxt >= 0 else n}")
            pos = nxt if nxt >= 0 else n
            continue
        if start + length > n:
            problems.append(f"torn record at byte {pos} (crash while writing)")
            break
        payload = data[start:start + length]
        if zlib.crc32(payload, zlib.crc32(bytes([rtype]))) != crc:
            problems.append(f"checksum mismatch at byte {pos}, record skipped")
        elif rtype == fmt.ENVELOPE and envelope is None:
            envelope = _json(bytes(payload))
        elif rtype in (fmt.HEADER, fmt.FOOTER):
            sealed.setdefault(rtype, bytes(payload))
        elif rtype in (fmt.EVENTS, fmt.PACKET):
            index.append((rtype, start, length))
        pos = start + length
    return envelope


class Spool:
    """A spool folder opened for reading.

    Args:
        folder: the folder ``workscribe record --out`` wrote.
        key: the spool key; by default the device's own (``$WORKSCRIBE_HOME/spool.key``).
        keys: further keys; a segment whose envelope names one of them (by ``key_id``) is opened with it
            (segments re-sealed for fleet upload each have their own data key).

    Raises:
        SpoolReadError: the folder is missing, or holds no readable segment.
    """

    def __init__(self, folder: Path, key: bytes | None = None, keys: Iterable[bytes] = ()) -> None:
        self.folder = Path(folder)
        if key is None:
            key = crypto.load_key()
        ring = crypto.keyring(keys)
        if not self.folder.exists():
            raise SpoolReadError(f"{self.folder}: no such folder")
        if not self.folder.is_dir():
            raise SpoolReadError(f"{self.folder}: not a folder")
        self.segments: list[Segment] = []
        self.skipped: list[str] = []
        self.deleted_segments = 0
        for path in sorted(self.folder.glob(fmt.SEGMENT_GLOB)):
            try:
                self.segments.append(open_segment(path, key, ring))
            except SpoolReadError as exc:
                self.skipped.append(str(exc))
        stones = retention.tombstoned(self.folder)
        if stones:  # deleted recordings are never read again, whatever copy of them survived
            kept = [s for s in self.segments if not retention.is_tombstoned(s.header["recording_id"], stones)]
            self.deleted_segments = len(self.segments) - len(kept)
            self.segments = kept
        if not self.segments:
            why = f" ({self.skipped[0]})" if self.skipped else ""
            raise SpoolReadError(f"{self.folder}: no readable workscribe segments{why}")
        self.segments.sort(key=lambda s: (s.header["wall_start_ns"], s.header["seq"]))
        self._by_name = {s.name: s for s in self.segments}

    @property
    def problems(self) -> list[str]:
        """Every problem found, one line each, naming its segment."""
        out = list(self.skipped)
        for s in self.segments:
            out += [f"{s.path.name}: {p}" for p in s.problems]
        return out

    def recordings(self) -> list[list[Segment]]:
        """Segments grouped by recording, in order of start."""
        groups: dict[str, list[Segment]] = {}
        for s in self.segments:
            groups.setdefault(s.header["recording_id"], []).append(s)
        return list(groups.values())

    @property
    def wall_start_ns(self) -> int:
        """Wall-clock start of the first segment (ns since the epoch)."""
        return self.segments[0].header["wall_start_ns"]

    def to_seconds(self, t: int, recording: list[Segment]) -> float:
        """Converts clock ``t`` of ``recording`` to seconds since the spool's first start."""
        head = recording[0].header
        return (head["wall_start_ns"] + (t - head["t_start"]) - self.wall_start_ns) / 1e9

    def iter_events(self, recording: list[Segment]) -> Iterator[Event]:
        """The events of one recording in ``t`` order (streamed; bounded memory)."""
        heap: list[tuple[int, int, Event]] = []
        n = 0
        for seg in recording:
            for event in seg.events():
                heapq.heappush(heap, (event["t"], n, event))
                n += 1
                while heap and heap[0][0] < event["t"] - REORDER_HORIZON_NS:
                    yield heapq.heappop(heap)[2]
        while heap:
            yield heapq.heappop(heap)[2]

    def frames(self, refs: list[str]) -> dict[str, np.ndarray]:
        """Decodes the frames named by ``refs`` (``"<segment>#<id>"``) as RGB arrays."""
        wanted: dict[str, set[int]] = {}
        for ref in refs:
            name, _, fid = ref.rpartition("#")
            if name not in self._by_name or not fid.isdigit():
                raise SpoolReadError(f"no frame {ref!r} in {self.folder}")
            wanted.setdefault(name, set()).add(int(fid))
        out: dict[str, np.ndarray] = {}
        for name, ids in wanted.items():
            for fid, image in self._by_name[name].frames(ids).items():
                out[f"{name}#{fid}"] = image
        return out

    def summary(self) -> dict[str, Any]:
        """``{"duration_s", "segments", "events": {kind: count}, "frames", "bytes"}``."""
        kinds: Counter[str] = Counter()
        duration = 0.0
        for recording in self.recordings():
            first = last = None
            for seg in recording:
                for event in seg.events():
                    kinds[f"{event['source']}.{event['kind']}"] += 1
                    first = event["t"] if first is None else min(first, event["t"])
                    last = event["t"] if last is None else max(last, event["t"])
                end = (seg.footer or {}).get("closed_t")
                if end is not None:
                    last = max(last or end, end)
            start = recording[0].header["t_start"]
            if last is not None:
                duration += (last - start) / 1e9
        return {
            "duration_s": round(duration, 3),
            "segments": len(self.segments),
            "events": dict(sorted(kinds.items())),
            "frames": sum(s.count_frames() for s in self.segments),
            "bytes": sum(s.size for s in self.segments),
            "complete_segments": sum(s.complete for s in self.segments),
            "problems": self.problems,
        }


def _json(payload: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
