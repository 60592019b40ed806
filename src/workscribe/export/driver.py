"""``export``: spools to a dataset folder in a format trainers load as it is.

One driver, one writer per format. The driver reads the spools recording by recording (deleted
recordings are never read: the reader honours tombstones), cuts episodes, assigns each session or
contributor wholly to train or validation, and hands the writer of the format one episode at a
time with a ``FrameStore`` that decodes its frames. The formats, their options (``ExportOptions``) and the
``Writer`` protocol they implement are in ``export.formats``.

Exports are deterministic: recordings in order of id, episodes in order of start, no clocks, no
random numbers, so the same spools give byte-identical files. ``workscribe_export.json`` in the
output names the versions of the recorder and the redaction that produced the data, the split
rule and what was skipped.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from workscribe import __version__
from workscribe.export.formats import (
    CODING_FORMATS,
    FORMATS,
    SCREEN_FORMATS,
    SPLIT_BY,
    ExportError,
    ExportOptions,
    make_writer,
)
from workscribe.export.frames import FrameStore
from workscribe.export.source import (
    Dataset,
    assign_splits,
    iter_recordings,
    open_dataset,
    recording_episodes,
)

REPORT_FILE = "workscribe_export.json"


def export(folders: list[Path], out: Path, options: ExportOptions, key: bytes | None = None,
           progress: Callable[[float], None] | None = None, warn: Callable[[str], None] | None = None,
           keys: Iterable[bytes] = ()) -> dict[str, Any]:
    """Exports the spools ``folders`` to ``out`` (replaced if it is an earlier export).

    Args:
        key: the spool key (default: the device's own).
        progress: called with the fraction done, after each episode.
        warn: called with each problem (a skipped segment or record), one line naming its file.
        keys: further keys, each opening the segments whose envelope names it (fleet data keys).

    Returns:
        The report also written to ``out/workscribe_export.json``.

    Raises:
        ExportError: an output folder that is not an earlier export (``ExportOptions`` checks the options
            when it is made).
        SpoolReadError: a folder holds no readable spool.
    """
    ds = open_dataset(folders, key, keys)
    for problem in ds.problems + [s for spool in ds.spools for s in spool.skipped]:
        if warn:
            warn(problem)
    recordings = list(iter_recordings(ds))
    keys = {segs[0].header["recording_id"]: _split_key(segs[0].header, options.split_by)
            for _, segs in recordings}
    splits = assign_splits(list(keys.values()), options.val_fraction)
    _prepare(out)
    writer = make_writer(out, options)
    coding = options.kind == "coding"
    counts: dict[str, dict[str, int]] = {s: {"episodes": 0, "steps": 0} for s in ("train", "validation")}
    versions: dict[str, set[str]] = {"recorder": set(), "redaction": set()}
    seen_problems = set(ds.problems)
    for done, (i, segments) in enumerate(recordings):
        spool = ds.spools[i]
        split = splits[keys[segments[0].header["recording_id"]]]
        episodes = list(recording_episodes(spool, segments, options.idle_s, stats=ds.stats, spool_index=i,
                                           coding=coding))
        frames = FrameStore(spool)
        if not coding:  # coding formats hold no pixels
            frames.want(ref for ep in episodes for s in ep["steps"] for ref in (s["frame"], s["frame_after"]))
        for n, ep in enumerate(episodes):
            ep = ep if coding else _decodable(ep, frames, ds.stats)
            if ep is None:
                continue
            writer.add(ep, split, frames)
            if progress:
                progress((done + (n + 1) / len(episodes)) / len(recordings))
            counts[split]["episodes"] += 1
            counts[split]["steps"] += len(ep["steps"])
            versions["recorder"].add(str(ep["versions"]["recorder"]))
            versions["redaction"].add(json.dumps(ep["versions"]["redaction"], sort_keys=True))
        for problem in spool.problems:
            if problem not in seen_problems:
                seen_problems.add(problem)
                ds.problems.append(problem)
                if warn:
                    warn(problem)
    report = {
        "format": options.format, "exporter_version": __version__,
        "options": options.reported(),
        "splits": counts,
        "episodes": sum(c["episodes"] for c in counts.values()),
        "steps": sum(c["steps"] for c in counts.values()),
        "recordings": len(recordings),
        "recorder_versions": sorted(versions["recorder"]),
        "redaction_versions": [json.loads(v) for v in sorted(versions["redaction"])],
        "skipped": {"segments": ds.stats["segments_skipped"], "problems": sorted(set(ds.problems)),
                    "steps_without_frame": ds.stats["steps_without_frame"],
                    "deleted_segments": ds.stats["recordings_deleted_segments"]},
        **writer.close(),
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return report


def _decodable(episode: dict[str, Any], frames: FrameStore, stats: Any) -> dict[str, Any] | None:
    """The episode without steps whose frame cannot be decoded (a damaged segment); None if none is left."""
    steps = []
    for step in episode["steps"]:
        if not frames.available(step["frame"]):
            stats["steps_without_frame"] += 1
            continue
        if step["frame_after"] and not frames.available(step["frame_after"]):
            step = {**step, "frame_after": None}
        steps.append({**step, "step": len(steps)})
    return {**episode, "steps": steps} if steps else None


def _split_key(header: dict[str, Any], split_by: str) -> str:
    if split_by == "contributor":
        return (header.get("consent") or {}).get("contributor_id") or "unknown"
    return header["recording_id"]


def _prepare(out: Path) -> None:
    """Empties ``out`` if it is an earlier export; refuses any other non-empty folder."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        if not (out / REPORT_FILE).exists():
            raise ExportError(f"{out} is not empty and not an earlier export; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


__all__ = ["CODING_FORMATS", "FORMATS", "REPORT_FILE", "SCREEN_FORMATS", "SPLIT_BY", "Dataset", "ExportError",
           "ExportOptions", "export"]
