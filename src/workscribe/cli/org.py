"""``workscribe org init|invite|forget``: set up an organisation's fleet service, invite contributors and
erase one for good."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, errors_as, json_option

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.I)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

data_option = click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path),
                           help="The service's data folder (catalog and objects).")


def parse_duration(text: str) -> float:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"3600"`` -> seconds; ``CliError`` if unreadable or not positive."""
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise CliError(f"cannot read duration {text!r}; write it like 7d, 12h, 30m or 3600")
    return float(m.group(1)) * _SECONDS[m.group(2).lower()]


@click.group("org")
def org_group() -> None:
    """Set up an organisation's fleet service and invite contributors."""


@org_group.command("init")
@data_option
@click.option("--private-key", "private_key", required=True, type=click.Path(path_type=Path),
              help="Where to write the organisation's private key (outside --data; keep it safe).")
@click.option("--catalog", "catalog_url", metavar="URL",
              help="A PostgreSQL URL for the catalog, without password (PGPASSWORD or ~/.pgpass give it); "
                   "default: catalog.sqlite in --data.")
@click.option("--store", "store", metavar="s3://BUCKET/PREFIX",
              help="An S3 bucket (and prefix) for the objects, credentials from the AWS environment "
                   "variables; default: objects/ in --data.")
@click.option("--s3-endpoint", "s3_endpoint", metavar="URL",
              help="The endpoint of an S3-compatible store (MinIO, Ceph...); default: AWS.")
@json_option
def init(data_dir: Path, private_key: Path, catalog_url: str | None, store: str | None,
         s3_endpoint: str | None, as_json: bool) -> None:
    """Create the organisation: key pair, admin token, catalog and object store.

    The private key opens every contributor's uploads: the service never holds it. The admin token is
    shown once. Where the catalog and the objects live is written to fleet.json in --data (no secret).

    Example: workscribe org init --data /srv/workscribe --private-key ~/keys/org.key

    Example: workscribe org init --data /srv/ws --private-key ~/keys/org.key
    --catalog postgresql+psycopg://workscribe@db:5432/workscribe --store s3://fleet/prod
    --s3-endpoint https://minio.example:9000
    """
    from workscribe.fleet.config import FleetConfig, FleetConfigError, ServiceUnreachable
    from workscribe.fleet.org import OrgError, init_org

    with errors_as(OrgError, FleetConfigError), errors_as(ServiceUnreachable, code=EXIT_FAILED):
        config = FleetConfig(catalog=catalog_url, store=store, s3_endpoint=s3_endpoint)
        made = init_org(data_dir, private_key, config)
    if as_json:
        echo_json(made)
        return
    click.echo(f"organisation {made['org_id']} in {made['data_dir']}")
    click.echo(f"catalog: {made['catalog']}")
    click.echo(f"objects: {made['store']}")
    click.echo(f"private key: {made['private_key']} (keep it outside the service; it opens every upload)")
    click.echo(f"admin token (shown once): {made['admin_token']}")


@org_group.command("invite")
@data_option
@click.option("--team", default="default", show_default=True, help="The team the contributor joins.")
@click.option("--expires", default="7d", show_default=True, help="How long the invite is valid (7d, 12h).")
@json_option
def invite(data_dir: Path, team: str, expires: str, as_json: bool) -> None:
    """Make a one-use invite token that enrols one device.

    Example: workscribe org invite --data /srv/workscribe --team labelling --expires 2d
    """
    from workscribe.fleet.config import FleetConfigError, ServiceUnreachable
    from workscribe.fleet.org import OrgError
    from workscribe.fleet.org import invite as make_invite

    seconds = parse_duration(expires)
    with errors_as(OrgError, FleetConfigError), errors_as(ServiceUnreachable, code=EXIT_FAILED):
        token = make_invite(data_dir, team, seconds)
    until = datetime.fromtimestamp(time.time() + seconds, UTC).isoformat(timespec="seconds")
    if as_json:
        echo_json({"token": token, "team": team, "expires": until})
        return
    click.echo(f"invite for team {team}, valid until {until}:")
    click.echo(token)


ADMIN_TOKEN_ENV = "WORKSCRIBE_ADMIN_TOKEN"
"""Where `org forget --server` finds the admin token when no --admin-token-file is given (never argv,
which any user of the machine can read in `ps`)."""


def read_admin_token(token_file: Path | None) -> str:
    """The admin token: the first line of ``token_file`` (``-``: standard input), else
    ``$WORKSCRIBE_ADMIN_TOKEN``; a one-line ``CliError`` when there is none."""
    if token_file is None:
        token = os.environ.get(ADMIN_TOKEN_ENV, "").strip()
        if not token:
            raise CliError(f"--server needs the admin token: --admin-token-file FILE (or - for standard "
                           f"input) or {ADMIN_TOKEN_ENV}")
        return token
    try:
        text = click.get_text_stream("stdin").read() if str(token_file) == "-" else token_file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the admin token from {token_file}: "
                       f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    token = (text.strip().splitlines() or [""])[0].strip()
    if not token:
        raise CliError(f"{token_file} holds no admin token")
    return token


@org_group.command("forget")
@click.option("--data", "data_dir", type=click.Path(path_type=Path),
              help="On the service's host: its data folder (catalog and objects).")
@click.option("--server", "server_url", metavar="URL",
              help="Elsewhere: the running service (http(s)://HOST[:PORT]), with the admin token.")
@click.option("--admin-token-file", "token_file", type=click.Path(path_type=Path, allow_dash=True),
              help=f"With --server: a file whose first line is the admin token (- reads standard input); "
                   f"default: ${ADMIN_TOKEN_ENV}. Never on the command line, where `ps` shows it.")
@click.option("--contributor", "contributor_id", required=True, help="The contributor id to erase.")
@json_option
def forget(data_dir: Path | None, server_url: str | None, token_file: Path | None, contributor_id: str,
           as_json: bool) -> None:
    """Erase a contributor for good: sealed key and wrapped keys shredded, objects removed, recordings
    tombstoned, devices disabled. No backup of the objects can be read afterwards. Running it again is
    harmless. On the service's host with --data, or from anywhere through the service with --server and
    the admin token.

    Example: workscribe org forget --data /srv/workscribe --contributor 0123456789abcdef --json

    Example: workscribe org forget --server https://fleet.example --admin-token-file ~/.config/ws-admin
    --contributor 0123456789abcdef
    """
    from workscribe.fleet.config import FleetConfigError, ServiceUnreachable
    from workscribe.fleet.erase import forget_contributor, forget_on_service
    from workscribe.fleet.org import OrgError

    if (data_dir is None) == (server_url is None):
        raise CliError("name --data DIR (on the service's host) or --server URL (one of them)")
    if data_dir is not None and token_file is not None:
        raise CliError("--admin-token-file goes with --server")
    with errors_as(OrgError, FleetConfigError), errors_as(ServiceUnreachable, code=EXIT_FAILED):
        if server_url is not None:
            done = forget_on_service(server_url, read_admin_token(token_file), contributor_id)
        else:
            done = forget_contributor(data_dir, contributor_id)
    if as_json:
        echo_json(done)
        return
    when = datetime.fromtimestamp(done["forgotten_at"], UTC).isoformat(timespec="seconds")
    since = f"already, since {when}" if done["already_forgotten"] else f"at {when}"
    click.echo(f"contributor {contributor_id} forgotten ({since}): {done['recordings']} recording(s), "
               f"{done['segments']} segment(s), {done['objects_removed']} object(s) removed now, "
               f"{done['devices_disabled']} device(s) disabled")


def register(cli: click.Group) -> None:
    """Adds the org verbs to ``cli``."""
    cli.add_command(org_group)
