"""Recorded actions in the pyautogui, Anthropic and OpenAI computer-use vocabularies."""

from __future__ import annotations

import pytest

from workscribe.export.vocab import anthropic, convert, openai, pyautogui

SCREEN = (1000, 500)


def act(type_: str, **kw: object) -> dict[str, object]:
    return {"type": type_, "x": None, "y": None, "x2": None, "y2": None, "button": None, "text": None,
            "keys": None, "dx": None, "dy": None, **kw}


@pytest.mark.parametrize(("action", "code"), [
    (act("click", x=420, y=85), "pyautogui.click(x=0.4200, y=0.1700)"),
    (act("double_click", x=0, y=500), "pyautogui.doubleClick(x=0.0000, y=1.0000)"),
    (act("right_click", x=500, y=250), "pyautogui.rightClick(x=0.5000, y=0.5000)"),
    (act("drag", x=100, y=100, x2=300, y2=400),
     "pyautogui.moveTo(x=0.1000, y=0.2000); pyautogui.dragTo(x=0.3000, y=0.8000, button='left')"),
    (act("scroll", x=10, y=10, dy=3), "pyautogui.scroll(-3, x=0.0100, y=0.0200)"),
    (act("type", text="héllo 'x'"), "pyautogui.write(\"héllo 'x'\")"),
    (act("key", keys="enter"), "pyautogui.press('enter')"),
    (act("hotkey", keys="ctrl+shift+t"), "pyautogui.hotkey('ctrl', 'shift', 't')"),
])
def test_pyautogui_code_with_normalised_coordinates(action: dict, code: str) -> None:
    assert pyautogui(action, SCREEN) == code


def test_anthropic_computer_tool_inputs() -> None:
    assert anthropic(act("click", x=5, y=6)) == {"action": "left_click", "coordinate": [5, 6]}
    assert anthropic(act("triple_click", x=5, y=6))["action"] == "triple_click"
    assert anthropic(act("drag", x=1, y=2, x2=3, y2=4)) == {
        "action": "left_click_drag", "start_coordinate": [1, 2], "coordinate": [3, 4]}
    assert anthropic(act("scroll", x=1, y=2, dy=-2)) == {
        "action": "scroll", "coordinate": [1, 2], "scroll_direction": "up", "scroll_amount": 2}
    assert anthropic(act("key", keys="enter")) == {"action": "key", "text": "Return"}
    assert anthropic(act("hotkey", keys="ctrl+page_down")) == {"action": "key", "text": "ctrl+Next"}
    assert anthropic(act("type", text="ls -la")) == {"action": "type", "text": "ls -la"}


def test_openai_computer_call_actions() -> None:
    assert openai(act("right_click", x=5, y=6)) == [{"type": "click", "button": "right", "x": 5, "y": 6}]
    assert [a["type"] for a in openai(act("triple_click", x=5, y=6))] == ["double_click", "click"]
    assert openai(act("drag", x=1, y=2, x2=3, y2=4)) == [
        {"type": "drag", "path": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}]
    assert openai(act("scroll", x=1, y=2, dy=2)) == [{"type": "scroll", "x": 1, "y": 2, "scroll_x": 0,
                                                      "scroll_y": 200}]
    assert openai(act("hotkey", keys="ctrl+shift+t")) == [
        {"type": "keypress", "keys": ["CTRL", "SHIFT", "T"]}]


def test_an_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action style"):
        convert(act("click", x=1, y=1), "xdotool", SCREEN)
