"""One recorded action in the action vocabularies that agent trainers use.

- ``pyautogui``: a line of pyautogui code, coordinates normalised to [0, 1] of the screen
  (``pyautogui.click(x=0.4219, y=0.1700)``), as in OS-Atlas/UI-TARS style training data.
- ``anthropic``: the ``input`` of Anthropic's ``computer`` tool (``left_click``, ``double_click``,
  ``triple_click``, ``right_click``, ``middle_click``, ``left_click_drag``, ``type``, ``key``,
  ``scroll``), screen pixels, keys in xdotool syntax (``ctrl+shift+t``, ``Return``).
- ``openai``: the ``action`` of OpenAI's ``computer_call`` (``click`` with ``button``,
  ``double_click``, ``drag`` with a ``path``, ``keypress`` with ``keys``, ``type``, ``scroll`` with
  ``scroll_x``/``scroll_y`` in pixels). It has no triple click: a triple click becomes
  ``double_click`` then ``click`` (two calls).

Each function returns a list of calls (one, except that case) so that writers never special-case.
"""

from __future__ import annotations

from typing import Any

STYLES = ("pyautogui", "anthropic", "openai")
SCROLL_PX = 100  # pixels of one wheel step, for OpenAI's pixel scroll amounts

# our key names (``keys`` of an action) -> xdotool keysym names (Anthropic's ``key`` action)
XDOTOOL_KEYS = {"enter": "Return", "escape": "Escape", "tab": "Tab", "backspace": "BackSpace",
                "delete": "Delete", "space": "space", "up": "Up", "down": "Down", "left": "Left",
                "right": "Right", "home": "Home", "end": "End", "page_up": "Prior", "page_down": "Next",
                "insert": "Insert"}
# our key names -> OpenAI keypress names
_OPENAI = {"ctrl": "CTRL", "alt": "ALT", "shift": "SHIFT", "super": "META", "altgr": "ALTGR",
           "enter": "ENTER",
           "escape": "ESC", "tab": "TAB", "backspace": "BACKSPACE", "delete": "DELETE", "space": "SPACE",
           "up": "ARROWUP", "down": "ARROWDOWN", "left": "ARROWLEFT", "right": "ARROWRIGHT", "home": "HOME",
           "end": "END", "page_up": "PAGEUP", "page_down": "PAGEDOWN"}
# our key names -> pyautogui key names
_PYAUTOGUI = {"page_up": "pageup", "page_down": "pagedown", "super": "win", "altgr": "altright"}
_PY_CLICK = {"click": "click", "double_click": "doubleClick", "triple_click": "tripleClick",
             "right_click": "rightClick", "middle_click": "middleClick"}
_ANTHROPIC_CLICK = {"click": "left_click", "double_click": "double_click", "triple_click": "triple_click",
                    "right_click": "right_click", "middle_click": "middle_click"}
_OPENAI_BUTTON = {"click": "left", "right_click": "right", "middle_click": "wheel"}


def convert(action: dict[str, Any], style: str, screen: tuple[int, int]) -> list[Any]:
    """``action`` (an exported step's action fields) as calls of ``style``; ``screen`` is (w, h)."""
    if style == "pyautogui":
        return [pyautogui(action, screen)]
    if style == "anthropic":
        return [anthropic(action)]
    if style == "openai":
        return openai(action)
    raise ValueError(f"unknown action style {style!r}; use one of {', '.join(STYLES)}")


def _keys(action: dict[str, Any]) -> list[str]:
    return [k for k in (action.get("keys") or "").split("+") if k]


def pyautogui(a: dict[str, Any], screen: tuple[int, int]) -> str:
    """One line of pyautogui code (several statements joined by ``; `` for a drag)."""
    w, h = screen

    def xy(x: int, y: int) -> str:
        return f"x={x / w:.4f}, y={y / h:.4f}"

    t = a["type"]
    if t in _PY_CLICK:
        return f"pyautogui.{_PY_CLICK[t]}({xy(a['x'], a['y'])})"
    if t == "drag":
        return (f"pyautogui.moveTo({xy(a['x'], a['y'])}); "
                f"pyautogui.dragTo({xy(a['x2'], a['y2'])}, button='left')")
    if t == "scroll":
        calls = []
        if a.get("dy"):
            calls.append(f"pyautogui.scroll({-a['dy']}, {xy(a['x'], a['y'])})")  # pyautogui: up is positive
        if a.get("dx"):
            calls.append(f"pyautogui.hscroll({a['dx']}, {xy(a['x'], a['y'])})")
        return "; ".join(calls) or f"pyautogui.scroll(0, {xy(a['x'], a['y'])})"
    if t == "type":
        return f"pyautogui.write({a['text']!r})"
    keys = [_PYAUTOGUI.get(k, k) for k in _keys(a)]
    if t == "key" and len(keys) == 1:
        return f"pyautogui.press({keys[0]!r})"
    return "pyautogui.hotkey(" + ", ".join(repr(k) for k in keys) + ")"


def _xdotool_keys(a: dict[str, Any]) -> str:
    return "+".join(XDOTOOL_KEYS.get(k, k) for k in _keys(a))


def anthropic(a: dict[str, Any]) -> dict[str, Any]:
    """The ``input`` of one call of Anthropic's ``computer`` tool."""
    t = a["type"]
    if t in _ANTHROPIC_CLICK:
        return {"action": _ANTHROPIC_CLICK[t], "coordinate": [a["x"], a["y"]]}
    if t == "drag":
        return {"action": "left_click_drag", "start_coordinate": [a["x"], a["y"]],
                "coordinate": [a["x2"], a["y2"]]}
    if t == "scroll":
        dx, dy = a.get("dx") or 0, a.get("dy") or 0
        if abs(dy) >= abs(dx):
            direction, amount = ("down" if dy > 0 else "up"), abs(dy)
        else:
            direction, amount = ("right" if dx > 0 else "left"), abs(dx)
        return {"action": "scroll", "coordinate": [a["x"], a["y"]], "scroll_direction": direction,
                "scroll_amount": amount}
    if t == "type":
        return {"action": "type", "text": a["text"]}
    return {"action": "key", "text": _xdotool_keys(a)}


def openai(a: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``action`` of OpenAI ``computer_call`` items (two for a triple click)."""
    t = a["type"]
    if t in _OPENAI_BUTTON:
        return [{"type": "click", "button": _OPENAI_BUTTON[t], "x": a["x"], "y": a["y"]}]
    if t == "double_click":
        return [{"type": "double_click", "x": a["x"], "y": a["y"]}]
    if t == "triple_click":
        return [{"type": "double_click", "x": a["x"], "y": a["y"]},
                {"type": "click", "button": "left", "x": a["x"], "y": a["y"]}]
    if t == "drag":
        return [{"type": "drag", "path": [{"x": a["x"], "y": a["y"]}, {"x": a["x2"], "y": a["y2"]}]}]
    if t == "scroll":
        return [{"type": "scroll", "x": a["x"], "y": a["y"], "scroll_x": (a.get("dx") or 0) * SCROLL_PX,
                 "scroll_y": (a.get("dy") or 0) * SCROLL_PX}]
    if t == "type":
        return [{"type": "type", "text": a["text"]}]
    return [{"type": "keypress", "keys": [_OPENAI.get(k, k.upper()) for k in _keys(a)]}]


def tool_schema(style: str, screen: tuple[int, int]) -> dict[str, Any] | None:
    """The tool definition a trainer passes with the conversation (None for pyautogui code)."""
    if style == "anthropic":
        return {"type": "computer_20250124", "name": "computer", "display_width_px": screen[0],
                "display_height_px": screen[1]}
    if style == "openai":
        return {"type": "computer_use_preview", "display_width": screen[0], "display_height": screen[1],
                "environment": "linux"}
    return None
