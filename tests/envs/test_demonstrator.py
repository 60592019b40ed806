"""The demonstrator against a real X display, checked by an independent observer.

What arrived at the X server is read through the RECORD extension (python-xlib), not from
xdotool or the demonstrator, and compared with the demonstrator's ground truth.
"""

from __future__ import annotations

import math
import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from Xlib import XK, X

from helpers import wait_for
from workscribe.envs.demonstrator import (
    DEMO_MARGIN,
    HumanDemonstrator,
    bezier_path,
    char_keysym_name,
    demo_session,
    normalize_keys,
    window_rect,
)
from workscribe.envs.observer import InputObserver
from workscribe.envs.xdisplay import XDisplay, open_window, xdotool


def pointer(name: str) -> tuple[int, int]:
    fields = dict(line.split("=", 1) for line in xdotool(name, "getmouselocation", "--shell").split())
    return int(fields["X"]), int(fields["Y"])


@pytest.fixture
def xterm(xdisplay: XDisplay, tmp_path: Path) -> Iterator[tuple[int, int, int, int]]:
    """An xterm running bash in ``tmp_path`` with a UTF-8 locale; yields its client rectangle."""
    proc, wid = open_window(xdisplay.name, "env", "-C", str(tmp_path), "LC_ALL=C.UTF-8", "xterm", "-u8",
                            "-geometry", "100x30+40+40", "-e", "bash", "--norc", "--noprofile",
                            wm_class="xterm")
    try:
        yield window_rect(xdisplay.name, wid)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def poll_file(path: Path, timeout: float = 5.0) -> str:
    """The file's text once it is written (a whole line)."""
    def line() -> str | None:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return text if text.endswith("\n") else None

    return wait_for(line, timeout=timeout, interval=0.02, what=f"{path.name} to be written")


# -- pure parts ---------------------------------------------------------------------------------


def test_normalize_keys_uses_reducer_names_and_modifier_order() -> None:
    assert normalize_keys("Return") == "enter"
    assert normalize_keys("BackSpace") == "backspace"
    assert normalize_keys("shift+Control_L+T") == "ctrl+shift+t"
    assert normalize_keys("super+alt+Left") == "alt+super+left"
    assert normalize_keys("ctrl+plus") == "ctrl+plus"


def test_char_keysym_name_handles_unicode_and_rejects_control_characters() -> None:
    assert char_keysym_name("a") == "a"
    assert char_keysym_name(" ") == "U0020"
    assert char_keysym_name("é") == "U00E9"
    assert char_keysym_name("中") == "U4E2D"
    with pytest.raises(ValueError, match="key\\(\\)"):
        char_keysym_name("\n")


def test_bezier_path_is_curved_ends_exactly_and_stays_in_bounds() -> None:
    bounds = (100, 100, 400, 300)
    for seed in range(50):
        path = bezier_path((120, 380), (480, 120), 30, random.Random(seed), bounds)
        assert len(path) == 30 and path[-1] == (480, 120)
        assert all(100 <= x <= 499 and 100 <= y <= 399 for x, y in path)
        # distance of each point from the straight line between the ends
        deviation = max(abs(260 * (x - 120) + 360 * (y - 380)) / math.hypot(260, 360) for x, y in path)
        assert deviation > 3


# -- on a real display ------------------------------------------------------------------------


@pytest.mark.x11
def test_move_to_ends_exactly_along_a_curved_timed_path(xdisplay: XDisplay) -> None:
    xdotool(xdisplay.name, "mousemove", "100", "100")
    demo = HumanDemonstrator(xdisplay.name, seed=1)
    with InputObserver(xdisplay.name) as seen:
        demo.move_to(900, 600)
        seen.wait_for(lambda: (seen.of(X.MotionNotify) or [(0, 0, 0, 0, 0)])[-1][3:] == (900, 600))
        motions = seen.of(X.MotionNotify)
    assert pointer(xdisplay.name) == (900, 600)
    assert 10 <= len(motions) <= 60
    duration_ms = motions[-1][2] - motions[0][2]
    assert 150 <= duration_ms <= 900
    deviation = max(abs(500 * (x - 100) - 800 * (y - 100)) / math.hypot(800, 500) for *_, x, y in motions)
    assert deviation > 5, "the path is a straight line"
    for target in [(901, 600), (901, 600), (3, 797), (640, 400)]:
        demo.move_to(*target)
        assert pointer(xdisplay.name) == target
    assert demo.truth == []  # moving is not an action


@pytest.mark.x11
def test_buttons_and_wheel_arrive_as_the_truth_says(xdisplay: XDisplay, xterm: tuple[int, ...]) -> None:
    x, y, w, h = xterm
    demo = HumanDemonstrator(xdisplay.name, seed=2)
    with InputObserver(xdisplay.name) as seen:
        demo.middle_click(x + 50, y + 50)  # first: nothing selected yet, so nothing is pasted
        demo.click(x + 100, y + 60)
        demo.double_click(x + 120, y + 80)
        demo.triple_click(x + 140, y + 100)
        demo.right_click(x + 160, y + 120)
        demo.drag(x + 30, y + 40, x + 300, y + 200)
        demo.scroll(x + 200, y + 150, dy=3)
        demo.scroll(x + 200, y + 150, dy=-2)
        demo.scroll(x + 200, y + 150, dy=0, dx=1)
        seen.wait_for(lambda: len(seen.of(X.ButtonRelease)) >= 15)
        presses, releases = seen.of(X.ButtonPress), seen.of(X.ButtonRelease)
    assert Counter(e[1] for e in presses) == {1: 7, 2: 1, 3: 1, 4: 2, 5: 3, 7: 1}
    assert Counter(e[1] for e in releases) == Counter(e[1] for e in presses)
    assert [e[3:] for e in presses[:2]] == [(x + 50, y + 50), (x + 100, y + 60)]
    double = presses[2:4]
    assert {e[3:] for e in double} == {(x + 120, y + 80)} and double[1][2] - double[0][2] < 250
    drag_press, drag_release = presses[8], [e for e in releases if e[1] == 1][-1]
    assert drag_press[3:] == (x + 30, y + 40) and drag_release[3:] == (x + 300, y + 200)
    assert [a["type"] for a in demo.truth] == ["middle_click", "click", "double_click", "triple_click",
                                                "right_click", "drag", "scroll", "scroll", "scroll"]
    assert demo.truth[5] == {"type": "drag", "x": x + 30, "y": y + 40, "x2": x + 300, "y2": y + 200,
                             "button": 1, "text": None, "keys": None, "dx": None, "dy": None}
    assert [(a["dx"], a["dy"]) for a in demo.truth[6:]] == [(0, 3), (0, -2), (1, 0)]
    assert len(demo.truth_times) == len(demo.truth)


@pytest.mark.x11
def test_typing_has_a_human_rhythm_and_reaches_the_shell(xdisplay: XDisplay, xterm: tuple[int, ...],
                                                          tmp_path: Path) -> None:
    x, y, w, h = xterm
    demo = HumanDemonstrator(xdisplay.name, seed=3, cps=12)
    demo.click(x + w // 2, y + h // 2)
    text = "echo hello world > ascii.txt"
    with InputObserver(xdisplay.name) as seen:
        demo.type_text(text)
        seen.wait_for(lambda: len([e for e in seen.of(X.KeyPress) if e[1] not in seen.modifier_keycodes])
                      >= len(text))
        presses = [e for e in seen.of(X.KeyPress) if e[1] not in seen.modifier_keycodes]
    assert len(presses) == len(text)
    gaps = [b[2] - a[2] for a, b in zip(presses, presses[1:], strict=False)]
    assert max(gaps) < 1000, "a pause this long would split the text into two actions"
    assert len(set(gaps)) > 5, "gaps between keys should vary"
    demo.key("Return")
    assert poll_file(tmp_path / "ascii.txt") == "hello world\n"

    demo.type_text("echo héllo wörld € > utf8.txt")
    demo.key("Return")
    assert poll_file(tmp_path / "utf8.txt") == "héllo wörld €\n"

    with InputObserver(xdisplay.name) as seen:
        demo.hotkey("ctrl+shift+t")
        seen.wait_for(lambda: len(seen.of(X.KeyRelease)) >= 3)
        keys = [(e[0], seen.keysym(e[1])) for e in seen.of(X.KeyPress, X.KeyRelease)]
    ctrl, shift, t = XK.XK_Control_L, XK.XK_Shift_L, XK.XK_t
    assert keys == [(X.KeyPress, ctrl), (X.KeyPress, shift), (X.KeyPress, t),
                    (X.KeyRelease, t), (X.KeyRelease, shift), (X.KeyRelease, ctrl)]
    assert [(a["type"], a["text"], a["keys"]) for a in demo.truth] == [
        ("click", None, None), ("type", text, None), ("key", None, "enter"),
        ("type", "echo héllo wörld € > utf8.txt", None), ("key", None, "enter"),
        ("hotkey", None, "ctrl+shift+t")]
    assert all((a["x"], a["y"]) == (x + w // 2, y + h // 2) for a in demo.truth)


@pytest.mark.x11
def test_demo_session_stays_inside_the_window(xdisplay: XDisplay, xterm: tuple[int, ...]) -> None:
    x, y, w, h = xterm
    xdotool(xdisplay.name, "mousemove", str(x + w // 2), str(y + h // 2))
    demo = HumanDemonstrator(xdisplay.name, seed=4, cps=12)
    start = time.monotonic()
    with InputObserver(xdisplay.name) as seen:
        demo_session(demo, x, y, w, h)
        seen.wait_for(lambda: len(seen.of(X.ButtonRelease)) >= 11)
        pointer_events = seen.of(X.MotionNotify, X.ButtonPress, X.ButtonRelease)
    assert time.monotonic() - start < 20
    assert [a["type"] for a in demo.truth] == ["click", "type", "key", "type", "key", "double_click", "drag",
                                                "scroll", "scroll", "hotkey", "right_click"]
    m = DEMO_MARGIN
    inside = [x + m <= px < x + w - m and y + m <= py < y + h - m for *_, px, py in pointer_events]
    assert len(pointer_events) > 50 and all(inside)
    for a in demo.truth:
        for px, py in [(a["x"], a["y"]), (a["x2"], a["y2"])]:
            assert px is None or (x + m <= px < x + w - m and y + m <= py < y + h - m)
    assert demo.truth[3]["text"] == "echo héllo wörld"
    assert demo.truth[9]["keys"] == "ctrl+l"
