"""``workscribe stats``: what a dataset built from some spools would hold, as a table, JSON or HTML."""

from __future__ import annotations

from pathlib import Path

import click

from workscribe.cli import CliError
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


@click.command("stats")
@click.argument("folders", metavar="DIR...", nargs=-1, type=click.Path(path_type=Path))
@server_option
@private_key_option
@click.option("--html", "html_out", metavar="OUT", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write one self-contained HTML page with the figures and their plots.")
@key_option
@json_option
def stats(folders: tuple[Path, ...], server_dir: Path | None, private_key: Path | None, html_out: Path | None,
          key_file: Path | None, as_json: bool) -> None:
    """Dataset figures of spools: episodes, steps, actions per type and app, episode lengths, frames per
    action, cut reasons, tasks and outcomes, steps without a frame, skipped segments.

    Example: workscribe stats ~/spool --html stats.html

    Example: workscribe stats --server /srv/ws --private-key ~/org.key --json
    """
    from workscribe.export.source import open_dataset
    from workscribe.spool.crypto import DecryptError
    from workscribe.spool.reader import SpoolReadError
    from workscribe.viz.report import collect_stats, render_html

    def warn(line: str) -> None:
        click.echo(f"warning: {line}", err=True)

    try:
        with spools_or_server(folders, server_dir, private_key, warn) as (spools, data_keys):
            ds = open_dataset(spools, key=load_key(key_file) if key_file else None, keys=data_keys)
            result = collect_stats(ds)
        if server_dir:  # name the service's folder, not the temporary view of it
            result.folders = [str(server_dir)]
    except (SpoolReadError, DecryptError, OSError) as exc:
        raise CliError(str(exc)) from None
    for problem in result.problems:
        click.echo(f"warning: {problem}", err=True)
    if html_out is not None:
        try:
            html_out.write_text(render_html(result), encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {html_out}: {exc.strerror}") from None
    if as_json:
        echo_json(result.as_dict())
        return
    d = result.as_dict()
    rows = result.summary_rows()
    rows += [(f"actions: {k}", n) for k, n in d["actions_by_type"].items() if n]
    rows += [(f"app: {k}", n) for k, n in d["actions_by_app"].items()]
    rows += [(f"cut: {k}", n) for k, n in d["cut_reasons"].items() if n]
    print_table(", ".join(result.folders), ["", "value"], rows)
    if html_out is not None:
        click.echo(f"wrote {html_out}")


def register(cli: click.Group) -> None:
    """Adds ``stats`` to ``cli``."""
    cli.add_command(stats)
