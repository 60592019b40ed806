"""What a dataset built from some spools would hold, as figures and as one self-contained HTML page.

``collect_stats(ds)`` reads the episodes of a ``Dataset`` once, one episode in memory at a time, and
counts: episodes and steps (the steps a dataset export keeps: actions with an observation frame),
actions per type and per app, episode lengths in steps and seconds, distinct stored frames per action,
why episodes were cut, tasks and their outcomes, steps left out for lack of a frame, and every problem
found on the way (a skipped or damaged segment, named).

Recordings that hold coding work (a consent with the shell, files or git source) are read a second
time for it: coding episodes and their cut reasons, commands (and how many failed), edits per kind,
git events per kind. The page gets a plot of them when there are any.

``render_html(stats)`` turns them into one HTML page: a summary table and a plot per figure, each a
PNG inlined as base64 (matplotlib, Agg), with no script and no network resource. The same spools give
the same bytes: no clock is read and PNGs carry no software version.
"""

from __future__ import annotations

import base64
import html
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workscribe.export.source import Dataset, iter_episodes, iter_recordings
from workscribe.guard.consent import CODING_SOURCES
from workscribe.process.episodes import CUT_REASONS
from workscribe.process.reduce import ACTION_TYPES, CODING_TYPES
from workscribe.viz import plotting

if TYPE_CHECKING:
    pass

OUTCOMES = ("success", "fail", "unknown")
"""Outcomes of a task episode; ``unknown`` when ``task end`` gave none or the recording ended."""

MAX_APPS_PLOTTED = 20
"""Apps beyond the most used ones are one ``other`` bar in the plot (all of them stay in the figures)."""

NO_APP = "(none)"
"""The app of a step taken when no window was known to be active."""


@dataclass
class Stats:
    """The figures of ``collect_stats``; ``as_dict`` gives them as ``workscribe stats --json`` prints them."""

    folders: list[str]
    episodes: int = 0
    steps: int = 0
    actions_by_type: Counter[str] = field(default_factory=Counter)
    actions_by_app: Counter[str] = field(default_factory=Counter)
    episode_steps: list[int] = field(default_factory=list)  # one entry per episode, in reading order
    episode_seconds: list[float] = field(default_factory=list)
    cut_reasons: Counter[str] = field(default_factory=Counter)
    task_outcomes: Counter[str] = field(default_factory=Counter)
    # per recording, in reading order: {"session", "recording_id", "actions", "frames_stored"}
    recordings: list[dict[str, Any]] = field(default_factory=list)
    steps_without_frame: int = 0
    episodes_without_frames: int = 0
    segments_skipped: int = 0
    problems: list[str] = field(default_factory=list)
    coding_episodes: int = 0
    coding_steps: Counter[str] = field(default_factory=Counter)  # "command ok", "edit modify", ...
    coding_cut_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def frames_stored(self) -> int:
        """Distinct images stored in the recordings read."""
        return sum(r["frames_stored"] for r in self.recordings)

    @property
    def frames_per_action(self) -> float:
        """Distinct stored images per step (0 when there are no steps)."""
        return round(self.frames_stored / self.steps, 3) if self.steps else 0.0

    @property
    def tasks(self) -> int:
        """Episodes of a ``workscribe task``."""
        return sum(self.task_outcomes.values())

    def summary_rows(self) -> list[tuple[str, Any]]:
        """``(figure, value)`` pairs for the summary table."""
        return [("recordings", len(self.recordings)), ("episodes", self.episodes), ("steps", self.steps),
                ("frames stored", self.frames_stored), ("frames per action", self.frames_per_action),
                ("tasks", self.tasks),
                *((f"tasks: {o}", self.task_outcomes[o]) for o in OUTCOMES),
                ("episode steps", _describe(_summary(self.episode_steps))),
                ("episode seconds", _describe(_summary(self.episode_seconds))),
                ("steps without frame", self.steps_without_frame),
                ("episodes without frames", self.episodes_without_frames),
                ("coding episodes", self.coding_episodes), ("coding steps", sum(self.coding_steps.values())),
                ("segments skipped", self.segments_skipped), ("problems", len(self.problems))]

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON values, in a stable order."""
        return {
            "folders": self.folders,
            "recordings": len(self.recordings),
            "episodes": self.episodes,
            "steps": self.steps,
            "actions_by_type": _ordered(self.actions_by_type, ACTION_TYPES),
            "actions_by_app": _by_count(self.actions_by_app),
            "episode_steps": _summary(self.episode_steps),
            "episode_seconds": _summary(self.episode_seconds),
            "frames_stored": self.frames_stored,
            "frames_per_action": self.frames_per_action,
            "cut_reasons": _ordered(self.cut_reasons, CUT_REASONS),
            "tasks": {"count": self.tasks, "outcomes": _ordered(self.task_outcomes, OUTCOMES)},
            "steps_without_frame": self.steps_without_frame,
            "episodes_without_frames": self.episodes_without_frames,
            "segments_skipped": self.segments_skipped,
            "problems": self.problems,
            "per_recording": self.recordings,
            "coding": {"episodes": self.coding_episodes, "steps": _by_count(self.coding_steps),
                       "cut_reasons": _ordered(self.coding_cut_reasons, CUT_REASONS)},
        }


def collect_stats(ds: Dataset) -> Stats:
    """Reads every episode of ``ds`` (no frame is decoded) and counts what it holds.

    Steps are what ``iter_episodes`` yields: actions with an observation frame; the others are
    counted in ``steps_without_frame``. Stored frames are counted from the video stream of each
    recording read (a recording copied into two folders counts once).
    """
    stats = Stats([str(f) for f in ds.folders])
    actions: Counter[str] = Counter()  # steps per recording id
    for ep in iter_episodes(ds):
        steps = ep["steps"]
        stats.episodes += 1
        stats.steps += len(steps)
        actions[ep["recording_id"]] += len(steps)
        stats.episode_steps.append(len(steps))
        stats.episode_seconds.append(ep["duration_s"])
        stats.cut_reasons[ep["cut"]] += 1
        if ep["task"] is not None:
            stats.task_outcomes[ep["outcome"] or "unknown"] += 1
        for step in steps:
            stats.actions_by_type[step["type"]] += 1
            stats.actions_by_app[step["app"] or NO_APP] += 1
    for _, segments in iter_recordings(ds):
        rid = segments[0].header["recording_id"]
        stats.recordings.append({"session": rid[:8], "recording_id": rid, "actions": actions[rid],
                                 "frames_stored": sum(s.count_frames() for s in segments)})
    if any(source in CODING_SOURCES for spool in ds.spools for seg in spool.segments
           for source in (seg.header.get("consent") or {}).get("sources", ())):
        for ep in iter_episodes(ds, coding=True):  # a second pass, for the coding work
            stats.coding_episodes += 1
            stats.coding_cut_reasons[ep["cut"]] += 1
            stats.coding_steps.update(_coding_kind(step) for step in ep["steps"]
                                      if step["type"] in CODING_TYPES)
    stats.steps_without_frame = ds.stats["steps_without_frame"]
    stats.episodes_without_frames = ds.stats["episodes_without_frames"]
    stats.segments_skipped = ds.stats["segments_skipped"]
    for spool in ds.spools:  # after reading: damaged records are found while reading
        stats.problems += [p for p in spool.problems if p not in stats.problems]
    return stats


def _coding_kind(step: dict[str, Any]) -> str:
    """``command ok`` / ``command failed``, ``edit <op>``, ``git <kind>``."""
    if step["type"] == "command":
        return "command ok" if step["exit_code"] == 0 else "command failed"
    detail = step.get("detail") or {}
    return f"{step['type']} {detail.get('op') if step['type'] == 'edit' else detail.get('kind')}"


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {"min": min(values), "median": statistics.median(values),
            "mean": round(statistics.fmean(values), 3), "max": max(values)}


def _describe(summary: dict[str, float]) -> str:
    return " / ".join(f"{k} {v:g}" for k, v in summary.items())


def _ordered(counts: Counter[str], known: Sequence[str]) -> dict[str, int]:
    """Every known key in its order (zeros included), then any other key by count."""
    others = Counter({k: n for k, n in counts.items() if k not in known})
    return {**{k: counts[k] for k in known}, **_by_count(others)}


def _by_count(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# -- the HTML page -----------------------------------------------------------------------------------

def render_html(stats: Stats, title: str = "workscribe stats") -> str:
    """One self-contained HTML page of ``stats``: a summary table and five inline plots (six with
    coding work)."""
    d = stats.as_dict()
    apps = d["actions_by_app"]
    if len(apps) > MAX_APPS_PLOTTED:
        top = dict(list(apps.items())[:MAX_APPS_PLOTTED - 1])
        apps = {**top, "other": sum(apps.values()) - sum(top.values())}
    sessions = {r["session"]: (round(r["frames_stored"] / r["actions"], 3) if r["actions"] else 0.0)
                for r in stats.recordings}
    plots = [
        ("Actions per type", _barh(d["actions_by_type"], "actions"),
         f"How many of the {stats.steps} steps are of each action type."),
        ("Actions per app", _barh(apps, "actions"),
         "How many steps were taken in each app (the active window when the action started)."),
        ("Episode length", _histogram(stats.episode_steps),
         f"How many episodes have a given number of steps; {_describe(d['episode_steps'])} steps, "
         f"{_describe(d['episode_seconds'])} seconds."),
        ("Frames per action", _barh(sessions, "distinct stored frames per action", number="{:.2f}"),
         f"Distinct images stored in each recording (session id) divided by its steps; "
         f"{stats.frames_per_action:.2f} over all. About 2 is a frame before and after each action; "
         f"0 is a spool that stores no images."),
        ("Cut reasons", _barh(d["cut_reasons"], "episodes"),
         "Why each episode ended: the end or start of a task, an app switch, an idle time, a pause, "
         "an out-of-scope stretch, or the end of the recording."),
    ]
    if stats.coding_episodes:
        ends = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in d["coding"]["cut_reasons"].items() if n)
        plots.append(("Coding work", _barh(d["coding"]["steps"], "steps"),
                      f"Commands (by exit status), file edits and git events in {stats.coding_episodes} "
                      f"coding episodes, which ended at: {ends}."))
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(title)}</title>", f"<style>{plotting.STYLE}</style>", "</head>", "<body>",
           f"<h1>{esc(title)}</h1>",
           f"<p>Spools: {esc(', '.join(stats.folders))}</p>",
           "<h2>Summary</h2>", "<table>", "<tr><th>figure</th><th>value</th></tr>"]
    out += [f'<tr><td>{esc(k)}</td><td class="n">{esc(str(v))}</td></tr>' for k, v in stats.summary_rows()]
    out.append("</table>")
    for heading, png, note in plots:
        data = base64.b64encode(png).decode("ascii")
        out += [f"<h2>{esc(heading)}</h2>", f'<img alt="{esc(heading)}" src="data:image/png;base64,{data}">',
                f'<p class="note">{esc(note)}</p>']
    out.append("<h2>Problems</h2>")
    if stats.problems:
        out += ["<ul>", *(f"<li>{esc(p)}</li>" for p in stats.problems), "</ul>"]
    else:
        out.append("<p>None: every segment was read whole.</p>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _barh(values: dict[str, float], xlabel: str, number: str = "{:g}") -> bytes:
    """Horizontal bars, first key on top, each labelled with its value (counts unless ``number`` says)."""
    fig = plotting.figure(len(values))
    ax = fig.add_subplot()
    if number == "{:g}":
        plotting.integer_ticks(ax.xaxis)
    if values:
        labels = list(values)[::-1]
        bars = ax.barh(labels, [values[k] for k in labels], color="#4878a8")
        ax.bar_label(bars, labels=[number.format(values[k]) for k in labels], padding=3)
        ax.margins(x=0.12)
    else:
        plotting.no_data(ax)
    ax.set_xlabel(xlabel)
    return plotting.png(fig)


def _histogram(values: list[int]) -> bytes:
    fig = plotting.figure(10)
    ax = fig.add_subplot()
    if values:
        ax.hist(values, bins=min(30, max(1, len(set(values)))), color="#4878a8", edgecolor="white")
    else:
        plotting.no_data(ax)
    ax.set_xlabel("steps per episode")
    ax.set_ylabel("episodes")
    plotting.integer_ticks(ax.yaxis)
    return plotting.png(fig)
