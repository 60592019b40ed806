"""``workscribe train``: a behaviour-cloning policy from an exported dataset."""

from __future__ import annotations

from pathlib import Path

import click

from workscribe.cli import CliError
from workscribe.cli.common import echo_json, json_option, print_table


@click.command("train")
@click.argument("dataset", metavar="DATASET", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the trained model.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--epochs", type=int, default=15, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Learning rate (Adam).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="CPU threads (1 is fastest here).")
@json_option
def train(dataset: Path, out: Path, device: str, epochs: int, lr: float, seed: int, threads: int,
          as_json: bool) -> None:
    """Train a policy on an hf export (workscribe export --format hf).

    Example: workscribe train ds/ --out model/ --epochs 15
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from workscribe.policy.train import load_examples
    from workscribe.policy.train import train as run_train

    if epochs <= 0 or lr <= 0 or threads <= 0:
        raise CliError("--epochs, --lr and --threads must be > 0")
    if not dataset.is_dir():
        raise CliError(f"{dataset}: no such export folder")
    try:
        examples, skipped = load_examples(dataset)
        with Progress(TextColumn("training"), BarColumn(), TextColumn("{task.fields[info]}"),
                      console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("train", total=epochs, info="")
            report = run_train(examples, out, epochs=epochs, lr=lr, seed=seed, device=device, threads=threads,
                               progress=lambda e, p: bar.update(task, completed=e, info=f"loss {p['loss']}"))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    report["skipped"] = dict(sorted(skipped.items()))
    if as_json:
        echo_json(report)
        return
    last = report["curve"][-1]
    print_table(f"policy in {out}", ["figure", "value"], [
        ("decisions (train / held out)", f"{report['decisions']} / {report['held_out']}"),
        ("episodes", report["episodes"]), ("epochs", report["epochs"]), ("final loss", last["loss"]),
        ("train accuracy", last["train_accuracy"]), ("held-out accuracy", last.get("validation_accuracy")),
        ("seconds", report["train_seconds"]), ("skipped", report["skipped"]),
        *([("held-out step success (most frequent / repeat last)",
            f"{report['held_out_scores']['model']['step_success']:.3f} "
            f"({report['held_out_scores']['baselines']['most_frequent']['step_success']:.3f} / "
            f"{report['held_out_scores']['baselines']['repeat_last']['step_success']:.3f})")]
          if "held_out_scores" in report else [])])


def register(cli: click.Group) -> None:
    """Adds ``train`` to ``cli``."""
    cli.add_command(train)
