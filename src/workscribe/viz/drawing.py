"""Marks drawn on frames with PIL: rings and dots at click points, arrows, captions in any font.

Every mark has a dark halo under its colour, so that it shows on light and dark frames alike.
``viz.contact_sheet`` and ``viz.bc_report`` draw with these.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from PIL import ImageDraw, ImageFont

Point = tuple[float, float]
Colour = tuple[int, int, int]
Font = ImageFont.ImageFont | ImageFont.FreeTypeFont

FONT_FILES = ("DejaVuSans.ttf", "NotoSans-Regular.ttf")
"""System fonts tried before Pillow's default one, whose glyphs stop at ASCII (``é`` is a box)."""


def ring(draw: ImageDraw.ImageDraw, p: Point, r: float, colour: Colour) -> None:
    """A circle of radius ``r`` around ``p``."""
    box = (p[0] - r, p[1] - r, p[0] + r, p[1] + r)
    draw.ellipse(box, outline=(0, 0, 0, 220), width=5)  # dark halo: visible on light and dark frames
    draw.ellipse(box, outline=(*colour, 255), width=3)


def dot(draw: ImageDraw.ImageDraw, p: Point, r: float, colour: Colour) -> None:
    """A filled disc of radius ``r`` at ``p``."""
    draw.ellipse((p[0] - r - 1, p[1] - r - 1, p[0] + r + 1, p[1] + r + 1), fill=(0, 0, 0, 220))
    draw.ellipse((p[0] - r, p[1] - r, p[0] + r, p[1] + r), fill=(*colour, 255))


def arrow(draw: ImageDraw.ImageDraw, a: Point, b: Point, colour: Colour) -> None:
    """A line from ``a`` to ``b`` with its head at ``b``."""
    angle = math.atan2(b[1] - a[1], b[0] - a[0])
    head = [b, *((b[0] - 12 * math.cos(angle + s), b[1] - 12 * math.sin(angle + s)) for s in (0.45, -0.45))]
    for fill, width in (((0, 0, 0, 220), 6), ((*colour, 255), 3)):
        draw.line([a, b], fill=fill, width=width)
        draw.polygon(head, fill=fill)


def fit(text: str, font: Font, width: float) -> str:
    """``text`` on one line, cut with an ellipsis so that it is at most ``width`` pixels wide."""
    text = text.replace("\n", "\\n").replace("\t", " ")
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def text(draw: ImageDraw.ImageDraw, xy: Point, line: str, font: Font, fill: tuple[int, ...], anchor: str,
         stroke: bool = False) -> None:
    """Draws ``line`` anchored at ``xy`` (``lm``: left-middle, ``mm``: centre) with any font.

    Pillow's ``anchor`` argument needs a FreeType font; this also works with the bitmap fallback.
    """
    left, top, right, bottom = draw.textbbox((0, 0), line, font=font)
    x = xy[0] - left - ((right - left) / 2 if anchor[0] == "m" else 0)
    y = xy[1] - top - (bottom - top) / 2
    extra: dict[str, Any] = {"stroke_width": 1, "stroke_fill": (0, 0, 0, 255)} if stroke else {}
    draw.text((x, y), line, fill=fill, font=font, **extra)


@functools.lru_cache(maxsize=8)
def font(size: int) -> Font:
    """The first of ``FONT_FILES`` found, else Pillow's default font, at ``size`` pixels."""
    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed-size bitmap font
        return ImageFont.load_default()
