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
  before it); ``app``, ``window``: the active window then; ``screen_w``, ``screen_h``: the frame size.
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
- Episodes without any action are dropped.

Memory: ``observe`` holds what ``reduce_actions`` holds plus the positions and markers since the
oldest action still pending there; ``cut_episodes`` holds one episode.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from workscribe.events import Event
from workscribe.process.reduce import ReduceConfig, reduce_actions

IDLE_S = 120.0
"""Default idle time (s) that ends an episode outside tasks."""

OBSERVATION_KEYS: tuple[str, ...] = (
    "frame", "frame_t", "frame_after", "pointer_x", "pointer_y", "screen_w", "screen_h", "browser",
)  # fmt: skip
"""Keys ``observe`` adds to each action (``app`` and ``window`` are already in it)."""

CUT_REASONS: tuple[str, ...] = (
    "task_end", "task_start", "app_switch", "idle", "paused", "out_of_scope", "recording_end",
)  # fmt: skip
"""Every value an episode's ``cut`` can take."""

Step = dict[str, Any]


@dataclass(frozen=True)
class Marker:
    """Something other than an action that may end an episode: a task mark or a gap."""

    t: int
    kind: str  # "task_start" | "task_end" | "gap"
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
    """Consecutive steps of one task or app session of one recording."""

    index: int  # 0, 1, ... within the recording, in order of start
    steps: list[Step]
    cut: str  # why it ended: one of CUT_REASONS
    task: str | None = None
    ticket: str | None = None
    outcome: str | None = None  # "success" | "fail" | None (unknown)

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


def cut_episodes(items: Iterable[Step | Marker], idle_s: float = IDLE_S) -> Iterator[Episode]:
    """Groups the output of ``observe`` into episodes (see the module docstring); drops empty ones."""
    idle_ns = int(idle_s * 1e9)
    steps: list[Step] = []
    task: dict[str, Any] | None = None
    count = 0

    def close(cut: str, outcome: str | None = None) -> Iterator[Episode]:
        nonlocal steps, count
        if steps:
            yield Episode(count, steps, cut, task["title"] if task else None,
                          task.get("ticket") if task else None, outcome)
            count += 1
        steps = []

    for item in items:
        if isinstance(item, Marker):
            if item.kind == "task_start":
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
                if reason == "paused" or long:
                    yield from close("paused" if reason == "paused" else "out_of_scope")
            continue
        if steps and task is None:
            if item["t"] - max(s["t_end"] for s in steps[-3:]) > idle_ns:
                yield from close("idle")
            elif item["app"] != steps[-1]["app"]:
                yield from close("app_switch")
        steps.append(item)
    yield from close("recording_end")


def _drop_task_command(steps: list[Step]) -> None:
    """Removes the trailing steps that typed ``workscribe task ...`` (the mark, not the work)."""
    for back in range(1, min(4, len(steps)) + 1):
        step = steps[-back]
        if step["type"] == "type" and "workscribe task" in (step["text"] or ""):
            tail = steps[-back + 1:] if back > 1 else []
            if all(s["type"] in ("key", "type") for s in tail):
                del steps[-back:]
            return

