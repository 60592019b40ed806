"""Pixel redaction: text on screen that holds a secret or PII is found by OCR and filled.

OCR is rapidocr-onnxruntime, whose detection and recognition models ship inside the wheel (no
download at run time). It is set up for screens: no angle classifier, one thread, and no upscaling
of small crops (the library's default scales the short side to 736 px, which makes a one-line crop
cost seconds). Each recognised line goes through the text rules, by default those that allow for
OCR's errors (``redact.ocr_text.find_hits_ocr``: ``x0xb-...``, ``tokenAKIA...``); the recorder adds
the contributor's identity (``identity.find_private_ocr``). The part of the line box under a hit,
widened by ``pad_chars`` characters each side, is filled black.
Positions inside a line are proportional to character offsets, which monospace terminal text meets
well and proportional fonts roughly; the padding covers the difference.

``redact_region`` OCRs only a rectangle of the frame: the recorder passes the part that changed
since the last redacted frame and reuses the rest (full-frame OCR costs about 1.3 s here).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workscribe.redact.ocr_text import find_hits_ocr
from workscribe.redact.text import Hit

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


@dataclass(frozen=True)
class ImageHit:
    """A filled box and why."""

    label: str
    box: Box
    line: str  # the OCR'd line, redacted (safe to print)


class ImageRedactor:
    """Finds and fills secrets and PII in screen images (RGB or BGRA ``uint8`` arrays)."""

    def __init__(self, pad_chars: float = 1.5, min_score: float = 0.5,
                 finder: Callable[[str], list[Hit]] = find_hits_ocr) -> None:
        self.pad_chars = pad_chars
        self.finder = finder  # the recorder adds the contributor's identity (``identity.find_private_ocr``)
        self.min_score = min_score
        self._engine = None
        self._lock = threading.Lock()

    def _ocr(self, rgb: np.ndarray) -> list[tuple[Box, str]]:
        with self._lock:
            if self._engine is None:
                from rapidocr_onnxruntime import RapidOCR

                self._engine = RapidOCR(use_cls=False, intra_op_num_threads=1, inter_op_num_threads=1,
                                        det_limit_type="max", det_limit_side_len=4096, min_height=10)
            result, _ = self._engine(np.ascontiguousarray(rgb))
        lines = []
        for quad, text, score in result or []:
            if float(score) < self.min_score:
                continue
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            lines.append(((int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys)))), text))
        return lines

    def read_lines(self, image: np.ndarray) -> list[tuple[Box, str]]:
        """The lines OCR reads in ``image`` (RGB or BGRA), with their boxes; unsure reads left out."""
        return self._ocr(image[..., 2::-1] if image.shape[2] == 4 else image)

    def find(self, image: np.ndarray, region: Box | None = None, strip: int = 256,
             overlap: int = 40) -> list[ImageHit]:
        """The boxes (in image coordinates) to fill in ``image``, OCR'ing only ``region`` if given.

        A tall region is read in strips of ``strip`` rows overlapping by ``overlap`` (a line cut by
        one strip is whole in the next): OCR's memory then stays small whatever the frame size.
        """
        rx0, ry0, rx1, ry1 = region or (0, 0, image.shape[1], image.shape[0])
        if ry1 - ry0 <= strip:
            return self._find_in(image, (rx0, ry0, rx1, ry1))
        hits: list[ImageHit] = []
        top = ry0
        while top < ry1:
            bottom = min(ry1, top + strip)
            hits += self._find_in(image, (rx0, top, rx1, bottom))
            if bottom == ry1:
                break
            top = bottom - overlap
        return hits

    def _find_in(self, image: np.ndarray, region: Box | None) -> list[ImageHit]:
        x0, y0 = (region[0], region[1]) if region else (0, 0)
        crop = image[region[1]:region[3], region[0]:region[2]] if region else image
        if crop.size == 0:
            return []
        rgb = crop[..., 2::-1] if crop.shape[2] == 4 else crop  # BGRA from the screen -> RGB
        from workscribe.redact.rules import placeholder

        hits = []
        for (bx0, by0, bx1, by1), text in self._ocr(rgb):
            found = self.finder(text)
            if not found:
                continue
            per_char = (bx1 - bx0) / max(1, len(text))
            pad = per_char * self.pad_chars
            redacted, last = [], 0
            for h in found:
                redacted.append(text[last:h.start] + placeholder(h.label))
                last = h.end
            safe = "".join(redacted) + text[last:]
            for h in found:
                left = int(max(bx0, bx0 + h.start * per_char - pad))
                right = int(min(bx1, bx0 + h.end * per_char + pad + 0.999))
                hits.append(ImageHit(h.label, (x0 + left, y0 + by0 - 1, x0 + right, y0 + by1 + 1), safe))
        return hits

    def redact(self, image: np.ndarray, region: Box | None = None) -> tuple[np.ndarray, list[ImageHit]]:
        """A copy of ``image`` with every hit filled black, and the hits."""
        hits = self.find(image, region)
        if not hits:
            return image, []
        out = image.copy()
        h, w = out.shape[:2]
        for hit in hits:
            x0, y0, x1, y1 = hit.box
            out[max(0, y0):min(h, y1), max(0, x0):min(w, x1)] = 0
        return out, hits


def changed_bands(a: np.ndarray, b: np.ndarray, margin: int = 8, gap: int = 24) -> list[Box]:
    """Full-width bands of rows where ``a`` and ``b`` differ, each widened by ``margin``.

    Changed rows closer than ``gap`` join one band. Whole rows, not tight boxes: a line of text
    must be read whole, or OCR loses the spaces at the crop's edge (``token AKIA...`` reads as
    ``tokenAKIA...``).
    """
    rows = np.flatnonzero(np.any(a != b, axis=tuple(range(1, a.ndim))))
    if rows.size == 0:
        return []
    h, w = a.shape[:2]
    bands = []
    start = prev = int(rows[0])
    for r in rows[1:]:
        if r - prev > gap:
            bands.append((0, max(0, start - margin), w, min(h, prev + 1 + margin)))
            start = int(r)
        prev = int(r)
    bands.append((0, max(0, start - margin), w, min(h, prev + 1 + margin)))
    return bands


def read_region(before: np.ndarray, after: np.ndarray, band: Box, margin: int = 48) -> Box:
    """The part of a changed ``band`` that must be read: from its left edge to past the last change.

    Text is written left to right, so a secret that a change completes starts to the left of the
    change (possibly far: read from the band's left edge) and ends at most a few characters after
    it. Reading the whole width instead costs OCR time in proportion to the empty part of a line.
    """
    x0, y0, x1, y1 = band
    cols = np.flatnonzero(np.any(before[y0:y1, x0:x1] != after[y0:y1, x0:x1], axis=(0, 2)))
    right = x1 if cols.size == 0 else min(x1, x0 + int(cols[-1]) + 1 + margin)
    return x0, y0, right, y1


def vertical_shift(a: np.ndarray, b: np.ndarray, max_shift: int = 200) -> int:
    """How many rows ``b`` is ``a`` scrolled up by (0 if it is not a scroll of it).

    Compares row fingerprints: a terminal that scrolls by a line shows the old rows higher up, and
    only the rows that scrolled in are new.
    """
    if a.shape != b.shape:
        return 0
    ha = [hash(r.tobytes()) for r in a]
    hb = [hash(r.tobytes()) for r in b]
    best, best_rows = 0, 0
    n = len(ha)
    for d in range(1, min(max_shift, n - 1) + 1):
        same = sum(1 for i in range(n - d) if hb[i] == ha[i + d])
        if same > best_rows:
            best, best_rows = d, same
    unchanged = sum(1 for i in range(n) if ha[i] == hb[i])
    return best if best_rows > max(unchanged, n // 4) else 0
