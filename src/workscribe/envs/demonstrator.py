"""A scripted, human-like demonstrator that drives a real X display through xdotool (XTEST).

``HumanDemonstrator`` moves the pointer along curved, eased paths, clicks, drags, scrolls and types
with a human rhythm, and appends the action it meant to perform to ``truth`` in the shape the
reducer produces. Recorder tests compare what the recorder derived against that ground truth, and
``make demo`` uses ``demo_session`` to produce a short, varied recording.

Each gesture is ONE chained xdotool command (``mousemove ... sleep 0.016 mousemove ... mousedown 1
sleep 0.07 mouseup 1``), so the timing inside a gesture does not depend on process start-up. Text
is typed with ``key`` and Unicode keysym names (``U00E9``): unlike ``type``, ``key`` can be chained,
and like ``type`` it remaps a spare keycode for characters the keyboard map lacks.

Ground-truth actions are dicts with the keys ``type``, ``x``, ``y``, ``x2``, ``y2``, ``button``,
``text``, ``keys``, ``dx``, ``dy`` (``None`` where not applicable). ``x``, ``y`` of a keyboard action
are the pointer position at that moment. ``keys`` are normalised by ``normalize_keys``.
"""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import time
from typing import Any

from workscribe.envs.xdisplay import DisplayError
from workscribe.events import MODIFIER_KEYS, now_ns
from workscribe.process.reduce import key_name

Point = tuple[int, int]
Rect = tuple[int, int, int, int]  # x, y, width, height

STEP_S = 1 / 60
"""Interval between pointer positions on a path (about 60 Hz, like a real mouse sampled by X)."""

MODIFIER_ORDER = ("ctrl", "alt", "shift", "super")
"""Order of modifiers in a normalised hotkey (``ctrl+alt+shift+super+KEY``)."""

_MODIFIER_ALIASES: dict[str, str] = {
    "ctrl": "ctrl", "control": "ctrl", "alt": "alt", "meta": "alt", "shift": "shift",
    "super": "super", "win": "super", "hyper": "super",
    **{name.lower(): mod for name, mod in MODIFIER_KEYS.items() if mod in MODIFIER_ORDER},
}

_XDOTOOL_ALIASES: dict[str, str] = {"esc": "Escape", "enter": "Return", "pageup": "Prior", "pagedown": "Next"}
"""Short names xdotool accepts besides X keysym names."""

_XDOTOOL_MODIFIER = {"ctrl": "ctrl", "alt": "alt", "shift": "shift", "super": "super"}


def normalize_key(name: str) -> str:
    """The normalised name of one key: ``Return`` -> ``enter``, ``Control_L`` -> ``ctrl``, ``T`` -> ``t``."""
    low = name.lower()
    if low in _MODIFIER_ALIASES:
        return _MODIFIER_ALIASES[low]
    return key_name(_XDOTOOL_ALIASES.get(low, name))


def normalize_keys(combo: str) -> str:
    """Normalises an xdotool key or combination the way the reducer names keys.

    Modifiers come first in the order ctrl, alt, shift, super, each once; then the other keys.

    Example:
        >>> normalize_keys("shift+Control_L+T")
        'ctrl+shift+t'
        >>> normalize_keys("Return")
        'enter'
    """
    parts = [normalize_key(p) for p in _split_combo(combo)]
    mods = [m for m in MODIFIER_ORDER if m in parts]
    rest = [p for p in parts if p not in MODIFIER_ORDER]
    return "+".join(mods + rest)


def _split_combo(combo: str) -> list[str]:
    if combo == "+":
        return ["plus"]
    parts = combo.split("+")
    if not all(parts):
        raise ValueError(f"key combination {combo!r} has an empty part; write '+' as 'plus'")
    return parts


def char_keysym_name(char: str) -> str:
    """The keysym name xdotool ``key`` needs to produce ``char``: ``a`` stays ``a``, ``é`` is ``U00E9``."""
    if len(char) != 1 or not char.isprintable():
        raise ValueError(f"cannot type {char!r}: only printable characters; use key() for Return, Tab, ...")
    if char.isascii() and char.isalnum():
        return char
    return f"U{ord(char):04X}"


def movement_duration(distance: float) -> float:
    """Seconds a person takes to move the pointer ``distance`` pixels (Fitts-like, 0.2 to 0.8 s)."""
    return min(0.8, max(0.2, 0.12 + 0.1 * math.log2(1 + distance / 16)))


def ease_in_out(s: float) -> float:
    """Progress along a path at time fraction ``s``: slow start, fast middle, slow end."""
    return 0.5 - 0.5 * math.cos(math.pi * s)


def bezier_path(start: Point, end: Point, steps: int, rng: random.Random,
                bounds: Rect | None = None) -> list[Point]:
    """Pointer positions along a random cubic Bezier curve from ``start`` to ``end``.

    Returns ``steps`` positions (``start`` excluded), evenly spaced in time and eased in and out;
    the last one is exactly ``end``. When ``bounds`` contains both ends, the control points are
    clamped into it, and since a Bezier curve stays inside the convex hull of its control points,
    so does the whole path.
    """
    (x0, y0), (x3, y3) = start, end
    dx, dy = x3 - x0, y3 - y0
    dist = math.hypot(dx, dy)
    if dist == 0 or steps < 1:
        return [end]
    nx, ny = -dy / dist, dx / dist  # unit normal
    side = rng.choice((-1.0, 1.0))
    off1 = side * rng.uniform(0.05, 0.25) * dist
    # Mostly an arc (both control points on one side), sometimes an S-curve.
    off2 = (side if rng.random() < 0.8 else -side) * rng.uniform(0.05, 0.25) * dist
    a1, a2 = rng.uniform(0.2, 0.4), rng.uniform(0.6, 0.8)
    p1 = (x0 + a1 * dx + off1 * nx, y0 + a1 * dy + off1 * ny)
    p2 = (x0 + a2 * dx + off2 * nx, y0 + a2 * dy + off2 * ny)
    if bounds is not None and _inside(start, bounds) and _inside(end, bounds):
        p1, p2 = _clamp(p1, bounds), _clamp(p2, bounds)
    path: list[Point] = []
    for i in range(1, steps):
        u = ease_in_out(i / steps)
        v = 1 - u
        bx = v**3 * x0 + 3 * v * v * u * p1[0] + 3 * v * u * u * p2[0] + u**3 * x3
        by = v**3 * y0 + 3 * v * v * u * p1[1] + 3 * v * u * u * p2[1] + u**3 * y3
        point = (round(bx), round(by))
        if bounds is not None and _inside(start, bounds) and _inside(end, bounds):
            point = _clamp_int(point, bounds)  # rounding may step one pixel over the edge
        path.append(point)
    path.append(end)
    return path


def _inside(p: Point, r: Rect) -> bool:
    return r[0] <= p[0] <= r[0] + r[2] - 1 and r[1] <= p[1] <= r[1] + r[3] - 1


def _clamp(p: tuple[float, float], r: Rect) -> tuple[float, float]:
    return (min(max(p[0], r[0]), r[0] + r[2] - 1), min(max(p[1], r[1]), r[1] + r[3] - 1))


def _clamp_int(p: Point, r: Rect) -> Point:
    x, y = _clamp(p, r)
    return int(x), int(y)


def _action(type_: str, **fields: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"type": type_, "x": None, "y": None, "x2": None, "y2": None,
                              "button": None, "text": None, "keys": None, "dx": None, "dy": None}
    action.update(fields)
    return action


_CLICK_TYPES = {1: "click", 2: "middle_click", 3: "right_click"}


class HumanDemonstrator:
    """Drives the pointer and keyboard of an X display like a person, and records what it did.

    Args:
        display: The X display name, e.g. ``":42"``.
        seed: Seed of the random paths, delays and rhythm; the same seed gives the same gestures.
        cps: Typing speed in characters per second (median gap between keys is ``1 / cps``).

    Attributes:
        truth: The ground-truth actions performed so far, in order (see the module docstring).
        truth_times: ``(start, end)`` recording-clock nanoseconds (``events.now_ns``) of each
            action in ``truth``: from the start of its xdotool command to its end.
        bounds: ``(x, y, w, h)`` the pointer paths stay inside when both ends lie inside it;
            ``None`` for the whole screen.
        screen: ``(0, 0, width, height)`` of the display.
        position: Where the pointer is (read at start, then kept up to date by each gesture).
    """

    def __init__(self, display: str, seed: int = 0, cps: float = 6.0) -> None:
        if cps <= 0:
            raise ValueError(f"cps must be positive, got {cps!r}: characters per second, e.g. 6.0")
        self.display = display
        self.cps = cps
        self.rng = random.Random(seed)
        self.truth: list[dict[str, Any]] = []
        self.truth_times: list[tuple[int, int]] = []
        self.bounds: Rect | None = None
        self._env = {**os.environ, "DISPLAY": display}
        width, height = (int(v) for v in self._query("getdisplaygeometry").split())
        self.screen: Rect = (0, 0, width, height)
        self.position: Point = self._query_pointer()

    # -- pointer ---------------------------------------------------------------------------------

    def move_to(self, x: int, y: int) -> None:
        """Moves the pointer along a curved, eased path and ends exactly at ``(x, y)``."""
        self._check_point(x, y)
        chain = self._reaction() + self._path_to(x, y)
        self._run(chain)

    def click(self, x: int, y: int, button: int = 1) -> None:
        """Moves to ``(x, y)`` and clicks ``button`` (1 left, 2 middle, 3 right, 8/9 back/forward)."""
        self._check_point(x, y)
        chain = self._reaction() + self._path_to(x, y) + self._settle() + self._press_release(button)
        self._perform(chain, _action(_CLICK_TYPES.get(button, "click"), x=x, y=y, button=button))

    def right_click(self, x: int, y: int) -> None:
        """Moves to ``(x, y)`` and clicks the right button."""
        self.click(x, y, button=3)

    def middle_click(self, x: int, y: int) -> None:
        """Moves to ``(x, y)`` and clicks the middle button."""
        self.click(x, y, button=2)

    def double_click(self, x: int, y: int) -> None:
        """Moves to ``(x, y)`` and double-clicks the left button."""
        self._multi_click(x, y, 2, "double_click")

    def triple_click(self, x: int, y: int) -> None:
        """Moves to ``(x, y)`` and triple-clicks the left button."""
        self._multi_click(x, y, 3, "triple_click")

    def _multi_click(self, x: int, y: int, count: int, type_: str) -> None:
        self._check_point(x, y)
        chain = self._reaction() + self._path_to(x, y) + self._settle()
        for i in range(count):
            if i:
                chain += ["sleep", _secs(self.rng.uniform(0.06, 0.1))]
            chain += self._press_release(1)
        self._perform(chain, _action(type_, x=x, y=y, button=1))

    def drag(self, x1: int, y1: int, x2: int, y2: int, button: int = 1) -> None:
        """Moves to ``(x1, y1)``, presses ``button``, moves along a curve to ``(x2, y2)``, releases."""
        self._check_point(x1, y1)
        self._check_point(x2, y2)
        chain = self._reaction() + self._path_to(x1, y1) + self._settle()
        chain += ["mousedown", str(button), "sleep", _secs(self.rng.uniform(0.1, 0.2))]
        chain += self._path_to(x2, y2)
        chain += ["sleep", _secs(self.rng.uniform(0.05, 0.12)), "mouseup", str(button)]
        self._perform(chain, _action("drag", x=x1, y=y1, x2=x2, y2=y2, button=button))

    def scroll(self, x: int, y: int, dy: int, dx: int = 0) -> None:
        """Moves to ``(x, y)`` and turns the wheel: ``dy`` > 0 scrolls down, ``dx`` > 0 right (steps)."""
        if not dy and not dx:
            raise ValueError("scroll needs dy or dx: the number of wheel steps, e.g. dy=3")
        self._check_point(x, y)
        chain = self._reaction() + self._path_to(x, y) + self._settle()
        steps = [5 if dy > 0 else 4] * abs(dy) + [7 if dx > 0 else 6] * abs(dx)
        for i, button in enumerate(steps):
            if i:
                chain += ["sleep", _secs(self.rng.uniform(0.04, 0.12))]
            chain += ["click", "--delay", "0", str(button)]
        self._perform(chain, _action("scroll", x=x, y=y, dx=dx, dy=dy))

    # -- keyboard --------------------------------------------------------------------------------

    def type_text(self, text: str) -> None:
        """Types printable ``text`` (any Unicode) with a human rhythm, as one type action.

        Gaps between keys are drawn around ``1 / cps``, with occasional hesitations; every gap
        stays below 0.8 s so a reducer with a 1 s gap threshold sees one action.
        """
        if not text:
            raise ValueError("type_text needs at least one character")
        names = [char_keysym_name(c) for c in text]
        chain = self._reaction()
        for i, name in enumerate(names):
            if i:
                # the previous key's own delay is part of the gap
                gap = self._key_gap(text[i - 1]) - _key_delay(names[i - 1])
                if gap > 0:
                    chain += ["sleep", _secs(gap)]
            chain += _key_args(name)
        self._perform(chain, _action("type", x=self.position[0], y=self.position[1], text=text))

    def _key_gap(self, previous: str) -> float:
        gap = self.rng.lognormvariate(math.log(1 / self.cps), 0.35)
        # People hesitate now and then, more often at a word boundary.
        if self.rng.random() < (0.12 if previous == " " else 0.03):
            gap += self.rng.uniform(0.25, 0.6)
        return min(max(gap, 0.02), 0.8)

    def key(self, name: str) -> None:
        """Presses and releases one key by its xdotool (X keysym) name, e.g. ``Return`` or ``Tab``.

        A combination such as ``ctrl+l`` is passed on to ``hotkey``.
        """
        parts = _split_combo(name)
        if len(parts) > 1:
            self.hotkey(name)
            return
        chain = self._reaction() + _key_args(parts[0])
        self._perform(chain, _action("key", x=self.position[0], y=self.position[1],
                                     keys=normalize_keys(name)))

    def hotkey(self, combo: str) -> None:
        """Presses a key combination such as ``ctrl+shift+t`` the way a person does.

        The modifiers go down one after another, the key is pressed and released, then the
        modifiers come up in reverse order.
        """
        parts = _split_combo(combo)
        mods = [normalize_key(p) for p in parts[:-1]]
        main = parts[-1]
        bad = [p for p, m in zip(parts[:-1], mods, strict=True) if m not in MODIFIER_ORDER]
        if not mods or bad or normalize_key(main) in MODIFIER_ORDER:
            raise ValueError(f"hotkey {combo!r} must be modifiers (ctrl, alt, shift, super) then one key, "
                             "e.g. 'ctrl+shift+t'; use key() for a single key")
        chain = self._reaction()
        for mod in mods:
            chain += ["keydown", _XDOTOOL_MODIFIER[mod], "sleep", _secs(self.rng.uniform(0.03, 0.09))]
        chain += _key_args(main)
        for mod in reversed(mods):
            chain += ["sleep", _secs(self.rng.uniform(0.02, 0.06)), "keyup", _XDOTOOL_MODIFIER[mod]]
        self._perform(chain, _action("hotkey", x=self.position[0], y=self.position[1],
                                     keys=normalize_keys(combo)))

    def pause(self, seconds: float) -> None:
        """Does nothing for ``seconds`` (a person reading the screen)."""
        time.sleep(max(0.0, seconds))

    # -- building and running chains ---------------------------------------------------------------

    def _reaction(self) -> list[str]:
        return ["sleep", _secs(self.rng.uniform(0.05, 0.25))]

    def _settle(self) -> list[str]:
        return ["sleep", _secs(self.rng.uniform(0.03, 0.08))]

    def _press_release(self, button: int) -> list[str]:
        return ["mousedown", str(button), "sleep", _secs(self.rng.uniform(0.04, 0.08)),
                "mouseup", str(button)]

    def _path_to(self, x: int, y: int) -> list[str]:
        """Chain arguments that move the pointer from its current position to ``(x, y)``."""
        start = self.position
        dist = math.hypot(x - start[0], y - start[1])
        self.position = (x, y)
        if dist < 1:
            return ["mousemove", str(x), str(y)]
        duration = min(0.8, max(0.2, movement_duration(dist) * self.rng.uniform(0.9, 1.1)))
        steps = max(2, round(duration / STEP_S))
        path = bezier_path(start, (x, y), steps, self.rng, self.bounds or self.screen)
        chain: list[str] = []
        wait = 0.0
        last = start
        for i, point in enumerate(path):
            if i:
                wait += duration / steps
            if point == last and i < len(path) - 1:
                continue  # no motion: let the time pass in the next sleep
            if wait:
                chain += ["sleep", _secs(wait)]
                wait = 0.0
            chain += ["mousemove", str(point[0]), str(point[1])]
            last = point
        return chain

    def _check_point(self, x: int, y: int) -> None:
        if not _inside((x, y), self.screen):
            raise ValueError(f"point ({x}, {y}) is off the screen {self.screen[2]}x{self.screen[3]}")

    def _perform(self, chain: list[str], action: dict[str, Any]) -> None:
        start = now_ns()
        self._run(chain)
        self.truth.append(action)
        self.truth_times.append((start, now_ns()))

    def _run(self, chain: list[str]) -> None:
        budget = sum(float(chain[i + 1]) for i, a in enumerate(chain) if a == "sleep")
        try:
            out = subprocess.run(["xdotool", *chain], env=self._env, capture_output=True, text=True,
                                 timeout=budget + 15)
        except subprocess.TimeoutExpired as exc:
            raise DisplayError(f"xdotool did not finish within {budget + 15:.0f} s") from exc
        if out.returncode != 0:
            self.position = self._query_pointer()  # the chain may have stopped anywhere
            raise DisplayError(f"xdotool failed ({out.returncode}): {out.stderr.strip()}")

    def _query(self, *args: str) -> str:
        out = subprocess.run(["xdotool", *args], env=self._env, capture_output=True, text=True, timeout=15)
        if out.returncode != 0:
            raise DisplayError(f"xdotool {' '.join(args)} failed on {self.display}: {out.stderr.strip()}")
        return out.stdout

    def _query_pointer(self) -> Point:
        fields = dict(line.split("=", 1) for line in self._query("getmouselocation", "--shell").split())
        return int(fields["X"]), int(fields["Y"])


REMAP_HOLD_S = 0.03
"""How long a key whose keysym xdotool bound to a spare keycode stays bound after its release.

xdotool restores the keyboard map right after the key's ``--delay``; with ``--delay 0`` the map
is often restored before the application looks the keycode up, and the character is lost
(measured: xterm lost every non-ASCII character at 0 ms, none at 5 ms or more).
"""


_UNICODE_KEYSYM = re.compile(r"U([0-9A-F]{4,6})")


def _key_delay(name: str) -> float:
    """Seconds xdotool waits after pressing ``name``: only non-ASCII characters, which it may bind."""
    match = _UNICODE_KEYSYM.fullmatch(name)
    return REMAP_HOLD_S if match and int(match[1], 16) >= 0x80 else 0.0


def _key_args(name: str) -> list[str]:
    return ["key", "--delay", str(round(_key_delay(name) * 1000)), name]


def _secs(seconds: float) -> str:
    return f"{seconds:.3f}"


def window_rect(display: str, window: int) -> Rect:
    """The client area ``(x, y, w, h)`` of ``window`` in root coordinates.

    Read through the X server rather than ``xdotool getwindowgeometry``, which can be off by the
    window manager's frame height.
    """
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        win = d.create_resource_object("window", window)
        geom = win.get_geometry()
        origin = d.screen().root.translate_coords(win, 0, 0)
        return origin.x, origin.y, geom.width, geom.height
    finally:
        d.close()


DEMO_MARGIN = 20
"""Pixels ``demo_session`` keeps away from every edge of the window."""


def demo_session(demo: HumanDemonstrator, x: int, y: int, w: int, h: int) -> None:
    """Performs a short, varied session in an xterm (running a shell) whose client area is (x, y, w, h).

    It clicks into the window, types ``echo hello world`` and ``echo héllo wörld`` (each followed
    by Return), double-clicks a word, drags across text, scrolls down and up, presses ``ctrl+l``
    (clears a bash screen) and right-clicks. Every coordinate stays at least ``DEMO_MARGIN``
    pixels inside the rectangle, pointer paths included. Takes about 10 to 15 s at 6 cps.

    Word positions assume xterm's default 6x13 font; a miss still performs the same gestures.
    """
    m = DEMO_MARGIN
    if w <= 2 * m + 40 or h <= 2 * m + 40:
        raise ValueError(f"window {w}x{h} is too small for demo_session: needs more than "
                         f"{2 * m + 40}x{2 * m + 40} pixels")
    inner: Rect = (x + m, y + m, w - 2 * m, h - 2 * m)
    rng = demo.rng

    def at(col: float, row: float) -> Point:
        """The centre of a character cell (xterm: 2 px border, 6x13 font), kept inside ``inner``."""
        return _clamp_int((round(x + 2 + 6 * col + 3), round(y + 2 + 13 * row + 6)), inner)

    def anywhere() -> Point:
        ix, iy, iw, ih = inner
        return rng.randint(ix, ix + iw - 1), rng.randint(iy, iy + ih - 1)

    saved = demo.bounds
    demo.bounds = inner
    try:
        demo.click(*anywhere())
        demo.type_text("echo hello world")
        demo.key("Return")
        demo.type_text("echo héllo wörld")
        demo.key("Return")
        demo.pause(0.3)
        demo.double_click(*at(4, 1))  # "hello" on the output line of the first command
        demo.drag(*at(3, 3), *at(9, 3))  # across "lo wö" of "héllo wörld"
        cx, cy = anywhere()
        demo.scroll(cx, cy, dy=3)
        demo.scroll(cx, cy, dy=-3)
        demo.hotkey("ctrl+l")
        demo.right_click(*anywhere())
    finally:
        demo.bounds = saved
