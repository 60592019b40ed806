"""Writing a spool: crash-safe segments that roll, one writer thread, a disk quota.

Sources hand events and frames to ``SpoolWriter.put_*`` from any thread; one writer thread owns the
files, the H.264 encoder and the order of records. Event batches are flushed to the OS at least
every ``flush_s`` (0.25 s by default), so ``kill -9`` loses at most that much; a segment rolls every
``segment_s`` or ``segment_bytes`` and is closed with a footer and an fsync.

**Disk space.** At every flush the writer looks at the free space of the spool's filesystem. Below
``min_free_bytes`` it stops storing frames (and their ``screen/frame`` events) but keeps writing
every other event, counts the frames it skipped (``frames_skipped_low_disk``), writes a
``spool/disk_low`` event and logs one line; once the free space is 10% above the margin again it
writes ``spool/disk_ok`` (with the frames skipped) and stores frames again. A write that fails all
the same (the disk is full) stops the writer: ``close`` raises ``SpoolWriteError``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import queue
import secrets
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from workscribe import __version__
from workscribe.events import Event, make_event, now_ns
from workscribe.spool import crypto
from workscribe.spool import format as fmt
from workscribe.spool.video import CODEC, FrameEncoder


class SpoolError(RuntimeError):
    """The spool folder cannot be written (locked by another recorder, not a folder, ...)."""


class SpoolWriteError(SpoolError):
    """Writing failed while recording (the disk is full, an I/O error): the work failed, not the request."""


_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)
"""Write errors that are the disk's, not the person's choice of folder."""

MIN_FREE_BYTES = 512 * 1024**2
"""Frames pause below this much free space on the spool's filesystem (or 5% of the quota, if more)."""


def disk_free(folder: Path) -> int:
    """Bytes an unprivileged process may still write on the filesystem holding ``folder``."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def write_failure(exc: BaseException, out: Path) -> str:
    """One line saying why writing to the spool folder ``out`` failed."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {out} is full ({exc.strerror}): recording stopped"
    if isinstance(exc, OSError):
        return f"cannot write to {out}: {exc.strerror or exc}"
    return f"spool writer failed: {type(exc).__name__}: {exc}".splitlines()[0]


def frame_record(frame_id: int, keyframe: bool, packet: bytes) -> bytes:
    """The payload of a PACKET record."""
    return fmt.PACKET_HEAD.pack(frame_id, int(keyframe)) + packet


class SegmentWriter:
    """One open segment file: a plain envelope, then sealed records appended and flushed."""

    def __init__(self, path: Path, header: dict[str, Any], key: bytes) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._f = os.fdopen(fd, "wb", buffering=1 << 16)
        self.bytes = 0
        segment_id = secrets.token_bytes(16)
        envelope = {"format": fmt.FORMAT_NAME, "version": fmt.FORMAT_VERSION, "cipher": crypto.CIPHER,
                    "key_id": crypto.key_id(key), "segment_id": segment_id.hex()}
        try:
            self._write_raw(fmt.ENVELOPE, json.dumps(envelope).encode())
            self._cipher = crypto.SegmentCipher(key, segment_id)
            self.write(fmt.HEADER, json.dumps(header).encode())
            self.flush()
        except OSError:  # a full disk: no segment without its header is left behind
            try:
                self._f.close()
            except OSError:
                pass
            path.unlink(missing_ok=True)
            raise

    def write(self, rtype: int, payload: bytes) -> None:
        """Seals and appends one record (buffered; call ``flush`` to hand it to the OS)."""
        self._write_raw(rtype, self._cipher.seal(rtype, payload))

    def _write_raw(self, rtype: int, payload: bytes) -> None:
        crc = zlib.crc32(payload, zlib.crc32(bytes([rtype])))
        self._f.write(fmt.RECORD_HEAD.pack(fmt.MAGIC, len(payload), crc, rtype))
        self._f.write(payload)
        self.bytes += fmt.RECORD_HEAD.size + len(payload)

    def flush(self) -> None:
        """Hands buffered records to the OS: they survive the process being killed."""
        self._f.flush()

    def close(self, footer: dict[str, Any]) -> None:
        """Writes the footer, syncs to disk and closes."""
        self.write(fmt.FOOTER, json.dumps(footer).encode())
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def abandon(self) -> None:
        """Closes and deletes the unfinished file (a copy that failed half-way leaves nothing)."""
        try:
            self._f.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


@dataclass
class SpoolConfig:
    """How a recording is written."""

    out: Path  # the spool folder
    key: bytes  # the device's spool key (spool.crypto): every record is sealed with it
    segment_s: float = 300.0  # roll to a new segment after this many seconds
    segment_bytes: int = 256 * 1024 * 1024  # ... or after this many bytes
    quota_bytes: int = 2 * 1024**3  # evict the oldest closed segments above this total
    flush_s: float = 0.25  # hand events to the OS at least this often (kill -9 loses at most this)
    max_pending_frames: int = 4  # frames waiting for the encoder; more change frames are dropped
    header: dict[str, Any] = field(default_factory=dict)  # extra header fields (consent scope, ...)
    min_free_bytes: int | None = None  # frames pause below this free space on the spool's filesystem;
    # None: max(MIN_FREE_BYTES, 5% of quota_bytes)
    free_bytes: Callable[[Path], int] = disk_free  # free space of the filesystem holding a folder
    on_closed: Callable[[Path], None] | None = None  # told each segment it closed (on the writer
    # thread: must return at once), e.g. to wake a background uploader

    def __post_init__(self) -> None:
        if self.segment_s <= 0:
            raise ValueError(f"segment_s must be > 0, got {self.segment_s}")
        if self.quota_bytes <= 0:
            raise ValueError(f"quota_bytes must be > 0, got {self.quota_bytes}")
        if self.min_free_bytes is None:
            self.min_free_bytes = max(MIN_FREE_BYTES, self.quota_bytes // 20)
        if self.min_free_bytes < 0:
            raise ValueError(f"min_free_bytes must be >= 0 (0: frames never pause), "
                             f"got {self.min_free_bytes}")


_STOP = object()


class SpoolWriter:
    """Owns the segment files of one recording; thread-safe ``put_events`` and ``put_frame``."""

    def __init__(self, config: SpoolConfig, warn: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.recording_id = uuid.uuid4().hex
        self.warn = warn or (lambda msg: print(f"workscribe: {msg}", file=sys.stderr))
        try:
            config.out.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not config.out.is_dir():
                raise SpoolError(f"{config.out} is not a folder")
            self._lock_fd = os.open(config.out / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except (FileExistsError, NotADirectoryError):
            raise SpoolError(f"{config.out} is not a folder") from None
        except OSError as exc:
            raise self._failure(exc) from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolError(f"another recorder is writing to {config.out}") from None
        self._q: queue.Queue = queue.Queue()
        self._pending_frames = 0
        self._pending_lock = threading.Lock()
        self.frames_dropped = 0
        self.frames_stored = 0
        self.events_written = 0
        self.evicted: list[tuple[str, int]] = []
        self._seq = 0
        self._seg: SegmentWriter | None = None
        self._seg_started = 0.0
        self._encoder: FrameEncoder | None = None
        self._last_image: np.ndarray | None = None
        self._last_id = -1
        self._next_id = 0
        self._batch: list[Event] = []
        self.disk_low = False  # frames are paused: too little free space
        self.frames_skipped_low_disk = 0  # frames not stored while the disk was low
        self._skipped_since = 0  # ... since the last disk_low event
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._error: BaseException | None = None
        try:
            self._open_segment()
        except OSError as exc:
            os.close(self._lock_fd)
            raise self._failure(exc) from None
        self._check_disk()
        self._thread.start()

    def _failure(self, exc: OSError) -> SpoolError:
        """The error for a failed write: the disk's (``SpoolWriteError``) or the folder's."""
        cls = SpoolWriteError if exc.errno in _DISK_ERRORS else SpoolError
        return cls(write_failure(exc, self.config.out))

    # -- producer side -------------------------------------------------------------------------
    def put_events(self, events: list[Event]) -> None:
        """Queues events for writing (any thread)."""
        self._q.put(("events", events))

    def put_frame(self, event: Event, image: np.ndarray) -> bool:
        """Queues a frame (BGRA array) and its ``screen/frame`` event; False if dropped (or skipped:
        the disk is low).

        Only a change frame is dropped, when ``max_pending_frames`` wait for the encoder: a frame an
        action refers to (``before``, ``after``) always waits its turn.
        """
        with self._pending_lock:
            if self.disk_low:
                self.frames_skipped_low_disk += 1
                return False
            if (self._pending_frames >= self.config.max_pending_frames
                    and event["data"].get("reason") not in ("before", "after")):
                self.frames_dropped += 1
                return False
            self._pending_frames += 1
        self._q.put(("frame", event, image))
        return True

    def close(self) -> None:
        """Writes what is queued, closes the segment cleanly and releases the folder."""
        self._q.put((_STOP,))
        self._thread.join()
        os.close(self._lock_fd)
        if self._error is not None:
            raise SpoolWriteError(write_failure(self._error, self.config.out)) from self._error

    @property
    def alive(self) -> bool:
        """False once the writer thread has died."""
        return self._thread.is_alive()

    @property
    def disk(self) -> str:
        """``ok``, or ``low: frames paused`` while free space is under ``min_free_bytes``."""
        return "low: frames paused" if self.disk_low else "ok"

    @property
    def segment_path(self) -> Path | None:
        """The segment being written."""
        return self._seg.path if self._seg else None

    # -- writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        last_flush = time.monotonic()
        try:
            while True:
                timeout = max(0.0, self.config.flush_s - (time.monotonic() - last_flush))
                try:
                    item = self._q.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if item is not None and item[0] is _STOP:
                    break
                if item is not None and item[0] == "events":
                    self._batch.extend(item[1])
                elif item is not None:
                    with self._pending_lock:
                        self._pending_frames -= 1
                    self._store_frame(item[1], item[2])
                now = time.monotonic()
                if now - last_flush >= self.config.flush_s or len(self._batch) >= 5000:
                    self._check_disk()
                    self._flush_batch()
                    last_flush = now
                    if (now - self._seg_started >= self.config.segment_s
                            or (self._seg and self._seg.bytes >= self.config.segment_bytes)):
                        self._roll()
        except BaseException as exc:  # noqa: BLE001 - reported by close(); the recorder stops
            self._error = exc
        finally:
            if self._seg is not None:
                try:
                    self._drain()
                    self._close_segment()
                except OSError as exc:
                    self._error = self._error or exc

    def _drain(self) -> None:
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item[0] == "events":
                self._batch.extend(item[1])
        self._flush_batch()

    def _check_disk(self) -> None:
        """Pauses frames below ``min_free_bytes`` of free space, resumes them 10% above it."""
        margin = self.config.min_free_bytes or 0
        try:
            free = self.config.free_bytes(self.config.out)
        except OSError:
            return
        if not self.disk_low and free < margin:
            self.disk_low, self._skipped_since = True, self.frames_skipped_low_disk
            self.warn(f"disk low: {_mib(free)} free where {self.config.out} is, under the margin of "
                      f"{_mib(margin)}: frames paused, events still written")
            data = {"free_bytes": free, "min_free_bytes": margin}
            self._batch.append(make_event("spool", "disk_low", data))
        elif self.disk_low and free >= margin + margin // 10:
            self.disk_low = False
            skipped = self.frames_skipped_low_disk - self._skipped_since
            self.warn(f"disk space back: {_mib(free)} free; frames resumed ({skipped} skipped)")
            data = {"free_bytes": free, "frames_skipped": skipped}
            self._batch.append(make_event("spool", "disk_ok", data))

    def _store_frame(self, event: Event, image: np.ndarray) -> None:
        assert self._seg is not None
        h, w = image.shape[:2]
        if self._encoder is not None and (w, h) != (self._encoder.width, self._encoder.height):
            self._roll()
        if self._last_image is not None and np.array_equal(image, self._last_image):
            frame_id = self._last_id  # identical frames are stored once
        else:
            if self._encoder is None:
                self._encoder = FrameEncoder(w, h)
            frame_id = self._next_id
            self._next_id += 1
            for packet, key in self._encoder.encode(image):
                self._seg.write(fmt.PACKET, frame_record(frame_id, key, packet))
            self._last_image, self._last_id = image, frame_id
            self.frames_stored += 1
        event["data"].update(id=frame_id, w=w, h=h)
        self._batch.append(event)

    def _flush_batch(self) -> None:
        assert self._seg is not None
        if self._batch:
            self._batch.sort(key=lambda e: e["t"])
            payload = zlib.compress(json.dumps(self._batch, separators=(",", ":")).encode(), 6)
            self._seg.write(fmt.EVENTS, payload)
            self.events_written += len(self._batch)
            self._batch = []
        self._seg.flush()

    def _open_segment(self) -> None:
        self._seq += 1
        wall = time.time_ns()
        name = fmt.SEGMENT_NAME.format(
            wall=datetime.fromtimestamp(wall / 1e9, UTC).strftime("%Y%m%dT%H%M%S"),
            recording=self.recording_id[:8], seq=self._seq)
        header = {
            "recording_id": self.recording_id, "seq": self._seq,
            "wall_start_ns": wall, "t_start": now_ns(), "clock": "monotonic_ns",
            "codec": CODEC, "recorder_version": __version__, **self.config.header,
        }
        self._seg = SegmentWriter(self.config.out / name, header, self.config.key)
        self._seg_started = time.monotonic()
        self._encoder, self._last_image, self._last_id, self._next_id = None, None, -1, 0

    def _close_segment(self) -> None:
        assert self._seg is not None
        if self._encoder is not None:
            for packet, key in self._encoder.close():
                self._seg.write(fmt.PACKET, frame_record(self._next_id - 1, key, packet))
        self._seg.close({"events": self.events_written, "frames": self.frames_stored,
                         "frames_dropped": self.frames_dropped,
                         "frames_skipped_low_disk": self.frames_skipped_low_disk, "closed_t": now_ns()})
        closed, self._seg = self._seg.path, None
        if self.config.on_closed is not None:
            self.config.on_closed(closed)

    def _roll(self) -> None:
        self._flush_batch()
        self._close_segment()
        self._open_segment()
        evicted = enforce_quota(self.config.out, self.config.quota_bytes, keep={self._seg.path})
        for name, size in evicted:
            self.warn(f"quota {self.config.quota_bytes} bytes reached: evicted {name} ({size} bytes)")
            self._batch.append(make_event("spool", "evicted", {"segment": name, "bytes": size}))
        self.evicted.extend(evicted)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def enforce_quota(folder: Path, quota_bytes: int, keep: set[Path]) -> list[tuple[str, int]]:
    """Deletes the oldest segments of ``folder`` (except ``keep``) until the total fits the quota.

    Returns ``[(segment name, bytes)]`` of what was deleted, oldest first.
    """
    segments = sorted(folder.glob(fmt.SEGMENT_GLOB))
    sizes = {p: p.stat().st_size for p in segments}
    total = sum(sizes.values())
    evicted = []
    for path in segments:
        if total <= quota_bytes:
            break
        if path in keep:
            continue
        path.unlink()
        total -= sizes[path]
        evicted.append((path.name, sizes[path]))
    return evicted
