"""Actions to episodes: each action with the observation it was taken from, cut into tasks.

Two pure, streaming functions over the events of one recording (sorted by ``t``):

``observe(events)`` yields the actions of ``reduce_actions``, each with its **observation**, and the
markers that may end an episode, in ``t`` order. The observation of an action is what the
contributor saw when they started it, never anything later:

- ``frame``: the last stored frame at or before the action's start. The recorder stores a frame only
  when the screen changed (several frame events may name one stored image), so this is the last
  *visually distinct* frame before the action; ``frame_t`` is when it was grabbed.
- ``frame_after``: the first frame at or after the action's end (the outcome; not an input).
- ``pointer_x``, ``pointer_y``: where the pointer was at the start (last position known at or
  before it); ``app``, ``window``: the window a pointer action acted on (under the pointer), else
  the active window then; ``screen_w``, ``screen_h``: the frame size.
- ``browser``: the last ``browser/snapshot`` at or before the start (url, viewport origin, visible
  elements with screen boxes), or None outside a browser.

``cut_episodes(items)`` groups the observed actions into episodes:

- Between ``workscribe task start`` and ``task end`` every action belongs to the task, whatever the
  app; the episode ends with ``cut`` = ``task_end`` (``outcome`` success/fail/None), ``task_start``
  (a new task began) or ``recording_end``. The steps that typed the ``workscribe task ...`` command
  itself are left out.
- Outside tasks, an episode is one app session: it ends when the app changes (``app_switch``), after
  an idle time over ``idle_s`` without actions (``idle``), at a pause (``paused``), at an out-of-scope
  stretch longer than ``idle_s`` (``out_of_scope``), when a task starts (``task_start``), or when the
  recording ends (``recording_end``).
- Coding work (``command``, ``edit``, ``git`` steps) outside tasks makes **coding episodes**: one
  begins at a branch switch (``git checkout``/``switch``, which ends the episode before with
  ``branch_switch`` and is the new one's first step) or at the first coding step after other work
  (ending that with ``app_switch``), and ends at a commit (``commit``; the commit is its last step,
  with the command that made it), a pause, an idle time over ``coding_idle_s``, a task start or the
  end of the recording. GUI actions taken meanwhile belong to it, whatever the app. Inside a task,
  coding steps are steps of the task like any other.
- Each episode names its ``repo`` (that of its first edit or git step) and ``base``, that repo's HEAD
  when it began (``git/head`` at the recorder's start, then every git step), so a coding episode can
  be replayed from ``base`` (clean when ``base["dirty"]`` is false).
- Shell commands that only controlled the recorder (``workscribe task ...``, ``pause``, ...) are left
  out, like the typed ``workscribe task`` lines.
- Episodes without any action are dropped.

Memory: ``observe`` holds what ``reduce_actions`` holds plus the positions and markers since the
oldest action still pending there; ``cut_episodes`` holds one episode.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from workscribe.events import Event
from workscribe.process.reduce import CODING_TYPES, ReduceConfig, reduce_actions

IDLE_S = 120.0
"""Default idle time (s) that ends an episode outside tasks."""

OBSERVATION_KEYS: tuple[str, ...] = (
    "frame", "frame_t", "frame_after", "pointer_x", "pointer_y", "screen_w", "screen_h", "browser",
)  # fmt: skip
"""Keys ``observe`` adds to each action (``app`` and ``window`` are already in it)."""

CUT_REASONS: tuple[str, ...] = (
    "task_end", "task_start", "app_switch", "idle", "paused", "out_of_scope", "recording_end",
    "commit", "branch_switch",
)  # fmt: skip

CODING_IDLE_S = 1800.0
"""Default idle time (s) that ends a coding episode outside tasks: reading and thinking take long."""

GIT_SLACK_NS = 50_000_000
"""How far (ns) a git event may lie outside the command that made it: the git source dates it by the
reflog's modification time, which the kernel keeps at a coarse tick, or by its late notification."""

_CONTROL_COMMAND = re.compile(r"^\s*(?:\S*/)?workscribe\s+(?:task|pause|resume|status|stop)\b")
"""Every value an episode's ``cut`` can take."""

Step = dict[str, Any]


@dataclass(frozen=True)
class Marker:
    """Something other than an action that may end an episode: a task mark or a gap."""

    t: int
    kind: str  # "task_start" | "task_end" | "gap" | "git_head"
    data: dict[str, Any]


class _Timeline:
    """Values over time, queried at non-decreasing times; entries before the last answer are dropped."""

    def __init__(self) -> None:
        self.ts: deque[int] = deque()
        self.values: deque[Any] = deque()

    def add(self, t: int, value: Any) -> None:
        self.ts.append(t)
        self.values.append(value)

    def at(self, t: int) -> Any:
        """The last value added at or before ``t`` (None if none)."""
        while len(self.ts) > 1 and self.ts[1] <= t:
            self.ts.popleft()
            self.values.popleft()
        return self.values[0] if self.ts and self.ts[0] <= t else None


def observe(events: Iterable[Event], config: ReduceConfig | None = None) -> Iterator[Step | Marker]:
    """Actions with their observations, and episode markers, merged in ``t`` order.

    Args:
        events: the events of one recording, sorted by ``t``.
        config: reduction thresholds (``ReduceConfig()`` when None).

    Yields:
        ``Marker`` objects and action dicts (``ACTION_KEYS`` plus ``OBSERVATION_KEYS``).
    """
    pointer, frames, pages = _Timeline(), _Timeline(), _Timeline()
    window_id: list[Any] = [None]
    markers: deque[Marker] = deque()

    def watch() -> Iterator[Event]:
        for ev in events:
            source, kind, data = ev["source"], ev["kind"], ev["data"]
            if source == "input":
                if "x" in data:
                    pointer.add(ev["t"], (data["x"], data["y"]))
            elif source == "screen" and kind == "frame":
                frames.add(ev["t"], (ev["t"], data.get("w"), data.get("h")))
            elif source == "browser" and kind == "snapshot":
                pages.add(ev["t"], data)
            elif source == "window" and kind == "active" and data.get("id") != window_id[0]:
                window_id[0] = data.get("id")
                pages.add(ev["t"], None)  # a snapshot belongs to the window it was taken in
            elif source == "task":
                markers.append(Marker(ev["t"], f"task_{kind}", data))
            elif source == "guard" and kind == "gap":
                markers.append(Marker(ev["t"], "gap", data))
            elif source == "git" and kind == "head":
                markers.append(Marker(ev["t"], "git_head", data))
            yield ev

    for action in reduce_actions(watch(), config):
        t = action["t"]
        while markers and markers[0].t <= t:
            yield markers.popleft()
        pos = pointer.at(t) or (None, None)
        frame_t, w, h = frames.at(t) or (None, None, None)
        if action["frame_before"] is None:
            frame_t = None
        yield {**action, "frame": action["frame_before"], "frame_t": frame_t,
               "pointer_x": pos[0], "pointer_y": pos[1], "screen_w": w, "screen_h": h, "browser": pages.at(t)}
    yield from markers


@dataclass
class Episode:
    """Consecutive steps of one task, app session or coding episode of one recording."""

    index: int  # 0, 1, ... within the recording, in order of start
    steps: list[Step]
    cut: str  # why it ended: one of CUT_REASONS
    task: str | None = None
    ticket: str | None = None
    outcome: str | None = None  # "success" | "fail" | None (unknown)
    repo: str | None = None  # the repo of its first edit or git step (redacted path, as the sources wrote it)
    base: dict[str, Any] | None = None  # that repo's HEAD when it began: {"hash", "branch", "dirty"}
    commit: str | None = None  # the commit that ended it (cut "commit")

    @property
    def start(self) -> int:
        return self.steps[0]["t"]

    @property
    def end(self) -> int:
        return max(s["t_end"] for s in self.steps)

    @property
    def apps(self) -> list[str]:
        """The apps of its steps, in order of first use."""
        return list(dict.fromkeys(s["app"] for s in self.steps if s["app"]))

    @property
    def coding(self) -> bool:
        """True if it holds a command, edit or git step."""
        return any(s["type"] in CODING_TYPES for s in self.steps)


def cut_episodes(items: Iterable[Step | Marker], idle_s: float = IDLE_S,
                 coding_idle_s: float = CODING_IDLE_S) -> Iterator[Episode]:
    """Groups the output of ``observe`` into episodes (see the module docstring); drops empty ones."""
    idle_ns, coding_idle_ns = int(idle_s * 1e9), int(coding_idle_s * 1e9)
    steps: list[Step] = []
    task: dict[str, Any] | None = None
    count = 0
    heads: dict[str, dict[str, Any]] = {}  # repo -> its HEAD as last seen
    base_heads: dict[str, dict[str, Any]] = {}  # the heads when the open episode began
    coding = False  # the open episode (outside tasks) is a coding episode
    commit_at: tuple[int, str | None] | None = None  # a commit ended the open episode: (t, hash)

    def close(cut: str, outcome: str | None = None, commit: str | None = None) -> Iterator[Episode]:
        nonlocal steps, count, coding, commit_at, base_heads
        _drop_control_commands(steps)
        if steps:
            repo = next((s["detail"].get("repo") for s in steps
                         if s["type"] in ("edit", "git") and s.get("detail")), None)
            yield Episode(count, steps, cut, task["title"] if task else None,
                          task.get("ticket") if task else None, outcome, repo,
                          base_heads.get(repo) if repo else None, commit)
            count += 1
        steps, coding, commit_at = [], False, None
        base_heads = dict(heads)

    def add(step: Step) -> None:
        """Appends ``step``, keeping the steps ordered by start (a command arrives when it ended)."""
        at = len(steps)
        while at and steps[at - 1]["t"] > step["t"]:
            at -= 1
        steps.insert(at, step)

    def see_git(step: Step) -> None:
        d = step.get("detail") or {}
        if d.get("repo") and d.get("hash"):
            heads[d["repo"]] = {"hash": d["hash"], "branch": d.get("branch"),
                                "dirty": heads.get(d["repo"], {}).get("dirty", False)}

    for item in items:
        if commit_at is not None:  # the command that made the commit ends after it: it belongs here
            if (not isinstance(item, Marker) and item["type"] == "command"
                    and item["t"] <= commit_at[0] + GIT_SLACK_NS):
                add(item)
                continue
            yield from close("commit", commit=commit_at[1])
        if isinstance(item, Marker):
            if item.kind == "git_head":
                if item.data.get("repo"):
                    heads[item.data["repo"]] = {k: item.data.get(k) for k in ("hash", "branch", "dirty")}
                    if not steps:
                        base_heads = dict(heads)
            elif item.kind == "task_start":
                _drop_task_command(steps)
                yield from close("task_start")
                task = item.data
            elif item.kind == "task_end":
                if task is not None:
                    _drop_task_command(steps)
                    yield from close("task_end", item.data.get("outcome"))
                task = None
            elif task is None:  # a gap outside tasks
                reason = item.data.get("reason")
                long = item.data.get("end", item.t) - item.data.get("start", item.t) > idle_ns
                if reason == "paused" or (long and not coding):
                    yield from close("paused" if reason == "paused" else "out_of_scope")
            continue
        kind = item["detail"].get("kind") if item["type"] == "git" and item.get("detail") else None
        if task is None:
            last = max(s["t_end"] for s in steps[-3:]) if steps else None
            if kind == "checkout":  # a branch switch begins a coding episode, with the command that made it
                carried = [s for s in steps if s["type"] == "command"
                           and s["t"] - GIT_SLACK_NS <= item["t"] <= s["t_end"] + GIT_SLACK_NS]
                steps[:] = [s for s in steps if all(s is not c for c in carried)]
                yield from close("branch_switch")
                steps.extend(carried)
                see_git(item)
                base_heads = dict(heads)
                coding = True
            elif last is not None and item["t"] - last > (coding_idle_ns if coding else idle_ns):
                yield from close("idle")
            elif steps and not coding and (item["type"] in CODING_TYPES or item["app"] != steps[-1]["app"]):
                yield from close("app_switch")  # screen work ends where coding work or another app begins
            if item["type"] in CODING_TYPES and not steps:
                coding = True
        add(item)
        if kind is not None:
            see_git(item)
        if kind == "commit" and task is None:
            commit_at = (item["t"], (item.get("detail") or {}).get("hash"))
    if commit_at is not None:
        yield from close("commit", commit=commit_at[1])
    yield from close("recording_end")


def _drop_control_commands(steps: list[Step]) -> None:
    """Removes shell commands that only controlled the recorder (``workscribe task start ...``)."""
    steps[:] = [s for s in steps if not (s["type"] == "command" and _CONTROL_COMMAND.match(s["text"] or ""))]


def _drop_task_command(steps: list[Step]) -> None:
    """Removes the trailing steps that typed ``workscribe task ...`` (the mark, not the work)."""
    for back in range(1, min(4, len(steps)) + 1):
        step = steps[-back]
        if step["type"] == "type" and "workscribe task" in (step["text"] or ""):
            tail = steps[-back + 1:] if back > 1 else []
            if all(s["type"] in ("key", "type") for s in tail):
                del steps[-back:]
            return
