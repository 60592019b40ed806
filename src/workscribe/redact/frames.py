"""The frame redaction stage between the screen source and the spool.

Frames wait here for their turn; one thread reads the text of the rows that changed since the
previous frame it redacted (``ImageRedactor``: glyphs first, OCR for what they cannot read), reuses
that frame's boxes for the rows that did not change, fills every box and only then hands the frame
to the spool. A terminal that scrolled is recognised: its old rows, and their boxes, move up, and
only the rows that scrolled in are read.

**Frames wait, they are not dropped.** A frame an action refers to (``before``, ``after``) is always
kept: the first ``memory_frames`` wait in memory, the rest in a ``SealedBacklog``, a file that is
unlinked as soon as it is opened and whose records are sealed with AES-256-GCM under a key that
exists only in this process, so neither a ``kill -9`` nor a copy of the disk leaves a readable
pixel. Under sustained load the stage keeps fewer *change* frames (the ones taken only because the
screen changed): one waits at most ``max_change_backlog`` behind others, else it is dropped and
counted. Nothing is ever written unredacted.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workscribe.events import Event, now_ns
from workscribe.redact.image import Box, ImageRedactor, bands_of_rows, fill, row_fingerprints, shift_of
from workscribe.redact.page_text import LAG_NS, PageTextIndex

FrameSink = Callable[[Event, np.ndarray], bool]
ACTION_REASONS = ("before", "after")
_SHAPE = struct.Struct("<III")


def _inside(box: Box, region: Box) -> bool:
    """True when most of ``box`` lies in ``region`` (boxes are padded a little past their line)."""
    w = min(box[2], region[2]) - max(box[0], region[0])
    h = min(box[3], region[3]) - max(box[1], region[1])
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    return w > 0 and h > 0 and w * h >= area / 2


class SealedBacklog:
    """Frames parked on disk while they wait: compressed, sealed with a key held only in memory, in
    a file with no name (unlinked at once), so what is parked dies with the process."""

    def __init__(self, folder: Path | None = None) -> None:
        self._aead = AESGCM(AESGCM.generate_key(256))
        fd, path = tempfile.mkstemp(prefix=".frames-waiting-", dir=folder)
        os.unlink(path)
        self._fd = fd
        self._end = 0
        self._nonce = 0
        self.parked = 0

    def park(self, event: Event, image: np.ndarray) -> tuple[int, int, bytes]:
        """Seals and writes one frame; returns the handle to ``take`` it back with."""
        head = json.dumps(event).encode()
        body = _SHAPE.pack(*image.shape) + struct.pack("<I", len(head)) + head + image.tobytes()
        self._nonce += 1
        nonce = self._nonce.to_bytes(12, "big")
        sealed = self._aead.encrypt(nonce, zlib.compress(body, 1), None)
        offset = self._end
        os.pwrite(self._fd, sealed, offset)
        self._end += len(sealed)
        self.parked += 1
        return offset, len(sealed), nonce

    def take(self, handle: tuple[int, int, bytes]) -> tuple[Event, np.ndarray]:
        """Reads back a parked frame."""
        offset, size, nonce = handle
        body = zlib.decompress(self._aead.decrypt(nonce, os.pread(self._fd, size, offset), None))
        shape = _SHAPE.unpack_from(body)
        (head_len,) = struct.unpack_from("<I", body, _SHAPE.size)
        at = _SHAPE.size + 4
        event = json.loads(body[at:at + head_len])
        image = np.frombuffer(body[at + head_len:], np.uint8).reshape(shape).copy()
        return event, image

    def reset(self) -> None:
        """Forgets everything parked (call when nothing waits)."""
        os.ftruncate(self._fd, 0)
        self._end = 0

    def close(self) -> None:
        """Closes the file (its blocks are freed)."""
        os.close(self._fd)


class FrameRedactionStage:
    """Redacts frames on its own thread and passes them on.

    Args:
        redactor: the image redactor (glyphs, then OCR).
        sink: where redacted frames go (``SpoolWriter.put_frame``).
        memory_frames: frames that wait in memory; more action frames wait sealed on disk.
        max_change_backlog: a change frame is dropped when this many frames already wait.
        spill_dir: where the sealed backlog's (nameless) file lives; None: the system's temp folder.
        pages: snapshots of the browser page in scope: its viewport is redacted from its text.
    """

    def __init__(self, redactor: ImageRedactor, sink: FrameSink, memory_frames: int = 6,
                 max_change_backlog: int = 2, spill_dir: Path | None = None,
                 pages: PageTextIndex | None = None) -> None:
        self.redactor = redactor
        self.pages = pages  # the browser page's own text, where the browser source follows one
        self.sink = sink
        self.memory_frames = memory_frames
        self.max_change_backlog = max_change_backlog
        self._spill_dir = spill_dir
        self._backlog: SealedBacklog | None = None
        self._q: deque[tuple[str, Any, Any]] = deque()
        self._in_memory = 0
        self._cv = threading.Condition()
        self._closing = False
        self._previous: np.ndarray | None = None  # row fingerprints of the last frame redacted
        self._shape: tuple[int, ...] = ()
        self._boxes: list[tuple[str, Box]] = []
        self.dropped = 0  # change frames dropped under load (action frames never are)
        self.redacted_frames = 0
        self.boxes_filled = 0
        self.waiting_peak = 0
        self.failed = 0  # frames whose redaction failed: not stored
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name="frame-redaction", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Frames waiting for redaction now."""
        return len(self._q)

    @property
    def parked(self) -> int:
        """Frames that had to wait sealed on disk, so far."""
        return self._backlog.parked if self._backlog else 0

    def put(self, event: Event, image: np.ndarray) -> bool:
        """Queues a frame; False (and counted) for a change frame that the backlog has no room for."""
        action = event["data"].get("reason") in ACTION_REASONS
        with self._cv:
            if not action and len(self._q) >= self.max_change_backlog:
                self.dropped += 1
                return False
            if self._in_memory < self.memory_frames:
                self._q.append(("memory", event, image))
                self._in_memory += 1
            else:
                if self._backlog is None:
                    self._backlog = SealedBacklog(self._spill_dir)
                self._q.append(("sealed", self._backlog.park(event, image), None))
            self.waiting_peak = max(self.waiting_peak, len(self._q))
            self._cv.notify()
        return True

    def close(self) -> None:
        """Redacts and passes on everything that waits, then stops."""
        with self._cv:
            self._closing = True
            self._cv.notify()
        self._thread.join()
        if self._backlog is not None:
            self._backlog.close()
        self.redactor.close()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._closing:
                    self._cv.wait()
                if not self._q:
                    return
                where, a, b = self._q.popleft()
                if where == "memory":
                    self._in_memory -= 1
                    event, image = a, b
                else:
                    assert self._backlog is not None
                    event, image = self._backlog.take(a)
                    if not any(w == "sealed" for w, _, _ in self._q):
                        self._backlog.reset()
            kept = event.pop("kept", None)
            if self.pages is not None and self.pages.in_use(event["t"]):
                wait = (event["t"] + LAG_NS - now_ns()) / 1e9  # a snapshot may still describe it
                if wait > 0:
                    time.sleep(min(wait, LAG_NS / 1e9))
            try:
                redacted = self.redact(image, kept, event["t"])
            except Exception as exc:  # noqa: BLE001 - the frame is lost, never stored unredacted
                self.failed += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._previous, self._boxes = None, []  # read the next frame whole
                continue
            self.sink(event, redacted)

    def redact(self, image: np.ndarray, kept: list[tuple[int, int, int, int]] | None = None,
               t: int | None = None) -> np.ndarray:
        """``image`` with every secret box filled; text is read only where rows changed since the last
        call. ``kept``: the allowed windows' rectangles (x, y, w, h) in the frame; ``t``: when it was
        grabbed (a browser page's viewport is then redacted from the page's snapshots)."""
        following = self.pages is not None and t is not None and self.pages.latest_t > 0
        plan = self.pages.plan(t) if following else None
        previous, boxes = self._previous, self._boxes
        prints = row_fingerprints(image)  # rows compare by fingerprint: no copy of the last frame kept
        h, w = image.shape[:2]
        if previous is None or self._shape != image.shape:
            reads: list[Box] = [(0, 0, w, h)]
        else:
            changed = previous != prints
            shift = shift_of(previous, prints) if changed.mean() > 0.3 else 0
            if shift:  # a terminal scrolled: old rows moved up, only the new rows need reading
                moved = ~prints  # rows that scrolled in differ from anything
                moved[:-shift] = previous[shift:]
                changed = moved != prints
                boxes = [(label, (x0, y0 - shift, x1, y1 - shift)) for label, (x0, y0, x1, y1) in boxes
                         if y1 - shift > 0]
            reads = bands_of_rows(np.flatnonzero(changed), h, w)
        # A box read again is found again; any other box stays (unchanged pixels, or a secret that
        # reaches outside what was read: filling too much is safe, too little is not).
        stay = [(label, box) for label, box in boxes if not any(_inside(box, r) for r in reads)]
        skip: list[tuple[int, int, int, int]] = []
        page: list[tuple[str, Box]] = []
        if plan is not None:  # the page's viewport: its text decides; pixels only where it has none
            vx, vy, vw, vh = skip_rect = plan.viewport
            skip = [skip_rect]
            viewport = (vx, vy, vx + vw, vy + vh)
            pixel_boxes = [(x, y, x + w, y + h) for x, y, w, h in plan.read]
            stay = [(label, box) for label, box in stay
                    if not _inside(box, viewport) or any(_inside(box, r) for r in pixel_boxes)]
            page = [("page_text", box) for box in plan.fill]
            for r in pixel_boxes:
                for region in reads:
                    part = (max(r[0], region[0]), max(r[1], region[1]), min(r[2], region[2]),
                            min(r[3], region[3]))
                    if part[2] > part[0] and part[3] > part[1]:
                        page += [(h.label, h.box) for h in self.redactor.find(image, part, kept)]
        fresh = [(h.label, h.box) for region in reads for h in self.redactor.find(image, region, kept, skip)]
        self._previous, self._shape = prints, image.shape
        self._boxes = list(dict.fromkeys(stay + fresh + page))
        if not self._boxes:
            return image
        self.redacted_frames += 1
        self.boxes_filled += len(self._boxes)
        return fill(image, [box for _, box in self._boxes])
