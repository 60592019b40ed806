"""Frame redaction speed: how many stored frames a second the OCR stage redacts on one core.

Frames are rendered terminal screens (1280x800, a monospace font) holding secrets, PII and
ordinary shell lines. Two figures: a full frame read whole (the first frame of a recording, a
window switch), and the frames of a session where one line is typed at a time, which the
``FrameRedactionStage`` reads row band by row band. Recall: the share of planted secrets that OCR
can no longer read after redaction.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
SECRETS = ["export AWS_ACCESS_KEY_ID=AKIAQ3MOCKKEY7EXAMPL", "git remote add o https://ghp_"
           "Zx81mockTOKENabcdefghijklmnopqrstuv12@github.com/a/b", "mail jane.doe@example.org today",
           "card 4111 1111 1111 1111 exp 12/29", "curl -u admin:Sup3r-Secret-Pw1 https://api.example.com"]
PLAIN = ["ls -la /var/log", "git status --short", "python -m pytest -q tests/", "cd ~/src/app && make"]


def _screen(lines: list[str]) -> np.ndarray:
    img = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 13) if FONT.exists() else ImageFont.load_default(size=13)
    for i, line in enumerate(lines):
        draw.text((4, 4 + 16 * i), f"$ {line}", fill="black", font=font)
    return np.array(img)


def bench_frames(n_lines: int = 24) -> dict[str, Any]:
    """Full-frame and line-by-line redaction rates and the recall of planted secrets."""
    from workscribe.redact.frames import FrameRedactionStage
    from workscribe.redact.image import ImageRedactor
    from workscribe.redact.text import find_hits

    redactor = ImageRedactor()
    lines = [(SECRETS + PLAIN)[i % (len(SECRETS) + len(PLAIN))] for i in range(n_lines)]
    full = _screen(lines)
    redactor.redact(full[:64])  # load the models outside the timing
    t = time.process_time()
    redacted, _ = redactor.redact(full)
    full_s = time.process_time() - t
    after = " ".join(text for _, text in redactor._ocr(redacted))
    planted = sum(1 for line in lines if find_hits(line))
    leaked = len(find_hits(after))
    stored: list[np.ndarray] = []
    stage = FrameRedactionStage(redactor, lambda e, img: stored.append(img) or True,
                                max_change_backlog=n_lines + 1)
    frames = [_screen(lines[:k]) for k in range(1, n_lines + 1)]
    t = time.process_time()
    for frame in frames:
        stage.put({"t": 0, "source": "screen", "kind": "frame", "data": {}}, frame)
    stage.close()
    typing_s = time.process_time() - t
    return {
        "frames_per_s_full": round(1 / full_s, 2),
        "frames_per_s_typing": round(len(frames) / typing_s, 2),
        "frame_secret_recall": round(1 - leaked / max(1, planted), 3),
        "frame_secrets_planted": planted,
    }
