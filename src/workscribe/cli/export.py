"""``workscribe export``: spools to a dataset that trainers load as it is."""

from __future__ import annotations

from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import (
    echo_json,
    json_option,
    key_option,
    load_key,
    print_table,
    private_key_option,
    server_option,
    spools_or_server,
)
from workscribe.export.formats import FORMATS


@click.command("export")
@click.argument("folders", metavar="DIR...", nargs=-1, type=click.Path(path_type=Path))
@server_option
@private_key_option
@click.option("--format", "fmt", required=True,
              type=click.Choice(FORMATS),
              help="Screen work: hf (Parquet for `datasets`), lerobot (LeRobot v3.0), sft (chat JSONL with "
                   "tool calls). Coding work: swe (one bash/edit tool-call chat per coding episode), "
                   "next-edit (zeta-style edit prediction), next-command.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output folder (an earlier export there is replaced).")
@click.option("--split-by", type=click.Choice(["session", "contributor"]), default="session",
              show_default=True,
              help="What goes wholly to train or to validation.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Share of sessions (or contributors) in validation.")
@click.option("--actions", type=click.Choice(["pyautogui", "anthropic", "openai"]), default="pyautogui",
              show_default=True, help="sft: the action vocabulary of the assistant turns.")
@click.option("--edit-tool", type=click.Choice(["diff", "str_replace"]), default="diff", show_default=True,
              help="swe: edits as edit(path, diff) calls or as str_replace_editor calls.")
@click.option("--edit-events", type=int, default=5, show_default=True,
              help="next-edit: previous edits given in each example's events.")
@click.option("--command-history", type=int, default=10, show_default=True,
              help="next-command: previous commands given in each example's history.")
@click.option("--idle-seconds", type=float, default=120.0, show_default=True,
              help="Outside tasks, an idle time this long ends an episode.")
@key_option
@json_option
def export(folders: tuple[Path, ...], server_dir: Path | None, private_key: Path | None, fmt: str, out: Path,
           split_by: str, val_fraction: float, actions: str, edit_tool: str, edit_events: int,
           command_history: int, idle_seconds: float, key_file: Path | None, as_json: bool) -> None:
    """Export spools, or an organisation's uploads (--server), as episodes of (screen, action) steps, or
    of coding work. Deleted recordings and forgotten contributors are never exported.

    Example: workscribe export ~/spool --format hf --out dataset/

    Example: workscribe export ~/spool --format swe --out swe-dataset/

    Example: workscribe export --server /srv/ws --private-key ~/org.key --format hf --out dataset/
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from workscribe.export.driver import ExportError, ExportOptions
    from workscribe.export.driver import export as run_export
    from workscribe.spool.crypto import DecryptError
    from workscribe.spool.reader import SpoolReadError

    if idle_seconds <= 0:
        raise CliError(f"--idle-seconds must be > 0, got {idle_seconds}")
    for folder in folders + ((server_dir,) if server_dir else ()):
        if folder.resolve() == out.resolve() or folder.resolve() in out.resolve().parents:
            raise CliError(f"--out {out} must not be inside the spool {folder}")
    try:
        options = ExportOptions(format=fmt, split_by=split_by, val_fraction=val_fraction, idle_s=idle_seconds,
                                actions=actions, edit_tool=edit_tool, edit_events=edit_events,
                                command_history=command_history)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    key = load_key(key_file) if key_file else None

    def warn(line: str) -> None:
        click.echo(f"warning: {line}", err=True)

    try:
        with spools_or_server(folders, server_dir, private_key, warn) as (spools, data_keys), \
                Progress(TextColumn("exporting"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                         console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("export", total=1.0)
            report = run_export(spools, out, options, key=key, warn=warn, keys=data_keys,
                                progress=lambda f: bar.update(task, completed=f))
    except (ExportError, SpoolReadError, DecryptError, ValueError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"export failed: {exc}", code=EXIT_FAILED) from None
    if as_json:
        echo_json(report)
        return
    rows = [(s, c["episodes"], c["steps"]) for s, c in report["splits"].items()]
    print_table(f"{fmt} export in {out}", ["split", "episodes", "steps"], rows)
    skipped = report["skipped"]
    if skipped["segments"] or skipped["problems"] or skipped["steps_without_frame"]:
        click.echo(f"skipped: {skipped['segments']} segments, {len(skipped['problems'])} problems, "
                   f"{skipped['steps_without_frame']} steps without a frame")


def register(cli: click.Group) -> None:
    """Adds ``export`` to ``cli``."""
    cli.add_command(export)
