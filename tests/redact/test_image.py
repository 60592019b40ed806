"""Pixel redaction on rendered screen text: secrets are filled, ordinary text stays readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from workscribe.redact.image import ImageRedactor, changed_bands
from workscribe.redact.text import find_hits

AWS, EMAIL = "AKIAIOSFODNN7EXAMPLE", "jane.doe@example.com"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


def _screen(lines: list[str], size: tuple[int, int] = (900, 200)) -> np.ndarray:
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 15) if FONT.exists() else ImageFont.load_default(size=15)
    for i, line in enumerate(lines):
        draw.text((12, 12 + 24 * i), line, fill="black", font=font)
    return np.array(img)


@pytest.fixture(scope="module")
def redactor() -> ImageRedactor:
    return ImageRedactor()


def test_secrets_on_screen_are_filled_and_no_longer_read(redactor: ImageRedactor) -> None:
    image = _screen([f"$ export AWS_ACCESS_KEY_ID={AWS}", f"$ mail {EMAIL}", "$ ls -la /tmp/build"])
    before = " ".join(text for _, text in redactor._ocr(image))
    assert {h.label for h in find_hits(before)} >= {"aws_access_key", "email"}  # the test can see them
    out, hits = redactor.redact(image)
    assert {h.label for h in hits} >= {"aws_access_key", "email"}
    after = " ".join(text for _, text in redactor._ocr(out))
    assert not find_hits(after), after
    assert "AKIA" not in after and "example.com" not in after
    assert "ls" in after and "tmp" in after  # the rest of the screen stays readable
    assert all(AWS not in h.line and EMAIL not in h.line for h in hits)


def test_the_default_rules_allow_for_what_ocr_gets_wrong(redactor: ImageRedactor) -> None:
    key_line = "w9o4OIavNMtNZOLA3eLn+H2myFDj94cip94HiW46lXpy0y9cnCIS/OuhnmRNR6E5"  # a key's body line, alone
    image = _screen([f"$ echo token{AWS}", key_line, "$ ls -la /tmp/build"])
    read = [text for _, text in redactor.read_lines(image)]
    assert not any(find_hits(text) for text in read), read  # the rules for typed text miss both
    out, hits = redactor.redact(image)
    assert {h.label for h in hits} == {"aws_access_key", "private_key"}
    after = " ".join(text for _, text in redactor.read_lines(out))
    assert "AKIA" not in after and "NMtNZ" not in after, after
    assert "ls" in after and "tmp" in after


def test_only_the_changed_region_is_read(redactor: ImageRedactor) -> None:
    old = _screen(["$ ls", ""])
    new = _screen(["$ ls", f"token {AWS}"])
    bands = changed_bands(old, new)
    assert len(bands) == 1 and bands[0][1] >= 30  # the first line did not change
    region = bands[0]
    out, hits = redactor.redact(new, region)
    assert hits and all(h.box[1] >= region[1] - 2 for h in hits)
    assert np.array_equal(out[:30], new[:30])
    assert changed_bands(new, new) == []


def test_bgra_frames_from_the_screen_work(redactor: ImageRedactor) -> None:
    rgb = _screen([f"mail {EMAIL}"])
    bgra = np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    _, hits = redactor.redact(bgra)
    assert [h.label for h in hits] == ["email"]


def test_the_frame_stage_reads_only_new_rows_and_keeps_old_boxes(redactor: ImageRedactor) -> None:
    from workscribe.redact.frames import FrameRedactionStage
    from workscribe.redact.image import vertical_shift

    lines = [f"$ echo line {i}" for i in range(5)]
    first = _screen([f"token {AWS}", *lines], (700, 240))
    scrolled = _screen([*lines, f"mail {EMAIL}"], (700, 240))  # scrolled up by one 24 px line
    assert vertical_shift(first, scrolled) == 24
    stored: list[np.ndarray] = []
    stage = FrameRedactionStage(redactor, lambda e, img: stored.append(img) or True)
    calls: list = []
    real_find = redactor.find
    redactor.find = lambda img, region=None, kept=None, skip=None: (  # type: ignore
        calls.append(region) or real_find(img, region, kept, skip))
    try:
        for img in (first, scrolled):
            assert stage.put({"t": 0, "source": "screen", "kind": "frame", "data": {"reason": "before"}}, img)
        stage.close()
    finally:
        redactor.find = real_find  # type: ignore
    assert calls[0] == (0, 0, 700, 240)
    # then only the rows that changed after the scroll were read: not the lines that just moved up
    assert sum(r[3] - r[1] for r in calls[1:]) < 80
    assert all(r[3] <= 40 or r[1] >= 100 for r in calls[1:])
    texts = [" ".join(t for _, t in redactor._ocr(img)) for img in stored]
    assert not any(find_hits(t) for t in texts), texts
    assert "line 3" in texts[1].replace("  ", " ")


def test_the_contributors_identity_on_screen_is_filled() -> None:
    from workscribe.redact.identity import Identity, find_private_ocr

    me = Identity(home="/home/marguerite", user="marguerite", host="lighthouse7")
    redactor = ImageRedactor(finder=lambda text: find_private_ocr(text, me))  # as the recorder's
    image = _screen(["marguerite@lighthouse7:~$ cat /home/marguerite/notes.txt", "$ make test"])
    out, hits = redactor.redact(image)
    assert {h.label for h in hits} >= {"user_host", "home"}
    after = " ".join(text for _, text in redactor._ocr(out)).lower()
    assert "marguerite" not in after and "lighthouse" not in after, after
    assert "make" in after  # the rest stays readable
    assert not ImageRedactor().find(image)  # the default finder knows no identity: nothing to fill
