"""``workscribe collect``: record scripted demonstrations of MiniWoB++ tasks as a behaviour-cloning spool.

The run itself is ``jobs.collect.collect_demonstrations``: a private state folder under ``--out`` (never
the user's), a real ``workscribe record`` on its own display, one recorded task per episode. Also written:
``OUT/episodes.jsonl`` (one line per episode) and ``OUT/recorder.log``. Evaluation must use seeds
disjoint from those listed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, errors_as, json_option, print_table, progress_bar
from workscribe.jobs.collect import ENVS


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
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from workscribe.envs.chromium import ChromiumError
    from workscribe.envs.miniwob import MiniWobError
    from workscribe.envs.xdisplay import DisplayError
    from workscribe.jobs.collect import CollectError, collect_demonstrations
    from workscribe.record.control import ControlError

    if env_name not in ENVS:
        raise CliError(f"unknown --env {env_name!r}; use one of {', '.join(ENVS)}")
    task_list = _parse_tasks(tasks)
    if episodes <= 0:
        raise CliError(f"--episodes must be at least 1, got {episodes}")
    if seed < 0:
        raise CliError(f"--seed must be >= 0, got {seed}")
    failures = (CollectError, DisplayError, ChromiumError, MiniWobError, ControlError)
    with _terminate_as_interrupt(), errors_as(*failures, code=EXIT_FAILED), \
            progress_bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TimeRemainingColumn(), disable=as_json) as show:
        result = collect_demonstrations(task_list, episodes, seed, out.resolve(), progress=show)
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


def register(cli: click.Group) -> None:
    """Adds the collect verb to ``cli``."""
    cli.add_command(collect)
