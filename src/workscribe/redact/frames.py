"""The frame redaction stage between the screen source and the spool.

Frames wait here, in memory, in a bounded queue; one thread OCRs the rows that changed since the
previous frame it redacted, reuses that frame's boxes for the rows that did not change, fills every
box and only then hands the frame to the spool. A terminal that scrolled is recognised: its old
rows, and their boxes, move up, and only the rows that scrolled in are read. When the queue is full
a new frame is dropped and counted: a frame is never written unredacted.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

from workscribe.events import Event
from workscribe.redact.image import Box, ImageRedactor, changed_bands, read_region, vertical_shift

FrameSink = Callable[[Event, np.ndarray], bool]
_STOP = object()


def _inside(box: Box, region: Box) -> bool:
    """True when most of ``box`` lies in ``region`` (OCR boxes are padded a little past their line)."""
    w = min(box[2], region[2]) - max(box[0], region[0])
    h = min(box[3], region[3]) - max(box[1], region[1])
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    return w > 0 and h > 0 and w * h >= area / 2


class FrameRedactionStage:
    """Redacts frames on its own thread and passes them on.

    Args:
        redactor: the OCR-based image redactor.
        sink: where redacted frames go (``SpoolWriter.put_frame``).
        max_queue: frames that may wait; more are dropped and counted.
    """

    def __init__(self, redactor: ImageRedactor, sink: FrameSink, max_queue: int = 3) -> None:
        self.redactor = redactor
        self.sink = sink
        self._q: queue.Queue = queue.Queue(maxsize=max_queue)
        self._previous: np.ndarray | None = None  # last source frame redacted (memory only)
        self._boxes: list[tuple[str, Box]] = []
        self.dropped = 0
        self.redacted_frames = 0
        self.boxes_filled = 0
        self._thread = threading.Thread(target=self._run, name="frame-redaction", daemon=True)
        self._thread.start()

    def put(self, event: Event, image: np.ndarray) -> bool:
        """Queues a frame; False (and counted) when the queue is full."""
        try:
            self._q.put_nowait((event, image))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self) -> None:
        """Redacts and passes on what is queued, then stops."""
        self._q.put((_STOP, None))
        self._thread.join()

    def _run(self) -> None:
        while True:
            event, image = self._q.get()
            if event is _STOP:
                return
            self.sink(event, self.redact(image))

    def redact(self, image: np.ndarray) -> np.ndarray:
        """``image`` with every secret box filled; OCR only on rows changed since the last call."""
        previous, boxes = self._previous, self._boxes
        if previous is None or previous.shape != image.shape:
            reads: list[Box] = [(0, 0, image.shape[1], image.shape[0])]
        else:
            shift = vertical_shift(previous, image)
            if shift:  # a terminal scrolled: old rows moved up, only the new rows need reading
                moved = np.zeros_like(previous)
                moved[:-shift] = previous[shift:]
                previous = moved
                boxes = [(label, (x0, y0 - shift, x1, y1 - shift)) for label, (x0, y0, x1, y1) in boxes
                         if y1 - shift > 0]
            reads = [read_region(previous, image, band) for band in changed_bands(previous, image)]
        # A box read again is found again; any other box stays (unchanged pixels, or a secret that
        # reaches outside what was read: filling too much is safe, too little is not).
        kept = [(label, box) for label, box in boxes if not any(_inside(box, r) for r in reads)]
        fresh = [(h.label, h.box) for region in reads for h in self.redactor.find(image, region)]
        self._previous, self._boxes = image, list(dict.fromkeys(kept + fresh))
        if not self._boxes:
            return image
        out = image.copy()
        h, w = out.shape[:2]
        for _, (x0, y0, x1, y1) in self._boxes:
            out[max(0, y0):min(h, y1), max(0, x0):min(w, x1)] = 0
        self.redacted_frames += 1
        self.boxes_filled += len(self._boxes)
        return out
