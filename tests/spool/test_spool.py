"""Writer and reader of segments on real files: order, frames, torn tails, quota, low and full disks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import fill_disk, wait_for
from workscribe.events import make_event, now_ns
from workscribe.spool import format as fmt
from workscribe.spool.reader import Spool, SpoolReadError, open_segment
from workscribe.spool.writer import (
    SpoolConfig,
    SpoolError,
    SpoolWriteError,
    SpoolWriter,
    disk_free,
    enforce_quota,
)

KEY = bytes(range(32))


def _image(value: int, w: int = 320, h: int = 200) -> np.ndarray:
    img = np.zeros((h, w, 4), np.uint8)
    img[20:60, 10 + value:110 + value, 2] = 230  # a red bar (BGRA) that moves with value
    return img


def test_events_and_frames_round_trip(tmp_path: Path) -> None:
    w = SpoolWriter(SpoolConfig(out=tmp_path, key=KEY))
    t0 = time.monotonic_ns()
    w.put_events([make_event("input", "motion", {"x": i, "y": 2 * i}, t=t0 + i * 1000) for i in range(100)])
    for k, v in enumerate([0, 30, 30, 60]):  # the repeated image must be stored once
        w.put_frame(make_event("screen", "frame", {"reason": "change"}, t=t0 + 50_000 + k), _image(v))
    w.close()
    spool = Spool(tmp_path, key=KEY)
    assert len(spool.segments) == 1 and spool.segments[0].complete
    events = list(spool.iter_events(spool.recordings()[0]))
    assert [e["data"]["x"] for e in events if e["kind"] == "motion"] == list(range(100))
    frames = [e["data"] for e in events if e["kind"] == "frame"]
    assert [f["id"] for f in frames] == [0, 1, 1, 2]
    decoded = spool.frames([f["ref"] for f in frames])
    assert len(decoded) == 3
    img = decoded[frames[1]["ref"]]
    assert img.shape == (200, 320, 3)
    r, g, b = (int(c) for c in img[40, 60])
    assert r > 200 and g < 30 and b < 30, (r, g, b)  # red stays red: channel order is right
    assert img[100, 200].max() < 30
    summary = spool.summary()
    assert summary["events"] == {"input.motion": 100, "screen.frame": 4}
    assert summary["frames"] == 3 and summary["segments"] == 1


def test_torn_tail_reads_back_complete_records(tmp_path: Path) -> None:
    w = SpoolWriter(SpoolConfig(out=tmp_path, key=KEY))
    w.put_events([make_event("input", "motion", {"x": 1, "y": 1})])
    w.close()
    seg = next(tmp_path.glob(fmt.SEGMENT_GLOB))
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # tear the footer as a crash would
    s = open_segment(seg, KEY)
    assert not s.complete and "torn record" in s.problems[0]
    assert [e["kind"] for e in s.events()] == ["motion"]


def _two_event_records(folder: Path) -> Path:
    """A closed segment whose two motion events sit in two separate EVENTS records."""
    w = SpoolWriter(SpoolConfig(out=folder, key=KEY, flush_s=0.01))
    w.put_events([make_event("input", "motion", {"x": 1, "y": 1})])
    wait_for(lambda: w.events_written == 1, timeout=5, interval=0.005, what="the first event's record")
    w.put_events([make_event("input", "motion", {"x": 2, "y": 2})])
    w.close()
    return next(folder.glob(fmt.SEGMENT_GLOB))


def test_damaged_middle_record_is_skipped(tmp_path: Path) -> None:
    seg = _two_event_records(tmp_path)
    s = open_segment(seg, KEY)
    first_events = next(off for t, off, _ in s._index if t == fmt.EVENTS)
    data = bytearray(seg.read_bytes())
    data[first_events + 3] ^= 0xFF
    seg.write_bytes(bytes(data))
    s = open_segment(seg, KEY)
    assert [e["data"]["x"] for e in s.events()] == [2]
    assert any("checksum" in p for p in s.problems)


def test_missing_or_foreign_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpoolReadError, match="no such folder"):
        Spool(tmp_path / "nope", key=KEY)
    (tmp_path / "seg-x.wss").write_bytes(b"garbage")
    with pytest.raises(SpoolReadError, match="no readable workscribe segments"):
        Spool(tmp_path, key=KEY)


def test_second_writer_on_same_folder_is_refused(tmp_path: Path) -> None:
    w = SpoolWriter(SpoolConfig(out=tmp_path, key=KEY))
    with pytest.raises(SpoolError, match="another recorder"):
        SpoolWriter(SpoolConfig(out=tmp_path, key=KEY))
    w.close()


def test_segments_roll_and_quota_evicts_oldest(tmp_path: Path) -> None:
    warnings: list[str] = []
    w = SpoolWriter(SpoolConfig(out=tmp_path, key=KEY, segment_s=0.05, flush_s=0.01, quota_bytes=6000),
                    warn=warnings.append)
    rng = np.random.default_rng(0)
    for i in range(40):
        noise = rng.integers(0, 2**31, 300).tolist()  # incompressible: segments grow
        w.put_events([make_event("input", "motion", {"x": i, "noise": noise})])
        time.sleep(0.02)  # not a wait: events spread over 0.8 s, so 0.05 s segments roll by time
    w.close()
    names = sorted(p.name for p in tmp_path.glob(fmt.SEGMENT_GLOB))
    assert w.evicted, "nothing was evicted"
    assert all(name not in names for name, _ in w.evicted)
    assert sum(os.path.getsize(tmp_path / n) for n in names) <= 6000 + max(
        os.path.getsize(tmp_path / n) for n in names)
    assert any("evicted" in m for m in warnings)
    kinds = [e["kind"] for seg in Spool(tmp_path, key=KEY).segments for e in seg.events()]
    assert "evicted" in kinds


def test_enforce_quota_keeps_the_open_segment(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        p = tmp_path / f"seg-2026010{i}T000000-abcdef01-0000{i}.wss"
        p.write_bytes(b"x" * 1000)
        paths.append(p)
    evicted = enforce_quota(tmp_path, 1500, keep={paths[0]})
    assert [n for n, _ in evicted] == [paths[1].name, paths[2].name]
    assert paths[0].exists()


def test_segments_are_encrypted_and_need_the_right_key(tmp_path: Path) -> None:
    w = SpoolWriter(SpoolConfig(out=tmp_path, key=KEY))
    w.put_events([make_event("input", "key_press", {"text": "plaintext-marker"})])
    w.put_frame(make_event("screen", "frame", {"reason": "change"}), _image(0))
    w.close()
    seg = next(tmp_path.glob(fmt.SEGMENT_GLOB))
    raw = seg.read_bytes()
    for needle in (b"plaintext-marker", b"key_press", b"recording_id", b"consent"):
        assert needle not in raw
    assert b"AES-256-GCM" in raw  # only the envelope is plain
    with pytest.raises(SpoolReadError, match="no key"):
        open_segment(seg, None)
    with pytest.raises(SpoolReadError, match="not with the key given"):
        open_segment(seg, bytes(32))
    events = open_segment(seg, KEY).events()
    assert [e["data"]["text"] for e in events if e["kind"] == "key_press"] == ["plaintext-marker"]


def test_an_altered_sealed_record_is_skipped_not_trusted(tmp_path: Path) -> None:
    import zlib

    seg = _two_event_records(tmp_path)
    s = open_segment(seg, KEY)
    rtype, off, length = next(r for r in s._index if r[0] == fmt.EVENTS)
    data = bytearray(seg.read_bytes())
    data[off + 20] ^= 0x01
    # forge a matching CRC: only the cipher's tag can tell
    head = off - fmt.RECORD_HEAD.size
    crc = zlib.crc32(bytes(data[off:off + length]), zlib.crc32(bytes([rtype])))
    fmt.RECORD_HEAD.pack_into(data, head, fmt.MAGIC, length, crc, rtype)
    seg.write_bytes(bytes(data))
    s = open_segment(seg, KEY)
    assert [e["data"]["x"] for e in s.events()] == [2]
    assert any("does not decrypt" in p for p in s.problems)


MIB = 2**20


class SmallDisk:
    """Where a writer writes, and a way to make its free space low and to free it again: a real
    tmpfs, or (where none can be mounted) a free-space function the writer is given."""

    def __init__(self, folder: Path, real: bool) -> None:
        self.folder, self.real = folder, real
        self._free = 8 * MIB  # the injected function's answer
        self._ballast: Path | None = None

    def free_bytes(self, folder: Path) -> int:
        return disk_free(folder) if self.real else self._free

    def leave(self, n: int) -> None:
        if self.real:
            self._ballast = fill_disk(self.folder, leave=n)
        else:
            self._free = n

    def clear(self) -> None:
        if self._ballast is not None:
            self._ballast.unlink()
        self._free = 8 * MIB


@pytest.fixture(params=["tmpfs", "injected"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> SmallDisk:
    if request.param == "tmpfs":
        return SmallDisk(request.getfixturevalue("tmpfs"), real=True)
    return SmallDisk(tmp_path, real=False)


def test_a_low_disk_pauses_frames_keeps_events_and_frames_resume(small_disk: SmallDisk) -> None:
    warnings: list[str] = []
    w = SpoolWriter(SpoolConfig(out=small_disk.folder, key=KEY, flush_s=0.01, min_free_bytes=4 * MIB,
                                free_bytes=small_disk.free_bytes), warn=warnings.append)
    t0 = time.monotonic_ns()
    try:
        assert w.put_frame(make_event("screen", "frame", {}, t=t0), _image(0)) and w.disk == "ok"
        small_disk.leave(2 * MIB)
        wait_for(lambda: w.disk == "low: frames paused", timeout=5, interval=0.005, what="disk low")
        w.put_events([make_event("input", "motion", {"x": i, "y": 0}, t=t0 + i) for i in range(1, 11)])
        assert [w.put_frame(make_event("screen", "frame", {}, t=t0 + 20 + k), _image(k)) for k in range(3)] \
            == [False] * 3
        small_disk.clear()
        wait_for(lambda: w.disk == "ok", timeout=5, interval=0.005, what="disk ok")
        assert w.put_frame(make_event("screen", "frame", {}, t=now_ns()), _image(90))
    finally:
        w.close()
    assert w.frames_skipped_low_disk == 3 and w.frames_stored == 2 and w.frames_dropped == 0
    spool = Spool(small_disk.folder, key=KEY)
    events = list(spool.iter_events(spool.recordings()[0]))
    assert [e["data"]["x"] for e in events if e["kind"] == "motion"] == list(range(1, 11))
    assert len([e for e in events if e["kind"] == "frame"]) == 2
    low = [e["data"] for e in events if e["kind"] == "disk_low"]
    back = [e["data"] for e in events if e["kind"] == "disk_ok"]
    assert len(low) == 1 and low[0]["free_bytes"] < 4 * MIB and low[0]["min_free_bytes"] == 4 * MIB
    assert len(back) == 1 and back[0]["frames_skipped"] == 3 and back[0]["free_bytes"] >= 4.4 * MIB
    assert [m.split(":")[0] for m in warnings] == ["disk low", "disk space back"]


def test_the_free_space_margin_defaults_to_512_mib_or_5_percent_of_the_quota() -> None:
    assert SpoolConfig(out=Path("x"), key=KEY).min_free_bytes == 512 * MIB
    assert SpoolConfig(out=Path("x"), key=KEY, quota_bytes=100 * 1024 * MIB).min_free_bytes == 5 * 1024 * MIB
    with pytest.raises(ValueError, match="min_free_bytes"):
        SpoolConfig(out=Path("x"), key=KEY, min_free_bytes=-1)


def test_a_full_disk_is_a_write_error_at_start_and_while_writing(tmpfs: Path) -> None:
    ballast = fill_disk(tmpfs)
    with pytest.raises(SpoolWriteError, match="is full"):  # not even a segment header fits
        SpoolWriter(SpoolConfig(out=tmpfs, key=KEY, min_free_bytes=0))
    assert list(tmpfs.glob(fmt.SEGMENT_GLOB)) == []  # and no headless segment is left behind
    ballast.unlink()
    w = SpoolWriter(SpoolConfig(out=tmpfs, key=KEY, flush_s=0.01, min_free_bytes=0))
    fill_disk(tmpfs)
    rng = np.random.default_rng(0)

    def one_more() -> bool:  # events keep coming until a write fails
        if w.alive:
            w.put_events([make_event("input", "motion", {"noise": rng.integers(0, 2**31, 2000).tolist()})])
        return not w.alive

    wait_for(one_more, timeout=10, interval=0.01, what="the writer to fail on a full disk")
    with pytest.raises(SpoolWriteError, match=f"the disk holding {tmpfs} is full") as caught:
        w.close()
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, SpoolError)  # what callers that only know SpoolError still catch
