"""Scripted demonstrations of MiniWoB++ tasks, recorded by a real ``workscribe record`` as a behaviour-cloning
spool (what ``workscribe collect`` runs).

It starts Xvfb and openbox, grants consent in a private state folder under ``out`` (never the user's),
runs ``workscribe record`` on that display, and for each task opens MiniWoB++ in Chromium and lets the
human-like demonstrator solve ``episodes`` episodes with seeds ``seed``, ``seed + 1`` ... Each episode is
a task in the recording: its title is the instruction, its ticket ``TASK#SEED``, its outcome success when
the raw reward is > 0. Exports of the spool therefore have one episode per demonstration, with the
instruction as ``task``.

Also written: ``OUT/episodes.jsonl``, one line per episode (task, seed, instruction, rewards, and each
gesture with the element it aimed at), and ``OUT/recorder.log``, what the recorder logged (a browser
without DevTools, a spool warning ...). Evaluation must use seeds disjoint from those listed.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENVS = ("miniwob",)
SCREEN_SIZE = (640, 480)
"""Size of the virtual screen: the browser window (400x330 at the top left) and a margin."""
EPISODE_TIMEOUT_S = 35.0
"""Longest wait for an episode to end; miniwob's own time limits are 10 to 30 s."""
SETTLE_S = 0.25
"""Pause after an episode ends, so the recorder grabs the screen that shows its end."""
EPISODES_FILE = "episodes.jsonl"
RECORDER_LOG = "recorder.log"


class CollectError(RuntimeError):
    """The recorder under the demonstrations failed or refused a task mark (one line)."""


def collect_demonstrations(tasks: list[str], episodes: int, seed: int, out: Path,
                           progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Records ``episodes`` demonstrations of each task into ``out/spool`` (see the module docstring).

    Args:
        tasks: MiniWoB++ tasks the demonstrator solves (``miniwob_demo.SUPPORTED_TASKS``).
        episodes: demonstrations per task.
        seed: seed of each task's first episode; episode i uses ``seed + i``.
        out: folder for the spool (``out/spool``), the private state (``out/home``), ``episodes.jsonl``
            and ``recorder.log``.
        progress: called as ``(description, completed, total)`` before and after each episode.

    Returns:
        Counts per task (episodes, successes), the seeds, the paths written, the speed and the recorder's
        own summary.

    Raises:
        CollectError: the recorder failed or refused a task mark.
        DisplayError, ChromiumError, MiniWobError, ControlError: the display, the browser, the task or the
            recorder's control socket could not be used.
    """
    from workscribe import guard, paths
    from workscribe.envs.miniwob import CHROMIUM_CLASS, MiniWobEnv, miniwob_site
    from workscribe.envs.miniwob_demo import MiniWobDemonstrator
    from workscribe.envs.xdisplay import XDisplay
    from workscribe.record.control import ControlError, request
    from workscribe.record.process import recorder_log_tail, spawn_recorder, wait_until_ready
    from workscribe.spool import crypto

    show = progress or (lambda description, completed, total: None)
    spool_dir, home = out / "spool", out / "home"  # the demonstrator's own state: never the user's consent
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    sources, sites = ["input", "screen", "window"], {}
    if "browser" in guard.SOURCES:  # it checks the page: only MiniWoB's own pages are in scope
        sources.append("browser")
        sites = {"sites": [miniwob_site()]}
    guard.grant([CHROMIUM_CLASS], sources, home=home, **sites)
    socket_path = paths.control_socket(home)
    counts = {t: {"episodes": 0, "successes": 0} for t in tasks}
    total = episodes * len(tasks)
    display = rec = env = None
    started = time.monotonic()
    try:
        display = XDisplay(*SCREEN_SIZE).start()
        rec = spawn_recorder(spool_dir, display.name, home, "--json", log=out / RECORDER_LOG)
        wait_until_ready(rec, home, log=out / RECORDER_LOG)
        done = 0
        with (out / EPISODES_FILE).open("a") as log:
            for task in tasks:
                env = MiniWobEnv(task, display)
                demo = MiniWobDemonstrator(env, seed=zlib.crc32(f"{task}:{seed}".encode()))
                for i in range(episodes):
                    description = f"{task} ({counts[task]['successes']}/{i} solved)"
                    show(description, done, total)
                    record = _episode(env, demo, task, seed + i, socket_path)
                    counts[task]["episodes"] += 1
                    counts[task]["successes"] += record["success"]
                    log.write(json.dumps(record, ensure_ascii=False) + "\n")
                    log.flush()
                    done += 1
                    show(description, done, total)
                env.close()
                env = None
        request("stop", socket_path)
        stdout, _ = rec.communicate(timeout=60)
        if rec.returncode != 0:
            raise CollectError(f"the recorder failed: {recorder_log_tail(rec, out / RECORDER_LOG)}")
        recorded = json.loads(stdout)
    finally:
        if env is not None:
            env.close()
        if rec is not None and rec.poll() is None:  # interrupted: close the recording cleanly if it answers
            with contextlib.suppress(ControlError):
                request("stop", socket_path)
            try:
                rec.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                rec.kill()
                rec.communicate()
        if display is not None:
            display.stop()
    elapsed = time.monotonic() - started
    return {"env": "miniwob", "tasks": counts, "seeds": [seed, seed + episodes - 1], "spool": str(spool_dir),
            "home": str(home), "key": str(crypto.key_path(home)), "episodes_file": str(out / EPISODES_FILE),
            "recorder_log": str(out / RECORDER_LOG),
            "duration_s": round(elapsed, 1), "episodes_per_minute": round(total / elapsed * 60, 1),
            "recorder": recorded}


def _episode(env: Any, demo: Any, task: str, seed: int, socket_path: Path) -> dict[str, Any]:
    """Runs one recorded episode and returns its line for ``episodes.jsonl``."""
    from workscribe.envs.miniwob_demo import DemonstrationError

    obs = env.reset(seed)
    started = time.monotonic()
    _control("task_start", socket_path, {"title": obs.instruction, "ticket": f"{task}#{seed}"})
    error = None
    try:
        completed = demo.solve(obs)
        env.wait_done(EPISODE_TIMEOUT_S)
    except DemonstrationError as exc:  # the script could not read this screen: the episode fails
        completed, error = False, str(exc)
    result = env.result()
    time.sleep(SETTLE_S)
    success = bool(result["done"]) and float(result["raw_reward"] or 0) > 0
    _control("task_end", socket_path, {"outcome": "success" if success else "fail"})
    return {"task": task, "seed": seed, "instruction": obs.instruction, "success": success,
            "raw_reward": result["raw_reward"], "reward": result["reward"], "done": bool(result["done"]),
            "completed": completed, "error": error, "duration_s": round(time.monotonic() - started, 3),
            "screen_origin": list(obs.screen_origin), "steps": demo.steps}


def _control(cmd: str, socket_path: Path, args: dict[str, Any]) -> None:
    from workscribe.record.control import request

    reply = request(cmd, socket_path, args=args)
    if not reply.get("ok"):
        raise CollectError(f"the recorder refused {cmd}: {reply.get('error')}")
