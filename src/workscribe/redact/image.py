"""Pixel redaction: text on screen that holds a secret or PII is found and filled.

Reading the text of a region costs the least that works:

1. **Glyphs.** The region (a changed band of one allowed window) is cut into text lines on its
   background colour. Where its text sits on a monospace grid (terminals, code editors), each cell's
   glyph is looked up in a ``GlyphTable`` that OCR has taught (``redact.glyphs``): a line whose
   glyphs are all known is read exactly, spaces included, in microseconds.
2. **OCR of words.** A line with a glyph not seen before, or a line of proportional text, is read
   by OCR without detection, one word (or gap-separated segment) at a time, from a clean black-on-
   white rendering of its ink (so colours, dark themes and a block cursor read alike); the words
   teach the glyph table. Proportional lines are cached by their pixels, so a line is read once.
3. **OCR with detection** for ink that is not a line of text (taller than ``MAX_LINE_HEIGHT``).

OCR is rapidocr-onnxruntime (models inside the wheel, no download), in a child process at low
priority in the recorder (``redact.ocr.OcrProcess``). Each line's text goes through the finder, by
default the rules that allow for OCR's errors (``redact.ocr_text.find_hits_ocr``: ``x0xb-...``,
``tokenAKIA...``; the recorder's adds the contributor's identity, ``identity.find_private_ocr``); the cells
under a hit, widened by a cell each side (by ``pad_chars`` characters for OCR'd text), are filled.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workscribe.redact import glyphs as gl
from workscribe.redact.ocr import LocalOcr, Ocr
from workscribe.redact.ocr_text import find_hits_ocr
from workscribe.redact.text import Hit

Box = tuple[int, int, int, int]  # x0, y0, x1, y1
Rect = tuple[int, int, int, int]  # x, y, w, h
PAD = 3  # pixels of background around a word crop given to OCR
MAX_CACHED_WORDS = 16384
SEGMENT_GAP = 0.8  # proportional text goes to OCR in pieces cut at gaps this share of the line's height
_PERIODS = str.maketrans({",": ".", "+": ".", "·": ".", "•": "."})


@dataclass(frozen=True)
class ImageHit:
    """A filled box and why."""

    label: str
    box: Box
    line: str  # the line as read, redacted (safe to print)


def _render(ink: np.ndarray, shade: np.ndarray | None = None) -> np.ndarray:
    """Dark ink on white, with a margin: what OCR reads best. ``shade`` (0 background .. 255 ink,
    the same shape) keeps anti-aliasing; else the ink is drawn black."""
    h, w = ink.shape
    out = np.full((h + 2 * PAD, w + 2 * PAD, 3), 255, np.uint8)
    if shade is None:
        out[PAD:PAD + h, PAD:PAD + w][ink] = 0
    else:
        out[PAD:PAD + h, PAD:PAD + w] = (255 - shade)[:, :, None]
    return out


def shade_of(pixels: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """How far each pixel is from the background colour, stretched to 0..255 (whatever the colours:
    a dark theme, coloured output and anti-aliased edges all become grey levels of one ink)."""
    diff = np.abs(pixels.astype(np.int32) - bg).max(axis=2)
    top = max(int(diff.max()), gl.INK_DELTA + 1)
    return np.clip(diff * 255 // top, 0, 255).astype(np.uint8)


class ImageRedactor:
    """Finds and fills secrets and PII in screen images (RGB or BGRA ``uint8`` arrays).

    Args:
        pad_chars: how far past a hit to fill, in characters, for text whose cells are not known.
        min_score: OCR readings under this confidence are ignored.
        finder: the rules run on each line's text.
        ocr: the OCR engine (default: rapidocr in this process).
        glyphs: read monospace text through the glyph table (False: OCR every line, for comparison).
    """

    def __init__(self, pad_chars: float = 1.5, min_score: float = 0.5,
                 finder: Callable[[str], list[Hit]] = find_hits_ocr, ocr: Ocr | None = None,
                 glyphs: bool = True) -> None:
        self.pad_chars = pad_chars
        self.finder = finder  # the recorder adds the contributor's identity (``identity.find_private_ocr``)
        self.min_score = min_score
        self.ocr: Ocr = ocr or LocalOcr()
        self.use_glyphs = glyphs
        self.table = gl.GlyphTable()
        self._words: OrderedDict[bytes, str] = OrderedDict()  # proportional text, by its pixels
        self._grids: dict[tuple[int, int], gl.Grid] = {}  # a window's columns -> its text's grid
        self._heights: dict[tuple[int, int], int] = {}  # a window's columns -> its typical line height
        self._unlearnt: OrderedDict[tuple[bytes | None, ...], str] = OrderedDict()  # grid words OCR
        # read with another number of characters than they have cells: read once, kept as read
        self._lock = threading.Lock()
        self.stats = {"lines_glyphs": 0, "lines_cached": 0, "lines_ocr": 0, "words_ocr": 0,
                      "regions_detect": 0}

    def close(self) -> None:
        """Releases the OCR engine (a child process, in the recorder)."""
        self.ocr.close()

    def _ocr(self, rgb: np.ndarray) -> list[tuple[Box, str]]:
        """Every text line OCR finds in an RGB image (detection and recognition)."""
        return [(box, text) for box, text, score in self.ocr.detect(rgb) if score >= self.min_score]

    def read_text(self, image: np.ndarray) -> str:
        """All text OCR reads in an image (RGB or BGRA), for checks: one line per detected box."""
        rgb = image[..., 2::-1] if image.shape[2] == 4 else image
        return "\n".join(text for _, text in self._ocr(rgb))

    def read_lines(self, image: np.ndarray) -> list[tuple[Box, str]]:
        """The lines OCR reads in ``image`` (RGB or BGRA), with their boxes; unsure reads left out."""
        return self._ocr(image[..., 2::-1] if image.shape[2] == 4 else image)

    def find(self, image: np.ndarray, region: Box | None = None, kept: list[Rect] | None = None,
             skip: list[Rect] | None = None) -> list[ImageHit]:
        """The boxes (image coordinates) to fill in ``image``, reading only ``region`` if given.

        ``kept``: the rectangles of allowed windows (the rest of a recorded frame is black); each
        is read on its own background. ``skip``: rectangles not to read (a page whose text is known).
        """
        rx0, ry0, rx1, ry1 = region or (0, 0, image.shape[1], image.shape[0])
        parts = [(rx0, ry0, rx1, ry1)] if not kept else [
            (max(rx0, x), max(ry0, y), min(rx1, x + w), min(ry1, y + h)) for x, y, w, h in kept]
        for x, y, w, h in skip or []:
            parts = [piece for part in parts for piece in subtract(part, (x, y, x + w, y + h))]
        hits: list[ImageHit] = []
        windows = [(x, y, x + w, y + h) for x, y, w, h in kept] if kept else [
            (0, 0, image.shape[1], image.shape[0])]
        with self._lock:
            for x0, y0, x1, y1 in parts:
                if x1 - x0 >= 8 and y1 - y0 >= 4:
                    lx0, ly0, lx1, ly1 = next((w for w in windows
                                               if w[0] <= x0 and x1 <= w[2] and w[1] <= y0 and y1 <= w[3]),
                                              (x0, 0, x1, image.shape[0]))
                    for sx, sy, sw, sh in skip or []:  # whole lines stop where a skipped area starts
                        if sx < x1 and x0 < sx + sw:
                            if sy >= y1:
                                ly1 = min(ly1, sy)
                            elif sy + sh <= y0:
                                ly0 = max(ly0, sy + sh)
                    hits += self._find_in(image, (x0, y0, x1, y1), (lx0, ly0, lx1, ly1))
        return hits

    def _find_in(self, image: np.ndarray, part: Box, limit: Box, depth: int = 0) -> list[ImageHit]:
        """Hits in ``part``, widened up and down (within ``limit``) so that no line is cut."""
        x0, y0, x1, y1 = part
        bg = gl.background(image[y0:y1, x0:x1, :3])
        y0, y1 = _whole_lines(image, (x0, y0, x1, y1), bg, limit)
        pixels = image[y0:y1, x0:x1, :3]
        ink = gl.without_rules(gl.ink_mask(pixels, bg))
        lines, tall = gl.text_lines(ink, self._heights.get((x0, x1)))
        typical = gl.typical_height(lines)
        if typical is not None:  # remembered for this window: a band of one or two lines needs it
            self._heights[(x0, x1)] = typical
        grid = None
        if self.use_glyphs and lines:
            grid = self._grid_of(gl.without_blocks(ink, lines), (x0, x1), len(lines),
                                 self._heights.get((x0, x1)) or typical or max(b - a for a, b in lines))
        if grid is not None:
            hits = self._grid_lines(ink, lambda: shade_of(pixels, bg), lines, grid, x0, y0)
        else:
            hits = self._plain_lines(ink, shade_of(pixels, bg), lines, x0, y0)
        for a, b in tall:  # a panel of another colour (a tab strip, a code block): its own background
            cols = np.flatnonzero(ink[a:b].any(axis=0))
            inner = (x0 + int(cols[0]), y0 + a, x0 + int(cols[-1]) + 1, y0 + b)
            if depth == 0 and (inner[2] - inner[0], b - a) != (x1 - x0, y1 - y0):
                hits += self._find_in(image, inner, inner, depth + 1)
            else:
                hits += self._detect_in(image, inner)
        return hits

    def _grid_lines(self, ink: np.ndarray, shading: Callable[[], np.ndarray], lines: list[tuple[int, int]],
                    grid: gl.Grid, x0: int, y0: int) -> list[ImageHit]:
        """Lines of monospace text: read from the glyph table; OCR reads (once) each distinct word
        that holds a glyph not known yet, and teaches the table."""
        p = grid.pitch
        ocr_text = self._unlearnt
        cut = []  # (rows, first cell column, keys, glyph ink, words)
        for a, b in lines:
            first, keys, clean = gl.cell_keys(ink[a:b], grid)
            cut.append((a, b, first, keys, clean, gl.words(keys)))
        unread: dict[tuple[bytes | None, ...], np.ndarray] = {}
        shades: dict[tuple[bytes | None, ...], np.ndarray | None] = {}
        shade: np.ndarray | None = None
        for a, b, first, keys, clean, words in cut:
            for s, e in words:
                word = tuple(keys[s:e])
                if word not in unread and word not in ocr_text and self.table.read(list(word)) is None:
                    unread[word] = glyph_ink = clean[:, s * p:e * p]
                    # OCR reads anti-aliased text best in its grey levels; a word with an inverted
                    # cell (a cursor) is drawn from its cleaned ink
                    c0, c1 = first + s * p, first + e * p
                    if c0 >= 0 and c1 <= ink.shape[1] and np.array_equal(glyph_ink, ink[a:b, c0:c1]):
                        shade = shading() if shade is None else shade
                        shades[word] = shade[a:b, c0:c1]
                    else:
                        shades[word] = None
        while unread:  # in small batches, so that what one batch teaches spares the next its OCR
            batch = self._teaching_batch(unread)
            read = self._recognize([c for _, c in batch], [shades[w] for w, _ in batch])
            for (word, _), text in zip(batch, read, strict=True):
                del unread[word]
                if not self.table.learn(list(word), text):
                    # OCR's reading does not match the cells: use it as it is, and never read it again
                    ocr_text[word] = text
                    if len(ocr_text) > MAX_CACHED_WORDS:
                        ocr_text.popitem(last=False)
            unread = {w: c for w, c in unread.items() if self.table.read(list(w)) is None}
        hits: list[ImageHit] = []
        for a, b, first, keys, _, words in cut:
            text = self.table.read(keys)
            if text is not None:
                self.stats["lines_glyphs"] += 1
                hits += self._grid_hits(text, x0 + first, p, y0 + a, y0 + b)
                continue
            self.stats["lines_ocr"] += 1
            segments = []
            for s, e in words:
                word = tuple(keys[s:e])
                known = self.table.read(list(word))
                segments.append((x0 + first + s * p, x0 + first + e * p,
                                 known if known is not None else ocr_text.get(word, "")))
            if segments:
                hits += self._segment_hits(segments, y0 + a, y0 + b)
        return hits

    def _grid_of(self, line_ink: np.ndarray, span: tuple[int, int], n_lines: int,
                 line_height: int | None) -> gl.Grid | None:
        """The grid of the text in a region of a window (``span``: its columns): the one found
        earlier on many lines of that window while the text still fits it, else a new estimate
        (kept when it rests on three lines or more)."""
        known = self._grids.get(span)
        if known is not None and gl.fits_grid(line_ink, known):
            return known
        # a monospace cell is narrower than its line is tall: a wider "pitch" is two or more cells
        grid = gl.find_grid(line_ink, max_pitch=int(0.9 * line_height) if line_height else gl.MAX_PITCH)
        if grid is not None and n_lines >= 3:
            self._grids[span] = grid
            if len(self._grids) > 64:
                self._grids.pop(next(iter(self._grids)))
        return grid

    def _teaching_batch(self, unread: dict[tuple[bytes | None, ...], np.ndarray],
                        size: int = 6) -> list[tuple[tuple[bytes | None, ...], np.ndarray]]:
        """The words to OCR next: greedily, those that teach the most unknown glyphs per cell read
        (a short word holding three new glyphs before a long one holding one)."""
        known = self.table.known
        todo = set()
        for word in unread:
            todo.update(k for k in word if k is not None and k not in known)
        batch = []
        candidates = dict(unread)
        while candidates and len(batch) < size and todo:
            gains = {word: len(todo.intersection(word)) / len(word) for word in candidates}
            best = max(gains, key=gains.__getitem__)
            if gains[best] == 0:
                break
            batch.append((best, candidates.pop(best)))
            todo -= set(best)
        return batch or list(unread.items())[:size]

    def _plain_lines(self, ink: np.ndarray, shade: np.ndarray, lines: list[tuple[int, int]], x0: int,
                     y0: int) -> list[ImageHit]:
        """Lines of proportional text: cut into words at gaps of about a space, each word read by
        OCR once (words are cached by their pixels, so a line that scrolled or a word seen before
        costs nothing)."""
        cut = []
        for a, b in lines:
            segments = _segments(ink[a:b].any(axis=0), max(3, round(SEGMENT_GAP * (b - a))))
            keys = [_word_key(ink[a:b, s:e]) for s, e in segments]
            cut.append((a, b, segments, keys))
        todo: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        for a, b, segments, keys in cut:
            for (s, e), key in zip(segments, keys, strict=True):
                if key not in self._words and key not in todo:
                    todo[key] = (ink[a:b, s:e], shade[a:b, s:e])
        inks, shades = [i for i, _ in todo.values()], [sh for _, sh in todo.values()]
        for key, text in zip(todo, self._recognize(inks, shades), strict=True):
            self._words[key] = text
            if len(self._words) > MAX_CACHED_WORDS:
                self._words.popitem(last=False)
        hits: list[ImageHit] = []
        for a, b, segments, keys in cut:
            self.stats["lines_ocr" if any(k in todo for k in keys) else "lines_cached"] += 1
            read = []
            for (s, e), key in zip(segments, keys, strict=True):
                if key in self._words:
                    self._words.move_to_end(key)
                read.append((x0 + s, x0 + e, self._words.get(key, "")))
            hits += self._segment_hits(read, y0 + a, y0 + b)
        return hits

    def _recognize(self, crops: list[np.ndarray],
                   shades: list[np.ndarray | None] | None = None) -> list[str]:
        """OCR's text of each ink crop ("" where it is not confident); ``shades``: their grey levels."""
        if not crops:
            return []
        self.stats["words_ocr"] += len(crops)
        images = [_render(c, shades[i] if shades is not None else None) for i, c in enumerate(crops)]
        # (a crop with no shade given is drawn from its ink)
        texts = [text.strip() if score >= self.min_score else ""
                 for text, score in self.ocr.recognize(images)]
        # OCR reads nothing in a lone dot: a small blob on the line's bottom is a period (or a
        # comma), which an address or a host name needs
        return [t or ("." if _is_dot(c) else "") for t, c in zip(texts, crops, strict=True)]

    def _find_text(self, text: str) -> list[Hit]:
        """The finder's hits in ``text`` and in the same text with what OCR makes of a small period
        read as one (OCR, and so the glyph table it teaches, reads ``jane.doe@example.org`` as
        ``jane,doe@example,org`` or ``jane+doe@example+org``)."""
        found = self.finder(text)
        folded = text.translate(_PERIODS)
        if folded != text:
            spans = {(h.start, h.end) for h in found}
            found += [h for h in self.finder(folded) if (h.start, h.end) not in spans]
            found.sort(key=lambda h: (h.start, h.end))
        return found

    def _grid_hits(self, text: str, left: int, pitch: int, y0: int, y1: int) -> list[ImageHit]:
        """Hits in a line read cell by cell: each fills its cells and one more on each side."""
        found = self._find_text(text)
        if not found:
            return []
        safe = _redacted(text, found)
        return [ImageHit(h.label, (left + (h.start - 1) * pitch, y0 - 1, left + (h.end + 1) * pitch, y1 + 1),
                         safe) for h in found]

    def _segment_hits(self, segments: list[tuple[int, int, str]], y0: int, y1: int) -> list[ImageHit]:
        """Hits in a line read by OCR, segment by segment.

        The rules read the segments joined by spaces, and also with no space where the gap between
        two segments is narrower than half the line's height (a gap inside a word of a wide font:
        ``j ane.doe`` must read ``jane.doe``).
        """
        tight = [""] + ["" if s - prev_e < (y1 - y0) / 2 else " " for (_, prev_e, _), (s, _, _) in
                        zip(segments, segments[1:], strict=False)]
        spaced = [""] + [" "] * (len(segments) - 1)
        lo_x, hi_x = segments[0][0], segments[-1][1]
        hits: dict[tuple[str, Box], ImageHit] = {}
        for joins in (spaced, tight) if tight != spaced else (spaced,):
            text, starts = "", []
            for join, (_, _, t) in zip(joins, segments, strict=True):
                text += join
                starts.append(len(text))
                text += t
            found = self._find_text(text)
            if not found:
                continue
            safe = _redacted(text, found)
            for h in found:
                xs: list[float] = []
                for (s, e, t), at in zip(segments, starts, strict=True):
                    lo, hi = max(h.start, at), min(h.end, at + len(t))
                    if lo < hi:
                        per_char = (e - s) / max(1, len(t))
                        pad = per_char * self.pad_chars
                        xs += [s + (lo - at) * per_char - pad, s + (hi - at) * per_char + pad + 0.999]
                box_x = (int(max(lo_x, min(xs))), int(min(hi_x, max(xs)))) if xs else (lo_x, hi_x)
                box = (box_x[0], y0 - 1, box_x[1], y1 + 1)
                hits.setdefault((h.label, box), ImageHit(h.label, box, safe))
        return list(hits.values())

    def _detect_in(self, image: np.ndarray, region: Box, strip: int = 256,
                   overlap: int = 40) -> list[ImageHit]:
        """OCR with detection over ``region``, in strips of ``strip`` rows overlapping by ``overlap``
        (a line cut by one strip is whole in the next; OCR's memory stays small)."""
        rx0, ry0, rx1, ry1 = region
        hits: list[ImageHit] = []
        top = ry0
        while top < ry1:
            bottom = min(ry1, top + strip)
            crop = image[top:bottom, rx0:rx1]
            if crop.size:
                self.stats["regions_detect"] += 1
                rgb = crop[..., 2::-1] if crop.shape[2] == 4 else crop  # BGRA from the screen -> RGB
                for (bx0, by0, bx1, by1), text in self._ocr(rgb):
                    hits += self._segment_hits([(rx0 + bx0, rx0 + bx1, text)], top + by0, top + by1)
            if bottom == ry1:
                break
            top = bottom - overlap
        return hits

    def redact(self, image: np.ndarray, region: Box | None = None,
               kept: list[Rect] | None = None) -> tuple[np.ndarray, list[ImageHit]]:
        """A copy of ``image`` with every hit filled black, and the hits."""
        hits = self.find(image, region, kept)
        if not hits:
            return image, []
        return fill(image, [h.box for h in hits]), hits


def subtract(box: Box, hole: Box) -> list[Box]:
    """``box`` less ``hole``: up to four boxes (above, below, left and right of it)."""
    x0, y0, x1, y1 = box
    hx0, hy0, hx1, hy1 = max(x0, hole[0]), max(y0, hole[1]), min(x1, hole[2]), min(y1, hole[3])
    if hx0 >= hx1 or hy0 >= hy1:
        return [box]
    out = [(x0, y0, x1, hy0), (x0, hy1, x1, y1), (x0, hy0, hx0, hy1), (hx1, hy0, x1, hy1)]
    return [b for b in out if b[2] > b[0] and b[3] > b[1]]


def fill(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """A copy of ``image`` with every box filled black (boxes are clipped to the image)."""
    out = image.copy()
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        out[max(0, y0):min(h, y1), max(0, x0):min(w, x1)] = 0
    return out


def _redacted(text: str, found: list[Hit]) -> str:
    from workscribe.redact.rules import placeholder

    out, last = [], 0
    for h in found:
        out.append(text[last:h.start] + placeholder(h.label))
        last = h.end
    return "".join(out) + text[last:]


def _whole_lines(image: np.ndarray, part: Box, bg: np.ndarray, limit: Box,
                 reach: int = gl.MAX_LINE_HEIGHT) -> tuple[int, int]:
    """``part``'s rows, widened up and down to the nearest blank rows (at most ``reach`` rows, and
    within ``limit``): a changed band's edge must not cut a line of text in two."""
    x0, y0, x1, y1 = part
    top = max(limit[1], y0 - reach)
    above = gl.ink_mask(image[top:y0, x0:x1, :3], bg).any(axis=1)
    blank = np.flatnonzero(~above)
    new_y0 = top + int(blank[-1]) + 1 if blank.size else top
    bottom = min(limit[3], y1 + reach)
    below = gl.ink_mask(image[y1:bottom, x0:x1, :3], bg).any(axis=1)
    blank = np.flatnonzero(~below)
    new_y1 = y1 + int(blank[0]) if blank.size else bottom
    return new_y0, new_y1


def _is_dot(ink: np.ndarray) -> bool:
    """True when a crop of a line's rows holds one small blob in its lower third."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return False
    h = ink.shape[0]
    return (rows[-1] - rows[0] + 1 <= max(2, 0.3 * h) and cols[-1] - cols[0] + 1 <= max(2, 0.3 * h)
            and rows[0] >= 0.55 * h)


def _word_key(ink: np.ndarray) -> bytes:
    """A word's cache key: its ink and shape."""
    return np.packbits(ink).tobytes() + np.array(ink.shape, np.int32).tobytes()


def _segments(cols: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs of ink columns, joined across blank gaps narrower than ``gap``."""
    runs = gl.ink_runs(cols)
    out: list[tuple[int, int]] = []
    for s, e in runs:
        if out and s - out[-1][1] < gap:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def changed_bands(a: np.ndarray, b: np.ndarray, margin: int = 8, gap: int = 24) -> list[Box]:
    """Full-width bands of rows where ``a`` and ``b`` differ, each widened by ``margin``.

    Changed rows closer than ``gap`` join one band. Whole rows, not tight boxes: a line of text
    must be read whole, or OCR loses the spaces at the crop's edge (``token AKIA...`` reads as
    ``tokenAKIA...``).
    """
    rows = np.flatnonzero(np.any(a != b, axis=tuple(range(1, a.ndim))))
    return bands_of_rows(rows, a.shape[0], a.shape[1], margin, gap)


def bands_of_rows(rows: np.ndarray, h: int, w: int, margin: int = 8, gap: int = 24) -> list[Box]:
    """``changed_bands`` from the indices of the changed rows of an ``h`` x ``w`` image."""
    if rows.size == 0:
        return []
    bands = []
    start = prev = int(rows[0])
    for r in rows[1:]:
        if r - prev > gap:
            bands.append((0, max(0, start - margin), w, min(h, prev + 1 + margin)))
            start = int(r)
        prev = int(r)
    bands.append((0, max(0, start - margin), w, min(h, prev + 1 + margin)))
    return bands


_MIX = np.random.default_rng().integers(1, 2**63, size=1 << 16, dtype=np.uint64) | np.uint64(1)


def row_fingerprints(image: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of each row (equal rows, equal fingerprints; different rows collide
    with a chance of about 2**-64, and never when one 8-byte word differs): the rows' 8-byte words
    times odd multipliers drawn at random for each process, summed."""
    rows = np.ascontiguousarray(image).reshape(image.shape[0], -1)
    pad = (-rows.shape[1]) % 8
    if pad:
        rows = np.pad(rows, ((0, 0), (0, pad)))
    words = rows.view(np.uint64)
    if words.shape[1] > _MIX.size:
        return np.array([hash(r.tobytes()) for r in rows], np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        return (words * _MIX[:words.shape[1]]).sum(axis=1, dtype=np.uint64)


def vertical_shift(a: np.ndarray, b: np.ndarray, max_shift: int = 200) -> int:
    """How many rows ``b`` is ``a`` scrolled up by (0 if it is not a scroll of it).

    Compares row fingerprints: a terminal that scrolls by a line shows the old rows higher up, and
    only the rows that scrolled in are new.
    """
    if a.shape != b.shape:
        return 0
    return shift_of(row_fingerprints(a), row_fingerprints(b), max_shift)


def shift_of(ha: np.ndarray, hb: np.ndarray, max_shift: int = 200) -> int:
    """``vertical_shift`` from the two images' row fingerprints."""
    best, best_rows = 0, 0
    n = len(ha)
    for d in range(1, min(max_shift, n - 1) + 1):
        same = int(np.count_nonzero(hb[:n - d] == ha[d:]))
        if same > best_rows:
            best, best_rows = d, same
    unchanged = int(np.count_nonzero(ha == hb))
    return best if best_rows > max(unchanged, n // 4) else 0
