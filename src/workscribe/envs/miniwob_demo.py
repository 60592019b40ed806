"""A scripted, human-like demonstrator for MiniWoB++ tasks: reads the screen, acts with OS input.

``MiniWobDemonstrator`` reads an episode's instruction and the visible elements (their text and
boxes, as a person reads the screen) and solves the task with real pointer and keyboard input
through ``HumanDemonstrator``: curved, eased pointer paths, a small reaction time before each
gesture, a click somewhere inside the target rather than at its exact centre, and a human typing
rhythm. It never touches the page through Selenium or JavaScript.

Before each gesture it checks whether the episode has ended, and stops if so: once miniwob's black
START cover is up, further input would only land on it.

``steps`` lists, for the last episode, every gesture with the element it aimed at (screen and page
boxes), so a recording can be checked against what was meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from workscribe.envs.demonstrator import HumanDemonstrator
from workscribe.envs.miniwob import Element, MiniWobEnv, Observation


class DemonstrationError(RuntimeError):
    """The demonstrator cannot read the task: an instruction or element it expects is missing."""


class UnsupportedTask(ValueError):
    """The demonstrator has no script for this MiniWoB++ task."""


class EpisodeOver(Exception):
    """The episode ended before the demonstrator finished (raised between gestures)."""


class MiniWobDemonstrator:
    """Solves MiniWoB++ tasks like a person, with OS-level input on the environment's display.

    Args:
        env: The environment whose episodes to solve (its display receives the input).
        seed: Seed of the pointer paths, click points, delays and typing rhythm.
        cps: Typing speed in characters per second.

    Attributes:
        human: The pointer and keyboard driver (its ``truth`` lists every gesture performed).
        steps: The gestures of the last ``solve``: ``{"action", "x", "y", "text", "element"}``
            with ``element`` as ``Element.to_dict()``.
    """

    def __init__(self, env: MiniWobEnv, seed: int = 0, cps: float = 8.0) -> None:
        self.env = env
        self.human = HumanDemonstrator(env.display.name, seed=seed, cps=cps)
        self.rng = self.human.rng
        self.steps: list[dict[str, Any]] = []

    def solve(self, obs: Observation) -> bool:
        """Performs the episode whose first observation is ``obs``.

        Returns:
            True when every planned gesture was performed; False when the episode ended first.

        Raises:
            UnsupportedTask: no script for ``obs.task``.
            DemonstrationError: the instruction or the elements are not what the script expects.
        """
        solver = solver_for(obs.task)
        self.steps = []
        self.human.bounds = obs.viewport  # paths stay on the page when both ends are on it
        self.human.pause(self.rng.uniform(0.1, 0.3))  # reads the instruction
        try:
            solver(self, obs)
        except EpisodeOver:
            return False
        return True

    # -- gestures ---------------------------------------------------------------------------------

    def _check_running(self) -> None:
        if self.env.done():
            raise EpisodeOver()

    def click(self, element: Element) -> None:
        """Clicks a point inside ``element`` (near its middle, never on its edge)."""
        self._check_running()
        x, y = self.point_in(element)
        self.human.click(x, y)
        self.steps.append({"action": "click", "x": x, "y": y, "text": None, "element": element.to_dict()})

    def type_text(self, text: str, into: Element) -> None:
        """Types ``text`` (into the focused ``into``, which the caller clicked first)."""
        self._check_running()
        self.human.type_text(text)
        x, y = self.human.position
        self.steps.append({"action": "type", "x": x, "y": y, "text": text, "element": into.to_dict()})

    def point_in(self, element: Element) -> tuple[int, int]:
        """A point a person would click in ``element``: around its middle, inside its inner 60 %."""
        bx, by, bw, bh = element.box

        def along(start: int, size: int) -> int:
            if size <= 4:
                return start + size // 2
            lo, hi = start + 0.2 * size, start + 0.8 * (size - 1)
            return round(min(hi, max(lo, self.rng.gauss(start + (size - 1) / 2, size / 8))))

        return along(bx, bw), along(by, bh)


# -- reading the screen ---------------------------------------------------------------------------


def _quoted(instruction: str, pattern: str) -> tuple[str, ...]:
    match = re.fullmatch(pattern, instruction.strip())
    if not match:
        raise DemonstrationError(f"cannot read the instruction {instruction!r}")
    return match.groups()


def _one(candidates: list[Element], what: str) -> Element:
    if not candidates:
        raise DemonstrationError(f"no {what} on the screen")
    return candidates[0]


def _field_for(obs: Observation, label: str) -> Element:
    """The text box a person would fill for ``label``: the nearest one right of or below the label."""
    labels = [e for e in obs.elements if e.text.lower() == label.lower() and e.role in ("label", "text")]
    box = _one(labels, f"label {label!r}").box
    boxes = [e for e in obs.find(role="textbox") if e.box[1] + e.box[3] > box[1]]
    return _one(sorted(boxes, key=lambda e: (abs(e.box[1] - box[1]), abs(e.box[0] - box[0]))),
                f"text box for {label!r}")


def _button(obs: Observation, text: str) -> Element:
    return _one([e for e in obs.find(role="button") if e.text.lower() == text.lower()], f"{text!r} button")


def _label_right_of(obs: Observation, box: tuple[int, int, int, int]) -> str:
    """The text a person reads just right of ``box`` on the same line (a checkbox's label)."""
    x, y, w, h = box
    mid = y + h / 2
    texts = [e for e in obs.elements if e.text and e.role in ("text", "label")
             and e.box[1] <= mid <= e.box[1] + e.box[3] and e.box[0] >= x + w - 2]
    return min(texts, key=lambda e: e.box[0]).text if texts else ""


# -- one script per task --------------------------------------------------------------------------


def _click_test(demo: MiniWobDemonstrator, obs: Observation) -> None:
    demo.click(_one(obs.find(role="button"), "button"))


def _click_button(demo: MiniWobDemonstrator, obs: Observation) -> None:
    (text,) = _quoted(obs.instruction, r'Click on the "(.+)" button\.')
    demo.click(_one(obs.find(role="button", text=text), f"{text!r} button"))


def _click_link(demo: MiniWobDemonstrator, obs: Observation) -> None:
    (text,) = _quoted(obs.instruction, r'Click on the link "(.+)"\.')
    demo.click(_one(obs.find(role="link", text=text), f"link {text!r}"))


def _click_dialog(demo: MiniWobDemonstrator, obs: Observation) -> None:
    close = [e for e in obs.find(role="button") if "ui-dialog-titlebar-close" in e.classes.split()]
    demo.click(_one(close, "close button (x) of the dialog"))


def _focus_text(demo: MiniWobDemonstrator, obs: Observation) -> None:
    demo.click(_one(obs.find(role="textbox"), "text box"))


def _enter_text(demo: MiniWobDemonstrator, obs: Observation) -> None:
    (text,) = _quoted(obs.instruction, r'Enter "(.+)" into the text field and press Submit\.')
    box = _one(obs.find(role="textbox"), "text field")
    demo.click(box)
    demo.type_text(text, box)
    demo.click(_button(obs, "Submit"))


def _login_user(demo: MiniWobDemonstrator, obs: Observation) -> None:
    user, password = _quoted(
        obs.instruction,
        r'Enter the username "(.+)" and the password "(.+)" into the text fields and press login\.')
    for label, text in (("Username", user), ("Password", password)):
        box = _field_for(obs, label)
        demo.click(box)
        demo.type_text(text, box)
    demo.click(_button(obs, "Login"))


def _click_checkboxes(demo: MiniWobDemonstrator, obs: Observation) -> None:
    (names,) = _quoted(obs.instruction, r"Select (.*) and click Submit\.")
    wanted = set() if names == "nothing" else set(names.split(", "))
    boxes = obs.find(role="checkbox")
    labels = {b.ref: _label_right_of(obs, b.box) for b in boxes}
    missing = wanted - set(labels.values())
    if missing:
        raise DemonstrationError(f"no checkbox labelled {', '.join(sorted(missing))}")
    for box in boxes:  # top to bottom, as a person goes down the list
        if (labels[box.ref] in wanted) != bool(box.value):
            demo.click(box)
    demo.click(_button(obs, "Submit"))


SOLVERS: dict[str, Callable[[MiniWobDemonstrator, Observation], None]] = {
    "click-test": _click_test,
    "click-button": _click_button,
    "click-link": _click_link,
    "click-dialog": _click_dialog,
    "focus-text": _focus_text,
    "enter-text": _enter_text,
    "login-user": _login_user,
    "click-checkboxes": _click_checkboxes,
}
"""The script of each task the demonstrator solves."""

SUPPORTED_TASKS: tuple[str, ...] = tuple(SOLVERS)
"""Tasks ``MiniWobDemonstrator`` can solve, in the order above."""


def solver_for(task: str) -> Callable[[MiniWobDemonstrator, Observation], None]:
    """The script that solves ``task``; ``UnsupportedTask`` naming the supported ones if there is none."""
    solver = SOLVERS.get(task)
    if solver is None:
        raise UnsupportedTask(f"no demonstrator for MiniWoB++ task {task!r}; "
                              f"supported: {', '.join(SUPPORTED_TASKS)}")
    return solver
