"""``workscribe inspect`` and ``workscribe actions``: what a spool holds, for people and scripts."""

from __future__ import annotations

from pathlib import Path

import click

from workscribe.cli import CliError
from workscribe.cli.common import echo_json, json_option, key_option, load_key, print_table
from workscribe.process.actions import spool_actions

spool_argument = click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))


def open_spool(folder: Path, key_file: Path | None = None):  # noqa: ANN201 - Spool, imported lazily
    """Opens a spool (decrypting with ``key_file`` or the device key) or raises a one-line ``CliError``."""
    from workscribe.spool.crypto import DecryptError
    from workscribe.spool.reader import Spool, SpoolReadError

    try:
        spool = Spool(folder, key=load_key(key_file) if key_file else None)
    except (SpoolReadError, DecryptError, OSError) as exc:
        raise CliError(str(exc)) from None
    for problem in spool.problems:
        click.echo(f"warning: {problem}", err=True)
    return spool


@click.command("inspect")
@spool_argument
@key_option
@json_option
def inspect(folder: Path, key_file: Path | None, as_json: bool) -> None:
    """Summarise a spool: duration, segments, events by kind, actions by type, frames, bytes.

    Example: workscribe inspect ~/spool --json
    """
    from collections import Counter

    spool = open_spool(folder, key_file)
    summary = spool.summary()
    summary["actions"] = dict(sorted(Counter(a["type"] for a in spool_actions(spool)).items()))
    if as_json:
        echo_json(summary)
        return
    rows = [("duration", f"{summary['duration_s']:.1f} s"), ("segments", summary["segments"]),
            ("frames", summary["frames"]), ("bytes", f"{summary['bytes']:,}")]
    rows += [(f"events: {k}", v) for k, v in summary["events"].items()]
    rows += [(f"actions: {k}", v) for k, v in summary["actions"].items()]
    print_table(str(folder), ["", "value"], rows)


@click.command("actions")
@spool_argument
@key_option
@json_option
def actions(folder: Path, key_file: Path | None, as_json: bool) -> None:
    """List the actions reduced from a spool's raw events.

    Example: workscribe actions ~/spool --json
    """
    from workscribe.process.reduce import ACTION_KEYS

    spool = open_spool(folder, key_file)
    items = [{**{k: a.get(k) for k in ACTION_KEYS}, "duration_s": round(a["t_end"] - a["t"], 3)}
             for a in spool_actions(spool)]
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
        elif a["type"] == "command":
            detail = f"$ {a['text']}  (exit {a['exit_code']}, {a['duration_s']:.2f} s, in {a['cwd']})"
        elif a["type"] == "edit":
            d = a["detail"] or {}
            detail = f"{d.get('op')} {a['path']} (+{d.get('added')} -{d.get('removed')})"
        elif a["type"] == "git":
            d = a["detail"] or {}
            first = (a["text"] or "").strip().splitlines()
            detail = f"{d.get('kind')} {str(d.get('hash') or '')[:8]} {first[0] if first else ''}"
        rows.append((f"{a['t']:.2f}", a["type"], a["x"], a["y"], detail, a["app"], a["window"]))
    print_table(f"{len(items)} actions in {folder}", ["t (s)", "type", "x", "y", "detail", "app", "window"],
                rows)


def register(cli: click.Group) -> None:
    """Adds the reading verbs to ``cli``."""
    cli.add_command(inspect)
    cli.add_command(actions)
