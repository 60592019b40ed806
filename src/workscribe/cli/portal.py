"""``workscribe portal``: a one-time link to this contributor's page on the organisation's service."""

from __future__ import annotations

import click

from workscribe.cli import EXIT_FAILED
from workscribe.cli.common import echo_json, errors_as, json_option


@click.command("portal")
@json_option
def portal(as_json: bool) -> None:
    """Print a one-time link to your uploads on the service: sessions, sizes, delete, pause uploads.

    The link works once, for ten minutes; only you see the page it opens.

    Example: workscribe portal
    """
    from workscribe.fleet.client import FleetClientError, portal_link

    with errors_as(FleetClientError, code=EXIT_FAILED):
        link = portal_link()
    if as_json:
        echo_json(link)
        return
    click.echo("open this link once, within ten minutes (only you see the page):")
    click.echo(link["url"])


def register(cli: click.Group) -> None:
    """Adds ``portal`` to ``cli``."""
    cli.add_command(portal)
