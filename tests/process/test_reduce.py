"""reduce_actions on hand-written event lists.

Helpers take times in milliseconds and build events (and expected actions) in clock nanoseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from eventkit import MS, click, frame, gap, key, key_up, motion, press, release, text, wheel, window
from workscribe.events import Event, make_event
from workscribe.process.reduce import ACTION_KEYS, ACTION_TYPES, ReduceConfig, key_name, reduce_actions


def act(type_: str, t: float, t_end: float | None = None, **values: Any) -> dict[str, Any]:
    """An expected action: every key None unless given; t, t_end in ms (t_end defaults to t)."""
    action = dict.fromkeys(ACTION_KEYS)
    action.update(type=type_, t=round(t * MS), t_end=round((t if t_end is None else t_end) * MS), **values)
    assert list(action) == list(ACTION_KEYS), "act() got an unknown key"
    return action


def run(events: list[Event], **config: Any) -> list[dict[str, Any]]:
    actions = list(reduce_actions(iter(events), ReduceConfig(**config)))
    for a in actions:
        assert list(a) == list(ACTION_KEYS)
        assert a["type"] in ACTION_TYPES
    assert [a["t"] for a in actions] == sorted(a["t"] for a in actions)
    return actions


# ----- clicks and drags


def test_single_click() -> None:
    assert run(click(0, 1, 10, 20)) == [act("click", 0, 50, x=10, y=20, button=1)]


@pytest.mark.parametrize(
    ("button", "type_"), [(1, "click"), (2, "middle_click"), (3, "right_click"), (8, "click")]
)
def test_button_kinds(button: int, type_: str) -> None:
    assert run(click(0, button, 5, 5)) == [act(type_, 0, 50, x=5, y=5, button=button)]


def test_double_and_triple_click() -> None:
    double = click(0, 1, 10, 10) + click(300, 1, 12, 13)
    assert run(double) == [act("double_click", 0, 350, x=10, y=10, button=1)]
    triple = double + click(700, 1, 15, 17)  # 400 ms and 5 px from the second press (8.6 px from the first)
    assert run(triple) == [act("triple_click", 0, 750, x=10, y=10, button=1)]


def test_multi_click_limits_are_inclusive() -> None:
    events = click(0, 1, 0, 0) + click(500, 1, 3, 4)  # exactly 500 ms and 5 px
    assert run(events) == [act("double_click", 0, 550, x=0, y=0, button=1)]


def test_four_clicks_make_a_triple_click_and_a_click() -> None:
    events = click(0) + click(200) + click(400) + click(600)
    assert run(events) == [
        act("triple_click", 0, 450, x=0, y=0, button=1),
        act("click", 600, 650, x=0, y=0, button=1),
    ]


def test_double_right_click_keeps_its_button() -> None:
    assert run(click(0, 3) + click(200, 3)) == [act("double_click", 0, 250, x=0, y=0, button=3)]


@pytest.mark.parametrize(
    "second",
    [
        click(300, 1, 10, 16),  # 6 px away
        click(501, 1, 10, 10),  # 501 ms after the first press
        click(300, 3, 10, 10),  # another button
    ],
)
def test_clicks_apart_in_space_time_or_button_stay_single(second: list[Event]) -> None:
    actions = run(click(0, 1, 10, 10) + second)
    assert [a["type"] for a in actions] == [
        "click",
        "right_click" if second[0]["data"]["button"] == 3 else "click",
    ]
    assert actions[0]["t_end"] == 50 * MS


def test_a_key_between_clicks_breaks_the_chain() -> None:
    actions = run(click(0) + [key(100, "Escape")] + click(200))
    assert [a["type"] for a in actions] == ["click", "key", "click"]


def test_drag_over_six_px() -> None:
    events = [press(0, 1, 100, 100), motion(20, 104, 104), motion(40, 120, 110), release(60, 1, 130, 115)]
    assert run(events) == [act("drag", 0, 60, x=100, y=100, x2=130, y2=115, button=1)]


def test_drag_that_comes_back_to_its_start_is_still_a_drag() -> None:
    events = [press(0, 1, 100, 100), motion(20, 107, 100), motion(40, 100, 100), release(60, 1, 100, 100)]
    assert run(events) == [act("drag", 0, 60, x=100, y=100, x2=100, y2=100, button=1)]


def test_jitter_within_six_px_is_a_click() -> None:
    events = [press(0, 1, 100, 100), motion(20, 105, 100), motion(30, 100, 105), motion(40, 103, 104)]
    events += [release(60, 1, 104, 103)]  # 5 px from the press point
    assert run(events) == [act("click", 0, 60, x=100, y=100, button=1)]


def test_release_exactly_six_px_away_is_a_click() -> None:
    assert run([press(0, 1, 0, 0), motion(20, 0, 6), release(50, 1, 6, 0)]) == [
        act("click", 0, 50, x=0, y=0, button=1)
    ]


def test_release_seven_px_away_without_motion_is_a_drag() -> None:
    assert run([press(0, 1, 0, 0), release(50, 1, 7, 0)]) == [
        act("drag", 0, 50, x=0, y=0, x2=7, y2=0, button=1)
    ]


def test_release_without_press_is_ignored() -> None:
    assert run([release(0, 1)] + click(100)) == [act("click", 100, 150, x=0, y=0, button=1)]


def test_a_press_whose_release_was_lost_is_dropped() -> None:
    events = [press(0, 1, 0, 0), press(100, 1, 50, 50), release(150, 1, 50, 50), key(200, "Escape")]
    assert run(events) == [
        act("click", 100, 150, x=50, y=50, button=1),
        act("key", 200, x=0, y=0, keys="escape"),
    ]


def test_key_during_a_held_button_comes_after_the_click() -> None:
    events = [press(0), key(20, "Escape"), release(40)]
    assert run(events) == [act("click", 0, 40, x=0, y=0, button=1), act("key", 20, keys="escape", x=0, y=0)]


# ----- scroll


def test_scroll_merges_within_300_ms() -> None:
    events = [wheel(0, 1, x=50, y=60), motion(100, 55, 60), wheel(250, 2, x=55, y=60), wheel(550, 1, 2)]
    assert run(events) == [act("scroll", 0, 550, x=50, y=60, dx=2, dy=4)]


def test_scroll_splits_when_the_wheel_turns_back() -> None:
    events = [wheel(0, 1), wheel(100, 1), wheel(200, -1), wheel(300, -1)]
    assert run(events) == [
        act("scroll", 0, 100, x=0, y=0, dx=0, dy=2),
        act("scroll", 200, 300, x=0, y=0, dx=0, dy=-2),
    ]


def test_scroll_splits_after_more_than_300_ms() -> None:
    events = [wheel(0, 1), wheel(200, 1), wheel(501, 1, x=9, y=9)]
    assert run(events) == [
        act("scroll", 0, 200, x=0, y=0, dx=0, dy=2),
        act("scroll", 501, x=9, y=9, dx=0, dy=1),
    ]


def test_scroll_splits_at_a_button_press() -> None:
    actions = run([wheel(0, 1), press(50), wheel(100, 1), release(150)])
    assert [(a["type"], a["t"]) for a in actions] == [("scroll", 0), ("click", 50 * MS), ("scroll", 100 * MS)]


def test_scroll_splits_at_a_key_press() -> None:
    actions = run([wheel(0, 1), key(50, "Escape"), wheel(100, 1)])
    assert [a["type"] for a in actions] == ["scroll", "key", "scroll"]


def test_a_scroll_between_clicks_breaks_the_chain() -> None:
    actions = run(click(0) + [wheel(100, 1)] + click(200))
    assert [a["type"] for a in actions] == ["click", "scroll", "click"]


# ----- typing, keys, hotkeys


def test_typing_merges_and_a_pause_over_one_second_splits() -> None:
    events = text(0, "ab", x=3, y=4) + text(1100, "cd") + text(3201, "e")  # 1000 ms, then 2000 ms pauses
    assert run(events) == [
        act("type", 0, 1200, x=3, y=4, text="abcd"),
        act("type", 3201, x=0, y=0, text="e"),
    ]


def test_a_click_ends_typing() -> None:
    events = text(0, "a") + click(50) + text(150, "b")
    assert [(a["type"], a["text"]) for a in run(events)] == [("type", "a"), ("click", None), ("type", "b")]


def test_backspace_edits_pending_text() -> None:
    events = text(0, "helpo") + [key(500, "BackSpace"), key(600, "BackSpace")] + text(700, "lo")
    assert run(events) == [act("type", 0, 800, x=0, y=0, text="hello")]


def test_text_erased_entirely_gives_no_action() -> None:
    assert run(text(0, "a") + [key(100, "BackSpace")]) == []


def test_text_erased_then_retyped_keeps_its_start() -> None:
    assert run(text(0, "a") + [key(100, "BackSpace")] + text(200, "b")) == [
        act("type", 0, 200, x=0, y=0, text="b")
    ]


def test_backspace_past_the_pending_text_is_a_key() -> None:
    events = text(0, "a") + [key(100, "BackSpace"), key(200, "BackSpace")]
    assert run(events) == [act("key", 200, x=0, y=0, keys="backspace")]


def test_backspace_alone_is_a_key() -> None:
    assert run([key(0, "BackSpace", x=7, y=8)]) == [act("key", 0, x=7, y=8, keys="backspace")]


def test_return_ends_typing() -> None:
    events = text(0, "hi") + [key(200, "Return", "\r"), key_up(250, "Return")] + text(300, "yo")
    assert run(events) == [
        act("type", 0, 100, x=0, y=0, text="hi"),
        act("key", 200, x=0, y=0, keys="enter"),
        act("type", 300, 400, x=0, y=0, text="yo"),
    ]


def test_hotkey_ctrl_shift_t() -> None:
    events = [
        key(0, "Control_L"),
        key(10, "Shift_L", mods=("ctrl",)),
        key(20, "t", None, ("ctrl", "shift"), x=5, y=6),
        key_up(30, "t"),
        key_up(40, "Shift_L"),
        key_up(50, "Control_L"),
    ]
    assert run(events) == [act("hotkey", 20, x=5, y=6, keys="ctrl+shift+t")]


def test_ctrl_letter_is_a_hotkey_even_with_text() -> None:
    events = [key(0, "c", "c", ("ctrl",)), key(100, "x", "x", ("alt",)), key(200, "s", "s", ("super",))]
    assert [a["keys"] for a in run(events) if a["type"] == "hotkey"] == ["ctrl+c", "alt+x", "super+s"]


def test_modifier_order_in_hotkeys() -> None:
    events = [key(0, "Delete", None, ("super", "shift", "alt", "ctrl", "capslock"))]
    assert run(events) == [act("hotkey", 0, x=0, y=0, keys="ctrl+alt+shift+super+delete")]


@pytest.mark.parametrize("name", ["Tab", "ISO_Left_Tab"])
def test_shift_tab_is_a_hotkey(name: str) -> None:
    events = [key(0, "Shift_L"), key(10, name, None, ("shift",))]
    assert run(events) == [act("hotkey", 10, x=0, y=0, keys="shift+tab")]


def test_shift_letter_is_text_and_modifiers_do_not_break_typing() -> None:
    events = [key(0, "Shift_L"), key(10, "t", "T", ("shift",)), key_up(20, "Shift_L"), key(30, "o", "o")]
    events += [key(40, "Shift_L"), key(50, "exclam", "!", ("shift",))]
    assert run(events) == [act("type", 10, 50, x=0, y=0, text="To!")]


def test_non_ascii_text_is_exact() -> None:
    events = [key(0, "h", "h"), key(100, "eacute", "é"), key(200, "l", "ł", ("altgr",)), key(300, "l", "l")]
    events += [key(400, "o", "o")]
    assert run(events) == [act("type", 0, 400, x=0, y=0, text="héłlo")]


def test_lone_modifier_taps_give_nothing() -> None:
    events = [key(0, "Control_L"), key_up(10, "Control_L"), key(20, "Super_L"), key(30, "Caps_Lock")]
    assert run(events) == []


def test_keyboard_actions_fall_back_to_the_last_pointer_position() -> None:
    k = make_event("input", "key_press", {"key": "Escape", "text": None, "mods": []}, t=100 * MS)
    assert run([motion(0, 40, 50), k]) == [act("key", 100, x=40, y=50, keys="escape")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Return", "enter"), ("KP_Enter", "enter"), ("ISO_Left_Tab", "tab"), ("Page_Up", "page_up"),
     ("Prior", "page_up"), ("Next", "page_down"), ("F12", "f12"), ("Up", "up"), ("space", "space"),
     ("T", "t"), ("BackSpace", "backspace"), ("Escape", "escape"), ("Home", "home")],
)  # fmt: skip
def test_key_names(name: str, expected: str) -> None:
    assert key_name(name) == expected


# ----- attribution: app, window, frames


def test_app_and_window_follow_the_active_window() -> None:
    events = [
        *click(0),
        window(100, "firefox", "Docs"),
        *text(200, "ab", step=20),
        window(250, "code", "main.py"),
    ]
    events += [key(300, "Return"), *click(400)]
    assert run(events) == [
        act("click", 0, 50, x=0, y=0, button=1),
        act("type", 200, 220, x=0, y=0, text="ab", app="firefox", window="Docs"),
        act("key", 300, x=0, y=0, keys="enter", app="code", window="main.py"),
        act("click", 400, 450, x=0, y=0, button=1, app="code", window="main.py"),
    ]


def test_frame_before_is_never_later_and_frame_after_is_the_first_after_the_end() -> None:
    events = [frame(0, 1), frame(5, 2, ref="seg/2"), press(10), frame(20, 3), release(30), frame(40, 4)]
    events += [frame(50, 5)]
    assert run(events) == [act("click", 10, 30, x=0, y=0, button=1, frame_before="seg/2", frame_after=4)]


def test_frame_after_a_double_click_waits_for_its_last_release() -> None:
    events = [frame(0, 1), *click(10), frame(100, 2), *click(200), frame(300, 3)]
    assert run(events) == [act("double_click", 10, 250, x=0, y=0, button=1, frame_before=1, frame_after=3)]


def test_frames_at_the_same_time_count_before_and_after() -> None:
    events = [frame(0, 1), key(10, "Escape"), frame(10, 2), frame(20, 3)]
    assert run(events) == [act("key", 10, x=0, y=0, keys="escape", frame_before=2, frame_after=2)]
    events = [frame(0, 1), frame(10, 2), key(10, "Escape"), frame(20, 3)]  # the frame comes first
    assert run(events) == [act("key", 10, x=0, y=0, keys="escape", frame_before=2, frame_after=2)]
    events = [frame(0, 1), window(10, "a", "A"), press(10), window(10, "b", "B"), frame(10, 2), release(60)]
    events += [frame(70, 3)]
    assert run(events) == [
        act("click", 10, 60, x=0, y=0, button=1, app="b", window="B", frame_before=2, frame_after=3)
    ]


def test_frame_after_is_none_without_a_later_frame() -> None:
    assert run([frame(0, 1), key(10, "Escape")]) == [act("key", 10, x=0, y=0, keys="escape", frame_before=1)]


def test_typing_frame_after_follows_its_last_key() -> None:
    events = [frame(0, 0), *text(10, "ab"), frame(50, 1), key(150, "c", "c"), frame(200, 2)]
    assert run(events) == [act("type", 10, 150, x=0, y=0, text="abc", frame_before=0, frame_after=2)]


# ----- gaps


def test_gap_flushes_typing_and_clicks() -> None:
    events = text(0, "ab") + [gap(150)] + text(200, "c") + click(300) + [gap(400)] + click(450)
    assert run(events) == [
        act("type", 0, 100, x=0, y=0, text="ab"),
        act("type", 200, x=0, y=0, text="c"),
        act("click", 300, 350, x=0, y=0, button=1),
        act("click", 450, 500, x=0, y=0, button=1),
    ]


def test_gap_drops_a_press_released_after_it_and_splits_scrolls() -> None:
    events = [wheel(0, 1), press(50), gap(100), release(150), wheel(160, 1), gap(200), wheel(210, 1)]
    assert run(events) == [
        act("scroll", 0, x=0, y=0, dx=0, dy=1),
        act("scroll", 160, x=0, y=0, dx=0, dy=1),
        act("scroll", 210, x=0, y=0, dx=0, dy=1),
    ]


def test_no_frame_after_a_gap_is_frame_after_of_an_action_before_it() -> None:
    events = [frame(0, 1), key(10, "Escape"), gap(20), frame(30, 2), key(40, "Tab")]
    assert run(events) == [
        act("key", 10, x=0, y=0, keys="escape", frame_before=1),
        act("key", 40, x=0, y=0, keys="tab", frame_before=2),
    ]


# ----- streaming and bounds


class Counting:
    """An event generator that counts how many events were taken from it."""

    def __init__(self, events: Iterator[Event]) -> None:
        self.events, self.taken = events, 0

    def __iter__(self) -> Iterator[Event]:
        for ev in self.events:
            self.taken += 1
            yield ev


def endless_typing() -> Iterator[Event]:
    t = 10_000.0
    while True:  # one word a second, a frame after each
        yield from text(t, "word ", step=10)
        yield frame(t + 60, int(t))
        t += 2000


def test_streams_without_reading_the_whole_input() -> None:
    events = [frame(0, 0), *click(10), frame(100, 1)] + [motion(t, t, 0) for t in range(200, 5000, 100)]
    source = Counting(iter(events))
    first = next(reduce_actions(source))
    assert first == act("click", 10, 60, x=0, y=0, button=1, frame_before=0, frame_after=1)
    assert source.taken == 9  # up to the first event past the double-click window (motion at 600 ms)

    endless = Counting(endless_typing())
    stream = reduce_actions(endless)
    words = [next(stream) for _ in range(3)]
    assert [w["text"] for w in words] == ["word "] * 3
    assert endless.taken < 30


def test_pending_actions_are_bounded_without_frames() -> None:
    events = [frame(0, 0)] + [key(10 + i, "Escape") for i in range(100)]
    source = Counting(iter(events))
    stream = reduce_actions(source, ReduceConfig(max_pending=10))
    first = next(stream)
    assert first == act("key", 10, x=0, y=0, keys="escape", frame_before=0)
    assert source.taken <= 13
    rest = list(stream)
    assert len(rest) == 99 and [a["t"] for a in rest] == [(11 + i) * MS for i in range(99)]


def test_a_held_button_does_not_hold_output_beyond_the_bound() -> None:
    events = [press(0)] + [key(10 + i, "Escape") for i in range(20)] + [release(100)]
    actions = run(events, max_pending=5)
    assert [a["type"] for a in actions] == ["key"] * 20  # the press was dropped to respect the bound


# ----- config


@pytest.mark.parametrize(
    ("field", "value"),
    [("multi_click_s", -1), ("drag_px", float("nan")), ("type_pause_s", "1"), ("max_pending", 0),
     ("scroll_merge_s", True), ("max_pending", 2.5)],
)  # fmt: skip
def test_config_rejects_bad_values(field: str, value: Any) -> None:
    pattern = rf"ReduceConfig\.{field} must be .*got {re.escape(repr(value))}.*{field}="
    with pytest.raises(ValueError, match=pattern):
        ReduceConfig(**{field: value})


def test_config_changes_thresholds() -> None:
    events = [press(0, 1, 0, 0), release(50, 1, 8, 0)] + click(600) + click(1200)
    assert [a["type"] for a in run(events)] == ["drag", "click", "click"]
    assert [a["type"] for a in run(events, drag_px=10, multi_click_s=0.7)] == ["triple_click"]


def test_secure_input_becomes_one_placeholder_type_placed_by_its_start() -> None:
    from workscribe.process.reduce import SECURE_TEXT

    data = {"reason": "password_field", "start": 300 * MS, "end": 900 * MS}
    marker = make_event("guard", "secure_input", data, t=900 * MS)
    events = [frame(100, 1, "s#1"), *click(200, x=5, y=5), frame(250, 2, "s#2"), frame(600, 3, "s#3"), marker,
              frame(950, 4, "s#4"), *click(1_200, x=50, y=50)]
    actions = run(events)
    assert [a["type"] for a in actions] == ["click", "type", "click"]
    secure = actions[1]
    assert secure["text"] == SECURE_TEXT and (secure["t"], secure["t_end"]) == (300 * MS, 900 * MS)
    assert secure["frame_before"] == "s#2" and secure["frame_after"] == "s#4"  # not s#3, seen while typing


# ----- the window a pointer action acts on


def over(events: list[Event], wid: int, app: str, title: str) -> list[Event]:
    """Pointer events as the recorder stores them: presses and wheel steps name the window under the
    pointer (``data["window"]``)."""
    out = []
    for ev in events:
        if ev["kind"] in ("button_press", "scroll"):
            ev = {**ev, "data": {**ev["data"], "window": {"id": wid, "title": title, "app": app}}}
        out.append(ev)
    return out


def test_a_pointer_action_belongs_to_the_window_under_the_pointer() -> None:
    events = [
        window(0, "term", "left shell"),
        *over(click(100, 1, 700, 50), 2, "editor", "main.py"),  # activates the editor: its event follows
        window(112, "editor", "main.py"),
        *text(300, "x"),
        *over([wheel(500, 1, x=10, y=10)], 1, "term", "left shell"),  # over the inactive terminal
        *over([wheel(550, 1, x=700, y=10)], 2, "editor", "main.py"),  # the next step over the editor
        *over(click(900, 3, 20, 20), 1, "term", "left shell"),
    ]
    assert run(events) == [
        act("click", 100, 150, x=700, y=50, button=1, app="editor", window="main.py"),
        act("type", 300, x=0, y=0, text="x", app="editor", window="main.py"),
        act("scroll", 500, x=10, y=10, dx=0, dy=1, app="term", window="left shell"),
        act("scroll", 550, x=700, y=10, dx=0, dy=1, app="editor", window="main.py"),
        act("right_click", 900, 950, x=20, y=20, button=3, app="term", window="left shell"),
    ]


def test_the_window_of_a_press_is_not_overwritten_by_an_active_window_at_the_same_time() -> None:
    events = [window(10, "a", "A"), *over([press(10)], 2, "b", "B"), window(10, "c", "C"), release(60)]
    assert run(events) == [act("click", 10, 60, x=0, y=0, button=1, app="b", window="B")]


def test_pointer_actions_of_older_recordings_take_the_active_window() -> None:
    events = [window(0, "term", "shell"), *click(100), window(112, "editor", "main.py"), wheel(300)]
    assert [(a["type"], a["app"], a["window"]) for a in run(events)] == [
        ("click", "term", "shell"), ("scroll", "editor", "main.py")]


def source_gap(t: float, source: str) -> Event:
    data = {"source": source, "start": round((t - 20) * MS), "end": round(t * MS), "reason": "x",
            "restarts": 1}
    return make_event("recorder", "source_gap", data, t=round(t * MS))


@pytest.mark.parametrize(("source", "splits"), [("input", True), ("screen", True), ("window", False),
                                                ("git", False)])
def test_a_source_gap_of_input_or_screen_finishes_pending_actions(source: str, splits: bool) -> None:
    events = [frame(0, 1), *text(10, "ab"), source_gap(200, source), frame(210, 2), *text(300, "cd")]
    texts = [(a["text"], a["frame_after"]) for a in run(events)]
    if splits:  # and no frame after the gap is the outcome of typing before it
        assert texts == [("ab", None), ("cd", None)]
    else:
        assert texts == [("abcd", None)]
    from workscribe.process.episodes import cut_episodes, observe

    episodes = list(cut_episodes(observe(iter(events))))
    assert [len(e.steps) for e in episodes] == [len(texts)]
