"""Reading monospace screen text from its glyphs, which OCR teaches once.

Terminals (and most editors' code panes) draw every character into a fixed grid of cells, and a
character of one font looks the same, pixel for pixel, every time it is drawn. So once OCR has read
a glyph, the recorder never needs OCR for it again: it reads a line by looking up each cell's
pixels, which costs microseconds where OCR costs tens of milliseconds a word, and it knows the exact
cell of every character, so a secret is filled to the cell, and runs of blank cells are spaces (OCR
drops them). OCR stays the teacher and the fallback: a line with a glyph not seen before is read by
OCR, word by word, and where OCR's word has as many characters as the word has cells, each cell's
glyph learns its character (a vote: the most frequent reading wins, so one misreading does not
stick).

Everything here is in memory and derived from pixels of frames that are being redacted; nothing is
written. The functions are pure but for ``GlyphTable``, which holds the votes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

INK_DELTA = 60
"""A pixel is ink when one channel differs from the background by more than this (anti-aliasing
fringes below it are background)."""
ASCENT, DESCENT = 48, 24  # rows kept above and below a line's baseline in a glyph's key
MAX_LINE_HEIGHT = 64  # taller ink runs are not one line of text (images, panels): OCR detects lines
MIN_PITCH, MAX_PITCH = 4, 24  # cell widths tried, pixels
MIN_CELLS = 4  # a grid needs at least this many cells of text to be believed
GRID_SLACK = 0.15  # boundary ink allowed, as a share of a uniform spread's (a glyph touching its edge)
INVERTED = 0.7  # a cell with more ink than this share is drawn inverted (a block cursor, a selection)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Grid:
    """Cell boundaries of monospace text: columns ``offset + k * pitch`` (image coordinates)."""

    pitch: int
    offset: int


@dataclass
class TextLine:
    """One line of text in a region: its rows, and its cells when the region has a grid."""

    y0: int
    y1: int
    x0: int  # first cell's left edge (or the first ink column without a grid)
    x1: int
    keys: list[bytes | None] | None = None  # one per cell; None for a blank cell
    inverted: list[bool] | None = None


def background(rgb: np.ndarray) -> np.ndarray:
    """The most common colour of ``rgb`` (H x W x 3), sampled."""
    sample = rgb[::2, ::3].reshape(-1, 3).astype(np.uint32)
    packed = (sample[:, 0] << 16) | (sample[:, 1] << 8) | sample[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    v = int(values[counts.argmax()])
    return np.array([(v >> 16) & 255, (v >> 8) & 255, v & 255], np.int16)


def ink_mask(rgb: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """True where a pixel differs from the background colour ``bg`` by more than ``INK_DELTA``."""
    out = np.zeros(rgb.shape[:2], bool)
    for c in range(3):  # byte comparisons, channel by channel: no wider copy of the image
        channel = rgb[..., c]
        low, high = int(bg[c]) - INK_DELTA, int(bg[c]) + INK_DELTA
        if low > 0:
            out |= channel < low
        if high < 255:
            out |= channel > high
    return out


def ink_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in a 1-D array."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def fits_grid(ink: np.ndarray, grid: Grid) -> bool:
    """True when ``ink`` leaves ``grid``'s boundary columns (almost) blank."""
    cols = ink.sum(axis=0)
    total = int(cols.sum())
    return total > 0 and int(cols[grid.offset::grid.pitch].sum()) <= GRID_SLACK * total / grid.pitch


def without_blocks(ink: np.ndarray, lines: list[tuple[int, int]]) -> np.ndarray:
    """The ink of ``lines`` only, without solid columns (a block cursor, a selection edge): they
    cover the boundaries between cells and would hide the grid."""
    out = np.zeros_like(ink)
    for a, b in lines:
        line = ink[a:b]
        solid = line.sum(axis=0) >= 0.9 * (b - a)
        out[a:b] = line & ~solid
    return out


def find_grid(ink: np.ndarray, max_pitch: int = MAX_PITCH) -> Grid | None:
    """The cell grid of monospace text in ``ink`` (rows x columns), or None if there is none.

    A grid's boundary columns carry (almost) no ink: the smallest pitch whose best offset leaves
    them under ``GRID_SLACK`` of the ink a uniform spread would put there wins (multiples of it pass
    too; a wrong pitch cuts through glyphs and leaves half or more). One
    short line can fit a wrong grid by chance: callers keep the grid found on many lines.
    """
    cols = ink.sum(axis=0)
    total = int(cols.sum())
    xs = np.flatnonzero(cols)
    if total == 0 or xs.size == 0:
        return None
    span = xs[-1] - xs[0] + 1
    for pitch in range(MIN_PITCH, min(max_pitch, MAX_PITCH) + 1):
        if span < MIN_CELLS * pitch:
            return None
        best_ink, best_offset = min((int(cols[offset::pitch].sum()), offset) for offset in range(pitch))
        if best_ink <= GRID_SLACK * total / pitch:
            return Grid(pitch, best_offset)
    return None


def _runs_at_least(ink: np.ndarray, length: int) -> np.ndarray:
    """True where a pixel lies on a vertical run of ink at least ``length`` long (axis 0)."""
    h = ink.shape[0]
    if h < length:
        return np.zeros_like(ink)
    zero = np.zeros((1,) + ink.shape[1:], np.int32)
    sums = np.concatenate([zero, np.cumsum(ink, axis=0, dtype=np.int32)])
    full = (sums[length:] - sums[:-length]) == length  # rows y .. y+length-1 all ink, for each start y
    if not full.any():
        return np.zeros_like(ink)
    starts = np.concatenate([zero, np.cumsum(full, axis=0, dtype=np.int32)])
    ys = np.arange(h)  # a row is covered when a full run starts within `length` rows above it
    return (starts[np.minimum(ys + 1, full.shape[0])] - starts[np.maximum(0, ys - length + 1)]) > 0


def without_rules(ink: np.ndarray, length: int = MAX_LINE_HEIGHT + 8) -> np.ndarray:
    """``ink`` without rules: runs of ink down a column or along a row longer than any glyph (scroll
    bars, table borders, separators, gutters), which would join the lines they cross into one."""
    rules = _runs_at_least(ink, length) | _runs_at_least(ink.T, length).T
    return ink & ~rules if rules.any() else ink


def typical_height(lines: list[tuple[int, int]]) -> int | None:
    """The median height of ``lines`` when there are three or more, else None."""
    heights = sorted(b - a for a, b in lines)
    return heights[len(heights) // 2] if len(heights) >= 3 else None


def text_lines(ink: np.ndarray, typical: int | None = None,
               ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Rows of text lines in ``ink``, and runs of ink too tall to be one line.

    Two lines that touch (a block cursor under a descender) make one run: a run much taller than a
    typical line (``typical``, else the median of this region's) is parted where it can be.
    """
    runs = ink_runs(ink.any(axis=1))
    typical = typical or typical_height(runs)
    lines, tall = [], []
    for y0, y1 in runs:
        pieces = [(y0, y1)]
        if typical is not None and y1 - y0 > 1.6 * typical:
            # what joins them is often taller than a glyph (a block cursor, a bar): without it the
            # lines part; else cut at the faintest rows
            short = ink[y0:y1] & ~_runs_at_least(ink[y0:y1], typical + 2)
            pieces = [(y0 + a, y0 + b) for a, b in ink_runs(short.any(axis=1))]
            if len(pieces) < 2:
                pieces = _cut_at_faint_rows(ink, y0, y1, typical)
            else:  # the rows cut away go with the piece above them
                pieces[0] = (y0, pieces[0][1])
                pieces[-1] = (pieces[-1][0], y1)
                pieces = [(a, pieces[i + 1][0] if i + 1 < len(pieces) else b)
                          for i, (a, b) in enumerate(pieces)]
        for a, b in pieces:
            (tall if b - a > MAX_LINE_HEIGHT else lines).append((a, b))
    return lines, tall


def _cut_at_faint_rows(ink: np.ndarray, y0: int, y1: int, typical: int) -> list[tuple[int, int]]:
    """``[y0, y1)`` cut at rows holding under a tenth of the run's mean ink per row, at least half a
    typical line from each cut."""
    rows = ink[y0:y1].sum(axis=1)
    faint = rows <= 0.1 * rows.mean()
    cuts, last = [], 0
    for y in np.flatnonzero(faint):
        if y - last >= typical // 2 and (y1 - y0) - y >= typical // 2:
            cuts.append(int(y))
            last = int(y)
    bounds = [0, *cuts, y1 - y0]
    return [(y0 + a, y0 + b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def cell_keys(ink: np.ndarray, grid: Grid) -> tuple[int, list[bytes | None], np.ndarray]:
    """Cut one line's ink (its rows only) into grid cells: the first cell's column, a key per cell
    (None where blank) and the line's glyph ink from that column on (inverted cells turned back:
    a block cursor reads as the character under it).

    The key is the cell's ink aligned on the line's baseline (the most common bottom row of its
    glyphs), so a glyph has the same key in every line whatever else the line holds.
    """
    h, w = ink.shape
    xs = np.flatnonzero(ink.any(axis=0))
    p = grid.pitch
    first = grid.offset + ((xs[0] - grid.offset) // p) * p
    n = (xs[-1] - first) // p + 1
    cells = np.zeros((h, n * p), bool)
    lo, hi = max(0, first), min(w, first + n * p)
    cells[:, lo - first:hi - first] = ink[:, lo:hi]
    per_cell = cells.reshape(h, n, p).transpose(1, 0, 2)  # n x h x p
    amount = per_cell.sum(axis=(1, 2))
    # a block (cursor, selection) fills its cell to both edges; a dense glyph ('M' in a short line,
    # stems on the edges) leaves more of the cell blank and is not taken for one
    edges = np.minimum(per_cell[:, :, 0].mean(axis=1), per_cell[:, :, -1].mean(axis=1))
    inverted = (amount > INVERTED * h * p) & (edges >= 0.8)
    glyphs = per_cell.copy()
    if inverted.any():  # inside the block, the glyph is what is not ink; rows past the block are not it
        block = per_cell[inverted]
        block_rows = block.mean(axis=2) >= 0.5  # cells x rows
        glyphs[inverted] = ~block & block_rows[:, :, None]
    rows_with_ink = glyphs.any(axis=2)  # n x h
    has_ink = rows_with_ink.any(axis=1)
    bottoms = h - 1 - np.argmax(rows_with_ink[:, ::-1], axis=1)
    normal = has_ink & ~inverted
    baseline = int(np.bincount(bottoms[normal]).argmax()) if normal.any() else int(bottoms[has_ink].max(
        initial=h - 1))
    canvas = np.zeros((n, ASCENT + DESCENT, p), bool)
    top = ASCENT - baseline  # row of the canvas where the line's first row goes
    src0, dst0 = max(0, -top), max(0, top)
    rows = min(h - src0, ASCENT + DESCENT - dst0)
    canvas[:, dst0:dst0 + rows] = glyphs[:, src0:src0 + rows]
    packed = np.packbits(canvas.reshape(n, -1), axis=1)
    keys: list[bytes | None] = [packed[i].tobytes() + bytes([p]) if has_ink[i] else None for i in range(n)]
    clean = glyphs.transpose(1, 0, 2).reshape(h, n * p)
    return first, keys, clean


class GlyphTable:
    """Glyph keys and the characters OCR read for them (votes)."""

    def __init__(self, max_glyphs: int = 8192) -> None:
        self._votes: dict[bytes, Counter[str]] = {}
        self._best: dict[bytes, str] = {}
        self.max_glyphs = max_glyphs

    def __len__(self) -> int:
        return len(self._best)

    @property
    def known(self) -> dict[bytes, str]:
        """Glyph key -> the character it reads as (read-only view)."""
        return self._best

    def read(self, keys: list[bytes | None]) -> str | None:
        """The text of a line of cells, or None when one of its glyphs is not known yet."""
        out = []
        for key in keys:
            if key is None:
                out.append(" ")
                continue
            char = self._best.get(key)
            if char is None:
                return None
            out.append(char)
        return "".join(out)

    def learn(self, keys: list[bytes | None], text: str) -> bool:
        """Counts OCR's reading ``text`` (spaces ignored) of the inked cells ``keys``; False when
        the number of characters does not match the number of glyphs (nothing is learnt)."""
        chars = [c for c in text if not c.isspace()]
        glyphs = [k for k in keys if k is not None]
        if len(chars) != len(glyphs) or not glyphs:
            return False
        for key, char in zip(glyphs, chars, strict=True):
            votes = self._votes.get(key)
            if votes is None:
                if len(self._votes) >= self.max_glyphs:
                    continue
                votes = self._votes[key] = Counter()
            votes[char] += 1
            self._best[key] = votes.most_common(1)[0][0]
        return True


def words(keys: list[bytes | None]) -> list[tuple[int, int]]:
    """``[start, end)`` cell ranges of runs of inked cells (words, as OCR should read them)."""
    return ink_runs(np.array([k is not None for k in keys], bool))
