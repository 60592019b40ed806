"""Screen frames as an H.264 stream of packets, without a container.

Each persisted frame is encoded at once (``tune=zerolatency``: no B-frames, no look-ahead), so its
packet can be appended to the segment immediately and nothing waits in an encoder buffer when the
recorder is killed. The segment file is the container: a packet record carries the frame id and
a keyframe flag, and a reader seeks to the last keyframe at or before the frame it wants.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np

CODEC = "h264"


class FrameEncoder:
    """Encodes BGRA screen images into H.264 packets, one packet per image."""

    def __init__(self, width: int, height: int, crf: int = 26, keyint: int = 60,
                 preset: str = "ultrafast") -> None:
        self.width, self.height = width, height
        # YUV 4:4:4: no chroma subsampling, so small coloured text stays legible, and screens code
        # about 8 times smaller than in x264's RGB mode for the same CPU. A wide motion search
        # (UMH, 256 pixels) finds a terminal's or a page's scroll, so a scrolled screen costs what
        # scrolled into it; CABAC takes another fifth off. Measured on terminal, typing and page
        # frames at 1280x800: about 15 ms a frame, as ultrafast RGB took.
        self._cc = av.CodecContext.create("libx264", "w")
        self._cc.width, self._cc.height = width, height
        self._cc.pix_fmt = "yuv444p"
        self._cc.time_base = Fraction(1, 1000)
        self._cc.thread_count = 1
        self._cc.options = {"preset": preset, "tune": "zerolatency", "crf": str(crf),
                            "keyint": str(keyint), "bf": "0",
                            "x264-params": "me=umh:merange=256:subme=2:ref=1:cabac=1"}
        self._pts = 0

    def encode(self, bgra: np.ndarray) -> list[tuple[bytes, bool]]:
        """Encodes one ``(height, width, 4)`` BGRA image; returns ``[(packet, is_keyframe)]``."""
        # Filling a frame's plane is much cheaper than VideoFrame.from_ndarray (measured 5 ms less).
        frame = av.VideoFrame(self.width, self.height, "bgr0")
        frame.planes[0].update(np.ascontiguousarray(bgra))
        frame = frame.reformat(format="yuv444p")
        frame.pts = self._pts
        self._pts += 1
        return [(bytes(p), bool(p.is_keyframe)) for p in self._cc.encode(frame)]

    def close(self) -> list[tuple[bytes, bool]]:
        """Drains the encoder (empty with zerolatency, kept for codecs that buffer)."""
        try:
            return [(bytes(p), bool(p.is_keyframe)) for p in self._cc.encode(None)]
        except Exception:  # an encoder that never received a frame has nothing to drain
            return []


def decode_packets(packets: Iterable[tuple[int, bool, bytes]], wanted: set[int] | None = None,
                   ) -> dict[int, np.ndarray]:
    """Decodes ``(frame_id, keyframe, packet)`` in stream order into RGB arrays.

    Decoding starts at the first keyframe; only frames in ``wanted`` (all if None) are kept.
    """
    return dict(iter_decoded(packets, wanted))


def iter_decoded(packets: Iterable[tuple[int, bool, bytes]], wanted: set[int] | None = None,
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """``decode_packets`` one frame at a time: ``(frame_id, rgb)`` of the ``wanted`` frames, in order."""
    cc = av.CodecContext.create(CODEC, "r")
    started = False
    last = max(wanted) if wanted else None
    for frame_id, keyframe, data in packets:
        if not started:
            if not keyframe:
                continue
            started = True
        for frame in cc.decode(av.Packet(data)):
            if wanted is None or frame_id in wanted:
                yield frame_id, frame.to_ndarray(format="rgb24")
        if last is not None and frame_id >= last:
            break
