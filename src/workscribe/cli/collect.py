"""``workscribe collect``: record scripted demonstrations of MiniWoB++ tasks as a behaviour-cloning spool.

It starts Xvfb and openbox, grants consent in a private state folder under ``--out`` (never the
user's), runs ``workscribe record`` on that display, and for each task opens MiniWoB++ in Chromium
and lets the human-like demonstrator solve ``--episodes`` episodes with seeds ``--seed``,
``--seed + 1`` ... Each episode is a task in the recording: its title is the instruction, its ticket
``TASK#SEED``, its outcome success when the raw reward is > 0. Exports of the spool therefore have
one episode per demonstration, with the instruction as ``task``.

Also written: ``OUT/episodes.jsonl``, one line per episode (task, seed, instruction, rewards, and
each gesture with the element it aimed at), and ``OUT/recorder.log``, what the recorder logged (a
browser without DevTools, a spool warning ...). Evaluation must use seeds disjoint from those listed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, json_option, print_table

ENVS = ("miniwob",)
SCREEN_SIZE = (640, 480)
"""Size of the virtual screen: the browser window (400x330 at the top left) and a margin."""
EPISODE_TIMEOUT_S = 35.0
"""Longest wait for an episode to end; miniwob's own time limits are 10 to 30 s."""
SETTLE_S = 0.25
"""Pause after an episode ends, so the recorder grabs the screen that shows its end."""
EPISODES_FILE = "episodes.jsonl"
RECORDER_LOG = "recorder.log"


def _parse_tasks(text: str) -> list[str]:
    from workscribe.envs.miniwob_demo import SUPPORTED_TASKS

    tasks = [t.strip() for t in text.split(",") if t.strip()]
    if not tasks:
        raise CliError(f"--tasks names no task; e.g. --tasks click-test,enter-text "
                       f"(supported: {', '.join(SUPPORTED_TASKS)})")
    unknown = [t for t in tasks if t not in SUPPORTED_TASKS]
    if unknown:
        raise CliError(f"unknown task(s) {', '.join(unknown)}; the demonstrator solves "
                       f"{', '.join(SUPPORTED_TASKS)}")
    return list(dict.fromkeys(tasks))


@click.command("collect")
@click.option("--env", "env_name", default="miniwob", show_default=True,
              help=f"Environment family ({', '.join(ENVS)}).")
@click.option("--tasks", required=True, help="Comma-separated tasks, e.g. click-test,enter-text.")
@click.option("--episodes", type=int, default=10, show_default=True, help="Episodes per task.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of each task's first episode; episode i uses SEED + i.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Folder for the spool (OUT/spool), the private state (OUT/home) and episodes.jsonl.")
@json_option
def collect(env_name: str, tasks: str, episodes: int, seed: int, out: Path, as_json: bool) -> None:
    """Record a scripted, human-like demonstrator solving web tasks, as a dataset spool.

    Runs on its own virtual display; needs Xvfb, openbox, xdotool, chromium and chromedriver
    (`make setup`). Export with the key in OUT/home:

    \b
    Example:
      workscribe collect --tasks click-test,enter-text --episodes 50 --seed 0 --out mw/
      workscribe export mw/spool --key mw/home/spool.key --format hf --out mw-hf/
    """
    if env_name not in ENVS:
        raise CliError(f"unknown --env {env_name!r}; use one of {', '.join(ENVS)}")
    task_list = _parse_tasks(tasks)
    if episodes <= 0:
        raise CliError(f"--episodes must be at least 1, got {episodes}")
    if seed < 0:
        raise CliError(f"--seed must be >= 0, got {seed}")
    with _terminate_as_interrupt():
        result = run_collect(task_list, episodes, seed, out.resolve(), quiet=as_json)
    if as_json:
        echo_json(result)
        return
    rows = [(t, c["episodes"], c["successes"], f"{c['successes'] / c['episodes']:.0%}")
            for t, c in result["tasks"].items()]
    print_table(f"miniwob demonstrations in {result['spool']}", ["task", "episodes", "successes", "rate"],
                rows)
    first, last = result["seeds"]
    click.echo(f"seeds {first}..{last} (evaluate on other seeds); "
               f"{result['episodes_per_minute']:.1f} episodes a minute; details in {result['episodes_file']}")


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C, so the display, browser and recorder it started are stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_collect(tasks: list[str], episodes: int, seed: int, out: Path, quiet: bool = False) -> dict[str, Any]:
    """Records ``episodes`` demonstrations of each task into ``out/spool`` (see the module docstring)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from workscribe import guard, paths
    from workscribe.control import ControlError, request
    from workscribe.envs.chromium import ChromiumError
    from workscribe.envs.miniwob import CHROMIUM_CLASS, MiniWobEnv, MiniWobError, miniwob_site
    from workscribe.envs.miniwob_demo import MiniWobDemonstrator
    from workscribe.envs.xdisplay import DisplayError, XDisplay
    from workscribe.recorder import recorder_log_tail, spawn_recorder, wait_until_ready

    spool_dir, home = out / "spool", out / "home"  # the demonstrator's own state: never the user's consent
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    sources, sites = ["input", "screen", "window"], {}
    if "browser" in guard.SOURCES:  # it checks the page: only MiniWoB's own pages are in scope
        sources.append("browser")
        sites = {"sites": [miniwob_site()]}
    guard.grant([CHROMIUM_CLASS], sources, home=home, **sites)
    socket_path = paths.control_socket(home)
    counts = {t: {"episodes": 0, "successes": 0} for t in tasks}
    display = rec = env = None
    started = time.monotonic()
    try:
        display = XDisplay(*SCREEN_SIZE).start()
        rec = spawn_recorder(spool_dir, display.name, home, "--json", log=out / RECORDER_LOG)
        wait_until_ready(rec, home, log=out / RECORDER_LOG)
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), console=Console(stderr=True), transient=True, disable=quiet)
        with bar, (out / EPISODES_FILE).open("a") as log:
            progress = bar.add_task("collecting", total=episodes * len(tasks))
            for task in tasks:
                env = MiniWobEnv(task, display)
                demo = MiniWobDemonstrator(env, seed=zlib.crc32(f"{task}:{seed}".encode()))
                for i in range(episodes):
                    bar.update(progress, description=f"{task} ({counts[task]['successes']}/{i} solved)")
                    record = _episode(env, demo, task, seed + i, socket_path)
                    counts[task]["episodes"] += 1
                    counts[task]["successes"] += record["success"]
                    log.write(json.dumps(record, ensure_ascii=False) + "\n")
                    log.flush()
                    bar.advance(progress)
                env.close()
                env = None
        request("stop", socket_path)
        stdout, _ = rec.communicate(timeout=60)
        if rec.returncode != 0:
            raise CliError(f"the recorder failed: {recorder_log_tail(rec, out / RECORDER_LOG)}",
                           code=EXIT_FAILED)
        recorded = json.loads(stdout)
    except (DisplayError, ChromiumError, MiniWobError, ControlError) as exc:
        raise CliError(str(exc), code=EXIT_FAILED) from None
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
    total = episodes * len(tasks)
    elapsed = time.monotonic() - started
    return {"env": "miniwob", "tasks": counts, "seeds": [seed, seed + episodes - 1], "spool": str(spool_dir),
            "home": str(home), "key": str(home / "spool.key"), "episodes_file": str(out / EPISODES_FILE),
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
    from workscribe.control import request

    reply = request(cmd, socket_path, args=args)
    if not reply.get("ok"):
        raise CliError(f"the recorder refused {cmd}: {reply.get('error')}", code=EXIT_FAILED)


def register(cli: click.Group) -> None:
    """Adds the collect verb to ``cli``."""
    cli.add_command(collect)
