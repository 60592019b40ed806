"""What a device tells the service about a segment it uploads: a small summary in the clear.

The service can read no content, so the portal (docs/fleet.md, "Portal") shows only what the device
sends beside each object as the commit's ``meta``. ``segment_summary`` makes it on the device from the
segment, opened with the spool key before re-sealing, and keeps it minimal: when and how long, which
apps (names as the recorder stored them: the consent's allowlist entry or the window class, never a
title) with seconds and actions in each, and how many events, actions and episodes. No text, titles,
URLs, task names, keys or coordinates.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from workscribe.spool.reader import SpoolReadError, open_segment

SUMMARY_VERSION = 1
MAX_APPS = 32
"""Apps named in one summary (the ones with the most seconds); the rest are counted as ``other``."""
MAX_APP_NAME = 64

ACTION_KINDS = frozenset({("input", "key_press"), ("input", "button_press"), ("input", "scroll")})
"""Events that count as one action (a step): a key pressed, a button pressed, a scroll."""


def segment_summary(segment: Path, key: bytes) -> dict[str, Any]:
    """The summary of one closed segment, read with ``key`` (the spool key).

    Returns:
        ``{"v", "start" (wall-clock seconds of the segment's start, whole), "duration_s", "events",
        "actions", "episodes", "apps": {name: {"s": seconds active, "actions": n}}}``; ``{}`` when the
        segment cannot be read (the upload goes on without a summary).
    """
    try:
        seg = open_segment(Path(segment), key)
        events = sorted(seg.events(), key=lambda e: e["t"])
    except (SpoolReadError, OSError, ValueError):
        return {}
    header = seg.header
    t0 = int(header.get("t_start") or (events[0]["t"] if events else 0))
    end = max([t0] + [e["t"] for e in events[-1:]] + [int((seg.footer or {}).get("closed_t") or t0)])
    seconds: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    app, since, n_actions, episodes = None, t0, 0, 0
    for event in events:
        source, kind = event["source"], event["kind"]
        if source == "window" and kind == "active":
            if app is not None:
                seconds[app] += max(0, event["t"] - since)
            app, since = str(event["data"].get("app") or "unknown")[:MAX_APP_NAME], event["t"]
        elif (source, kind) in ACTION_KINDS:
            n_actions += 1
            if app is not None:  # before the segment's first window change: in the totals only
                actions[app] += 1
        elif source == "task" and kind == "start":
            episodes += 1
    if app is not None:
        seconds[app] += max(0, end - since)
    names = sorted(set(seconds) | set(actions), key=lambda a: (-seconds[a], a))
    apps: dict[str, dict[str, float | int]] = {}
    for name in names:
        slot = name if len(apps) < MAX_APPS else "other"
        got = apps.setdefault(slot, {"s": 0.0, "actions": 0})
        got["s"] = round(got["s"] + seconds[name] / 1e9, 1)
        got["actions"] += actions[name]
    wall = header.get("wall_start_ns")
    return {"v": SUMMARY_VERSION, "start": int(wall // 1_000_000_000) if isinstance(wall, int) else None,
            "duration_s": round((end - t0) / 1e9, 1), "events": len(events), "actions": n_actions,
            "episodes": episodes, "apps": apps}
