"""The frame benchmark's corpus plants what it says it plants, and its measure sees leaks and fills.

The full benchmark (``workscribe bench redact``) OCRs about ten frames; here one small page goes
through the real OCR, redactor and measure.
"""

from __future__ import annotations

import collections
import re

from workscribe.bench.frames import (
    ROWS,
    ScreenLine,
    frame_pages,
    measure_pages,
    plain_lines,
    planted_lines,
    still_read,
)
from workscribe.redact.image import ImageRedactor
from workscribe.redact.text import find_hits


def test_the_corpus_plants_a_hundred_values_of_every_kind_asked_for() -> None:
    planted = planted_lines(0)
    assert planted == planted_lines(0) and planted != planted_lines(1)
    assert len(planted) >= 100 and all(p.value in p.line for p in planted)
    kinds = collections.Counter(p.kind for p in planted)
    for kind in ("aws_access_key", "github_token", "gitlab_token", "slack_token", "stripe_key", "openai_key",
                 "jwt", "password", "url_password", "email", "phone", "card", "iban", "private_key"):
        assert kinds[kind] >= 2, kind
    assert any(p.value.startswith("+44") for p in planted)
    glued = [p for p in planted if re.search("[A-Za-z]" + re.escape(p.value), p.line)]
    assert len(glued) >= 10  # the space before the value missing, as OCR often reads it
    # plain lines hold nothing to redact: a fill on one is a false fill
    assert not [line for line in plain_lines(0) if find_hits(line)]


def test_pages_are_full_screens_with_the_key_under_its_begin_line() -> None:
    pages = frame_pages(0)
    lines = [line for page in pages for line in page]
    assert all(len(page) <= ROWS for page in pages) and len(pages) * ROWS < len(lines) + ROWS
    begin = next(i for i, line in enumerate(lines) if line.text.startswith("-----BEGIN"))
    assert not lines[begin].plain and lines[begin].planted is None
    assert [line.planted.kind for line in lines[begin + 1:begin + 7]] == ["private_key"] * 6  # type: ignore


def test_still_read_sees_a_value_through_ocr_misreadings() -> None:
    assert still_read("xoxb-1234567890-abc", "SLACK=x0Xb -1234567890-abc")
    assert still_read("hunter2", "password: hunter2")
    assert not still_read("AKIAQ3MOCKKEY7EXAMPL", "export AWS_ACCESS_KEY_ID= EXAMPL")  # 6 of 20: no leak
    assert not still_read("jane.doe@example.org", "$ mail today")


def test_the_measure_counts_leaks_and_fills_on_a_real_page() -> None:
    planted = [p for p in planted_lines(0) if p.kind in ("aws_access_key", "email")][:3]
    page = [ScreenLine(p.line, p) for p in planted] + [ScreenLine("$ ls -la /var/log", plain=True),
                                                       ScreenLine("On branch main", plain=True)]
    result = measure_pages(ImageRedactor(), [page])
    assert result["frame_secrets_planted"] == 3 and result["frame_plain_lines"] == 2
    assert result["frame_secret_recall"] == 1.0, result["frame_secrets_leaked"]
    assert result["frame_plain_lines_filled"] == 0.0
    # a finder that finds nothing leaves every value readable: the measure sees it
    blind = measure_pages(ImageRedactor(finder=lambda text: []), [page])
    assert blind["frame_secret_recall"] == 0.0 and len(blind["frame_secrets_leaked"]) == 3
