"""Closed-loop evaluation on MiniWoB++: the policy sees what a recording holds and acts through X input.

The policy's observations come from the recorder's own sources, run live: ``X11WindowSource`` for
the active window and ``BrowserSource`` for the page snapshot (the same script, the same element
boxes in screen pixels, the same redaction as in the recording it was trained on). Its actions go
through xdotool on the environment's display; selenium only resets the task with a seed and reads
the reward.

A ``type`` of ``<SECRET:password>`` (the placeholder a password typed in a demonstration becomes) is
filled by a credential provider at this point, never by the model: for MiniWoB++ it is the quoted
string after the word "password" in the instruction, as a password manager would fill it.

Baselines on the same seeds: ``random`` clicks random points of the task area, and ``demonstrator``
is the scripted demonstrator that recorded the training data. ``evaluate_policy`` runs a trained model
and the baselines on unseen seeds and reports success per task (what ``workscribe eval`` runs).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workscribe.envs.xdisplay import XDisplay, xdotool
from workscribe.events import Event, now_ns
from workscribe.export.vocab import XDOTOOL_KEYS
from workscribe.policy.features import Observation
from workscribe.process.reduce import SECURE_TEXT
from workscribe.redact.identity import redact_private

BASELINES = ("random", "demonstrator")
MAX_STEPS = 12
SNAPSHOT_WAIT_S = 0.6  # longest wait for the page to report its state after an action
TASK_AREA = (160, 210)  # MiniWoB++'s task area, CSS pixels at the page's origin
SCREEN_SIZE = (640, 480)  # of the evaluation's virtual display, as in collection (``jobs.collect``)
_PASSWORD = re.compile(r"password\W{0,3}[\"“']([^\"”']+)[\"”']", re.I)


class LiveObserver:
    """The recorder's window and browser sources, feeding a policy instead of a spool."""

    def __init__(self, display: XDisplay) -> None:
        from workscribe.guard import SiteMatcher
        from workscribe.redact.events import redact_browser_event
        from workscribe.sources.browser import BrowserSource
        from workscribe.sources.x11.window import X11WindowSource

        self._redact = redact_browser_event
        self._state: Any = None
        self._cv = threading.Condition()
        self._snapshot: tuple[int, dict[str, Any]] | None = None
        self.window = X11WindowSource(display.name, on_change=self._on_window)
        self.browser = BrowserSource(SiteMatcher(["*"]), active_window=self._active,
                                     on_scope=lambda window, allowed: None, log=lambda line: None)

    def _active(self) -> Any:
        return self._state.active if self._state is not None else None

    def _on_window(self, state: Any) -> None:
        self._state = state
        self.browser.wake()

    def _on_event(self, event: Event) -> None:
        if event["source"] == "browser" and event["kind"] == "snapshot":
            event = self._redact(event, redact_private)
            with self._cv:
                self._snapshot = (event["t"], event["data"])
                self._cv.notify_all()

    def start(self) -> LiveObserver:
        self.window.start(self._on_event)
        self.browser.start(self._on_event)
        return self

    def stop(self) -> None:
        self.browser.stop()
        self.window.stop()

    def snapshot(self, after: int, timeout: float) -> dict[str, Any] | None:
        """The first snapshot taken after clock time ``after``, else (on timeout) the latest one."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._snapshot is None or self._snapshot[0] <= after:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            return self._snapshot[1] if self._snapshot else None


def credential(instruction: str) -> str | None:
    """The password a credential store would give for this MiniWoB++ instruction."""
    m = _PASSWORD.search(instruction)
    return m.group(1) if m else None


def perform(display: XDisplay, action: dict[str, Any], instruction: str) -> None:
    """Carries out a policy action with X input (xdotool, no waiting)."""
    if action["type"] == "click" and action["x"] is not None:
        xdotool(display.name, "mousemove", str(action["x"]), str(action["y"]), "click", "--delay", "0", "1")
    elif action["type"] == "type" and action["text"]:
        text = credential(instruction) if action["text"] == SECURE_TEXT else action["text"]
        if text:
            xdotool(display.name, "type", "--delay", "15", text)
    elif action["type"] == "key" and action["keys"]:
        keys = "+".join(XDOTOOL_KEYS.get(k, k) for k in action["keys"].split("+"))
        xdotool(display.name, "key", "--delay", "0", keys)


@dataclass
class EpisodeResult:
    task: str
    seed: int
    reward: float
    steps: int
    observed: bool = True  # a page snapshot reached the policy (False: the browser source saw no page)

    @property
    def success(self) -> bool:
        return self.reward > 0


def run_policy(env: Any, display: XDisplay, observer: LiveObserver,
               act: Callable[[Observation], dict[str, Any]], seed: int,
               max_steps: int = MAX_STEPS, snapshot_wait: float = SNAPSHOT_WAIT_S) -> EpisodeResult:
    """One closed-loop episode of ``act`` on ``env`` with ``seed`` (``snapshot_wait``: how long to wait
    for the page to report its state after each action; a policy that ignores it passes 0)."""
    t = now_ns()
    start = env.reset(seed=seed)
    instruction = redact_private(start.instruction)  # as the recording stored it
    history: list[dict[str, Any]] = []
    snap = observer.snapshot(after=t, timeout=2.0)
    observed = snap is not None and bool(snap.get("elements"))
    steps = 0
    while steps < max_steps and not env.done():
        elements = list((snap or {}).get("elements") or [])
        origin = (float((snap or {}).get("origin_x") or 0), float((snap or {}).get("origin_y") or 0))
        action = act(Observation(instruction, elements, origin, history))
        t = now_ns()
        perform(display, action, start.instruction)
        steps += 1
        history.append({"type": action["type"], "element": action.get("element"), "text": action.get("text"),
                        "keys": action.get("keys")})
        if env.wait_done(0.1):
            break
        snap = observer.snapshot(after=t, timeout=snapshot_wait) or snap
    env.wait_done(1.0)
    return EpisodeResult(env.task, seed, float(env.reward() or 0.0) if env.done() else -1.0, steps, observed)


def random_clicker(seed: int) -> Callable[[Observation], dict[str, Any]]:
    """The random baseline: a click on a random point of the task area, every step."""
    rng = random.Random(seed)

    def act(obs: Observation) -> dict[str, Any]:
        ox, oy = obs.origin
        return {"type": "click", "x": round(ox + rng.uniform(0, TASK_AREA[0])),
                "y": round(oy + rng.uniform(0, TASK_AREA[1])), "text": None, "keys": None, "element": None}

    return act


def run_demonstrator(env: Any, seed: int) -> EpisodeResult:
    """The demonstrator on one seed (the upper baseline)."""
    from workscribe.envs.miniwob_demo import MiniWobDemonstrator

    obs = env.reset(seed=seed)
    MiniWobDemonstrator(env, seed=seed).solve(obs)
    env.wait_done(5.0)
    return EpisodeResult(env.task, seed, float(env.reward() or 0.0) if env.done() else -1.0, 0)


def summarise(results: list[EpisodeResult]) -> dict[str, Any]:
    """``{"tasks": {task: {success_rate, mean_reward, episodes, unobserved}}, "mean_success"}``;
    ``unobserved`` counts episodes whose start brought the policy no page snapshot."""
    tasks: dict[str, list[EpisodeResult]] = {}
    for r in results:
        tasks.setdefault(r.task, []).append(r)
    out = {t: {"success_rate": round(sum(r.success for r in rs) / len(rs), 4),
               "mean_reward": round(sum(r.reward for r in rs) / len(rs), 4), "episodes": len(rs),
               "unobserved": sum(not r.observed for r in rs)}
           for t, rs in tasks.items()}
    mean = sum(v["success_rate"] for v in out.values()) / len(out) if out else 0.0
    return {"tasks": out, "mean_success": round(mean, 4)}


class ModelError(ValueError):
    """The model folder holds no policy that loads (one line)."""


class SeedOverlapError(ValueError):
    """Evaluation seeds the model was trained on (one line)."""


def evaluate_policy(model: Path, tasks: list[str], episodes: int, seed: int,
                    baselines: tuple[str, ...] | list[str] = BASELINES, device: str = "cpu",
                    progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Runs the policy trained in ``model`` and the ``baselines`` in closed loop on ``episodes`` seeds of
    each task, from ``seed`` on, on a virtual display of its own.

    Args:
        model: folder of a trained policy (``workscribe train``).
        tasks: MiniWoB++ tasks.
        episodes: episodes per task.
        seed: seed of each task's first episode; none may be a seed the model was trained on.
        baselines: names from ``BASELINES``, run on the same seeds.
        device: ``cpu`` or ``cuda``.
        progress: called as ``(description, completed, total)`` as runs start and end.

    Returns:
        ``summarise`` of the model's runs, with ``seeds`` (first, last) and ``baselines`` (name:
        ``summarise`` of its runs).

    Raises:
        ModelError: the model does not load.
        SeedOverlapError: a seed was used for training (the model's report lists them).
        DisplayError, MiniWobError: the display or the task could not start.
    """
    from workscribe.envs.miniwob import MiniWobEnv
    from workscribe.policy.train import REPORT_FILE, PolicyAgent

    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; use {', '.join(BASELINES)}")
    show = progress or (lambda description, completed, total: None)
    try:
        agent = PolicyAgent(model, device=device)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(str(exc)) from None
    report_path = model / REPORT_FILE
    trained = json.loads(report_path.read_text()).get("seeds", {}) if report_path.exists() else {}
    eval_seeds = set(range(seed, seed + episodes))
    for task in tasks:
        overlap = eval_seeds & set(trained.get(task, []))
        if overlap:
            raise SeedOverlapError(f"seeds {min(overlap)}..{max(overlap)} of {task} were used for training; "
                                   f"choose another --seed (training used {min(trained[task])}.."
                                   f"{max(trained[task])})")
    runs: dict[str, list[EpisodeResult]] = {"model": [], **{b: [] for b in baselines}}
    total = len(tasks) * episodes * (1 + len(baselines))
    done = 0
    with XDisplay(*SCREEN_SIZE) as display:
        observer = LiveObserver(display).start()
        show("evaluating", done, total)
        try:
            for task in tasks:
                with MiniWobEnv(task, display) as env:
                    for i in range(episodes):
                        s = seed + i
                        description = f"{task} seed {s}"
                        show(description, done, total)
                        runs["model"].append(run_policy(env, display, observer, agent.act, s))
                        done += 1
                        show(description, done, total)
                        if "random" in baselines:
                            clicker = random_clicker(s)
                            runs["random"].append(run_policy(env, display, observer, clicker, s,
                                                             snapshot_wait=0.0))
                            done += 1
                            show(description, done, total)
                        if "demonstrator" in baselines:
                            runs["demonstrator"].append(run_demonstrator(env, s))
                            done += 1
                            show(description, done, total)
        finally:
            observer.stop()
    result = summarise(runs["model"])
    result["seeds"] = [seed, seed + episodes - 1]
    result["baselines"] = {b: summarise(runs[b]) for b in baselines}
    return result
