"""What a contributor sees of each recorded session: when, how long, which apps, how many events,
actions and frames, and its episodes (``workscribe review``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workscribe.export.source import recording_episodes
from workscribe.process.reduce import reduce_actions
from workscribe.spool.reader import Spool


def session_summaries(spool: Spool) -> list[dict[str, Any]]:
    """One summary per recording of ``spool``, in the spool's order, with its episodes."""
    out = []
    for recording in spool.recordings():
        head = recording[0].header
        apps: set[str] = set()
        events = frames = 0
        last = head["t_start"]
        for event in spool.iter_events(recording):
            events += 1
            last = max(last, event["t"])
            if event["kind"] == "active":
                apps.add(event["data"].get("app") or "")
            frames += event["kind"] == "frame"
        actions = sum(1 for _ in reduce_actions(spool.iter_events(recording)))
        episodes = [{k: ep[k] for k in ("episode_id", "task", "outcome", "cut", "start", "duration_s",
                                        "apps", "repo", "commit")}
                    | {"steps": len(ep["steps"])} for ep in recording_episodes(spool, recording, coding=None)]
        out.append({
            "session": head["recording_id"][:8], "recording_id": head["recording_id"],
            "start": datetime.fromtimestamp(head["wall_start_ns"] / 1e9, UTC).isoformat(
                timespec="seconds"),
            "duration_s": round((last - head["t_start"]) / 1e9, 1), "apps": sorted(a for a in apps if a),
            "events": events, "actions": actions, "frames": frames, "segments": len(recording),
            "bytes": sum(s.size for s in recording), "episodes": episodes,
        })
    return out
