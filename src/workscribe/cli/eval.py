"""``workscribe eval``: a trained policy in closed loop on MiniWoB++, through X input only."""

from __future__ import annotations

import json
from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, json_option, print_table

BASELINES = ("random", "demonstrator")


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
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from workscribe.envs.miniwob import MiniWobEnv, MiniWobError
    from workscribe.envs.xdisplay import DisplayError, XDisplay
    from workscribe.policy.evaluate import (
        LiveObserver,
        random_clicker,
        run_demonstrator,
        run_policy,
        summarise,
    )
    from workscribe.policy.train import REPORT_FILE, PolicyAgent

    if env_name != "miniwob":
        raise CliError(f"unknown --env {env_name!r}; use miniwob")
    task_list = [t.strip() for t in tasks.split(",") if t.strip()]
    wanted = [b.strip() for b in baselines.split(",") if b.strip()]
    if not task_list or episodes <= 0:
        raise CliError("--tasks must name a task and --episodes must be > 0")
    if any(b not in BASELINES for b in wanted):
        raise CliError(f"unknown baseline in {baselines!r}; use {', '.join(BASELINES)}")
    try:
        agent = PolicyAgent(model, device=device)
    except (ValueError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    report_path = model / REPORT_FILE
    trained = json.loads(report_path.read_text()).get("seeds", {}) if report_path.exists() else {}
    eval_seeds = set(range(seed, seed + episodes))
    for task in task_list:
        overlap = eval_seeds & set(trained.get(task, []))
        if overlap:
            raise CliError(f"seeds {min(overlap)}..{max(overlap)} of {task} were used for training; "
                           f"choose another --seed (training used {min(trained[task])}.."
                           f"{max(trained[task])})")
    runs = {"model": [], **{b: [] for b in wanted}}
    total = len(task_list) * episodes * (1 + len(wanted))
    try:
        with XDisplay(640, 480) as display, \
                Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         console=Console(stderr=True), transient=True) as bar:
            observer = LiveObserver(display).start()
            job = bar.add_task("evaluating", total=total)
            try:
                for task in task_list:
                    with MiniWobEnv(task, display) as env:
                        for i in range(episodes):
                            s = seed + i
                            bar.update(job, description=f"{task} seed {s}")
                            runs["model"].append(run_policy(env, display, observer, agent.act, s))
                            bar.advance(job)
                            if "random" in wanted:
                                clicker = random_clicker(s)
                                runs["random"].append(run_policy(env, display, observer, clicker, s,
                                                                 snapshot_wait=0.0))
                                bar.advance(job)
                            if "demonstrator" in wanted:
                                runs["demonstrator"].append(run_demonstrator(env, s))
                                bar.advance(job)
            finally:
                observer.stop()
    except (DisplayError, MiniWobError) as exc:
        raise CliError(str(exc), code=EXIT_FAILED) from None
    result = summarise(runs["model"])
    result["seeds"] = [seed, seed + episodes - 1]
    result["baselines"] = {b: summarise(runs[b]) for b in wanted}
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
