"""observe and cut_episodes on hand-written events: observations never come from the future."""

from __future__ import annotations

from typing import Any

from eventkit import MS, click, frame, gap, key, motion, text, window
from workscribe.events import Event, make_event
from workscribe.process.episodes import Marker, cut_episodes, observe


def task(t: float, kind: str, **data: Any) -> Event:
    return make_event("task", kind, data, t=round(t * MS))


def steps_of(events: list[Event], **kw: Any) -> list[dict[str, Any]]:
    return [i for i in observe(sorted(events, key=lambda e: e["t"])) if not isinstance(i, Marker)]


def episodes(events: list[Event], idle_s: float = 120.0):  # noqa: ANN201
    return list(cut_episodes(observe(sorted(events, key=lambda e: e["t"])), idle_s=idle_s))


def test_the_observation_is_the_last_frame_at_or_before_the_start_never_a_later_one() -> None:
    events = [window(0, "xterm", "a"), frame(100, 1, "s#1"), motion(150, 40, 50), frame(190, 2, "s#2"),
              *click(200, x=40, y=50), frame(260, 3, "s#3"), frame(900, 4, "s#4")]
    [step] = steps_of(events)
    assert step["frame"] == "s#2" and step["frame_t"] == 190 * MS  # not s#3, grabbed after the press
    assert step["frame_after"] == "s#3"
    assert (step["pointer_x"], step["pointer_y"]) == (40, 50)
    assert (step["screen_w"], step["screen_h"], step["app"]) == (100, 100, "xterm")


def test_pointer_and_window_are_those_at_the_start_of_typing() -> None:
    events = [window(0, "xterm", "one"), frame(10, 1, "s#1"), motion(20, 7, 8),
              *text(100, "ab", x=7, y=8), motion(400, 90, 90), window(500, "xterm", "two")]
    [step] = steps_of(events)
    assert step["type"] == "type" and step["text"] == "ab"
    assert (step["pointer_x"], step["pointer_y"], step["window"]) == (7, 8, "one")


def test_no_frame_before_the_action_gives_none_not_a_later_frame() -> None:
    [step] = steps_of([window(0, "xterm", "a"), *click(100, x=1, y=1), frame(300, 1, "s#1")])
    assert step["frame"] is None and step["frame_t"] is None and step["frame_after"] == "s#1"


def test_without_tasks_episodes_follow_app_sessions_and_idle_time() -> None:
    events = [window(0, "xterm", "t"), frame(1, 1, "s#1"), *click(100), *click(1_000),
              window(2_000, "firefox", "f"), *click(2_100),
              *click(200_000)]  # 198 s idle
    eps = episodes(events)
    assert [len(e.steps) for e in eps] == [2, 1, 1]
    assert [e.cut for e in eps] == ["app_switch", "idle", "recording_end"]
    assert [e.apps for e in eps] == [["xterm"], ["firefox"], ["firefox"]]
    assert [e.index for e in eps] == [0, 1, 2] and all(e.task is None for e in eps)


def test_a_task_spans_apps_and_ends_with_its_outcome() -> None:
    events = [window(0, "xterm", "t"), frame(1, 1, "s#1"), *click(100),
              task(500, "start", id=1, title="Fix the login redirect", ticket="ABC-123"),
              *click(1_000), window(1_100, "firefox", "f"), *click(1_800, x=50), *click(300_000),
              task(300_500, "end", id=1, outcome="success"), *click(301_000)]
    eps = episodes(events)
    assert [(e.task, e.cut, e.outcome, len(e.steps)) for e in eps] == [
        (None, "task_start", None, 1),
        ("Fix the login redirect", "task_end", "success", 3),  # no app switch or idle cut inside
        (None, "recording_end", None, 1)]
    assert eps[1].ticket == "ABC-123" and eps[1].apps == ["xterm", "firefox"]


def test_the_typed_task_command_is_not_part_of_any_episode() -> None:
    events = [window(0, "xterm", "t"), frame(1, 1, "s#1"), *click(50),
              *text(100, "workscribe task start x", step=20), key(700, "Return"),
              task(800, "start", id=1, title="x"), *text(1_000, "make", step=20), key(1_200, "Return"),
              *text(2_000, "workscribe task end", step=20), key(2_500, "Return"),
              task(2_600, "end", id=1, outcome="fail")]
    eps = episodes(events)
    assert [[s["type"] for s in e.steps] for e in eps] == [["click"], ["type", "key"]]
    assert eps[1].steps[0]["text"] == "make" and eps[1].outcome == "fail"


def test_pauses_cut_and_short_out_of_scope_stretches_do_not() -> None:
    short = make_event("guard", "gap", {"reason": "out_of_scope", "start": 150 * MS, "end": 160 * MS},
                       t=160 * MS)
    events = [window(0, "xterm", "t"), frame(1, 1, "s#1"), *click(100), short, *click(200), gap(300),
              *click(400)]
    eps = episodes(events)
    assert [(len(e.steps), e.cut) for e in eps] == [(2, "paused"), (1, "recording_end")]


def test_empty_and_idle_only_recordings_give_no_episode() -> None:
    assert episodes([window(0, "xterm", "t"), frame(1, 1, "s#1"), motion(5, 1, 1), gap(10),
                     task(20, "start", id=1, title="x"), task(30, "end", id=1, outcome=None)]) == []


def test_the_browser_snapshot_is_the_last_one_before_the_action_in_the_same_window() -> None:
    def snap(t: float, label: str) -> Event:
        data = {"url": "file:///x", "elements": [{"text": label}]}
        return make_event("browser", "snapshot", data, t=round(t * MS))

    other = window(300, "xterm", "b")
    other["data"]["id"] = 2
    events = [window(0, "chromium", "a"), frame(1, 1, "s#1"), snap(50, "old"), snap(150, "new"),
              *click(160, x=5, y=5), snap(170, "after the press"), other, *click(400, x=50, y=50)]
    first, second = steps_of(events)
    assert first["browser"]["elements"][0]["text"] == "new"
    assert second["browser"] is None  # another window: the page is not what was seen
