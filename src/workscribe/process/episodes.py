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
    cutter = _Cutter(idle_s, coding_idle_s)
    for item in items:
        yield from cutter.feed(item)
    yield from cutter.finish()


class _Cutter:
    """The state of ``cut_episodes`` between two items: the open episode and the heads of the repos.

    ``feed`` takes the items one at a time and returns the episodes they closed, oldest first;
    ``finish`` closes what is left at the end of the recording.
    """

    def __init__(self, idle_s: float, coding_idle_s: float) -> None:
        self.idle_ns = int(idle_s * 1e9)
        self.coding_idle_ns = int(coding_idle_s * 1e9)
        self.steps: list[Step] = []  # the open episode's steps, ordered by start
        self.task: dict[str, Any] | None = None  # the open task's start mark, None outside tasks
        self.count = 0  # episodes closed so far
        self.heads: dict[str, dict[str, Any]] = {}  # repo -> its HEAD as last seen
        self.base_heads: dict[str, dict[str, Any]] = {}  # the heads when the open episode began
        self.coding = False  # the open episode (outside tasks) is a coding episode
        self.commit_at: tuple[int, str | None] | None = None  # a commit ended the open episode: (t, hash)
        self.closed: list[Episode] = []  # episodes closed by the item being fed

    def feed(self, item: Step | Marker) -> list[Episode]:
        """Takes the next item; returns the episodes it closed."""
        self.closed = []
        if self.commit_at is not None:  # the command that made the commit ends after it: it belongs here
            if (not isinstance(item, Marker) and item["type"] == "command"
                    and item["t"] <= self.commit_at[0] + GIT_SLACK_NS):
                self._add(item)
                return self.closed
            self._close("commit", commit=self.commit_at[1])
        if isinstance(item, Marker):
            self._mark(item)
        else:
            self._step(item)
        return self.closed

    def finish(self) -> list[Episode]:
        """Closes the open episode at the end of the recording; returns the episodes that closed."""
        self.closed = []
        if self.commit_at is not None:
            self._close("commit", commit=self.commit_at[1])
        self._close("recording_end")
        return self.closed

    def _mark(self, marker: Marker) -> None:
        if marker.kind == "git_head":
            if marker.data.get("repo"):
                self.heads[marker.data["repo"]] = {k: marker.data.get(k) for k in ("hash", "branch", "dirty")}
                if not self.steps:
                    self.base_heads = dict(self.heads)
        elif marker.kind == "task_start":
            _drop_task_command(self.steps)
            self._close("task_start")
            self.task = marker.data
        elif marker.kind == "task_end":
            if self.task is not None:
                _drop_task_command(self.steps)
                self._close("task_end", marker.data.get("outcome"))
            self.task = None
        elif self.task is None:  # a gap outside tasks
            reason = marker.data.get("reason")
            long = marker.data.get("end", marker.t) - marker.data.get("start", marker.t) > self.idle_ns
            if reason == "paused" or (long and not self.coding):
                self._close("paused" if reason == "paused" else "out_of_scope")

    def _step(self, step: Step) -> None:
        kind = step["detail"].get("kind") if step["type"] == "git" and step.get("detail") else None
        if self.task is None:
            self._cut_before(step, kind)
        self._add(step)
        if kind is not None:
            self._see_git(step)
        if kind == "commit" and self.task is None:
            self.commit_at = (step["t"], (step.get("detail") or {}).get("hash"))

    def _cut_before(self, step: Step, kind: str | None) -> None:
        """Outside tasks: closes the open episode if ``step`` begins another one."""
        steps = self.steps
        last = max(s["t_end"] for s in steps[-3:]) if steps else None
        if kind == "checkout":  # a branch switch begins a coding episode, with the command that made it
            carried = [s for s in steps if s["type"] == "command"
                       and s["t"] - GIT_SLACK_NS <= step["t"] <= s["t_end"] + GIT_SLACK_NS]
            steps[:] = [s for s in steps if all(s is not c for c in carried)]
            self._close("branch_switch")
            self.steps.extend(carried)
            self._see_git(step)
            self.base_heads = dict(self.heads)
            self.coding = True
        elif last is not None and step["t"] - last > (self.coding_idle_ns if self.coding else self.idle_ns):
            self._close("idle")
        elif steps and not self.coding and (step["type"] in CODING_TYPES or step["app"] != steps[-1]["app"]):
            self._close("app_switch")  # screen work ends where coding work or another app begins
        if step["type"] in CODING_TYPES and not self.steps:
            self.coding = True

    def _add(self, step: Step) -> None:
        """Appends ``step``, keeping the steps ordered by start (a command arrives when it ended)."""
        at = len(self.steps)
        while at and self.steps[at - 1]["t"] > step["t"]:
            at -= 1
        self.steps.insert(at, step)

    def _see_git(self, step: Step) -> None:
        d = step.get("detail") or {}
        if d.get("repo") and d.get("hash"):
            self.heads[d["repo"]] = {"hash": d["hash"], "branch": d.get("branch"),
                                     "dirty": self.heads.get(d["repo"], {}).get("dirty", False)}

    def _close(self, cut: str, outcome: str | None = None, commit: str | None = None) -> None:
        """Ends the open episode (kept in ``closed`` unless it has no steps) and opens an empty one."""
        steps = self.steps
        _drop_control_commands(steps)
        if steps:
            repo = next((s["detail"].get("repo") for s in steps
                         if s["type"] in ("edit", "git") and s.get("detail")), None)
            task = self.task
            self.closed.append(Episode(self.count, steps, cut, task["title"] if task else None,
                                       task.get("ticket") if task else None, outcome, repo,
                                       self.base_heads.get(repo) if repo else None, commit))
            self.count += 1
        self.steps, self.coding, self.commit_at = [], False, None
        self.base_heads = dict(self.heads)


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
