"""Spools to dataset episodes: what every export reads, in one deterministic order.

``read_dataset(folders)`` opens each spool (deleted recordings are already gone: the reader honours
tombstones), and for each recording runs ``observe`` and ``cut_episodes`` and turns the episodes
into plain dicts that exporters write as they are:

episode: ``episode_id`` (``<session>-<index>``), ``session`` (first 8 hex of the recording id),
``recording_id``, ``contributor`` (the pseudonym), ``index``, ``task``, ``ticket``, ``outcome``,
``cut``, ``apps``, ``start`` (UTC, ISO 8601), ``duration_s``, ``versions`` and ``steps``.

step (``STEP_FIELDS``): ``episode_id``, ``step`` (0, 1, ...), ``t`` (s since the episode's start),
``duration_s``, the action (``type``, ``x``, ``y``, ``x2``, ``y2``, ``button``, ``text``, ``keys``,
``dx``, ``dy``) and its observation (``app``, ``window``, ``pointer_x``, ``pointer_y``,
``screen_w``, ``screen_h``, ``browser`` (the page snapshot or None), ``frame``, ``frame_after``,
``frame_age_s``: how old the frame was when the action started).

Coding exports (``coding=True``) read the same episodes but keep only those with a ``command``,
``edit`` or ``git`` step, keep every step whether it has a frame or not, and add to each step
``CODING_FIELDS`` (``cwd``, ``exit_code``, ``output``, ``path``, ``diff``, ``detail``) and to each
episode ``repo``, ``base`` (HEAD when it began) and ``commit`` (the commit that ended it). Screen
exports leave coding steps out.

A step without an observation frame (the first action after a gap, a frame dropped under load)
cannot be learnt from; it is left out and counted in ``stats["steps_without_frame"]``. Every
problem found on the way (a torn or damaged segment) is one line in ``problems``, naming its file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workscribe.process.episodes import IDLE_S, cut_episodes, observe
from workscribe.process.reduce import CODING_TYPES, ReduceConfig
from workscribe.spool.reader import Spool, SpoolReadError

ACTION_FIELDS: tuple[str, ...] = ("type", "x", "y", "x2", "y2", "button", "text", "keys", "dx", "dy")
"""The fields of an action, as scored by ``workscribe score``."""

STEP_FIELDS: tuple[str, ...] = (
    "episode_id", "step", "t", "duration_s", *ACTION_FIELDS,
    "app", "window", "pointer_x", "pointer_y", "screen_w", "screen_h", "browser", "frame", "frame_after",
    "frame_age_s",
)  # fmt: skip
"""The fields of every step, in this order."""

CODING_FIELDS: tuple[str, ...] = ("cwd", "exit_code", "output", "path", "diff", "detail")
"""What coding steps add to ``STEP_FIELDS`` in coding exports."""

SPLITS = ("train", "validation")


def action_of(step: dict[str, Any]) -> dict[str, Any]:
    """The action of a step: only ``ACTION_FIELDS``, None where they do not apply."""
    return {k: step.get(k) for k in ACTION_FIELDS}


@dataclass
class Dataset:
    """The episodes read from one or more spools, with what was skipped on the way."""

    folders: list[Path]
    spools: list[Spool] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)


def open_dataset(folders: list[Path], key: bytes | None = None, keys: Iterable[bytes] = ()) -> Dataset:
    """Opens every spool of ``folders`` (``key`` and ``keys`` as for ``Spool``); a folder that cannot be
    read at all raises ``SpoolReadError``."""
    ds = Dataset([Path(f) for f in folders])
    keys = list(keys)
    for folder in ds.folders:
        spool = Spool(folder, key=key, keys=keys)
        ds.spools.append(spool)
        ds.stats["segments_skipped"] += len(spool.skipped)
        ds.stats["recordings_deleted_segments"] += spool.deleted_segments
    return ds


def iter_recordings(ds: Dataset) -> Iterator[tuple[int, list[Any]]]:
    """``(spool index, segments)`` of every recording, ordered by recording id (stable across copies)."""
    items = [(seg[0].header["recording_id"], i, seg) for i, spool in enumerate(ds.spools)
             for seg in spool.recordings()]
    seen: set[str] = set()
    for rid, i, segments in sorted(items, key=lambda x: (x[0], x[1])):
        if rid in seen:  # the same recording in two folders (a copy): read once
            continue
        seen.add(rid)
        yield i, segments


def iter_episodes(ds: Dataset, idle_s: float = IDLE_S, config: ReduceConfig | None = None,
                  coding: bool | None = False) -> Iterator[dict[str, Any]]:
    """Every episode of every recording, recording by recording, each in order of start (``coding``:
    as for ``recording_episodes``)."""
    for i, segments in iter_recordings(ds):
        spool = ds.spools[i]
        yield from recording_episodes(spool, segments, idle_s, config, ds.stats, i, coding)
        for problem in spool.problems:
            if problem not in ds.problems:
                ds.problems.append(problem)


def recording_episodes(spool: Spool, segments: list[Any], idle_s: float = IDLE_S,
                       config: ReduceConfig | None = None, stats: Counter[str] | None = None,
                       spool_index: int = 0, coding: bool | None = False) -> Iterator[dict[str, Any]]:
    """The episodes of one recording as dicts (see the module docstring). ``coding`` False: screen
    steps with frames (screen exports); True: episodes of coding work, every step kept (coding
    exports); None: every episode with every step (``workscribe review``)."""
    stats = stats if stats is not None else Counter()
    head = segments[0].header
    rid = head["recording_id"]
    session = rid[:8]
    consent = head.get("consent") or {}
    versions = {"recorder": head.get("recorder_version"), "redaction": head.get("redaction"),
                "policy": consent.get("policy_version")}
    stats["recordings"] += 1
    for ep in cut_episodes(observe(spool.iter_events(segments), config), idle_s):
        episode_id = f"{session}-{ep.index:04d}"
        t0 = ep.start
        if coding and not ep.coding:
            continue
        steps = []
        for s in ep.steps:
            if coding is False and s["type"] in CODING_TYPES:
                continue  # screen exports: coding steps have their own formats
            if coding is False and s["frame"] is None:
                stats["steps_without_frame"] += 1
                continue
            step = {"episode_id": episode_id, "step": len(steps), "t": round((s["t"] - t0) / 1e9, 3),
                    "duration_s": round((s["t_end"] - s["t"]) / 1e9, 3)}
            for k in STEP_FIELDS[4:-1]:
                step[k] = s.get(k)
            age = s["t"] - s["frame_t"] if s["frame_t"] is not None else None
            step["frame_age_s"] = round(age / 1e9, 3) if age is not None else None
            if coding is not False:
                step.update({k: s.get(k) for k in CODING_FIELDS})
            steps.append(step)
        if not steps:
            if not ep.coding:
                stats["episodes_without_frames"] += 1
            continue
        stats["episodes"] += 1
        stats["steps"] += len(steps)
        wall = head["wall_start_ns"] + (t0 - head["t_start"])
        yield {
            "episode_id": episode_id, "session": session, "recording_id": rid,
            "contributor": consent.get("contributor_id") or "unknown", "index": ep.index,
            "task": ep.task, "ticket": ep.ticket, "outcome": ep.outcome, "cut": ep.cut, "apps": ep.apps,
            "start": datetime.fromtimestamp(wall / 1e9, UTC).isoformat(timespec="milliseconds"),
            "duration_s": round((ep.end - t0) / 1e9, 3), "versions": versions, "steps": steps,
            "_spool": spool_index,
            **({"repo": ep.repo, "base": ep.base, "commit": ep.commit} if coding is not False else {}),
        }


def split_of(key: str, val_fraction: float) -> str:
    """``train`` or ``validation`` for a split key (a session or contributor id), stable everywhere."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "validation" if h < val_fraction else "train"


def assign_splits(keys: list[str], val_fraction: float) -> dict[str, str]:
    """The split of each key: a single key is train; with two or more and ``val_fraction`` > 0, at least
    one is validation.

    Whole sessions or contributors go to one side, never single frames or steps.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    out = {k: split_of(k, val_fraction) for k in sorted(set(keys))}
    if len(out) < 2:  # one session or contributor: it is all the training data there is
        return dict.fromkeys(out, "train")
    if val_fraction > 0 and "validation" not in out.values():
        lowest = min(out, key=lambda k: hashlib.sha256(k.encode()).digest())
        out[lowest] = "validation"
    return out


__all__ = ["ACTION_FIELDS", "CODING_FIELDS", "STEP_FIELDS", "SPLITS", "Dataset", "SpoolReadError",
           "action_of", "assign_splits",
           "iter_episodes", "open_dataset", "recording_episodes", "split_of"]
