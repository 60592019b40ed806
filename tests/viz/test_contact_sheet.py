"""Contact sheets rendered from synthetic frames and hand-written actions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workscribe.viz.contact_sheet import CAPTION_HEIGHT, COLOURS, PADDING, render_contact_sheet


def frame(colour: tuple[int, int, int]) -> Image.Image:
    """A 640x400 frame: a flat colour with a horizontal gradient, like a plain window."""
    arr = np.zeros((400, 640, 3), np.uint8)
    arr[:] = colour
    arr[:, :, 2] = np.linspace(150, 220, 640, dtype=np.uint8)
    return Image.fromarray(arr)


def action(type_: str, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {"type": type_, "x": None, "y": None, "x2": None, "y2": None, "button": None,
                               "text": None, "keys": None, "dx": None, "dy": None}
    return {**base, **fields}


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b, strict=False))


def test_sheet_has_the_grid_size_and_marks_actions_where_they_happened(tmp_path: Path) -> None:
    frames = [frame((200, 200, 200)), frame((90, 90, 90)), frame((230, 230, 230))]
    items = [
        (frames[0], action("click", x=320, y=200, button=1, t=1.25, app="xterm")),
        (frames[1], action("drag", x=100, y=100, x2=500, y2=300, button=1, t=2.5, app="xterm")),
        (frames[2], action("type", x=10, y=10, text="echo héllo wörld", t=4.0, app="xterm")),
        (None, action("hotkey", x=10, y=10, keys="ctrl+shift+t", t=5.0)),
    ]
    out = render_contact_sheet(items, tmp_path / "sheets" / "sheet.png", columns=2, thumb_width=320)

    assert out == tmp_path / "sheets" / "sheet.png" and out.exists()
    sheet = Image.open(out).convert("RGB")
    thumb_h = 200  # 640x400 scaled to 320 wide
    cell_w, cell_h = 320 + PADDING, thumb_h + CAPTION_HEIGHT + PADDING
    assert sheet.size == (PADDING + 2 * cell_w, PADDING + 2 * cell_h)

    def cell(i: int, x: float, y: float) -> tuple[int, int, int]:
        """The sheet pixel at frame coordinates (x, y) of item i (scale 0.5)."""
        return sheet.getpixel((PADDING + (i % 2) * cell_w + round(x * 0.5),
                               PADDING + (i // 2) * cell_h + round(y * 0.5)))

    # click: a dot in the click colour exactly at the scaled position, the frame untouched far away
    source = frames[0].getpixel((320, 200))
    assert close(cell(0, 320, 200), COLOURS["click"]) and not close(cell(0, 320, 200), source)
    assert close(cell(0, 40, 360), frames[0].getpixel((40, 360)), tol=6)
    # drag: the arrow passes through the midpoint of start and end
    assert close(cell(1, 300, 200), COLOURS["drag"])
    assert not close(cell(1, 300, 200), frames[1].getpixel((300, 200)))
    # type: a dark caption band at the bottom of the thumbnail
    band, above = cell(2, 600, 396), frames[2].getpixel((600, 396))
    assert sum(band) < sum(above) / 2
    # no frame: a grey placeholder
    assert close(cell(3, 20, 20), (128, 128, 128), tol=2)


def test_single_item_sheet_and_empty_input(tmp_path: Path) -> None:
    out = render_contact_sheet([(frame((10, 10, 10)), action("scroll", x=320, y=200, dx=0, dy=3))],
                               tmp_path / "one.png", columns=4, thumb_width=160)
    img = Image.open(out).convert("RGB")
    assert img.size == (PADDING * 2 + 160, PADDING * 2 + 100 + CAPTION_HEIGHT)
    # the scroll arrow points down from (320, 200): coloured below the point, not above it
    below = img.getpixel((PADDING + 80, PADDING + 50 + 12))
    above = img.getpixel((PADDING + 80, PADDING + 50 - 12))
    assert close(below, COLOURS["scroll"]) and not close(above, COLOURS["scroll"])
    with pytest.raises(ValueError, match="at least one"):
        render_contact_sheet([], tmp_path / "none.png")
