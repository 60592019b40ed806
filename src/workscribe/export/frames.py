"""Frames for exports: each segment's H.264 stream is decoded once, in order, and only what is asked.

An export walks its episodes in time order and asks for their frames. ``FrameStore`` is told up front
which frames of a recording will be wanted (``want``); the first request for a frame of a segment
decodes that segment once, keeping only the wanted frames, as PNG bytes; it keeps the frames of the
``keep_segments`` most recently decoded segments (an episode's last frames may lie in the next
segment), so memory stays bounded whatever the length of the recording.

PNG encoding is lossless and deterministic (same pixels, same bytes), so exports are byte-identical.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from PIL import Image

from workscribe.spool.reader import Spool, SpoolReadError


def png_bytes(rgb: np.ndarray, compress_level: int = 6) -> bytes:
    """Lossless PNG of an RGB array (no timestamps or other varying metadata)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


class FrameStore:
    """Decoded frames of one spool, by reference (``"<segment>#<id>"``)."""

    def __init__(self, spool: Spool, keep_segments: int = 2) -> None:
        self.spool = spool
        self.keep_segments = keep_segments
        self._wanted: dict[str, set[int]] = {}
        self._decoded: OrderedDict[str, dict[int, bytes]] = OrderedDict()  # PNG bytes
        self.decoded_segments = 0

    def want(self, refs: Iterable[str | None]) -> None:
        """Announces frames that will be asked for (others are skipped when decoding)."""
        for ref in refs:
            if ref:
                name, _, fid = ref.rpartition("#")
                self._wanted.setdefault(name, set()).add(int(fid))

    def rgb(self, ref: str) -> np.ndarray:
        """The frame ``ref`` as an RGB array; ``SpoolReadError`` if the spool does not hold it."""
        return np.asarray(Image.open(io.BytesIO(self.png(ref))).convert("RGB"))

    def available(self, ref: str | None) -> bool:
        """True if frame ``ref`` can be decoded (decoding its segment if needed)."""
        if not ref:
            return False
        try:
            self.png(ref)
        except SpoolReadError:
            return False
        return True

    def png(self, ref: str) -> bytes:
        """The frame ``ref`` as PNG bytes; ``SpoolReadError`` if the spool does not hold it."""
        name, _, fid_text = ref.rpartition("#")
        if not fid_text.isdigit():
            raise SpoolReadError(f"bad frame reference {ref!r}")
        fid = int(fid_text)
        frames = self._decoded.get(name)
        if frames is None or fid not in frames:
            frames = self._decode(name, fid)
        self._decoded.move_to_end(name)
        if fid not in frames:
            raise SpoolReadError(f"frame {ref} cannot be decoded (damaged segment?)")
        return frames[fid]

    def _decode(self, name: str, fid: int) -> dict[int, bytes]:
        segment = next((s for s in self.spool.segments if s.name == name), None)
        if segment is None:
            raise SpoolReadError(f"no segment {name} in {self.spool.folder}")
        wanted = self._wanted.setdefault(name, set())
        wanted.add(fid)
        frames = {i: png_bytes(rgb) for i, rgb in segment.iter_frames(set(wanted))}
        self.decoded_segments += 1
        self._decoded[name] = frames
        while len(self._decoded) > self.keep_segments:
            self._decoded.popitem(last=False)
        return frames
