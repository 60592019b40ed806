"""``workscribe enroll`` and ``workscribe upload``: this device joins an organisation and sends it
closed segments, end-to-end encrypted (docs/fleet.md)."""

from __future__ import annotations

import getpass
from dataclasses import asdict
from pathlib import Path

import click

from workscribe import guard, paths
from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, errors_as, json_option, progress_bar


@click.command("enroll")
@click.argument("url")
@click.option("--token", required=True, help="The one-time invite token (workscribe org invite).")
@json_option
def enroll(url: str, token: str, as_json: bool) -> None:
    """Enrol this device with an organisation's service.

    Example: workscribe enroll http://collect.example.internal:8470 --token 3f1c...
    """
    from workscribe.fleet.client import FleetClientError
    from workscribe.fleet.client import enroll as run_enroll

    contributor_id = guard.pseudonym(getpass.getuser(), guard.device_key())
    with errors_as(FleetClientError, code=EXIT_FAILED):
        device = run_enroll(url, token, contributor_id)
    shown = {k: v for k, v in asdict(device).items() if k != "device_token"}
    if as_json:
        echo_json(shown)
    else:
        click.echo(f"enrolled with {device.url} as contributor {device.contributor_id}"
                   + (f" (team {device.team})" if device.team else "")
                   + "; uploads start once consent allows them: workscribe consent grant ... --upload")


@click.command("upload")
@click.option("--spool", "folder", type=click.Path(path_type=Path),
              help="Spool folder (default: $WORKSCRIBE_HOME/spool).")
@json_option
def upload(folder: Path | None, as_json: bool) -> None:
    """Upload the closed segments not uploaded yet; prints uploaded, pending and failed counts.

    Example: workscribe upload --json
    """
    from workscribe.fleet.client import FleetClientError, upload_pending

    try:
        consent = guard.require()
    except guard.ConsentError as exc:
        raise CliError(str(exc)) from None
    if not consent.upload:
        raise CliError("consent does not allow uploads; grant it with: workscribe consent grant ... --upload")
    folder = folder or paths.default_spool()
    if not folder.is_dir():
        raise CliError(f"{folder}: no such folder")
    with errors_as(FleetClientError, code=EXIT_FAILED), progress_bar(disable=as_json) as show:
        result = upload_pending(folder, progress=show)
    if as_json:
        echo_json(result)
        return
    click.echo(f"uploaded {result['uploaded']}, pending {result['pending']}, failed {result['failed']}")
    for error in result["errors"]:
        click.echo(f"  {error}", err=True)


def register(cli: click.Group) -> None:
    """Adds ``enroll`` and ``upload`` to ``cli``."""
    cli.add_command(enroll)
    cli.add_command(upload)
