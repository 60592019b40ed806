"""A contact sheet: one thumbnail per action, with the action drawn on the frame it happened on.

Used to eyeball a recording or a dataset episode: is each click where the frame says it should be,
does the typed text match, do drags and scrolls point the right way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from workscribe.viz import drawing

PADDING = 8
"""Pixels between cells and around the sheet."""

CAPTION_HEIGHT = 24
"""Height of the caption line under each thumbnail."""

PLACEHOLDER_ASPECT = 10 / 16
"""Height over width of the cell when no item has a frame."""

BACKGROUND = (32, 32, 36)
PLACEHOLDER = (128, 128, 128)
CAPTION_TEXT = (235, 235, 235)

COLOURS: dict[str, tuple[int, int, int]] = {
    "click": (235, 40, 40),
    "double_click": (235, 40, 40),
    "triple_click": (235, 40, 40),
    "right_click": (40, 120, 245),
    "middle_click": (245, 160, 20),
    "drag": (30, 210, 70),
    "scroll": (210, 50, 210),
}
"""Colour of the mark drawn for each pointer action type."""

Item = tuple[Image.Image | None, dict[str, Any]]


def render_contact_sheet(items: Sequence[Item], out: Path, columns: int = 4,
                         thumb_width: int = 480) -> Path:
    """Renders a grid PNG with one cell per ``(frame, action)``.

    Each frame is scaled to ``thumb_width`` and the action drawn on it: a ring and a dot at
    ``x, y`` for clicks (two rings for a double click, three for a triple click, another colour
    for right and middle clicks), an arrow from ``x, y`` to ``x2, y2`` for a drag, an arrow with
    the step count for a scroll, and a caption box with the text or the keys for ``type``, ``key``
    and ``hotkey``. Action coordinates are in the frame's pixels. A ``None`` frame gives a grey
    "no frame" placeholder. Under each thumbnail a caption line gives the index (from 0), the
    action type, its time ``t`` in seconds and its ``app`` when present.

    The sheet is ``min(columns, n)`` cells wide and ``ceil(n / columns)`` high; a cell is
    ``thumb_width`` by (the tallest scaled frame + ``CAPTION_HEIGHT``), with ``PADDING`` between
    cells and around the sheet.

    Args:
        items: ``(frame, action)`` pairs in order; an action is a reducer action dict.
        out: Path of the PNG to write; missing folders are created.
        columns: Cells per row.
        thumb_width: Width of each thumbnail in pixels.

    Returns:
        ``out``.

    Raises:
        ValueError: ``items`` is empty, or ``columns`` or ``thumb_width`` is not positive.
    """
    if not items:
        raise ValueError("render_contact_sheet needs at least one (frame, action) item")
    if columns < 1 or thumb_width < 16:
        raise ValueError(f"columns must be >= 1 and thumb_width >= 16, got {columns} and {thumb_width}")
    thumb_height = max((_scaled_height(img, thumb_width) for img, _ in items if img is not None),
                       default=round(thumb_width * PLACEHOLDER_ASPECT))
    cols = min(columns, len(items))
    rows = math.ceil(len(items) / cols)
    cell_w, cell_h = thumb_width, thumb_height + CAPTION_HEIGHT
    sheet = Image.new("RGB", (PADDING + cols * (cell_w + PADDING), PADDING + rows * (cell_h + PADDING)),
                      BACKGROUND)
    font = drawing.font(max(12, thumb_width // 32))
    small = drawing.font(max(11, thumb_width // 36))
    for i, (img, action) in enumerate(items):
        left = PADDING + (i % cols) * (cell_w + PADDING)
        top = PADDING + (i // cols) * (cell_h + PADDING)
        thumb = _thumbnail(img, action, thumb_width, thumb_height, font)
        sheet.paste(thumb, (left, top))
        caption = drawing.fit(_caption(i, action), small, thumb_width - 4)
        drawing.text(ImageDraw.Draw(sheet), (left + 2, top + thumb_height + CAPTION_HEIGHT / 2), caption,
              small, CAPTION_TEXT, "lm")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return out


def _scaled_height(img: Image.Image, width: int) -> int:
    return max(1, round(img.height * width / img.width))


def _thumbnail(img: Image.Image | None, action: dict[str, Any], width: int, height: int,
               font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> Image.Image:
    """The frame scaled to ``width`` (centred in a ``width`` x ``height`` cell) with the action drawn."""
    cell = Image.new("RGBA", (width, height), (*BACKGROUND, 255))
    if img is None:
        draw = ImageDraw.Draw(cell)
        draw.rectangle((0, 0, width - 1, height - 1), fill=PLACEHOLDER)
        drawing.text(draw, (width / 2, height / 2), "no frame", font, (40, 40, 40), "mm")
        scale, offset = None, (0, 0)
    else:
        scaled_h = _scaled_height(img, width)
        frame = img.convert("RGB").resize((width, scaled_h), Image.Resampling.LANCZOS)
        offset = (0, (height - scaled_h) // 2)
        cell.paste(frame, offset)
        scale = width / img.width
    layer = Image.new("RGBA", cell.size, (0, 0, 0, 0))
    _draw_action(ImageDraw.Draw(layer), action, scale, offset, font, cell.size)
    return Image.alpha_composite(cell, layer).convert("RGB")


def _draw_action(draw: ImageDraw.ImageDraw, action: dict[str, Any], scale: float | None,
                 offset: tuple[int, int], font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
                 size: tuple[int, int]) -> None:
    kind = str(action.get("type", ""))
    colour = COLOURS.get(kind, (255, 255, 255))

    def at(xk: str, yk: str) -> tuple[float, float] | None:
        x, y = action.get(xk), action.get(yk)
        if scale is None or x is None or y is None:
            return None
        return offset[0] + x * scale, offset[1] + y * scale

    p = at("x", "y")
    if kind in ("click", "double_click", "triple_click", "right_click", "middle_click") and p:
        rings = {"double_click": 2, "triple_click": 3}.get(kind, 1)
        for r in range(rings):
            drawing.ring(draw, p, 11 + 6 * r, colour)
        drawing.dot(draw, p, 3, colour)
    elif kind == "drag" and p:
        q = at("x2", "y2")
        drawing.dot(draw, p, 4, colour)
        if q:
            drawing.arrow(draw, p, q, colour)
    elif kind == "scroll" and p:
        dx, dy = action.get("dx") or 0, action.get("dy") or 0
        length = 36
        end = (p[0] + length * _sign(dx), p[1] + length * _sign(dy))
        drawing.dot(draw, p, 3, colour)
        if end != p:
            drawing.arrow(draw, p, end, colour)
        steps = " ".join(s for s in (f"{abs(dy)}" if dy else "", f"{abs(dx)}" if dx else "") if s)
        label_at = (end[0] + 8, end[1] if dy else end[1] + 10)
        drawing.text(draw, label_at, steps, font, (*colour, 255), "lm", stroke=True)
    if kind == "type":
        _caption_box(draw, f"type \"{action.get('text') or ''}\"", font, size)
    elif kind in ("key", "hotkey"):
        _caption_box(draw, f"{kind} {action.get('keys') or ''}", font, size)


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def _caption_box(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
                 size: tuple[int, int]) -> None:
    """A translucent dark band across the bottom of the thumbnail with ``text`` in it."""
    width, height = size
    band = int(getattr(font, "size", 12)) + 12
    draw.rectangle((0, height - band, width, height), fill=(0, 0, 0, 190))
    line = drawing.fit(text, font, width - 12)
    drawing.text(draw, (6, height - band / 2), line, font, (255, 255, 160, 255), "lm")


def _caption(index: int, action: dict[str, Any]) -> str:
    parts = [f"#{index}", str(action.get("type", "?"))]
    t = action.get("t")
    if isinstance(t, int | float):
        parts.append(f"{t:.2f} s")
    if action.get("app"):
        parts.append(str(action["app"]))
    return "  ".join(parts)


def render_spool_actions(spool: Any, actions: Sequence[dict[str, Any]], out: Path) -> Path:
    """A contact sheet of ``actions`` of a ``spool.reader.Spool``: each on its frame before."""
    frames = spool.frames([a["frame_before"] for a in actions if a["frame_before"]])
    items = [(Image.fromarray(frames[a["frame_before"]]) if a["frame_before"] in frames else None, a)
             for a in actions]
    return render_contact_sheet(items, out)
