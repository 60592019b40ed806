"""The pixel guarantee end to end: secrets printed in an allowed terminal never reach a stored frame
readably, also when the recorder is killed mid-work; frames an action needs survive load."""

from __future__ import annotations

import hashlib
import signal
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from workscribe.envs.xdisplay import XDisplay, open_window, xdotool
from workscribe.redact.frames import FrameRedactionStage, SealedBacklog
from workscribe.redact.image import ImageRedactor
from workscribe.redact.ocr import LocalOcr
from workscribe.redact.text import find_hits

SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAQ3MOCKKEY7EXAMPL",
    "GITHUB_TOKEN": "ghp_Zx81mockTOKENabcdefghijklmnopqrstuv12",
    "STRIPE_KEY": "sk_live_51Hmock4TOKENzZ9x8y7w6v5u4t3s2r1q",
    "ADMIN_EMAIL": "jane.doe@example.org",
}
PLAIN = "ORDINARY_SETTING=visible_value_here"


def _stored_frames(out: Path, key: Path) -> list[np.ndarray]:
    from workscribe.spool.reader import Spool

    spool = Spool(out, key=key.read_bytes())
    frames = []
    for recording in spool.recordings():
        for segment in recording:
            frames += [img for _, img in segment.iter_frames()]
    return frames


def _readable(ocr: LocalOcr, frame: np.ndarray) -> str:
    return "\n".join(text for _, text, score in ocr.detect(frame) if score >= 0.5)


_WORKER_OCR: list[LocalOcr] = []


def _readable_in_worker(frame: np.ndarray) -> str:
    """``_readable`` in a worker process, with the OCR it loaded once."""
    if not _WORKER_OCR:
        _WORKER_OCR.append(LocalOcr())
    return _readable(_WORKER_OCR[0], frame)


@pytest.mark.x11
@pytest.mark.slow
@pytest.mark.parametrize("stop", ["clean", "kill -9"])
def test_secrets_printed_in_a_terminal_are_unreadable_in_every_stored_frame(
        xdisplay: XDisplay, recorder, tmp_path: Path, stop: str) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()) + PLAIN + "\n")
    assert run_cli("consent", "grant", "--apps", "xterm", "--sources", "input,screen,window", "--yes",
                   env=recorder.env).returncode == 0
    term, _ = open_window(xdisplay.name, "xterm", "-geometry", "150x45+0+0", "-e", "bash", "--norc")
    try:
        rec = recorder()
        for i in range(3):
            command = f"cat {env_file}; ls -la /usr/lib | head -{10 + i}"
            xdotool(xdisplay.name, "type", "--delay", "40", command)
            xdotool(xdisplay.name, "key", "Return")
            xdotool(xdisplay.name, "click", "--delay", "0", "1")
            # not a wait on the recorder: a person's pace, which lets frames to redact pile up (the
            # kill -9 case stops the recorder with some still waiting)
            time.sleep(1.5)
        if stop == "kill -9":
            xdotool(xdisplay.name, "type", "--delay", "20", f"cat {env_file}")
            xdotool(xdisplay.name, "key", "Return")
            rec.proc.send_signal(signal.SIGKILL)
            rec.proc.communicate(timeout=10)
        else:
            code, _, err = rec.stop()
            assert code == 0, err
    finally:
        term.kill()
        term.wait()
    # nothing but segments (and the lock) was left in the spool folder: no frame waits in clear
    assert {p.name for p in rec.out.iterdir()} - {".lock"} == {p.name for p in rec.out.glob("seg-*.wss")}
    frames = _stored_frames(rec.out, Path(recorder.env["WORKSCRIBE_HOME"]) / "spool.key")
    assert frames, "no frame was stored"
    distinct = {hashlib.sha256(f.tobytes()).digest(): f for f in frames}  # a still screen repeats frames
    with ProcessPoolExecutor(2) as pool:  # about 3 s of OCR a frame, on one core each
        texts = list(pool.map(_readable_in_worker, distinct.values()))
    shown = [t for t in texts if "ORDINARY" in t or "visible" in t]
    assert shown, "the file's ordinary line should be readable in some frame: " + repr(texts[-1][:400])
    for text in texts:
        assert not find_hits(text), text
        for secret in SECRETS.values():
            assert secret[:10] not in text and secret[-8:] not in text, text


def _terminal_frame(lines: list[str]) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (640, 260), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=14)
    for i, line in enumerate(lines):
        draw.text((6, 6 + 18 * i), line, fill="black", font=font)
    rgb = np.array(img)
    return np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def test_action_frames_survive_a_full_backlog_and_change_frames_give_way(tmp_path: Path) -> None:
    stored: list[tuple[dict, np.ndarray]] = []
    redactor = ImageRedactor()
    stage = FrameRedactionStage(redactor, lambda e, img: stored.append((e, img)) or True,
                                memory_frames=2, max_change_backlog=3, spill_dir=tmp_path)
    sent = []
    for i in range(14):
        reason = "change" if i % 3 == 2 else ("before" if i % 2 else "after")
        frame = _terminal_frame([f"$ echo step {i}", f"token {SECRETS['AWS_ACCESS_KEY_ID']}" if i % 4 == 0
                                 else "$ ls", "done"])
        if stage.put({"t": i, "source": "screen", "kind": "frame", "data": {"reason": reason}}, frame):
            sent.append((i, reason))
    assert list(tmp_path.iterdir()) == []  # the sealed backlog has no name on disk
    stage.close()
    assert stage.parked > 0  # the load did force frames to wait sealed on disk
    actions = [i for i in range(14) if i % 3 != 2]
    assert [i for i, r in sent if r != "change"] == actions  # every action frame was taken ...
    assert [e["t"] for e, _ in stored] == [i for i, _ in sent]  # ... and stored, in order
    assert stage.dropped == 14 - len(sent)
    ocr = LocalOcr()
    for event, image in stored:
        text = _readable(ocr, image[..., 2::-1])
        assert "AKIA" not in text and not find_hits(text), (event, text)
        assert "step" in text  # the rest stays readable


def test_a_sealed_backlog_keeps_nothing_readable(tmp_path: Path) -> None:
    backlog = SealedBacklog(tmp_path)
    image = _terminal_frame([f"token {SECRETS['GITHUB_TOKEN']}"])
    handle = backlog.park({"t": 1, "source": "screen", "kind": "frame", "data": {}}, image)
    raw = Path(f"/proc/self/fd/{backlog._fd}").read_bytes()
    assert len(raw) == handle[1] and image.tobytes()[:4096] not in raw
    with pytest.raises(zlib.error):  # sealed, not merely compressed
        zlib.decompress(raw)
    assert list(tmp_path.iterdir()) == []
    event, back = backlog.take(handle)
    assert event["t"] == 1 and np.array_equal(back, image)
    backlog.close()
