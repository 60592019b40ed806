"""MiniWoB++ tasks in a real Chromium window on an X display, for behaviour-cloning data and evaluation.

``MiniWobEnv`` wraps miniwob's gymnasium environment (``miniwob.environment.MiniWoBEnvironment``),
non-headless, on one ``XDisplay``. Selenium and JavaScript are used only to start an episode with a
seed and to read what a person would see: the instruction, the geometry of the visible DOM elements,
and the reward. Every click and keystroke comes from outside, at the OS level (xdotool, or a
person), so a recorder sees exactly what it would see of human work. Use one display per
environment: keys go to whichever window has the focus.

Screen coordinates: the page's (0, 0) is at ``(screenX, screenY + outerHeight - innerHeight)``
(``Observation.screen_origin``); every element carries its page box and its screen box.

Episode boundaries (measured on Chromium 156, miniwob 1.1.0):

* ``reset(seed)`` ends any running episode and starts a new one with that seed: the layout and the
  instruction depend only on the seed.
* When an episode ends, miniwob shows a black START cover over the task area within about 20 ms;
  a click on it would start an unseeded episode and reset the reward globals. ``reset`` therefore
  makes the cover inert (episodes start only through ``reset``), so the reward read after the end
  stays the episode's reward however the pointer moves.
* ``reward()`` is the raw reward (``WOB_RAW_REWARD_GLOBAL``, not discounted by time): > 0 is a
  success. An episode that runs out of time (10 s by default) ends with -1.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from workscribe.envs.chromium import ChromiumLauncher
from workscribe.envs.xdisplay import DisplayError, XDisplay, xdotool

Box = tuple[int, int, int, int]  # x, y, width, height in screen pixels

DEFAULT_WINDOW_SIZE = (400, 330)
"""Outer size of the browser window: the 160x210 task area plus miniwob's reward panel beside it."""

CHROMIUM_CLASS = "Chromium"
"""WM_CLASS class of Chromium's windows (the instance name is derived from the page's URL)."""

_ENV_LOCK = threading.Lock()  # miniwob reads MINIWOB_CHROME_BINARY from os.environ while it starts

_GEOMETRY_JS = ("return [window.screenX, window.screenY + window.outerHeight - window.innerHeight,"
                " window.innerWidth, window.innerHeight];")
_RESULT_JS = ("return {done: WOB_DONE_GLOBAL, raw_reward: WOB_RAW_REWARD_GLOBAL,"
              " reward: WOB_REWARD_GLOBAL, reason: WOB_REWARD_REASON};")
_INERT_COVER_JS = "if (core.cover_div) { core.cover_div.onclick = null; }"

_TEXTBOX_TAGS = {"input_text", "input_password", "input_email", "input_number", "input_search",
                 "input_tel", "input_url", "textarea"}
_BUTTON_TAGS = {"button", "input_button", "input_submit", "input_reset"}


class MiniWobError(RuntimeError):
    """The MiniWoB++ environment could not start, or a task name is unknown."""


def miniwob_html_dir() -> Path:
    """The folder of miniwob's task pages (``<task>.html``)."""
    import miniwob

    return Path(miniwob.__file__).parent / "html" / "miniwob"


def miniwob_site() -> str:
    """The site pattern (``file:///.../miniwob/*``) that covers every task page, for a consent's sites."""
    return miniwob_html_dir().as_uri() + "/*"


def available_tasks() -> list[str]:
    """Names of every MiniWoB++ task this miniwob version ships, sorted."""
    return sorted(p.stem for p in miniwob_html_dir().glob("*.html"))


def element_role(tag: str, classes: str, text: str = "") -> str:
    """What a person would call an element: ``button``, ``link``, ``textbox``, ``checkbox`` ...

    ``tag`` is miniwob's tag (lower case; inputs carry their type, ``input_checkbox``; ``t`` is a
    run of text). Links in MiniWoB are often spans styled as links (class ``alink``). Elements with
    text of their own are ``text``; other containers are ``group``.
    """
    words = set(classes.split())
    if tag in _BUTTON_TAGS or "ui-button" in words:
        return "button"
    if tag == "a" or "alink" in words:
        return "link"
    if tag in _TEXTBOX_TAGS:
        return "textbox"
    if tag in ("input_checkbox", "input_radio"):
        return tag.removeprefix("input_")
    if tag == "select":
        return "listbox"
    if tag == "label":
        return "label"
    if "ui-dialog" in words:
        return "dialog"
    if text:
        return "text"
    return "group"


@dataclass(frozen=True)
class Element:
    """One visible DOM element, as a person sees it on the screen."""

    ref: int  # miniwob's reference (stable within an episode; text runs count down from -1)
    parent: int  # ref of the parent element (0 for the root)
    tag: str  # lower case; inputs carry their type ("input_text"); "t" is a run of text
    role: str  # button, link, textbox, checkbox, radio, listbox, label, dialog, text or group
    text: str  # text of a leaf element ("" for containers)
    value: str | bool | None  # an input's value (bool for checkboxes and radios)
    id: str  # HTML id attribute
    classes: str  # HTML class attribute
    focused: bool  # has the keyboard focus
    page_box: tuple[float, float, float, float]  # left, top, width, height in CSS pixels of the page
    box: Box  # x, y, width, height in screen pixels

    @property
    def center(self) -> tuple[int, int]:
        """The screen pixel at the middle of the element."""
        x, y, w, h = self.box
        return x + w // 2, y + h // 2

    def contains(self, x: float, y: float) -> bool:
        """True when the screen point ``(x, y)`` lies inside the element's box."""
        bx, by, bw, bh = self.box
        return bx <= x < bx + bw and by <= y < by + bh

    def to_dict(self) -> dict[str, Any]:
        """The element as JSON-ready values."""
        return {"ref": self.ref, "tag": self.tag, "role": self.role, "text": self.text, "id": self.id,
                "classes": self.classes, "box": list(self.box), "page_box": list(self.page_box)}


@dataclass(frozen=True)
class Observation:
    """What is on the screen at the start of an episode (or when ``observe`` is called)."""

    task: str  # the MiniWoB++ task, e.g. "click-test"
    seed: int | None  # the seed the episode was started with
    instruction: str  # the task's instruction text, e.g. 'Click on the "ok" button.'
    screen_origin: tuple[int, int]  # screen pixel of the page's (0, 0): the task area's top left
    viewport: Box  # the page's visible area in screen pixels
    elements: list[Element] = field(default_factory=list)  # visible elements, in document order

    def find(self, role: str | None = None, text: str | None = None, id: str | None = None,
             class_: str | None = None) -> list[Element]:
        """The elements matching every given criterion (text: exact, after trimming)."""
        out = []
        for e in self.elements:
            if role is not None and e.role != role:
                continue
            if text is not None and e.text.strip() != text:
                continue
            if id is not None and e.id != id:
                continue
            if class_ is not None and class_ not in e.classes.split():
                continue
            out.append(e)
        return out

    def by_ref(self, ref: int) -> Element | None:
        """The element with miniwob reference ``ref``, if visible."""
        return next((e for e in self.elements if e.ref == ref), None)


class MiniWobEnv:
    """One MiniWoB++ task in a non-headless Chromium window on ``display``.

    Args:
        task: The MiniWoB++ task name, e.g. ``"click-test"`` (see ``available_tasks``).
        display: The started X display the browser window opens on.
        window_size: Outer width and height of the browser window in pixels.

    Example:
        >>> with XDisplay() as d, MiniWobEnv("click-test", d) as env:   # doctest: +SKIP
        ...     obs = env.reset(seed=0)
        ...     button = obs.find(role="button")[0]
        ...     xdotool(d.name, "mousemove", *map(str, button.center), "click", "--delay", "0", "1")
        ...     env.wait_done(5.0) and env.reward() > 0
        True
    """

    def __init__(self, task: str, display: XDisplay, window_size: tuple[int, int] = DEFAULT_WINDOW_SIZE
                 ) -> None:
        if task not in available_tasks():
            raise MiniWobError(f"unknown MiniWoB++ task {task!r}; e.g. click-test, enter-text "
                               f"({len(available_tasks())} tasks in {miniwob_html_dir()})")
        if not display.name:
            raise MiniWobError("the X display is not started: call display.start() first")
        self.task = task
        self.display = display
        self.window_size = window_size
        self.seed: int | None = None
        self.window: int | None = None  # X window id of the browser
        self._browser_pid: int | None = None
        self._launcher = ChromiumLauncher(display.name, window_size).write()
        self._env: Any = None
        try:
            with self._miniwob_environ():
                from miniwob.environment import MiniWoBEnvironment

                self._env = MiniWoBEnvironment(subdomain=task, render_mode="human")
            self._attach_window()
        except Exception as exc:
            self.close()
            if isinstance(exc, (MiniWobError, DisplayError)):
                raise
            raise MiniWobError(f"Chromium did not start for {task} on {display.name}: {exc}") from exc

    # -- lifecycle --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _miniwob_environ(self) -> Iterator[None]:
        """Sets miniwob's browser variables in ``os.environ`` while it starts a browser."""
        with _ENV_LOCK:
            saved = {k: os.environ.get(k) for k in self._launcher.env}
            os.environ.update(self._launcher.env)
            try:
                yield
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

    def _attach_window(self, timeout: float = 10.0) -> None:
        """Finds the browser's window (the newest Chromium window: one environment per display),
        remembers it and its process, and gives it the keyboard focus."""
        deadline = time.monotonic() + timeout
        while True:
            ids = xdotool(self.display.name, "search", "--onlyvisible", "--class", CHROMIUM_CLASS,
                          check=False).split()
            if ids:
                break
            if time.monotonic() > deadline:
                raise MiniWobError(f"no Chromium window appeared on {self.display.name} "
                                   f"within {timeout:.0f} s")
            time.sleep(0.05)
        self.window = int(ids[-1])
        self._browser_pid = int(xdotool(self.display.name, "getwindowpid", str(self.window)))
        xdotool(self.display.name, "windowactivate", str(self.window), check=False)

    @property
    def _driver(self) -> Any:
        if self._env is None:
            raise MiniWobError("the environment is closed")
        return self._env.instance.driver

    def _js(self, script: str) -> Any:
        return self._driver.execute_script(script)

    def close(self) -> None:
        """Quits Chromium and chromedriver and deletes the launcher's private folder."""
        env, self._env = self._env, None
        if env is not None:
            instance = getattr(env, "instance", None)
            driver = getattr(instance, "driver", None)
            try:
                env.close()
            finally:
                service = getattr(driver, "service", None)
                proc = getattr(service, "process", None)
                if proc is not None and proc.poll() is None:  # quit failed: end chromedriver itself
                    proc.kill()
                    proc.wait(timeout=5)
                self._end_browser()
        self._launcher.remove()

    def _end_browser(self, timeout: float = 5.0) -> None:
        """Ends the browser process this environment started, if chromedriver left it running."""
        pid, self._browser_pid = self._browser_pid, None
        if pid is None:
            return
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once it is gone
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> MiniWobEnv:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- episodes ---------------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> Observation:
        """Starts a new episode (seeded when ``seed`` is given) and returns what is on the screen."""
        if self._env is None:
            raise MiniWobError("the environment is closed")
        with self._miniwob_environ():  # miniwob may start a new browser inside reset
            _, info = self._env.reset(seed=seed, options={"record_screenshots": False})
        self.seed = seed
        self._js(_INERT_COVER_JS)
        return self._observation(info["root_dom"])

    def observe(self) -> Observation:
        """What is on the screen now (the DOM read again, e.g. after a dialog opened)."""
        _, extra = self._env.instance.get_observation(use_cached_fields=True)
        return self._observation(extra["root_dom"])

    def instruction(self) -> str:
        """The instruction of the current episode."""
        return str(self._js("return core.getUtterance();"))

    def result(self) -> dict[str, Any]:
        """``{done, raw_reward, reward, reason}`` of the current episode, read from the page."""
        return dict(self._js(_RESULT_JS))

    def done(self) -> bool:
        """True once the current episode has ended (success, failure or time out)."""
        return bool(self._js("return WOB_DONE_GLOBAL;"))

    def reward(self) -> float:
        """The raw reward of the ended episode (``WOB_RAW_REWARD_GLOBAL``): > 0 is a success."""
        return float(self._js("return WOB_RAW_REWARD_GLOBAL;"))

    def wait_done(self, timeout: float) -> bool:
        """Polls until the episode ends; False if it is still running after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self.done():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def screen_origin(self) -> tuple[int, int]:
        """The screen pixel of the page's (0, 0)."""
        x, y, _, _ = self._js(_GEOMETRY_JS)
        return int(x), int(y)

    def _observation(self, root: Any) -> Observation:
        ox, oy, inner_w, inner_h = (int(v) for v in self._js(_GEOMETRY_JS))
        elements = []
        for dom in root.subtree_elements:
            left, top, width, height = (float(v) for v in (dom.left, dom.top, dom.width, dom.height))
            if left >= inner_w or top >= inner_h or left + width <= 0 or top + height <= 0:
                continue  # outside the viewport: not on the screen
            x0, y0 = math.floor(ox + left), math.floor(oy + top)
            x1, y1 = math.ceil(ox + left + width), math.ceil(oy + top + height)
            tag, classes = dom.tag, dom.classes if isinstance(dom.classes, str) else ""
            text, value = (dom.text or "").strip(), dom.value
            elements.append(Element(
                ref=int(dom.ref), parent=int(dom.parent.ref) if dom.parent else 0, tag=tag,
                role=element_role(tag, classes, text), text=text,
                value=value if isinstance(value, (bool, str)) or value is None else str(value),
                id=dom.id or "", classes=classes, focused=bool(dom.focused),
                page_box=(left, top, width, height), box=(x0, y0, max(1, x1 - x0), max(1, y1 - y0))))
        return Observation(task=self.task, seed=self.seed, instruction=self.instruction(),
                           screen_origin=(ox, oy), viewport=(ox, oy, inner_w, inner_h), elements=elements)
