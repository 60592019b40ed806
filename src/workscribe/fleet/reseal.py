"""Re-sealing a closed segment for upload: the same records, sealed with the segment's data key.

A device uploads a segment *re-sealed*: its header, event batches, video packets and footer, in the
same order and the same spool format, written by the spool's own ``SegmentWriter`` under a fresh
data key ``K_s`` instead of the device's spool key (docs/fleet.md). Whoever holds ``K_s`` reads the
object with the ordinary spool reader (``read_resealed``), so exports made centrally are the local
exports byte for byte: payloads are copied, not re-encoded, and the file keeps its segment name.

Only whole segments are re-sealed: a segment still being written, torn by a crash or with a damaged
record is refused (``ResealError``), so an uploaded object is never a partial copy.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from workscribe.spool.reader import Segment, Spool, SpoolReadError, open_segment
from workscribe.spool.writer import SegmentWriter


class ResealError(ValueError):
    """A segment cannot be re-sealed: unreadable with the spool key, not closed, or damaged."""


def reseal_to(path: Path, spool_key: bytes, data_key: bytes, out: Path) -> None:
    """Writes the segment ``path`` (sealed with ``spool_key``) re-sealed with ``data_key`` to the new
    file ``out`` (owner-only); nothing is left at ``out`` if it fails.

    Raises:
        ResealError: the segment cannot be read with ``spool_key``, has no footer (open, or torn by a
            crash) or has a damaged record.
        FileExistsError: ``out`` exists.
    """
    segment = _whole_segment(Path(path), spool_key)
    assert segment.footer is not None
    writer = SegmentWriter(Path(out), segment.header, data_key)
    try:
        for rtype, payload in segment.records():
            writer.write(rtype, payload)
        if segment.problems:  # a record that did not decrypt
            raise ResealError(f"{segment.path.name}: {segment.problems[0]}")
        writer.close(segment.footer)
    except BaseException:
        writer.abandon()
        raise


def reseal_segment(path: Path, spool_key: bytes, data_key: bytes) -> bytes:
    """The bytes of the segment ``path`` re-sealed with ``data_key`` (see ``reseal_to``; held in memory:
    for large segments, ``reseal_to`` a staging file).

    Raises:
        ResealError: as for ``reseal_to``.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="workscribe-reseal-") as tmp:
        out = Path(tmp) / path.name
        reseal_to(path, spool_key, data_key, out)
        return out.read_bytes()


def open_resealed(path: Path, data_key: bytes) -> Segment:
    """One re-sealed segment file, opened with its data key by the ordinary reader.

    Raises:
        SpoolReadError: not a segment, or ``data_key`` is not its key.
    """
    return open_segment(Path(path), data_key)


def read_resealed(folder: Path, data_keys: Iterable[bytes]) -> Spool:
    """A folder of re-sealed segments (named as on the device), each opened with the one of
    ``data_keys`` its envelope names; ``export(..., keys=data_keys)`` exports it the same way.

    Raises:
        SpoolReadError: the folder holds no segment these keys open.
    """
    return Spool(Path(folder), keys=data_keys)


def _whole_segment(path: Path, spool_key: bytes) -> Segment:
    """The segment ``path`` opened with ``spool_key``, if it is closed and undamaged."""
    try:
        segment = open_segment(path, spool_key)
    except SpoolReadError as exc:
        raise ResealError(str(exc)) from None
    if not segment.complete:
        raise ResealError(f"{path.name}: no footer (still being written, or torn by a crash): not re-sealed")
    if segment.problems:
        raise ResealError(f"{path.name}: {segment.problems[0]}: not re-sealed")
    return segment
