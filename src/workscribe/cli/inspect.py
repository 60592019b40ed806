"""``workscribe inspect`` and ``workscribe actions``: what a spool holds, for people and scripts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from workscribe.cli import CliError
from workscribe.cli.common import echo_json, json_option, print_table

spool_argument = click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))


def open_spool(folder: Path):  # noqa: ANN201 - Spool, imported lazily
    """Opens a spool or raises a one-line ``CliError``."""
    from workscribe.spool.reader import Spool, SpoolReadError

    try:
        spool = Spool(folder)
    except SpoolReadError as exc:
        raise CliError(str(exc)) from None
    for problem in spool.problems:
        click.echo(f"warning: {problem}", err=True)
    return spool


def spool_actions(spool) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """The actions of every recording in a spool, ``t``/``t_end`` in seconds since its start."""
    from workscribe.process.reduce import reduce_actions

    for recording in spool.recordings():
        for action in reduce_actions(spool.iter_events(recording)):
            action["t"] = round(spool.to_seconds(action["t"], recording), 3)
            action["t_end"] = round(spool.to_seconds(action["t_end"], recording), 3)
            yield action


@click.command("inspect")
@spool_argument
@json_option
def inspect(folder: Path, as_json: bool) -> None:
    """Summarise a spool: duration, segments, events by kind, frames, bytes.

    Example: workscribe inspect ~/spool --json
    """
    summary = open_spool(folder).summary()
    if as_json:
        echo_json(summary)
        return
    rows = [("duration", f"{summary['duration_s']:.1f} s"), ("segments", summary["segments"]),
            ("frames", summary["frames"]), ("bytes", f"{summary['bytes']:,}")]
    rows += [(f"events: {k}", v) for k, v in summary["events"].items()]
    print_table(str(folder), ["", "value"], rows)


@click.command("actions")
@spool_argument
@json_option
def actions(folder: Path, as_json: bool) -> None:
    """List the actions reduced from a spool's raw events.

    Example: workscribe actions ~/spool --json
    """
    from workscribe.process.reduce import ACTION_KEYS

    spool = open_spool(folder)
    items = [{k: a.get(k) for k in ACTION_KEYS} for a in spool_actions(spool)]
    if as_json:
        echo_json(items)
        return
    rows = []
    for a in items:
        detail = a["text"] if a["type"] == "type" else a["keys"] or ""
        if a["type"] == "drag":
            detail = f"to ({a['x2']}, {a['y2']})"
        elif a["type"] == "scroll":
            detail = f"dx={a['dx']} dy={a['dy']}"
        rows.append((f"{a['t']:.2f}", a["type"], a["x"], a["y"], detail, a["app"], a["window"]))
    print_table(f"{len(items)} actions in {folder}", ["t (s)", "type", "x", "y", "detail", "app", "window"],
                rows)


def register(cli: click.Group) -> None:
    """Adds the reading verbs to ``cli``."""
    cli.add_command(inspect)
    cli.add_command(actions)
