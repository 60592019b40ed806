"""``workscribe score``: offline metrics of a model's predictions, next to baselines: predicted actions
against recorded steps (``evaluate.metrics``), or predicted next commands / next edits against the
examples of a ``next-command`` / ``next-edit`` export (``evaluate.coding``)."""

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
    """Score predicted actions against recorded ones, next to the most_frequent and repeat_last baselines;
    or predicted next commands or next edits, next to repeat_last or no_edit.

    PRED.jsonl holds one {"episode_id", "step", "action"} a line, and GOLD is a JSONL file of gold steps
    or a folder of Parquet files (an hf export). For coding work, PRED.jsonl holds one {"id",
    "prediction"} a line, and GOLD is a next-command or next-edit export folder (all its splits) or one
    of its JSONL files (e.g. export/data/validation.jsonl): exact match and token F1 of commands, exact
    match and delta chrF of edits. A gold example without a prediction scores 0.

    Example: workscribe score preds.jsonl export/hf --json

    Example: workscribe score next.jsonl commands/data/validation.jsonl
    """
    from workscribe.evaluate import coding, metrics

    try:
        task = coding.gold_task(gold)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if task is not None:
        _score_coding(task, pred_file, gold, as_json)
        return
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


def _score_coding(task: str, pred_file: Path, gold: Path, as_json: bool) -> None:
    from workscribe.evaluate import coding

    try:
        preds = coding.load_predictions(pred_file)
        examples = coding.load_gold(gold, task)
        model = coding.score(task, preds, examples)
        base = coding.baselines(task, examples)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    counts = model.pop("counts")
    for result in base.values():
        result.pop("counts")
    if counts["predictions"] and counts["missing_predictions"] == counts["examples"]:
        click.echo(f"warning: no prediction in {pred_file} matches a gold example id", err=True)
    if as_json:
        echo_json({"task": task, "model": model, "baselines": base, "counts": counts})
        return
    names = list(coding.BASELINES[task])
    rows = [(metric, _fmt(model[metric]), *(_fmt(base[n][metric]) for n in names))
            for metric in coding.METRICS[task]]
    print_table(f"{task}: {pred_file} against {gold}", ["metric", "model", *names], rows,
                justify=lambda col: "left" if col == "metric" else "right")
    click.echo(f"gold examples {counts['examples']}, predictions {counts['predictions']}, missing "
               f"{counts['missing_predictions']}, unmatched {counts['unmatched_predictions']}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(cli: click.Group) -> None:
    """Adds ``score`` to ``cli``."""
    cli.add_command(score)
