"""Synthetic spools in the real format: hours of plausible work written in seconds.

For benchmarks (``workscribe bench process`` needs an 8-hour spool) and for tests of the dataset
exports, which need many episodes with frames. The spool is written with the same segment writer,
cipher and H.264 encoder as the recorder, on a simulated clock, and is a pure function of ``seed``
(recording id included), apart from the random per-segment nonce prefix.

The mix follows what a person at a workstation produces: pointer motion at 60 Hz while the hand is on
the mouse (the bulk of the events), about one action a second while active (clicks, double and right
clicks, drags, scrolls, typing at about 6 characters a second, keys, hotkeys), app switches every few
minutes, idle pauses, ``task`` marks around tasks of 5 to 30 minutes, and ``before``/``after``/
``change`` frame events as the recorder persists them. With ``frames=True`` every frame event has a
small rendered image (its number and the pointer drawn in it); without, frame events name images that
are not stored, which is enough for processing that does not decode pixels. ``screen_bytes_per_s``
instead stores, with each frame event, random bytes standing in for the video the recorder would have
stored since the previous frame (video is incompressible too): segments of a real recording's size for
the fleet's benchmarks and fault tests, which never decode pixels. Their header names the codec
``synthetic-noise`` so that nothing mistakes them for video.
"""

from __future__ import annotations

import json
import random
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workscribe import __version__
from workscribe.events import Event
from workscribe.redact.text import RULESET_VERSION
from workscribe.spool import format as fmt
from workscribe.spool.video import FrameEncoder
from workscribe.spool.writer import SegmentWriter, frame_record

T0 = 1_000_000_000_000  # simulated monotonic clock at the start (ns)
WALL0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z (ns)
APPS = (("xterm", "XTerm", "bash: ~/src/app"), ("firefox", "Firefox", "Dashboard - Mozilla Firefox"),
        ("code", "Code", "main.py - app - Visual Studio Code"))
WORDS = ("make", "test", "git", "status", "commit", "fix", "login", "redirect", "cd", "src", "ls", "grep",
         "python", "the", "and", "user", "build", "deploy", "review", "main")


@dataclass
class _Seg:
    writer: SegmentWriter
    start: int
    encoder: FrameEncoder | None = None
    next_id: int = 0
    events: int = 0


class SyntheticSpool:
    """Writes one synthetic recording (see the module docstring)."""

    def __init__(self, out: Path, key: bytes, seed: int = 0, frames: bool = False,
                 size: tuple[int, int] = (320, 200), segment_s: float = 300.0,
                 contributor: str = "synthetic-contributor", screen_bytes_per_s: float = 0.0) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.spool_key = key
        self.rng = random.Random(seed)
        self.frames = frames
        self.screen_bytes_per_s = 0.0 if frames else screen_bytes_per_s
        self.size = size
        self.segment_ns = int(segment_s * 1e9)
        self.recording_id = uuid.UUID(int=self.rng.getrandbits(128), version=4).hex
        self.contributor = contributor
        self.t = T0
        self.last_frame_t = T0
        self.x, self.y = size[0] // 2, size[1] // 2
        self.app = 0
        self.batch: list[Event] = []
        self.seq = 0
        self.seg: _Seg | None = None
        self.counts: dict[str, int] = {"events": 0, "actions": 0, "frames": 0, "segments": 0, "tasks": 0}
        self.task_id = 0
        self._open()

    # -- writing ---------------------------------------------------------------------------------
    def _open(self) -> None:
        self.seq += 1
        wall = WALL0 + (self.t - T0)
        name = fmt.SEGMENT_NAME.format(wall=f"synthetic{self.seq:06d}", recording=self.recording_id[:8],
                                       seq=self.seq)
        codec = "synthetic-noise" if self.screen_bytes_per_s else "h264-rgb"
        header = {"recording_id": self.recording_id, "seq": self.seq, "wall_start_ns": wall,
                  "t_start": self.t, "clock": "monotonic_ns", "codec": codec, "recorder_version": __version__,
                  "consent": {"contributor_id": self.contributor, "apps": [a[0] for a in APPS],
                              "sources": ["input", "screen", "window"], "policy_version": 1,
                              "retention_days": 30},
                  "display_fps": 5.0, "redaction": {"text": RULESET_VERSION, "pixels": "synthetic"},
                  "synthetic": True}
        self.seg = _Seg(SegmentWriter(self.out / name, header, self.spool_key), self.t)
        self.counts["segments"] += 1

    def _flush(self) -> None:
        assert self.seg is not None
        if self.batch:
            payload = zlib.compress(json.dumps(self.batch, separators=(",", ":")).encode(), 6)
            self.seg.writer.write(fmt.EVENTS, payload)
            self.seg.events += len(self.batch)
            self.counts["events"] += len(self.batch)
            self.batch = []

    def _close_segment(self) -> None:
        assert self.seg is not None
        self._flush()
        if self.seg.encoder is not None:
            for packet, key in self.seg.encoder.close():
                self.seg.writer.write(fmt.PACKET, frame_record(self.seg.next_id - 1, key, packet))
        self.seg.writer.close({"events": self.seg.events, "frames": self.seg.next_id, "frames_dropped": 0,
                               "closed_t": self.t})
        self.seg = None

    def _roll_if_due(self) -> None:
        assert self.seg is not None
        if self.t - self.seg.start >= self.segment_ns:
            self._close_segment()
            self._open()

    def emit(self, source: str, kind: str, data: dict[str, Any]) -> None:
        self._roll_if_due()
        assert self.seg is not None
        self.batch.append({"t": self.t, "source": source, "kind": kind, "data": data})
        if len(self.batch) >= 500:
            self._flush()

    def frame(self, reason: str) -> None:
        self._roll_if_due()  # the image and its event go to the same segment
        assert self.seg is not None
        fid = self.seg.next_id
        if self.frames:
            w, h = self.size
            if self.seg.encoder is None:
                self.seg.encoder = FrameEncoder(w, h)
            image = self._render(fid)
            for packet, key in self.seg.encoder.encode(image):
                self.seg.writer.write(fmt.PACKET, frame_record(fid, key, packet))
        elif self.screen_bytes_per_s:
            size = int(self.screen_bytes_per_s * (self.t - self.last_frame_t) / 1e9)
            self.seg.writer.write(fmt.PACKET, frame_record(fid, fid == 0, self.rng.randbytes(max(1, size))))
        self.last_frame_t = self.t
        self.seg.next_id += 1
        self.counts["frames"] += 1
        self.emit("screen", "frame", {"id": fid, "reason": reason, "w": self.size[0], "h": self.size[1]})

    def _render(self, fid: int) -> np.ndarray:
        w, h = self.size
        img = np.full((h, w, 4), 255, np.uint8)
        img[: h // 8, :, :3] = (60 + 60 * self.app, 90, 160)  # a title bar per app
        bits = fid % 4096
        for b in range(12):  # the frame number as a bar code, so every frame differs
            if bits >> b & 1:
                img[h // 4: h // 4 + 12, 10 + b * 10: 18 + b * 10, :3] = 0
        x, y = min(w - 4, self.x), min(h - 4, self.y)
        img[y:y + 4, x:x + 4, :3] = (0, 0, 255)
        return img

    def close(self) -> dict[str, int]:
        """Closes the last segment; returns what was written."""
        if self.task_id and self._task_open:
            self.task_end()
        self._close_segment()
        return dict(self.counts)

    # -- behaviour -------------------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        self.t += int(seconds * 1e9)

    _task_open = False

    def task_start(self) -> None:
        self.task_id += 1
        self._task_open = True
        self.counts["tasks"] += 1
        title = f"{self.rng.choice(WORDS).capitalize()} the {self.rng.choice(WORDS)} {self.rng.choice(WORDS)}"
        self.emit("task", "start", {"id": self.task_id, "title": title, "ticket": f"ABC-{self.task_id}"})

    def task_end(self) -> None:
        self._task_open = False
        outcome = self.rng.choice(("success", "success", "success", "fail", None))
        self.emit("task", "end", {"id": self.task_id, "outcome": outcome})

    def switch_app(self) -> None:
        self.app = (self.app + self.rng.randint(1, len(APPS) - 1)) % len(APPS)
        name, cls, title = APPS[self.app]
        w, h = self.size
        self.emit("window", "active", {"id": 100 + self.app, "title": title, "instance": name, "class": cls,
                                       "pid": 1000 + self.app, "process": name, "x": 0, "y": 0,
                                       "w": w, "h": h,
                                       "app": name})

    def move(self, x: int, y: int, seconds: float) -> None:
        steps = max(1, int(seconds * 60))
        x0, y0 = self.x, self.y
        for i in range(1, steps + 1):
            self.wait(1 / 60)
            self.x, self.y = x0 + (x - x0) * i // steps, y0 + (y - y0) * i // steps
            self.emit("input", "motion", {"x": self.x, "y": self.y})

    def _button(self, kind: str, button: int) -> None:
        self.emit("input", kind, {"button": button, "x": self.x, "y": self.y})

    def key(self, name: str, text: str | None, mods: list[str] | None = None) -> None:
        code = 10 + zlib.crc32(name.encode()) % 80
        self.emit("input", "key_press", {"keycode": code, "keysym": 0, "key": name, "text": text,
                                         "mods": mods or [], "x": self.x, "y": self.y})
        self.wait(0.06)
        self.emit("input", "key_release", {"keycode": code, "keysym": 0, "key": name})

    def action(self) -> None:
        """One action of a random kind, with the frames the recorder would persist around it."""
        rng, (w, h) = self.rng, self.size
        kind = rng.choices(("click", "double", "right", "drag", "scroll", "type", "key", "hotkey"),
                           (40, 6, 3, 4, 10, 22, 10, 5))[0]
        if kind in ("click", "double", "right", "drag", "scroll"):
            self.move(rng.randrange(w), rng.randrange(h), rng.uniform(0.2, 0.6))
        self.frame("before")
        if kind in ("click", "double", "right"):
            for _ in range(2 if kind == "double" else 1):
                self._button("button_press", 3 if kind == "right" else 1)
                self.wait(0.08)
                self._button("button_release", 3 if kind == "right" else 1)
                self.wait(0.12)
        elif kind == "drag":
            self._button("button_press", 1)
            self.move(rng.randrange(w), rng.randrange(h), 0.5)
            self._button("button_release", 1)
        elif kind == "scroll":
            for _ in range(rng.randint(1, 6)):
                self.emit("input", "scroll",
                          {"dx": 0, "dy": rng.choice((1, 1, -1)), "x": self.x, "y": self.y})
                self.wait(0.05)
        elif kind == "type":
            for ch in " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))):
                self.key("space" if ch == " " else ch, ch)
                self.wait(rng.uniform(0.08, 0.2))
        elif kind == "key":
            self.key(rng.choice(("Return", "Tab", "Escape", "BackSpace", "Down")), None)
        else:
            self.key(rng.choice(("c", "v", "s", "t", "z")), None, ["ctrl"])
        self.wait(rng.uniform(0.1, 0.25))
        self.frame("after")
        self.counts["actions"] += 1

    def run(self, seconds: float, progress: Callable[[float], None] | None = None) -> None:
        """Simulates ``seconds`` of work."""
        end = self.t + int(seconds * 1e9)
        self.switch_app()
        self.frame("change")
        next_task = self.t + int(self.rng.uniform(60, 300) * 1e9)
        task_end = 0
        last_report = self.t
        while self.t < end:
            if not self._task_open and self.t >= next_task:
                self.task_start()
                task_end = self.t + int(self.rng.uniform(300, 1800) * 1e9)
            elif self._task_open and self.t >= task_end:
                self.task_end()
                next_task = self.t + int(self.rng.uniform(60, 600) * 1e9)
            r = self.rng.random()
            if r < 0.01:
                self.switch_app()
                self.frame("change")
            elif r < 0.012:
                self.wait(self.rng.uniform(30, 240))  # away from the desk
            elif r < 0.03:
                self.move(self.rng.randrange(self.size[0]), self.rng.randrange(self.size[1]), 1.0)  # moving
            else:
                self.action()
                self.wait(self.rng.expovariate(1 / 0.15))
            if progress and self.t - last_report >= 60e9:
                progress((self.t - T0) / 1e9)
                last_report = self.t


def write_synthetic_spool(out: Path, key: bytes, hours: float, seed: int = 0, frames: bool = False,
                          size: tuple[int, int] = (320, 200), segment_s: float = 300.0,
                          contributor: str = "synthetic-contributor",
                          progress: Callable[[float], None] | None = None,
                          screen_bytes_per_s: float = 0.0) -> dict[str, Any]:
    """Writes ``hours`` of synthetic work into the spool ``out``; returns counts and the recording id."""
    spool = SyntheticSpool(out, key, seed, frames, size, segment_s, contributor, screen_bytes_per_s)
    spool.run(hours * 3600, progress)
    counts = spool.close()
    return {"recording_id": spool.recording_id, **counts}
