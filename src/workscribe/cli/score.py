"""``workscribe score``: offline metrics of a model's predicted actions, next to two baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from workscribe.cli import CliError
from workscribe.cli.common import echo_json, json_option, print_table


@click.command("score")
@click.argument("pred_file", metavar="PRED.jsonl", type=click.Path(path_type=Path))
@click.argument("gold", metavar="GOLD", type=click.Path(path_type=Path))
@json_option
def score(pred_file: Path, gold: Path, as_json: bool) -> None:
    """Score predicted actions against recorded ones, next to the most_frequent and repeat_last baselines.

    PRED.jsonl holds one {"episode_id", "step", "action"} a line. GOLD is a JSONL file of gold steps or
    a folder of Parquet files (an hf export). A gold step without a prediction scores 0.

    Example: workscribe score preds.jsonl export/hf --json
    """
    from workscribe.evaluate import metrics

    try:
        preds = metrics.load_predictions(pred_file)
        steps = metrics.load_gold(gold)
        model = metrics.score(preds, steps)
        base = metrics.baselines(steps)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    counts = model.pop("counts")
    for result in base.values():
        result.pop("counts")
    if counts["predictions"] and counts["missing_predictions"] == counts["steps"]:
        click.echo(f"warning: no prediction in {pred_file} matches a gold step (episode_id, step)", err=True)
    if as_json:
        echo_json({"model": model, "baselines": base, "counts": counts})
        return
    columns = [model, base["most_frequent"], base["repeat_last"]]
    rows: list[tuple[Any, ...]] = [(name, *(_fmt(m[name]) for m in columns)) for name in metrics.METRIC_NAMES]
    for kind, detail in model["per_type"].items():
        rows.append((f"step_success: {kind} (n={detail['n']})",
                     *(_fmt(m["per_type"][kind]["step_success"]) for m in columns)))
    print_table(f"{pred_file} against {gold}", ["metric", "model", "most_frequent", "repeat_last"], rows,
                justify=lambda col: "left" if col == "metric" else "right")
    click.echo(f"gold steps {counts['steps']}, episodes {counts['episodes']}, predictions "
               f"{counts['predictions']}, missing {counts['missing_predictions']}, "
               f"unmatched {counts['unmatched_predictions']}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(cli: click.Group) -> None:
    """Adds ``score`` to ``cli``."""
    cli.add_command(score)
