"""Structured text first: a browser page's own text decides which of its pixels to fill, no OCR.

The browser source already knows every visible element of the page in scope, with its text and its
box on screen (``sources/browser_page.py``). It hands each snapshot here too, with the elements'
whole text (the stored snapshot keeps 80 characters of each), in memory only. For a frame taken at
time ``t``, the page's viewport is then redacted from those snapshots:

* the snapshots that may describe the frame are the last one at or before ``t`` and every one up to
  ``LAG_NS`` after it (a change is reported within 200 ms: a frame can show a page a little newer
  than the last snapshot before it, and a page's first snapshot may follow its first frame);
* an element whose text, name or value holds a secret or personal data is filled, over the span of
  its boxes in those snapshots (a page scrolling between two snapshots fills the way in between);
* what the DOM does not hold as text is still read from pixels: images, canvases, videos and frames
  (their boxes), and a field being typed into (its value is held back for a second);
* a snapshot cut short (more than 300 elements) or no snapshot at all: the whole viewport is read
  from pixels, as any other window.

Limits: text drawn by CSS (``content:``), SVG text and text inside cross-origin frames is not in
the snapshot's elements and is covered only where its element is one of those read from pixels.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from workscribe.redact.text import Hit

Rect = tuple[int, int, int, int]  # x, y, w, h (screen pixels)
Box = tuple[int, int, int, int]  # x0, y0, x1, y1
LAG_NS = 500_000_000  # a snapshot this much after a frame may still describe it
KEEP_NS = 30_000_000_000  # snapshots older than this (behind a newer one) are forgotten
PIXEL_TAGS = ("img", "canvas", "video", "iframe", "embed", "object")  # their text is in pixels only
PAD = 4  # pixels around a filled element
SLACK = 4  # the viewport's screen position (from window.screenY and the outer and inner heights) can
# be off by the window's border: the page's area is taken this much larger, and fills this much wider


@dataclass(frozen=True)
class PageItem:
    """One visible element: its box, its whole text (name, text and value joined), tag, state."""

    box: Rect
    text: str
    tag: str
    editing: bool = False


@dataclass(frozen=True)
class PageView:
    """One snapshot of the page in scope: when, its viewport, its elements, whether it is whole."""

    t: int
    viewport: Rect
    items: tuple[PageItem, ...]
    complete: bool = True


@dataclass(frozen=True)
class PagePlan:
    """How to redact a frame's viewport: boxes to fill, boxes still to read from pixels."""

    viewport: Rect
    fill: list[Box]
    read: list[Rect]


class PageTextIndex:
    """The recent snapshots of the page in scope (thread-safe; memory only).

    Args:
        finder: the text rules (``identity.find_private`` in the recorder).
    """

    def __init__(self, finder: Callable[[str], list[Hit]]) -> None:
        self.finder = finder
        self._views: deque[PageView] = deque()
        self._lock = threading.Lock()
        self.latest_t = 0
        self.plans = 0  # frames whose viewport the DOM redacted
        self.refused: Counter[str] = Counter()  # frames it could not vouch for, by reason

    def note(self, view: PageView) -> None:
        """Adds a snapshot (from the browser source's thread)."""
        with self._lock:
            self._views.append(view)
            self.latest_t = max(self.latest_t, view.t)
            while len(self._views) > 2 and self._views[1].t < view.t - KEEP_NS:
                self._views.popleft()

    def in_use(self, t: int) -> bool:
        """True when a snapshot is recent enough that a frame at ``t`` should wait ``LAG_NS`` for
        the next one (the page is being followed)."""
        return self.latest_t > 0 and t - self.latest_t < KEEP_NS

    def plan(self, t: int) -> PagePlan | None:
        """The plan for a frame taken at ``t``; None when the snapshots cannot vouch for it."""
        with self._lock:
            before = [v for v in self._views if v.t <= t]
            views = before[-1:] + [v for v in self._views if t < v.t <= t + LAG_NS]
        if not views:  # (the first snapshot of a page may come just after the first frame showing it)
            self.refused["no_snapshot"] += 1
            return None
        if not all(v.complete for v in views):
            self.refused["incomplete"] += 1
            return None
        if len({v.viewport for v in views}) != 1:  # the window moved or resized: read the pixels
            self.refused["viewport_changed"] += 1
            return None
        spans: dict[tuple[str, str, int, int], Box] = {}
        read: list[Rect] = []
        for view in views:
            for item in view.items:
                x, y, w, h = item.box
                if w <= 0 or h <= 0:
                    continue
                if item.tag in PIXEL_TAGS or item.editing:
                    read.append(item.box)
                    continue
                if not item.text or not self.finder(item.text):
                    continue
                key = (item.tag, item.text, x, w)
                box = (x - PAD, y - PAD, x + w + PAD, y + h + PAD)
                old = spans.get(key)
                spans[key] = box if old is None else (min(old[0], box[0]), min(old[1], box[1]),
                                                      max(old[2], box[2]), max(old[3], box[3]))
        self.plans += 1
        x, y, w, h = views[0].viewport
        return PagePlan((x - SLACK, y - SLACK, w + 2 * SLACK, h + 2 * SLACK), list(spans.values()), read)


def view_from_snapshot(t: int, data: dict) -> PageView:
    """A ``PageView`` from a browser snapshot's data (elements may carry ``full``: their whole text)."""
    items = []
    for e in data.get("elements") or []:
        parts = [e.get("name"), e.get("full") or e.get("text")]
        if not e.get("secure"):
            parts.append(e.get("value"))
        items.append(PageItem(tuple(e["box"]), " ".join(p for p in parts if p), e.get("tag", ""),
                              bool(e.get("editing"))))
    viewport = (data["origin_x"], data["origin_y"], data["width"], data["height"])
    return PageView(t, viewport, tuple(items), complete=not data.get("truncated"))
