"""``workscribe eval``: a trained policy in closed loop on MiniWoB++, through X input only
(``evaluate.closed_loop.evaluate_policy``)."""

from __future__ import annotations

from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, errors_as, json_option, print_table, progress_bar


@click.command("eval")
@click.argument("model", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--env", "env_name", default="miniwob", show_default=True, help="Environment family (miniwob).")
@click.option("--tasks", required=True, help="Comma-separated tasks, e.g. click-test,enter-text.")
@click.option("--episodes", type=int, default=50, show_default=True, help="Episodes per task.")
@click.option("--seed", type=int, default=100_000, show_default=True,
              help="Seed of each task's first episode (must not be a seed the model was trained on).")
@click.option("--baselines", default="random,demonstrator", show_default=True,
              help="Baselines to run on the same seeds (random, demonstrator; empty for none).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@json_option
def eval_cmd(model: Path, env_name: str, tasks: str, episodes: int, seed: int, baselines: str, device: str,
             as_json: bool) -> None:
    """Run a trained policy on web tasks and report success per task, beside baselines.

    Example: workscribe eval model/ --tasks click-test,enter-text --episodes 50 --seed 100000 --json
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from workscribe.envs.miniwob import MiniWobError
    from workscribe.envs.xdisplay import DisplayError
    from workscribe.evaluate.closed_loop import BASELINES, ModelError, SeedOverlapError, evaluate_policy

    if env_name != "miniwob":
        raise CliError(f"unknown --env {env_name!r}; use miniwob")
    task_list = [t.strip() for t in tasks.split(",") if t.strip()]
    wanted = [b.strip() for b in baselines.split(",") if b.strip()]
    if not task_list or episodes <= 0:
        raise CliError("--tasks must name a task and --episodes must be > 0")
    if any(b not in BASELINES for b in wanted):
        raise CliError(f"unknown baseline in {baselines!r}; use {', '.join(BASELINES)}")
    with errors_as(ModelError, SeedOverlapError), errors_as(DisplayError, MiniWobError, code=EXIT_FAILED), \
            progress_bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as show:
        result = evaluate_policy(model, task_list, episodes, seed, wanted, device, progress=show)
    if as_json:
        echo_json(result)
        return
    rows = [(t, v["success_rate"], *(result["baselines"][b]["tasks"][t]["success_rate"] for b in wanted),
             v["episodes"]) for t, v in result["tasks"].items()]
    rows.append(("mean", result["mean_success"], *(result["baselines"][b]["mean_success"] for b in wanted),
                 ""))
    print_table(f"success rate, seeds {seed}..{seed + episodes - 1}", ["task", "model", *wanted, "episodes"],
                rows)


def register(cli: click.Group) -> None:
    """Adds ``eval`` to ``cli``."""
    cli.add_command(eval_cmd)
